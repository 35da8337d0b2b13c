"""Where the time goes: py-spy on the digindex worker (and bare Faust, the baseline) during the throughput run.

Same set-up as ``bench.throughput``: N pre-produced payments, a fresh group per consumer. py-spy
attaches (``record --pid --gil``: raw collapsed stacks at 100 Hz of whichever thread holds the
GIL, so the profile is where the Python CPU goes; Faust's consumer runs in a second thread) when the
consumer is ready and is stopped when it has counted N, so start-up and shutdown are not in
the profile. The summary gives each profile's busiest functions by own time and by inclusive
time, and own time by package; the raw stacks stay in ``bench/results/`` (feed them to
flamegraph.pl or https://www.speedscope.app).

Needs ``py-spy`` (``pip install py-spy``) and ptrace permission over the child processes.

    .venv/bin/python -m bench.profile [--events 100000] [--consumers digindex,bare,baseline]
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .common import RESULTS, embedded_broker, print_table, write_result
from .throughput import measure, preproduced

__all__ = ["py_spy", "run", "summarise"]

_FRAME = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")
_PACKAGES = ("faust", "mode", "aiokafka", "kafka", "fastavro", "prometheus_client", "rocksdict", "venusian",
             "croniter", "yarl", "aiohttp", "opentracing")


def py_spy() -> str | None:
    exe = Path(sys.executable).parent / "py-spy"
    return str(exe) if exe.exists() else shutil.which("py-spy")


def _where(path: str) -> str:
    """A short location: ``streams/payments/state.py``, ``faust/streams.py``, ``asyncio/events.py``."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    for marker in ("/streams/", "/bench/"):
        if marker in path:
            return marker[1:] + path.split(marker, 1)[1]
    m = re.search(r"/python3\.\d+/(.*)$", path)
    return m.group(1) if m else path


def _package(where: str) -> str:
    top = where.split("/", 1)[0]
    if top == "streams":
        return "digindex (streams/)"
    if top == "bench":
        return "bench"
    if top in _PACKAGES or (top.endswith(".py") and top[:-3] in _PACKAGES):
        return top.removesuffix(".py")
    if top in ("asyncio", "selectors.py", "socket.py", "ssl.py"):
        return "asyncio / sockets"
    if top in ("json",):
        return "json (stdlib)"
    return "other stdlib / interpreter" if "/" in where or where.endswith(".py") else "other"


#: the agent's frame in each consumer's stacks
AGENTS = {"digindex": "register.<locals>.payments", "bare": "_faust.<locals>.bare",
          "baseline": "_faust.<locals>.baseline"}


def summarise(raw: Path, top: int = 15, agent: str | None = None) -> dict[str, Any]:
    """Own and inclusive sample counts by function and own time by package, from py-spy's raw output.

    With ``agent`` (the agent function's frame name), also ``split``: samples outside the agent
    (Faust's consumer, fetcher and event loop; the /metrics render) and under it, by the
    agent's direct callee.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    split: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        samples += count
        names = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame)
            func, where = (m.group(1), _where(m.group(2))) if m else (frame, "?")
            names.append((f"{func} ({where})", where))
        leaf, leaf_where = names[-1]
        own[leaf] += count
        if agent is not None:
            frames = stack.split(";")
            at = next((i for i, f in enumerate(frames) if f.startswith(agent + " (")), None)
            if at is None:
                render = any("generate_latest" in f for f in frames)
                split["outside the agent: " + ("/metrics render" if render else "Faust consumer, fetcher, loop")] \
                    += count
            else:
                callee = frames[at + 1].split(" (")[0] if at + 1 < len(frames) else "(the agent's own lines)"
                split[f"in the agent: {callee}"] += count
        packages[_package(leaf_where)] += count
        for name in {n for n, _ in names}:
            inclusive[name] += count

    def pct(c: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, 100.0 * v / max(1, samples)) for name, v in c.most_common(k)]

    ours = Counter({k: v for k, v in inclusive.items() if "(streams/" in k})
    return {"samples": samples, "own": pct(own, top), "inclusive": pct(inclusive, top + 15),
            "packages": pct(packages, 20), "digindex_inclusive": pct(ours, 25), "split": pct(split, 20)}


def run(events: int = 100_000, consumers: tuple[str, ...] = ("digindex", "bare", "baseline"),
        rate: int = 100) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out: dict[str, Any] = {"events": events, "rate_hz": rate, "profiles": {}}
    print(f"== profile: py-spy on {', '.join(consumers)} over {events:,} events ==", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-prof-") as d, embedded_broker("prof") as b:
        settings, _ = preproduced(b, "prof", events)
        for kind in consumers:
            raw = RESULTS / f"profile-{kind}-{stamp}.txt"
            procs: list[subprocess.Popen[bytes]] = []

            def attach(pid: int, raw: Path = raw, procs: list[subprocess.Popen[bytes]] = procs) -> None:
                procs.append(subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "-o", str(raw),
                                               "-r", str(rate), "--gil"], stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))

            def detach(pid: int, procs: list[subprocess.Popen[bytes]] = procs) -> None:
                for p in procs:
                    p.send_signal(signal.SIGINT)
                    p.wait(30)

            t = measure(kind, settings, events, Path(d), f"prof-{kind}-{settings.app_id[-6:]}", on_ready=attach,
                        on_done=detach)
            s = summarise(raw, agent=AGENTS.get(kind))
            busy = s["samples"] / rate  # seconds some thread held the GIL
            out["profiles"][kind] = {"raw": str(raw), "rate": t.rate, "cpu_us_per_event": t.cpu_us_per_event,
                                     "gil_us_per_event": busy / events * 1e6, **s}
            print(f"{kind}: {t.rate:,.0f} events/s under py-spy, {t.cpu_us_per_event:.1f} CPU us/event, "
                  f"{s['samples']:,} samples -> {raw}", flush=True)
            per = busy / events * 1e6 / 100  # GIL us per event per percent of samples
            print_table(f"{kind}: where an event's time goes (% of samples, GIL us/event)", ["part", "%", "us"],
                        [(n, p, f"{p * per:.1f}") for n, p in s["split"]])
            print_table(f"{kind}: own time by package (% of samples)", ["package", "%"], s["packages"][:10])
            print_table(f"{kind}: top functions by own time (%)", ["function", "%"], s["own"][:12])
            if kind == "digindex":
                print_table("digindex: its own functions, inclusive (%)", ["function", "%"],
                            s["digindex_inclusive"][:15])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--consumers", default="digindex,bare,baseline")
    p.add_argument("--rate", type=int, default=100, help="samples per second")
    args = p.parse_args()
    out = run(args.events, tuple(c.strip() for c in args.consumers.split(",") if c.strip()), args.rate)
    print(f"wrote {write_result('profile', out)}")


if __name__ == "__main__":
    main()
