"""Run every digindex benchmark and print the issue's bars as PASS/MISS.

    .venv/bin/python -m bench              # full: 200k events x 3 runs, 60 s latency, 1M accounts (~30 min)
                                           # + the fault campaign with its 30-min soak (~45 min)
    .venv/bin/python -m bench --quick      # the same, small: ~5 minutes (the fault campaign ~3)
    .venv/bin/python -m bench --skip faults   # everything but the fault campaign
    .venv/bin/python bench/run.py --quick --ci   # CI: quick, never fails on a figure, only on a crash
    .venv/bin/python -m bench --only throughput,latency --profile

Every section starts its own embedded broker, pre-produces its events, runs its consumers side
by side and writes ``bench/results/<section>-<time>.json`` (and ``-latest.json``); the run's
summary goes to ``bench/results/summary-latest.{json,md}``. Figures are reported, never
enforced: the exit status is 1 only if a section crashed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import faults, latency, micro, publisher, restart, scaleout, seeding, throughput
from bench.common import FULL, QUICK, RESULTS, Bar, Profile, write_result

SECTIONS = {
    "micro": micro.run,
    "throughput": throughput.run,
    "latency": latency.run,
    "seeding": seeding.run,
    "scaleout": scaleout.run,
    "publisher": publisher.run,
    "restart": restart.run,
    "faults": faults.run,
}

#: CI: the quick sizes trimmed so the whole run stays well under 2 minutes on a busy 2-core runner.
CI = Profile("ci", events=20_000, runs=1, latency_seconds=8, latency_rate=1000, seeding_accounts=20_000,
             seeding_changes=2_000, publisher_records=10_000, publisher_runs=1, latency_polls=(0.25,))
#: --ci gives up (exit 1, "hung") after this long: a stuck run is a failure, a slow one is not.
CI_DEADLINE = 600


def markdown(results: dict[str, dict[str, Any]], bars: list[Bar], command: str, seconds: float) -> str:
    """The performance table for the README / docs/performance.md."""
    lines = [f"Measured with `{command}` on {time.strftime('%Y-%m-%d', time.gmtime())} "
             f"({seconds / 60:.0f} min; shared 2-core machine, embedded tansu broker).", "",
             "| Benchmark | Figure | Compared with | Ratio |", "|---|---|---|---|"]
    mc = results.get("micro")
    if mc:
        body = mc["us_per_event"]["processor, batch path: all of the above + dedupe + checkpoints"]
        lines.append(f"| digindex's own per-event code, no Faust | {body:.1f} µs/event "
                     f"(≈ {1e6 / body:,.0f} events/s) | one /metrics render: {mc['scrape_ms']:.1f} ms | |")
    tp = results.get("throughput")
    if tp:
        m, c = tp["median"], tp["median_cpu_us_per_event"]
        n = f"{tp['events']:,} events, median of {tp['runs']}"
        lines += [
            f"| Throughput, payments ({n}) | digindex **{m['digindex']:,.0f}/s** ({c['digindex']:.0f} CPU µs/event) "
            f"| ceiling (aiokafka + fastavro) {m['ceiling']:,.0f}/s ({c['ceiling']:.0f} µs) "
            f"| **{tp['ratios']['ceiling']:.2f}x** (bar ≥ 0.3x) |",
            f"| | | one-table-write Faust baseline {m['baseline']:,.0f}/s ({c['baseline']:.0f} µs) "
            f"| **{tp['ratios']['baseline']:.2f}x** (bar ≥ 3x) |",
            f"| | | bare Faust agent {m['bare']:,.0f}/s ({c['bare']:.0f} µs) "
            f"| **{tp['ratios']['bare']:.2f}x** (bar ≥ 5x) |",
            f"| | {tp['per_core_rate']:,.0f} events per CPU-second (bar ≥ 25,000) | | |",
        ]
    lat = results.get("latency")
    if lat:
        e, h = lat["e2e_by_district"], lat["histogram_quantiles"]
        lines.append(f"| End-to-end latency at {lat['achieved_rate']:,.0f} events/s, {lat['seconds']:.0f} s, "
                     f"/metrics polled every {lat['poll_interval'] * 1000:.0f} ms "
                     f"| p50 {e['p50']:.2f} s, p95 {e['p95']:.2f} s, **p99 {e['p99']:.2f} s** (bar ≤ 2 s) "
                     f"| worker histogram: p50 {h['p50']:.2f} s, p99 {h['p99']:.2f} s | |")
        for ph in lat.get("phases", [])[1:]:
            pe = ph["e2e_by_district"]
            lines.append(f"| the same, polled every {ph['poll_interval'] * 1000:.0f} ms "
                         f"(a scrape costs the worker ~{ph['scrape_ms']['median'] or 0:.0f} ms) "
                         f"| p50 {pe['p50']:.2f} s, p95 {pe['p95']:.2f} s, p99 {pe['p99']:.2f} s | | |")
    sd = results.get("seeding")
    if sd:
        lines.append(f"| Seeding: {sd['distinct_accounts']:,} accounts ({sd['events']:,} events) "
                     f"| {sd['rate']:,.0f} events/s, **peak RSS {sd['peak_rss_bytes'] / 2**20:,.0f} MB** (bar ≤ 600 MB)"
                     f" | RocksDB {sd['rocksdb_bytes'] / 2**20:,.0f} MB on disk | |")
    so = results.get("scaleout")
    if so:
        lines.append(f"| Scale-out ({so['events']:,} events) | 2 workers {so['median_two']:,.0f}/s "
                     f"| 1 worker {so['median_one']:,.0f}/s | {so['ratio']:.2f}x |")
    pb = results.get("publisher")
    if pb:
        lines.append(f"| Publisher ({pb['records']:,} JSON Lines records, in-process) "
                     f"| {pb['median_publisher']:,.0f} records/s | kafka-python pre-encoded and signed "
                     f"{pb['median_raw']:,.0f}/s | **{pb['ratio']:.2f}x** (bar ≥ 0.5x) |")
    rs = results.get("restart")
    if rs:
        for x in rs["results"]:
            same, new = x["same_node"], x["new_node"]
            lines.append(f"| Restart, 8 partitions after {x['hours']:g} h at {x['rate']} ev/s each "
                         f"({x['ids'] * 8:,} ids, changelog {x['changelog_bytes'] * 8 / 2**20:,.0f} MB) "
                         f"| same node **ready {same['ready_seconds']:.1f} s** (restore {same['seconds']:.1f} s), "
                         f"**peak RSS {same['peak_rss_bytes'] / 2**20:,.0f} MB**"
                         f" | new node (dedupe rebuilt) {new['seconds']:.1f} s, "
                         f"{new['peak_rss_bytes'] / 2**20:,.0f} MB | |")
    fc = results.get("faults")
    if fc:
        rows = fc["scenarios"].values()
        exact = sum(1 for r in rows if r.get("verdict", {}).get("exact"))
        lines.append(f"| Fault campaign ({len(fc['scenarios'])} checks: SIGKILLs, joins/kills, broker restart, "
                     f"fencing, soak; docs/faults.md) | **lost {fc['lost']:,}, counted twice {fc['twice']:,}** "
                     f"of {fc['sent']:,} events sent | exact in {exact} of {len(fc['scenarios'])} | |")
    lines += ["", "Bars:", ""] + [f"- {b.line()}" for b in bars]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, one run each (~2 minutes)")
    p.add_argument("--ci", action="store_true", help="CI: implies --quick with trimmed sizes; exit 1 only on a crash")
    p.add_argument("--only", help=f"comma-separated sections ({', '.join(SECTIONS)})")
    p.add_argument("--skip", help="comma-separated sections to leave out")
    p.add_argument("--profile", action="store_true", help="also run bench.profile (py-spy) after the sections")
    args = p.parse_args(argv)
    profile = CI if args.ci else QUICK if args.quick else FULL
    names = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    skip = {s.strip() for s in args.skip.split(",")} if args.skip else set()
    unknown = [s for s in (*names, *skip) if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s): {', '.join(unknown)}")
    command = "python -m bench" + (" --quick" if args.quick else "") + (" --ci" if args.ci else "") \
        + (f" --only {args.only}" if args.only else "") + (f" --skip {args.skip}" if args.skip else "")
    if args.ci and hasattr(signal, "alarm"):
        def hung(signum: int, frame: Any) -> None:
            raise SystemExit(f"bench: still running after {CI_DEADLINE} s: hung")

        signal.signal(signal.SIGALRM, hung)
        signal.alarm(CI_DEADLINE)
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    bars: list[Bar] = []
    crashed: dict[str, str] = {}
    for name in names:
        if name in skip:
            continue
        t = time.monotonic()
        try:
            out = SECTIONS[name](profile)
        except Exception:  # a crash in one section must not hide the others' figures
            crashed[name] = traceback.format_exc()
            print(f"!! {name} crashed:\n{crashed[name]}", file=sys.stderr, flush=True)
            continue
        bars += out.pop("_bars")
        out["section_seconds"] = time.monotonic() - t
        results[name] = out
        write_result(name, out)
        print(f"({name}: {out['section_seconds']:.0f} s)\n", flush=True)
    if args.profile and not args.ci:
        from bench import profile as prof

        try:
            results["profile"] = prof.run(events=profile.events if profile is not FULL else 100_000)
            write_result("profile", results["profile"])
        except Exception:
            crashed["profile"] = traceback.format_exc()
            print(f"!! profile crashed:\n{crashed['profile']}", file=sys.stderr, flush=True)
    seconds = time.monotonic() - started
    print(f"== summary ({profile.name}, {seconds:.0f} s) ==")
    for out in results.values():
        if "table" in out:
            print(out["table"] + "\n")
    for bar in bars:
        print(bar.line())
    for name in crashed:
        print(f"CRASH {name}")
    md = markdown(results, bars, command, seconds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary-latest.md").write_text(md)
    path = write_result("summary", {"profile": profile.name, "command": command, "seconds": seconds,
                                    "bars": [b.as_dict() for b in bars], "crashed": crashed,
                                    "sections": {k: {kk: vv for kk, vv in v.items() if kk not in ("detail",)}
                                                 for k, v in results.items()}})
    print(f"\nwrote {path} and {RESULTS / 'summary-latest.md'} (figures are reported, not enforced)")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
