"""The README's example payments file: both forms read as the same valid records."""

from __future__ import annotations

import io
import re
from pathlib import Path

from streams.avro_codec import load_schema
from streams.publisher.reader import Lines, read_csv, read_csv_header, read_jsonl
from streams.publisher.records import RecordBuilder
from streams.registry import default_registry
from streams.validation import check_event

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(kind: str) -> bytes:
    found = re.search(rf"```{kind}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert found, f"no {kind} block in the README"
    return found.group(1).encode()


def test_the_readme_example_reads_the_same_in_both_formats_and_validates() -> None:
    builder = RecordBuilder(load_schema("PaymentEvent"), "SBIN")
    jsonl = [builder.build(obj) for _, _, _, obj in read_jsonl(io.BytesIO(_block("jsonl")))]  # type: ignore[arg-type]
    lines = Lines(io.BytesIO(_block("csv")))
    header, end = read_csv_header(lines)
    builder.check_columns(header)
    rows = [builder.build(obj) for _, _, _, obj in read_csv(lines, header, end, 1)]  # type: ignore[arg-type]
    assert jsonl == rows and len(rows) == 3
    now = max(r["occurred_at"] for r in rows) + 60_000
    for r in rows:
        check_event(r, default_registry(), now, 300_000)  # known district, branch, department
    assert [(r["channel"], r["purpose"], r["department_code"], r["branch_ifsc"]) for r in rows] == [
        ("UPI_QR", "BILL_ENERGY", "ENERGY", "SBIN0001234"), ("CASH", "GOVT_RECEIPT", "REVENUE", "SBIN0001234"),
        ("UPI", "P2P", None, None)]
