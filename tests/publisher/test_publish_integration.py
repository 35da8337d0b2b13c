"""``digindex publish`` against the real session broker: what lands on the topic, what is refused."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from streams.broker import free_port
from streams.cli import build_parser
from streams.config import Settings
from streams.producer import district_key
from streams.publisher.checkpoint import Checkpoint
from streams.publisher.routing import default_partition
from streams.publisher.run import Job
from streams.publisher.run import publish as publish_job

from .data import RECENT, RECENT_IST, RECENT_UTC, consume, env_for, payment, seeding, write_csv, write_jsonl

pytestmark = pytest.mark.integration

AADHAAR_RUN = re.compile(r"(?<!\d)[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}(?!\d)")


def publish(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``digindex publish ARGV`` in-process on ``settings``; (exit status, stdout, stderr)."""
    args = ["publish", *argv]
    parsed = build_parser(args).parse_args(args)
    code = parsed._module.run(parsed, settings)
    out, err = capsys.readouterr()
    return code, out, err


def expected_payment(obj: dict[str, Any]) -> dict[str, Any]:
    from datetime import datetime

    rec = {"bank_code": "SBIN", "branch_ifsc": None, "purpose": "OTHER", "department_code": None, **obj}
    if isinstance(rec["department_code"], str) and not rec["department_code"].strip():
        rec["department_code"] = None  # a blank code is no code
    if isinstance(rec["occurred_at"], str):
        rec["occurred_at"] = int(datetime.fromisoformat(rec["occurred_at"]).timestamp() * 1000)
    return rec


def test_jsonl_lands_keyed_by_district(settings: Settings, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    objs = [payment(i) for i in range(300)]
    for i in range(0, 300, 2):
        objs[i]["occurred_at"] = RECENT_IST
    for i in range(0, 300, 3):
        objs[i]["bank_code"] = "SBIN"
    src = write_jsonl(tmp_path / "sbin.jsonl", objs)
    code, out, err = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN")
    assert (code, err) == (0, "")
    assert "sent=300 rejected=0 skipped=0" in out
    got = consume(settings, settings.payments_topic, 300)
    assert sorted((v for _, _, v in got), key=lambda r: r["event_id"]) == [expected_payment(o) for o in objs]
    for key, partition, value in got:
        assert key == district_key(value["district_lgd"])
        assert partition == default_partition(key, list(range(settings.topic_partitions)))
    assert not Path(f"{src}.rejects.jsonl").exists()
    assert Checkpoint.load(Path(f"{src}.checkpoint.json")).complete  # type: ignore[union-attr]

    code, out, _ = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN")
    assert code == 0 and "sent=0 rejected=0 skipped=300" in out
    assert len(consume(settings, settings.payments_topic, 300)) == 300  # the rerun sent nothing


def test_csv_lands_with_empty_cells_as_null(settings: Settings, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    objs = [payment(i) for i in range(120)]
    src = write_csv(tmp_path / "sbin.csv", objs)
    assert ",," in src.read_text()  # branch_ifsc is empty on every other row
    code, out, err = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN")
    assert (code, err) == (0, "") and "sent=120" in out
    got = consume(settings, settings.payments_topic, 120)
    assert sorted((v for _, _, v in got), key=lambda r: r["event_id"]) == [expected_payment(o) for o in objs]
    assert all(k == district_key(v["district_lgd"]) for k, _, v in got)


def _with_departments(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bills with their department's code, receipts with a department, blank codes, and none."""
    codes = [("BILL_ENERGY", "ENERGY"), ("GOVT_RECEIPT", "TRANSPORT"), ("GOVT_PAYMENT", "TREASURY"),
             ("DBT", "EDUCATION"), ("BILL_WATER", ""), ("P2M", None), ("P2P", "  ")]
    for i, obj in enumerate(objs):
        purpose, code = codes[i % len(codes)]
        obj["purpose"] = purpose
        if code is not None:
            obj["department_code"] = code
    return objs


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_department_codes_land_and_blank_ones_are_null(settings: Settings, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    objs = _with_departments([payment(i) for i in range(70)])
    if fmt == "csv":
        src = write_csv(tmp_path / "sbin.csv", objs, list(dict.fromkeys(k for o in objs for k in o)))
        assert ",ENERGY" in src.read_text() and ",  " in src.read_text()
    else:
        src = write_jsonl(tmp_path / "sbin.jsonl", objs)
        assert '"department_code": ""' in src.read_text()
    code, out, err = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN")
    assert (code, err) == (0, "") and "sent=70 rejected=0" in out
    got = sorted((v for _, _, v in consume(settings, settings.payments_topic, 70)), key=lambda r: r["event_id"])
    assert got == [expected_payment(o) for o in objs]
    assert {r["department_code"] for r in got} == {"ENERGY", "TRANSPORT", "TREASURY", "EDUCATION", None}


def test_seeding_from_stdin(settings: Settings, tmp_path: Path) -> None:
    lines = "".join(json.dumps(seeding(i)) + "\n" for i in range(50))
    proc = subprocess.run([sys.executable, "-m", "streams", "publish", "-", "--kind", "seeding", "--bank", "SBIN"],
                          input=lines, capture_output=True, text=True, env=env_for(settings), cwd=tmp_path,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "sent=50" in proc.stdout
    got = consume(settings, settings.seeding_topic, 50, "SeedingEvent")
    assert sorted(v["event_id"] for _, _, v in got) == [f"SEED-{i:07d}" for i in range(50)]
    assert not (tmp_path / "stdin.rejects.jsonl").exists()


BAD_PAYMENTS: list[tuple[Any, str, str | None]] = [
    # (line, reason code, field)
    (payment(1001, channel="PAYTM"), "malformed", "channel"),
    (payment(1002, amount_paise=-500), "out_of_range", "amount_paise"),
    (payment(1003, district_lgd=9999), "unknown_district", "district_lgd"),
    (payment(1004, branch_ifsc="2345 6789 0123"), "aadhaar_like_value", "branch_ifsc"),
    (payment(1005, occurred_at=int(time.time() * 1000) + 86_400_000), "out_of_range", "occurred_at"),
    (payment(1006, bank_code="HDFC"), "bank_mismatch", "bank_code"),
    ('{"event_id": "TXN-1007", "occurred_at": 2345 6789 0123,', "malformed", None),
    (payment(1008, occurred_at="2021-03-31T10:15:00"), "malformed", "occurred_at"),
    # older than the dedupe horizon (7 days): the worker could not deduplicate it
    (payment(1009, occurred_at=int(time.time() * 1000) - 8 * 86_400_000), "too_old", "occurred_at"),
    # not in the department registry (codes are capitals: ENERGY, not energy)
    (payment(1010, purpose="GOVT_RECEIPT", department_code="MINING"), "unknown_department", "department_code"),
    (payment(1011, purpose="BILL_ENERGY", department_code="energy"), "unknown_department", "department_code"),
    (payment(1012, department_code=7), "malformed", "department_code"),
]


def test_bad_records_are_rejected_and_the_rest_sent(settings: Settings, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    good = [payment(i) for i in range(40)]
    lines: list[Any] = good[:20] + [bad for bad, _, _ in BAD_PAYMENTS] + good[20:]
    src = write_jsonl(tmp_path / "mixed.jsonl", lines)
    rejects = tmp_path / "out" / "rejects.jsonl"
    code, out, err = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN",
                             "--rejects", str(rejects))
    assert code == 2
    assert f"sent=40 rejected={len(BAD_PAYMENTS)}" in out
    entries = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(e["line"], e["code"], e["field"]) for e in entries] == [
        (21 + i, code_, field) for i, (_, code_, field) in enumerate(BAD_PAYMENTS)]
    assert all(e["message"] and e["input"] for e in entries)
    assert '"TXN-1007"' in entries[6]["input"]  # the original line, for the bank to fix
    for i, line in enumerate(err.splitlines()):
        assert line.startswith(f"{src}:{21 + i}: ")
    sent = consume(settings, settings.payments_topic, 40)
    assert sorted(v["event_id"] for _, _, v in sent) == [g["event_id"] for g in good]
    # No raw Aadhaar-like number anywhere we wrote: rejects, stderr, stdout, checkpoint.
    for text in (rejects.read_text(), err, out, Path(f"{src}.checkpoint.json").read_text()):
        assert not AADHAAR_RUN.search(text)
    assert "[REDACTED-AADHAAR]" in rejects.read_text()

    code, out, _ = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN",
                           "--rejects", str(rejects))
    assert code == 2 and f"sent=0 rejected=0 (+{len(BAD_PAYMENTS)} in earlier runs) skipped=40" in out
    assert len(rejects.read_text().splitlines()) == len(BAD_PAYMENTS)


def test_aadhaar_in_account_ref_is_refused_and_never_written(settings: Settings, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "seed.csv", [seeding(1), seeding(2, account_ref="2345 6789 0123"),
                                            seeding(3, account_ref="234567890123"), seeding(4)])
    code, out, err = publish(settings, capsys, str(src), "--kind", "seeding", "--bank", "SBIN")
    assert code == 2 and "sent=2 rejected=2" in out
    rejects = Path(f"{src}.rejects.jsonl").read_text()
    assert [json.loads(x)["line"] for x in rejects.splitlines()] == [3, 4]
    assert not AADHAAR_RUN.search(rejects) and not AADHAAR_RUN.search(err)
    got = consume(settings, settings.seeding_topic, 2, "SeedingEvent")
    assert sorted(v["account_ref"] for _, _, v in got) == ["ACC-000001", "ACC-000004"]


def test_failures_exit_1(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--kind", "payments", "--bank", "SBIN"]
    code, _, err = publish(settings, capsys, str(tmp_path / "missing.jsonl"), *flags)
    assert code == 1 and "cannot read" in err

    all_bad = write_jsonl(tmp_path / "bad.jsonl", [payment(1, channel="X"), payment(2, amount_paise=-1)])
    code, out, _ = publish(settings, capsys, str(all_bad), *flags)
    assert code == 1 and "sent=0 rejected=2" in out

    array = tmp_path / "array.json"
    array.write_text(json.dumps([payment(1)]))
    code, _, err = publish(settings, capsys, str(array), *flags)
    assert code == 1 and "JSON array" in err

    bad_header = write_csv(tmp_path / "h.csv", [{"event_id": "e", "amount": 1}])
    code, _, err = publish(settings, capsys, str(bad_header), *flags)
    assert code == 1 and "unknown column" in err

    good = write_jsonl(tmp_path / "good.jsonl", [payment(i) for i in range(5)])
    code, _, _ = publish(settings, capsys, str(good), *flags)
    assert code == 0
    code, _, err = publish(settings, capsys, str(good), "--kind", "payments", "--bank", "HDFC")
    assert code == 1 and "does not belong to this publication" in err and "--restart" in err
    with good.open("a") as f:
        f.write(json.dumps(payment(5)) + "\n")
    code, _, err = publish(settings, capsys, str(good), *flags)
    assert code == 1 and "input file changed" in err
    code, out, _ = publish(settings, capsys, str(good), *flags, "--restart")
    assert code == 0 and "sent=6" in out
    Path(f"{good}.checkpoint.json").write_text("{torn")
    code, _, err = publish(settings, capsys, str(good), *flags)
    assert code == 1 and "not a checkpoint" in err and "--restart" in err

    started = time.monotonic()
    code, _, err = publish(settings, capsys, str(good), *flags, "--restart", "--connect-timeout", "2",
                           "--broker", f"kafka://127.0.0.1:{free_port()}")
    assert code == 1 and "unreachable" in err
    assert time.monotonic() - started < 10


def test_occurred_at_forms_agree(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forms = [RECENT, str(RECENT), RECENT_IST, RECENT_UTC]
    src = write_jsonl(tmp_path / "t.ndjson", [payment(i, occurred_at=f) for i, f in enumerate(forms)])
    code, _, _ = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN")
    assert code == 0
    assert {v["occurred_at"] for _, _, v in consume(settings, settings.payments_topic, 4)} == {RECENT}


def test_csv_resume_after_a_clean_stop(settings: Settings, tmp_path: Path) -> None:
    """Stopped after its first segment and rerun: CSV offsets (multi-line records too) resume exactly."""
    objs = [payment(i, event_id=f"TXN\n{i:07d}" if i % 97 == 0 else f"TXN-{i:07d}") for i in range(3000)]
    for i in (10, 2500):
        objs[i]["channel"] = "PAYTM"
    src = write_csv(tmp_path / "resume.csv", objs)
    job = Job(source=str(src), kind="payments", bank_code="SBIN", fmt="csv", rejects=tmp_path / "r.jsonl",
              checkpoint=tmp_path / "cp.json", batch_records=1000)
    stop = threading.Event()
    stop.set()  # honoured at the first segment boundary (a third of the batch: 333 rows)
    first = publish_job(job, settings, io.StringIO(), stop)
    assert first.exit_code == 1 and first.error and "interrupted" in first.error
    assert (first.sent, first.rejected) == (332, 1)
    second = publish_job(job, settings, io.StringIO())
    assert (second.sent, second.rejected, second.skipped, second.earlier_rejected) == (2666, 1, 332, 1)
    assert second.exit_code == 2
    got = consume(settings, settings.payments_topic, 2998)
    assert sorted(v["event_id"] for _, _, v in got) == sorted(o["event_id"] for o in objs if o["channel"] != "PAYTM")
    assert sum("\n" in v["event_id"] for _, _, v in got) == len(range(0, 3000, 97))
    lines = [json.loads(x)["line"] for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    # row i starts after the header and i rows, each two-line row before it adding a line
    assert lines == [2 + i + sum(1 for j in range(i) if j % 97 == 0) for i in (10, 2500)]


# --- The publisher never blocks on one record (issue 9, item 7) ---

def test_a_record_over_1_mib_is_a_reject_and_the_rerun_goes_on(settings: Settings, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Used to exit 1 (MessageSizeTooLargeError) at the same checkpoint on every rerun."""
    huge = payment(5, account="x" * (1 << 20))
    del huge["account"]
    huge["branch_ifsc"] = "SBIN" + "0" * (1 << 20)
    src = write_jsonl(tmp_path / "huge.jsonl", [payment(i) for i in range(5)] + [huge]
                      + [payment(i) for i in range(6, 10)])
    flags = ["--kind", "payments", "--bank", "SBIN"]
    code, out, err = publish(settings, capsys, str(src), *flags)
    assert code == 2 and "sent=9 rejected=1" in out, (out, err)
    entry = json.loads(Path(f"{src}.rejects.jsonl").read_text())
    assert (entry["line"], entry["code"]) == (6, "too_large") and len(entry["input"]) < 200
    assert f"{src}:6: -: too_large: line longer than 65,536 bytes" in err
    code, out, _ = publish(settings, capsys, str(src), *flags)
    assert code == 2 and "sent=0 rejected=0 (+1 in earlier runs) skipped=9" in out
    assert sorted(v["event_id"] for _, _, v in consume(settings, settings.payments_topic, 9)) == [
        f"TXN-{i:07d}" for i in range(10) if i != 5]


@pytest.mark.parametrize(("fmt", "eol"), [("jsonl", "\r\n"), ("jsonl", "\r"), ("csv", "\r"), ("csv", "\r\n")])
def test_bom_crlf_and_cr_files_publish_every_record(settings: Settings, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str], fmt: str, eol: str) -> None:
    objs = [payment(i) for i in range(30)]
    src = write_jsonl(tmp_path / "in.jsonl", objs) if fmt == "jsonl" else write_csv(tmp_path / "in.csv", objs)
    src.write_bytes(b"\xef\xbb\xbf" + src.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", eol.encode()))
    code, out, err = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN")
    assert (code, err) == (0, "") and "sent=30 rejected=0" in out
    got = consume(settings, settings.payments_topic, 30)
    assert sorted((v for _, _, v in got), key=lambda r: r["event_id"]) == [expected_payment(o) for o in objs]


def test_an_unbalanced_csv_quote_rejects_one_row(settings: Settings, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """One stray quote used to swallow the next 128 KiB (2,938 good rows) into one reject."""
    objs = [payment(i) for i in range(3000)]
    src = write_csv(tmp_path / "q.csv", objs)
    text = src.read_bytes().splitlines(keepends=True)
    assert text[11].startswith(b"TXN-0000010,")
    text[11] = text[11].replace(b"TXN-0000010,", b'TXN-0000010,"')
    src.write_bytes(b"".join(text))
    code, out, _ = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN")
    assert code == 2 and "sent=2999 rejected=1" in out
    entry = json.loads(Path(f"{src}.rejects.jsonl").read_text())
    assert (entry["line"], entry["code"]) == (12, "malformed") and "unbalanced quote" in entry["message"]
    assert len(consume(settings, settings.payments_topic, 2999)) == 2999


def test_duplicate_event_ids_are_rejected_with_the_first_line(settings: Settings, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    lines: list[Any] = [payment(i) for i in range(10)]
    lines += [payment(3, amount_paise=999), payment(10, channel="PAYTM"), payment(10), payment(10), payment(7)]
    src = write_jsonl(tmp_path / "dupes.jsonl", lines)
    code, out, _ = publish(settings, capsys, str(src), "--kind", "payments", "--bank", "SBIN")
    assert code == 2 and "sent=11 rejected=4" in out
    entries = [json.loads(x) for x in Path(f"{src}.rejects.jsonl").read_text().splitlines()]
    assert [(e["line"], e["code"]) for e in entries] == [
        (11, "duplicate_event_id"), (12, "malformed"), (14, "duplicate_event_id"), (15, "duplicate_event_id")]
    assert [e["message"].split(" of this file")[0] for e in entries if e["code"] == "duplicate_event_id"] == [
        "event_id already used on line 4", "event_id already used on line 13", "event_id already used on line 8"]
    got = {v["event_id"]: v for _, _, v in consume(settings, settings.payments_topic, 11)}
    assert len(got) == 11 and got["TXN-0000003"]["amount_paise"] == 103  # the first one was sent


def test_duplicates_across_a_resume_are_still_rejected(settings: Settings, tmp_path: Path) -> None:
    objs = [payment(i) for i in range(1000)] + [payment(5), payment(600)]
    src = write_jsonl(tmp_path / "r.jsonl", objs)
    job = Job(source=str(src), kind="payments", bank_code="SBIN", fmt="jsonl", rejects=tmp_path / "rej.jsonl",
              checkpoint=tmp_path / "cp.json", batch_records=900)
    stop = threading.Event()
    stop.set()  # stops after the first segment (300 records): TXN-5 is before the checkpoint
    first = publish_job(job, settings, io.StringIO(), stop)
    assert (first.sent, first.rejected) == (300, 0)
    second = publish_job(job, settings, io.StringIO())
    assert (second.sent, second.rejected, second.skipped) == (700, 2, 300)
    entries = [json.loads(x) for x in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert [(e["line"], e["code"], e["message"].split(" of")[0]) for e in entries] == [
        (1001, "duplicate_event_id", "event_id already used on line 6"),
        (1002, "duplicate_event_id", "event_id already used on line 601")]


def test_grievances_csv_lands_and_a_transaction_after_the_event_is_rejected(
        settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import date, datetime, timedelta, timezone

    day_in_india = datetime.fromtimestamp(RECENT / 1000, timezone(timedelta(hours=5, minutes=30))).date()
    objs = [{"event_id": f"g{i}", "occurred_at": RECENT_IST, "district_lgd": 45 + i % 13, "grievance_ref": f"CMP-{i}",
             "action": "RAISED" if i % 2 else "RESOLVED", "case": "UPI_P2P_NOT_CREDITED",
             "transaction_date": (day_in_india - timedelta(days=i % 3)).isoformat(), "amount_paise": 100 + i}
            for i in range(30)]
    late = {**objs[0], "event_id": "after", "transaction_date": (day_in_india + timedelta(days=1)).isoformat()}
    src = write_csv(tmp_path / "grievances.csv", [*objs, late])
    code, out, err = publish(settings, capsys, str(src), "--kind", "grievances", "--bank", "SBIN")
    assert code == 2 and "sent=30 rejected=1" in out, (out, err)
    assert "transaction_date: out_of_range" in err
    got = consume(settings, settings.grievances_topic, 30, kind="GrievanceEvent")
    epoch = date(1970, 1, 1)
    want = [{**o, "bank_code": "SBIN", "occurred_at": RECENT,
             "transaction_date": (date.fromisoformat(o["transaction_date"]) - epoch).days} for o in objs]
    assert sorted((v for _, _, v in got), key=lambda r: int(r["event_id"][1:])) == want
    assert all(k == district_key(v["district_lgd"]) for k, _, v in got)


def test_enablement_csv_lands_an_empty_reference_is_rejected_and_a_rerun_resumes(
        settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sets = ["UPI;DEBIT_CARD", "[]", "QR", "POS;QR;OTHER", "AEPS"]
    objs = [{"event_id": f"n{i}", "occurred_at": RECENT_IST, "district_lgd": 45 + i % 13, "account_ref": f"ACC-{i}",
             "account_type": "CURRENT" if i % 4 == 0 else "SAVINGS", "modes": sets[i % len(sets)],
             "camp_ref": f"CAMP-{i % 3}" if i % 2 else ""} for i in range(30)]
    # an empty cell is a missing value: the required account_ref left blank is refused
    src = write_csv(tmp_path / "enablement.csv", [*objs, {**objs[1], "event_id": "blank", "account_ref": ""}])
    code, out, err = publish(settings, capsys, str(src), "--kind", "enablement", "--bank", "SBIN")
    assert code == 2 and "sent=30 rejected=1" in out, (out, err)
    assert "account_ref" in err
    got = consume(settings, settings.enablement_topic, 30, kind="AccountEnablementEvent")
    want = [{**o, "bank_code": "SBIN", "occurred_at": RECENT,
             "modes": [] if o["modes"] == "[]" else o["modes"].split(";"), "camp_ref": o["camp_ref"] or None,
             "holder_age_band": None} for o in objs]  # no band column: not reported
    assert sorted((v for _, _, v in got), key=lambda r: int(r["event_id"][1:])) == want
    assert all(k == district_key(v["district_lgd"]) for k, _, v in got)
    code, out, err = publish(settings, capsys, str(src), "--kind", "enablement", "--bank", "SBIN")
    assert "sent=0" in out and "skipped=30" in out, (out, err)  # resumed from the checkpoint: nothing again


def test_enrolments_csv_lands_and_an_unknown_age_band_is_rejected(
        settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bands = ["18_40", "41_50", "51_70", "OTHER", ""]  # an empty cell is null: the bank did not report it
    objs = [{"event_id": f"n{i}", "occurred_at": RECENT_IST, "district_lgd": 45 + i % 13, "account_ref": f"ACC-{i}",
             "scheme": ("PMSBY", "PMJJBY", "APY")[i % 3], "status": "EXITED" if i % 4 == 3 else "ENROLLED",
             "holder_age_band": bands[i % 5]} for i in range(30)]
    bad = {**objs[0], "event_id": "dash", "holder_age_band": "18-40"}
    src = write_csv(tmp_path / "enrolments.csv", [*objs, bad])
    code, out, err = publish(settings, capsys, str(src), "--kind", "enrolments", "--bank", "SBIN")
    assert code == 2 and "sent=30 rejected=1" in out, (out, err)
    assert "holder_age_band: out_of_range" in err
    got = consume(settings, settings.enrolments_topic, 30, kind="SchemeEnrolmentEvent")
    want = [{**o, "bank_code": "SBIN", "occurred_at": RECENT, "holder_age_band": o["holder_age_band"] or None}
            for o in objs]
    assert sorted((v for _, _, v in got), key=lambda r: int(r["event_id"][1:])) == want
    assert all(k == district_key(v["district_lgd"]) for k, _, v in got)
