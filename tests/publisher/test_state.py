"""Rejects file, checkpoint file, acknowledgement window and partition routing, without a broker."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.partitioner.default import DefaultPartitioner
from kafka.producer.future import FutureProduceResult, FutureRecordMetadata
from kafka.structs import TopicPartition

from streams.errors import AadhaarLikeValue, OutOfRange
from streams.publisher.checkpoint import Checkpoint, CheckpointMismatch, InputIdentity
from streams.publisher.rejects import Rejects
from streams.publisher.routing import default_partition
from streams.publisher.saver import BackgroundSaver
from streams.publisher.window import AckWindow

AADHAAR_RUN = re.compile(r"(?<!\d)[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}(?!\d)")


def test_rejects_are_redacted_everywhere(tmp_path: Path) -> None:
    path, err = tmp_path / "in.jsonl.rejects.jsonl", io.StringIO()
    rejects = Rejects(path, "in.jsonl", err)
    raw = b'{"event_id": "x", "account_ref": "2345 6789 0123"}\n'
    rejects.add(7, AadhaarLikeValue("field account_ref holds an Aadhaar-like 12-digit number", "account_ref"), raw)
    rejects.add(8, OutOfRange("amount is 234567890123", "amount_paise"), b'{"amount_paise": 234567890123}\r\n')
    rejects.close()
    entries = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(e["line"], e["field"], e["code"]) for e in entries] == [
        (7, "account_ref", "aadhaar_like_value"), (8, "amount_paise", "out_of_range")]
    assert entries[0]["input"] == '{"event_id": "x", "account_ref": "[REDACTED-AADHAAR]"}'
    assert err.getvalue().splitlines()[0] == ("in.jsonl:7: account_ref: aadhaar_like_value: "
                                               "field account_ref holds an Aadhaar-like 12-digit number")
    assert not AADHAAR_RUN.search(path.read_text()) and not AADHAAR_RUN.search(err.getvalue())


def test_rejects_file_is_lazy_fresh_or_cut_back(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("stale\n")
    Rejects(path, "f", io.StringIO()).close()
    assert not path.exists()  # a fresh run with no rejects leaves no file behind
    first = Rejects(path, "f", io.StringIO())
    first.add(1, OutOfRange("a", "x"), b"a")
    keep = first.sync()
    first.add(2, OutOfRange("b", "x"), b"b")
    first.close()
    resumed = Rejects(path, "f", io.StringIO(), keep_bytes=keep)  # line 2 will be read again
    resumed.add(2, OutOfRange("b", "x"), b"b")
    resumed.close()
    assert [json.loads(x)["line"] for x in path.read_text().splitlines()] == [1, 2]


def test_checkpoint_round_trip_and_identity(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_bytes(b'{"a": 1}\n' * 100)
    cp = Checkpoint(InputIdentity.of(data), "payments", "SBIN", "payments", offset=90, line=10, sent=9,
                    rejected=1, rejects_size=120)
    where = tmp_path / "in.jsonl.checkpoint.json"
    cp.save(where)
    assert Checkpoint.load(where) == cp
    assert Checkpoint.load(tmp_path / "none.json") is None
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    cp.check_matches(Checkpoint(InputIdentity.of(data), "payments", "SBIN", "payments"))
    with pytest.raises(CheckpointMismatch, match="bank_code"):
        cp.check_matches(Checkpoint(InputIdentity.of(data), "payments", "HDFC", "payments"))
    with data.open("ab") as f:
        f.write(b'{"a": 2}\n')
    with pytest.raises(CheckpointMismatch, match=r"input file changed.*size"):
        cp.check_matches(Checkpoint(InputIdentity.of(data), "payments", "SBIN", "payments"))
    where.write_text("{not json")
    with pytest.raises(CheckpointMismatch):
        Checkpoint.load(where)


class Record:
    """A real kafka-python record future and the produce result that completes it."""

    def __init__(self) -> None:
        self.produce = FutureProduceResult(TopicPartition("t", 0))
        self.future = FutureRecordMetadata(self.produce, 0, -1, None, 1, 1, -1)

    def ack(self) -> Any:
        self.produce.success((0, -1, None))
        return self.future

    def fail(self) -> Any:
        self.produce.failure(KafkaTimeoutError("expired"))
        return self.future


def acked(n: int) -> list[Any]:
    return [Record().ack() for _ in range(n)]


def test_window_releases_done_segments_and_waits_only_past_its_limit() -> None:
    window = AckWindow(10)
    assert window.segment == 5
    first = [Record() for _ in range(5)]
    assert window.close([r.future for r in first], "a") is None  # 5 in flight + 5 open: within the limit
    for r in first:
        r.ack()
    assert window.close(acked(5), "b") == "b"  # both segments acknowledged: released together
    assert window.acknowledged == 10

    slow = [Record() for _ in range(5)]
    window.close([r.future for r in slow], "c")
    result: list[Any] = []
    t = threading.Thread(target=lambda: result.append(window.close(acked(5), "d")), daemon=True)
    t.start()
    t.join(0.3)
    assert t.is_alive(), "with c unacknowledged, c + d + an open segment would exceed 10: close() must wait"
    for r in slow:
        r.ack()
    t.join(5)
    assert result == ["d"] and window.acknowledged == 20


def test_window_raises_the_first_failure() -> None:
    window = AckWindow(4)
    failing = Record()
    window.close([Record().ack(), failing.future], "a")
    failing.fail()
    with pytest.raises(KafkaTimeoutError):  # surfaced at the next segment, never checkpointed past
        window.close(acked(2), "b")
    assert window.acknowledged == 0


def test_window_drain_flushes_then_waits_for_everything() -> None:
    window = AckWindow(1000)
    window.close(acked(1), "a")
    late = Record()
    window.close([late.future], "b")
    threading.Timer(0.1, late.ack).start()
    flushed: list[bool] = []
    assert window.drain(lambda: flushed.append(True)) == "b" and flushed == [True]
    assert window.acknowledged == 2


class _Cluster:
    """The two metadata calls the default partitioner makes."""

    def __init__(self, n: int) -> None:
        self.n = n

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.n))

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.n))


@pytest.mark.parametrize("n", [1, 4, 8, 13])
def test_cached_partition_is_the_default_partitioners(n: int) -> None:
    part = DefaultPartitioner()
    for lgd in range(1, 800):
        key = str(lgd).encode()
        assert default_partition(key, list(range(n))[::-1]) == part.partition("t", key, key, None, None, _Cluster(n))


def test_background_saver_writes_the_newest_and_reports_errors(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"{}\n")
    base = Checkpoint(InputIdentity.of(data), "payments", "SBIN", "payments")
    where = tmp_path / "cp.json"
    saver = BackgroundSaver(where, saved_sent=100)  # a resumed run: 100 already durable
    saver.wait_saved(100)  # returns at once
    for sent in (150, 200, 250):
        saver.submit(base.advanced(sent=sent))
    saver.wait_saved(250)
    assert Checkpoint.load(where).sent == 250  # type: ignore[union-attr]
    saver.close()

    broken = BackgroundSaver(tmp_path / "no-such-dir" / "cp.json")
    broken.submit(base.advanced(sent=1))
    with pytest.raises(FileNotFoundError):
        broken.wait_saved(1)
    with pytest.raises(FileNotFoundError):
        broken.close()


def test_checkpoint_never_looks_like_it_holds_an_aadhaar_number(tmp_path: Path) -> None:
    """A hex digest holds a 12-digit run in ~2 % of files; 300 of them would almost surely show one."""
    data = tmp_path / "in.jsonl"
    for i in range(300):
        data.write_text(f"{i}\n")
        cp = Checkpoint(InputIdentity.of(data), "payments", "SBIN", "payments", offset=123_456, line=789)
        cp.save(tmp_path / "cp.json")
        assert not AADHAAR_RUN.search((tmp_path / "cp.json").read_text())


def test_a_reject_entry_is_valid_utf8_json_for_any_input() -> None:
    """A lone surrogate escape in the input, or nesting too deep to walk, once crashed ``Rejects.add``."""
    from streams.errors import MalformedEvent
    from streams.publisher.rejects import entry

    for raw in (b'{"event_id": "\\ud800", "channel": "X"}\n', b"[" * 50_000 + b"]" * 50_000 + b"\n",
                b'{"a": ' + b"[" * 3000 + b"]" * 3000 + b"}\n", b"\xff\xfe\xed\xa0\x80\r\n"):
        line = entry(3, MalformedEvent("bad", "\udcff"), raw)
        parsed = json.loads(line.decode("utf-8"))
        assert parsed["line"] == 3 and line.endswith(b"\n") and line.count(b"\n") == 1
