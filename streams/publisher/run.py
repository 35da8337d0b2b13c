"""The publishing loop: read, build, validate, encode, send; checkpoint what the broker confirmed.

Delivery: records are sent without waiting, in segments of a third of
``batch_records``. The checkpoint is advanced past a segment only once every one
of its records has been acknowledged (``AckWindow``), so it is never ahead of the
broker, and it is written by ``BackgroundSaver`` so fsync does not stall sending.
Before each new segment the loop makes sure that what is sent but not durably
checkpointed, plus that segment, is at most ``batch_records``: after a kill a
rerun sends at most that many records twice (the worker drops them by
``(bank_code, event_id)``). Segments also close every ``batch_seconds``, so a
slow input is checkpointed promptly.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from kafka.errors import KafkaError

from ..avro_codec import codec_for, load_schema
from ..config import Settings
from ..errors import EventError, MalformedEvent
from ..producer import make_producer
from ..registry import default_registry
from ..signing import KeyRegistryError, Signer
from ..topics import ensure_topics
from ..validation import check_event, check_horizon
from .checkpoint import Checkpoint, CheckpointMismatch, InputIdentity
from .duplicates import FirstLines
from .job import KINDS, Job, Outcome
from .reader import InputError, Item, Lines, lines_in, read_csv, read_csv_header, read_jsonl
from .records import RecordBuilder
from .rejects import Rejects
from .routing import DistrictRouter
from .saver import BackgroundSaver
from .window import AckWindow

__all__ = ["KINDS", "Job", "Outcome", "publish"]

_READ_BUFFER = 1 << 20

_Validate = Callable[[dict[str, Any], int], tuple[dict[str, Any], bytes]]


class _Interrupted(Exception):
    pass


class _Unreachable(Exception):
    pass


class _Publication:
    """The state of one run; ``loop`` is the hot path and keeps everything in locals."""

    def __init__(self, job: Job, settings: Settings, out: Outcome, err: TextIO, stop: threading.Event) -> None:
        self.job = job
        self.settings = settings
        self.out = out
        self.err = err
        self.stop = stop
        self.checkpoint: Checkpoint | None = None
        # Thirds: one segment being checkpointed, one awaiting acknowledgement, one being filled.
        self.window = AckWindow(job.batch_records, segment=job.batch_records // 3)
        self.saver: BackgroundSaver | None = None
        self.producer: Any = None
        self.rejects: Rejects | None = None
        self.first_lines = FirstLines()
        self.signer: Signer | None = None

    def run(self, stack: contextlib.ExitStack) -> None:
        job = self.job
        name = KINDS[job.kind][0]
        builder = RecordBuilder(load_schema(name), job.bank_code)
        stdin = job.source == "-"
        try:
            # A large buffer: every refill releases the GIL, and winning it back from the producer's
            # I/O thread can take a switch interval (5 ms); 8 KiB refills cost more than the parsing.
            stream: BinaryIO = stack.enter_context(
                open(sys.stdin.fileno() if stdin else job.source, "rb", buffering=_READ_BUFFER,  # noqa: SIM115
                     closefd=not stdin))
            if not stdin and job.checkpoint is not None:
                self._load_checkpoint(Path(job.source), job.checkpoint)
        except OSError as e:
            raise InputError(f"cannot read {job.source}: {e.strerror or e}") from None
        cp = self.checkpoint
        if cp is not None and cp.complete:
            return  # every record was sent (or rejected) by an earlier run
        try:
            self.signer = Signer.from_settings(self.settings)
            self.signer.key_for(job.bank_code)  # no key for this bank: fail before sending anything
        except KeyRegistryError as e:
            raise InputError(str(e)) from None
        offset, line = (cp.offset, cp.line) if cp is not None else (0, 0)
        lines = Lines(stream)
        if job.fmt == "csv":
            header, header_end = read_csv_header(lines)
            try:
                builder.check_columns(header)
            except ValueError as e:
                raise InputError(f"line 1: {e}") from None
            start, start_line = header_end, 1

            def read(at: int, n: int) -> Iterator[Item]:
                return read_csv(lines, header, at, n)
        else:
            start, start_line = 0, 0

            def read(at: int, n: int) -> Iterator[Item]:
                return read_jsonl(lines, at, n)
        validate = self._validator(builder, codec_for(name, self.settings.extra_schema_dir).encode)
        if offset <= start:
            offset, line = start, start_line
        else:  # resumed (stdin never is): learn the ids sent before the checkpoint, then go on after it
            self._remember(read(start, start_line), offset, validate)
            lines.seek(offset)
        items = read(offset, line)
        self._connect(stack)
        if cp is not None and job.checkpoint is not None:
            saver = self.saver = BackgroundSaver(job.checkpoint, saved_sent=cp.sent)
            stack.callback(saver.close, raise_errors=False)
        self.rejects = Rejects(job.rejects, self.out.source, self.err,
                               keep_bytes=cp.rejects_size if cp is not None and cp.offset else None)
        stack.callback(self.rejects.close)
        self.loop(items, validate)

    def _validator(self, builder: RecordBuilder, encode: Callable[[dict[str, Any]], bytes]) -> _Validate:
        """``validate(obj, now_ms)``: the record and its Avro value, or the ``EventError`` refusing it."""
        settings, build, registry = self.settings, builder.build, default_registry()
        max_future_ms = int(settings.max_future_skew * 1000)
        horizon_ms = int(settings.dedupe_horizon * 1000)

        def validate(obj: dict[str, Any], now_ms: int) -> tuple[dict[str, Any], bytes]:
            record = build(obj)
            check_event(record, registry, now_ms, max_future_ms)
            check_horizon(record, now_ms - horizon_ms)
            return record, encode(record)
        return validate

    def _remember(self, items: Iterator[Item], end: int, validate: _Validate) -> None:
        """Register the ids of the records up to byte ``end`` that an earlier run sent (see ``duplicates``)."""
        now_ms = int(time.time() * 1000)
        first_lines = self.first_lines
        for line, at, _, obj in items:
            if at > end:
                break
            if type(obj) is dict:
                try:
                    record, _ = validate(obj, now_ms)
                except (EventError, ValueError, TypeError, OverflowError):
                    continue
                first_lines.setdefault(record["event_id"], line)

    def _load_checkpoint(self, path: Path, where: Path) -> None:
        job = self.job
        fresh = Checkpoint(InputIdentity.of(path), job.kind, job.bank_code, self.out.topic)
        try:
            cp = None if job.restart else Checkpoint.load(where)
            if cp is None:
                self.checkpoint = fresh
                return
            fresh.check_matches(cp)
        except CheckpointMismatch as e:
            raise CheckpointMismatch(f"checkpoint {where} does not belong to this publication: {e}; "
                                     "remove it or pass --restart to publish the whole file again") from None
        self.checkpoint = cp
        self.out.skipped, self.out.earlier_rejected = cp.sent, cp.rejected

    def _connect(self, stack: contextlib.ExitStack) -> None:
        """Producer first: it gives up after ``connect_timeout``, so a wrong address fails fast."""
        settings, timeout = self.settings, self.job.connect_timeout
        try:
            self.producer = make_producer(settings, bootstrap_timeout_ms=int(timeout * 1000),
                                          max_block_ms=int(timeout * 1000))
            stack.callback(self.producer.close, timeout=5.0)
            if self.job.create_topics:
                ensure_topics(settings, timeout=timeout)
        except KafkaError as e:
            raise _Unreachable(f"broker {settings.bootstrap_servers} unreachable: {e}") from None

    def loop(self, items: Any, validate: _Validate) -> None:
        """Send every good item, reject every bad one, close a segment every ``window.segment`` items."""
        job, window = self.job, self.window
        assert self.rejects is not None
        reject = self.rejects.add
        first_lines = self.first_lines
        seen = first_lines.setdefault
        send = self.producer.send
        assert self.signer is not None
        sign, bank = self.signer.headers, job.bank_code
        futures: list[Any] = []
        append = futures.append
        topic = self.out.topic
        router = DistrictRouter(self.producer, topic)
        routes, route = router.cache, router.route
        monotonic = time.monotonic
        segment = window.segment
        now_ms = int(time.time() * 1000)
        deadline = monotonic() + job.batch_seconds
        pending = 0
        last: Item | None = None
        for last in items:
            line, _, raw, obj = last
            if type(obj) is dict:
                try:
                    record, value = validate(obj, now_ms)
                    first = seen(record["event_id"], line)
                    if first != line:
                        raise first_lines.error(first)
                except EventError as e:
                    reject(line, e, raw)
                except (ValueError, TypeError, OverflowError) as e:  # the builder should make this unreachable
                    reject(line, MalformedEvent(f"does not encode: {type(e).__name__}"), raw)
                else:
                    lgd = record["district_lgd"]
                    key, partition = routes.get(lgd) or route(lgd)
                    append(send(topic, value=value, key=key, partition=partition, headers=sign(bank, key, value)))
            else:
                reject(line, obj, raw)
            pending += 1
            if pending >= segment or monotonic() >= deadline:
                self._save(window.close(futures, self._mark(last)))
                self._bound()
                futures = []
                append = futures.append
                router.forget()
                if self.stop.is_set():
                    self._save(window.drain(self.producer.flush))
                    self._close_saver()
                    raise _Interrupted
                pending = 0
                now_ms = int(time.time() * 1000)
                deadline = monotonic() + job.batch_seconds
        final = self._mark(last)
        window.close(futures, final)
        window.drain(self.producer.flush)
        self._save(final, complete=True)
        self._close_saver()

    def _mark(self, last: Item | None) -> tuple[Item | None, int, int]:
        """Where a segment ends: its last item and the rejects reported up to it (count, file size)."""
        assert self.rejects is not None
        return last, self.rejects.count, self.rejects.sync()

    def _save(self, mark: tuple[Item | None, int, int] | None, complete: bool = False) -> None:
        """Advance the checkpoint to ``mark``, an acknowledged segment's end (None: nothing new)."""
        cp, path = self.checkpoint, self.job.checkpoint
        if mark is None or cp is None or path is None:
            return
        last, rejected, rejects_size = mark
        changes: dict[str, Any] = {}
        if last is not None:
            changes.update(offset=last[1], line=last[0] + lines_in(last[2]) - 1)
        self.checkpoint = cp.advanced(sent=self.out.skipped + self.window.acknowledged,
                                      rejected=self.out.earlier_rejected + rejected,
                                      rejects_size=rejects_size, complete=complete, **changes)
        assert self.saver is not None
        self.saver.submit(self.checkpoint)

    def _bound(self) -> None:
        """Keep what is sent but not durably checkpointed, plus the next segment, within ``batch_records``."""
        if self.saver is not None:
            window = self.window
            self.saver.wait_saved(self.out.skipped + window.sent + window.segment - window.limit)

    def _close_saver(self) -> None:
        if self.saver is not None:
            self.saver.close()


def publish(job: Job, settings: Settings, err: TextIO | None = None,
            stop: threading.Event | None = None) -> Outcome:
    """Publish ``job.source``; never raises for bad input or an unreachable broker (see ``Outcome``).

    Setting ``stop`` ends the run at the next segment boundary, with the checkpoint
    written, so a rerun resumes without duplicates.
    """
    err = err if err is not None else sys.stderr
    out = Outcome("<stdin>" if job.source == "-" else job.source, getattr(settings, KINDS[job.kind][1]), job.rejects)
    started = time.monotonic()
    pub = _Publication(job, settings, out, err, stop or threading.Event())
    try:
        with contextlib.ExitStack() as stack:
            pub.run(stack)
    except _Interrupted:
        out.error = "interrupted; run the same command again to resume"
    except (InputError, CheckpointMismatch, _Unreachable) as e:
        out.error = str(e)
    except KafkaError as e:
        out.error = f"sending failed: {type(e).__name__}: {e}; the checkpoint holds the last acknowledged batch"
    except OSError as e:
        out.error = f"{job.source}: {e}"
    out.sent = pub.window.acknowledged
    out.rejected = pub.rejects.count if pub.rejects is not None else 0
    out.seconds = time.monotonic() - started
    return out
