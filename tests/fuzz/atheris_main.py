"""Coverage-guided fuzzing (atheris, libFuzzer) of the decoder, the validation and the readers.

    python -m tests.fuzz.atheris_main TARGET [SECONDS]     # TARGET: decode, validate, jsonl, csv

Runs TARGET for SECONDS (default 10) from a seed corpus of valid encodings and files
(written to a temporary directory, so libFuzzer mutates valid inputs as well as random
ones), and ends with one line: ``fuzz TARGET: N inputs in S s, ...`` (N: libFuzzer's count of
executed inputs). A finding (any exception but a refusal, or a broken invariant) prints the
traceback and the input (base64), saves it as ``crash-*`` in ``$FUZZ_ARTIFACTS`` (default:
a temporary directory) and exits non-zero.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

TARGETS = ("decode", "validate", "jsonl", "csv")
_EXECUTED = re.compile(rb"stat::number_of_executed_units: (\d+)")


def _seeds(target: str) -> list[bytes]:
    from streams.avro_codec import codec_for
    from tests.publisher.data import payment, seeding, write_csv

    pays, seeds = [payment(i) for i in range(3)], [seeding(i) for i in range(3)]
    if target == "decode":
        codecs = codec_for("PaymentEvent"), codec_for("SeedingEvent")
        return [b"\x00" + codecs[0].encode({"bank_code": "SBIN", **p}) for p in pays] + [
            b"\x01" + codecs[1].encode({"bank_code": "SBIN", **s}) for s in seeds]
    if target == "validate":
        return [b"\x00" * 8, b"\x01" * 8, os.urandom(64)]
    if target == "jsonl":
        return [b"\x00" + "".join(json.dumps(p) + "\n" for p in pays).encode(),
                b"\x01\xef\xbb\xbf" + "".join(json.dumps(s) + "\r" for s in seeds).encode()]
    with tempfile.TemporaryDirectory() as d:
        files = [write_csv(Path(d) / "p.csv", pays).read_bytes(), write_csv(Path(d) / "s.csv", seeds).read_bytes()]
    return [b"\x00" + files[0], b"\x01" + files[1].replace(b"\r\n", b"\r")]


def _fuzz(target: str, argv: list[str]) -> None:
    """In the child: instrument ``streams`` and hand the target to libFuzzer (which exits the process)."""
    import atheris

    with atheris.instrument_imports(include=["streams"]):
        from tests.fuzz import targets

    kinds = targets.KINDS

    def one(data: bytes) -> None:
        if not data:
            return
        name, rest = kinds[data[0] & 1], data[1:]
        if target == "decode":
            targets.check_decode(name, rest)
        elif target == "jsonl" or target == "csv":
            targets.check_read(name, target, rest, data[0] >> 1)
        else:
            fdp = atheris.FuzzedDataProvider(rest)
            record = _record(fdp, name)
            targets.check_validate(name, record, fdp.ConsumeIntInRange(0, 2**45))

    atheris.Setup(argv, one)
    atheris.Fuzz()


@cache
def _fields(name: str) -> list[dict[str, Any]]:
    from streams.avro_codec import load_schema

    return load_schema(name)["fields"]  # type: ignore[no-any-return]


def _record(fdp: object, name: str) -> dict[str, object]:
    """A record of the right shape from the fuzzer's bytes: every field of the schema, of its Avro type."""
    rec: dict[str, object] = {}
    for f in _fields(name):
        t = f["type"]
        if isinstance(t, list):
            t = "null" if fdp.ConsumeBool() else next(x for x in t if x != "null")  # type: ignore[attr-defined]
        if isinstance(t, dict):
            if t["type"] == "enum":
                rec[f["name"]] = fdp.PickValueInList(t["symbols"])  # type: ignore[attr-defined]
                continue
            t = t["type"]
        rec[f["name"]] = {
            "null": lambda: None,
            "string": lambda: fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 24)),  # type: ignore[attr-defined]
            "int": lambda: fdp.ConsumeIntInRange(-(2**31), 2**31 - 1),  # type: ignore[attr-defined]
            "long": lambda: fdp.ConsumeIntInRange(-(2**63), 2**63 - 1),  # type: ignore[attr-defined]
        }[t]()
    return rec


def run(target: str, seconds: float, artifacts: Path | None = None) -> tuple[int, int, str]:
    """Fuzz ``target`` in a child process for ``seconds``: (exit status, inputs tried, output)."""
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as d:
        corpus = Path(d) / "corpus"
        corpus.mkdir()
        for i, seed in enumerate(_seeds(target)):
            (corpus / f"seed-{i}").write_bytes(seed)
        out = Path(artifacts or d)
        out.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "tests.fuzz.atheris_main", "--child", target,
               f"-max_total_time={max(1, round(seconds))}", "-timeout=20", "-rss_limit_mb=2048",
               "-max_len=4096", f"-artifact_prefix={out}/", "-print_final_stats=1", str(corpus)]
        proc = subprocess.run(cmd, capture_output=True, timeout=seconds + 120, cwd=Path(__file__).parents[2])
    done = _EXECUTED.findall(proc.stderr)
    runs = int(done[-1]) if done else 0
    return proc.returncode, runs, proc.stderr.decode(errors="replace")


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--child"]:
        _fuzz(args[1], [sys.argv[0], *args[2:]])
        return 0
    if not args or args[0] not in TARGETS:
        print(__doc__, file=sys.stderr)
        return 2
    seconds = float(args[1]) if len(args) > 1 else 10.0
    started = time.monotonic()
    artifacts = Path(os.environ["FUZZ_ARTIFACTS"]) if os.environ.get("FUZZ_ARTIFACTS") else None
    code, runs, output = run(args[0], seconds, artifacts)
    took = time.monotonic() - started
    if code != 0:
        print(output[-6000:], file=sys.stderr)
    print(f"fuzz {args[0]}: {runs:,} inputs in {took:.0f} s, {'no finding' if code == 0 else f'FINDING (exit {code})'}",
          flush=True)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
