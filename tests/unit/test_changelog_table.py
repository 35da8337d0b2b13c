"""BulkRecoveredTable: parked changelog records reach the store in log order, with Faust's event."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.types import TP

from streams.processor.changelog import WRITER_HEADER, WRITER_KEY, BulkRecoveredTable, raw_table


@pytest.fixture
def table(tmp_path: Path) -> BulkRecoveredTable:
    app = faust.App("test-changelog", broker="kafka://localhost:1", store="rocksdb://", datadir=str(tmp_path))
    return raw_table(app, "state", 2)


def _record(offset: int, key: bytes, value: bytes | None, writer: bytes | None = None) -> Any:
    """What aiokafka fetches (the attributes the table reads); ``writer``: the store that sent it."""
    return SimpleNamespace(offset=offset, key=key, value=value, headers=_headers(writer))


def _event(tp: TP, offset: int, key: bytes, value: bytes | None, writer: bytes | None = None) -> Any:
    """What Faust's recovery hands ``apply_changelog_batch``."""
    return SimpleNamespace(message=SimpleNamespace(tp=tp, partition=tp.partition, offset=offset, key=key,
                                                   value=value, headers=_headers(writer)))


def _headers(writer: bytes | None) -> list[tuple[str, bytes]]:
    return [("other", b"x")] + ([] if writer is None else [(WRITER_HEADER, writer)])


def _get(table: BulkRecoveredTable, partition: int, key: bytes) -> bytes | None:
    return table.data._db_for_partition(partition).get(key)


def test_parked_records_are_written_before_their_event_in_log_order(table: BulkRecoveredTable) -> None:
    tp = TP(table.changelog_topic.get_topic_name(), 1)
    # fetch 1: offsets 0-2; Faust gets offset 2 (k=v2), 0 and 1 are parked
    table.park(tp, [_record(0, b"k", b"v0"), _record(1, b"gone", b"x")], 2)
    # fetch 2 arrives before Faust applied fetch 1's event: offsets 3-5, the same key again, a tombstone
    table.park(tp, [_record(3, b"k", b"v3"), _record(4, b"gone", None)], 5)
    assert table.parked_bytes == len(b"kv0gonex") + len(b"kv3gone")
    # Faust applies its events in order (recovery buffer of one event)
    table.apply_changelog_batch([_event(tp, 2, b"k", b"v2")])
    assert _get(table, 1, b"k") == b"v2" and _get(table, 1, b"gone") == b"x"
    table.apply_changelog_batch([_event(tp, 5, b"other", b"o5")])
    assert _get(table, 1, b"k") == b"v3", "fetch 2's newer value wins over fetch 1's event"
    assert _get(table, 1, b"gone") is None and _get(table, 1, b"other") == b"o5"
    assert table.data.persisted_offset(tp) == 5
    assert not table.parked and table.parked_bytes == 0
    assert table.replayed == 4


def test_a_batch_fetched_again_replaces_its_parked_records(table: BulkRecoveredTable) -> None:
    tp = TP(table.changelog_topic.get_topic_name(), 0)
    table.park(tp, [_record(0, b"a", b"1")], 1)
    table.park(tp, [_record(0, b"a", b"1")], 1)  # a seek back fetched the same records
    assert table.parked_bytes == 2
    table.apply_changelog_batch([_event(tp, 1, b"b", b"2")])
    assert _get(table, 0, b"a") == b"1" and table.parked_bytes == 0


def test_records_of_an_event_faust_skipped_do_not_stay_parked(table: BulkRecoveredTable) -> None:
    tp = TP(table.changelog_topic.get_topic_name(), 0)
    table.park(tp, [_record(0, b"a", b"1")], 1)  # Faust had seen offset 1: it never applies it
    table.park(tp, [_record(2, b"c", b"3")], 3)
    table.apply_changelog_batch([_event(tp, 3, b"d", b"4")])
    assert not table.parked and table.parked_bytes == 0
    assert _get(table, 0, b"c") == b"3"


def test_records_this_store_wrote_are_not_applied_over_it(table: BulkRecoveredTable) -> None:
    """A restart on the same data dir reads back records its store wrote: the store holds them or newer
    versions (written locally first; the newest may never have reached the changelog)."""
    tp = TP(table.changelog_topic.get_topic_name(), 1)
    mine = table.writer_id(1)
    assert mine == _get(table, 1, WRITER_KEY) and mine != table.writer_id(0)
    db = table.data._db_for_partition(1)
    db.put(b"k", b"v9")  # written locally after the records below (its own record was lost)
    table.park(tp, [_record(10, b"k", b"v3", mine), _record(11, b"j", b"b1", b"another-store")], 12)
    table.apply_changelog_batch([_event(tp, 12, b"k", b"v5", mine)])
    assert _get(table, 1, b"k") == b"v9", "an older version of its own write put back"
    assert _get(table, 1, b"j") == b"b1", "another store's record (a previous owner's) is applied"
    table.apply_changelog_batch([_event(tp, 13, b"u", b"unmarked")])  # written before the header existed
    assert _get(table, 1, b"u") == b"unmarked"
    assert table.data.persisted_offset(tp) == 13 and table.own == 2 and not table.parked

