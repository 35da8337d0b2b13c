#!/usr/bin/env python3
"""Refresh the bank registry (``streams/data/ifsc/``) from Razorpay's ``ifsc`` npm package.

The package (MIT) carries ``src/banknames.json`` (bank code -> name), ``src/IFSC.json`` (bank
code -> branch codes, as integers or strings: IFSC = code + "0" + the branch code padded to 6),
``src/sublet.json`` and ``src/custom-sublets.json`` (IFSCs, or IFSC prefixes, of one bank that
another bank, often a co-operative, operates: "sublet" branches). The extract written here:

- ``banks.csv``: ``bank_code,name`` for every code with a name or with branches;
- ``branches.txt.gz``: every branch IFSC, sorted, one per line (gzip with a fixed mtime, so
  the same package version gives the same bytes);
- ``sublets.csv``: ``ifsc,bank_code`` (an ``ifsc`` shorter than 11 characters is a prefix);
- ``LICENSE`` (the package's MIT text) and ``VERSION`` (``ifsc <version>``).

Usage: ``python scripts/refresh_ifsc.py [--version 2.0.50] [--tarball ifsc-2.0.50.tgz]``; without
``--tarball`` it runs ``npm pack ifsc@VERSION`` (the npm registry, through npm's own client).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "streams" / "data" / "ifsc"


def fetch(version: str, workdir: Path) -> Path:
    spec = f"ifsc@{version}" if version else "ifsc"
    name = subprocess.run(["npm", "pack", spec, "--silent"], cwd=workdir, check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]
    return workdir / name


def extract(tarball: Path, out: Path) -> str:
    with tarfile.open(tarball) as tar:
        def read(name: str) -> bytes:
            member = tar.extractfile(f"package/{name}")
            assert member is not None, name
            return member.read()

        package = json.loads(read("package.json"))
        names: dict[str, str] = json.loads(read("src/banknames.json"))
        branches: dict[str, list[int | str]] = json.loads(read("src/IFSC.json"))
        sublets: dict[str, str] = {**json.loads(read("src/sublet.json")), **json.loads(read("src/custom-sublets.json"))}
        licence = read("LICENSE")
    out.mkdir(parents=True, exist_ok=True)
    codes = sorted(set(names) | set(branches))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["bank_code", "name"])
    for code in codes:
        w.writerow([code, names.get(code, "")])
    (out / "banks.csv").write_text(buf.getvalue(), encoding="utf-8")
    ifscs = sorted(f"{code}0{branch:06d}" if isinstance(branch, int) else f"{code}0{branch}"
                   for code, listed in branches.items() for branch in listed)
    with open(out / "branches.txt.gz", "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        gz.write("".join(i + "\n" for i in ifscs).encode("ascii"))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["ifsc", "bank_code"])
    for ifsc, code in sorted(sublets.items()):
        w.writerow([ifsc, code])
    (out / "sublets.csv").write_text(buf.getvalue(), encoding="utf-8")
    (out / "LICENSE").write_bytes(licence)
    (out / "VERSION").write_text(f"ifsc {package['version']}\n", encoding="utf-8")
    print(f"ifsc {package['version']}: {len(codes)} bank codes ({len(names)} named), {len(ifscs)} branch IFSCs, "
          f"{len(sublets)} sublet entries -> {out}")
    return str(package["version"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", default="", help="package version (default: the latest)")
    parser.add_argument("--tarball", type=Path, help="an already downloaded ifsc-*.tgz")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or fetch(args.version, Path(tmp))
        extract(tarball, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
