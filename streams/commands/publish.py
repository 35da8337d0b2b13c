"""Publish a partner bank's payment, seeding, grievance, enablement or enrolment events from JSON Lines or CSV.

Input: JSON Lines (.jsonl, .json, .ndjson; "-" reads JSON Lines from stdin) or CSV
(.csv, with a header line). Field names and CSV columns are the Avro field names
of schemas/PaymentEvent.avsc, SeedingEvent.avsc, GrievanceEvent.avsc,
AccountEnablementEvent.avsc (--kind enablement) or SchemeEnrolmentEvent.avsc
(--kind enrolments); enums are
symbol strings; occurred_at is ISO-8601 with a UTC offset (2021-03-31T10:15:00+05:30)
or epoch milliseconds (a number from 10^11 to 10^14: epoch seconds or microseconds
are rejected, never rescaled); a grievance's transaction_date is an ISO date in
India (2021-03-31) or a day number since 1970-01-01; holder_age_band (optional in
--kind enrolments and --kind enablement) is 18_40, 41_50, 51_70, OTHER or null (left
out, empty or blank: null; anything else is rejected, out_of_range); an empty CSV
cell is null (or the field's default).
bank_code may be left out (it is taken from --bank); a record naming another bank
is rejected. department_code is optional: a code of the department registry
(streams/data/departments.csv, e.g. ENERGY, REVENUE, TREASURY); left out, empty or
blank it is null, and an unlisted code is rejected (unknown_department). Input
is UTF-8 (a BOM is dropped); lines end in LF, CRLF or CR; a line or CSV record
over 64 KiB is rejected (too_large); an unbalanced CSV quote rejects the line it
opens on, and the lines after it are read as records.

Every record is checked (schema; district, bank, branch and department
registries; no future timestamps, no negative amounts, no Aadhaar-like numbers)
before it is sent. A bad record is
reported on stderr as FILE:LINE: field: reason: message, appended to the rejects
file (redacted: no Aadhaar number is ever written), and does not stop the rest.
Within a file the first record with an event_id is sent and later ones are
rejected (duplicate_event_id, naming the first one's line).

Signing: every message is signed with the bank's newest active key in the key
registry named by DIGINDEX_KEY_REGISTRY (a JSON file of the bank's own keys; each
secret inline, in a secret_file or an environment variable, never a flag):
HMAC-SHA256 in the headers digindex-key-id and digindex-sig, which workers verify.
Without a key for --bank nothing is sent (exit 1).

Resume: the checkpoint file records the byte offset up to which every record has
been acknowledged by the broker; it is advanced as acknowledgements arrive (every
--batch/3 records and at least every --batch-interval), and never more than
--batch records are sent but not yet checkpointed. Killed at any point (even
SIGKILL) and rerun with the same command, the publisher continues after the
checkpoint: every record is sent at least once, and at most --batch records are
sent twice; the worker drops those duplicates by (bank_code, event_id). SIGINT or
SIGTERM stop cleanly at the next checkpoint, with no duplicates on rerun. A rerun
on a finished file sends nothing; a changed file is refused (see --restart).
Stdin cannot be resumed.

Exit status: 0 every record sent; 2 some records rejected, all others sent;
1 failure: nothing could be sent (every record rejected), the file is unreadable,
the broker is unreachable, sending failed or the run was interrupted (rerun to
resume).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from ..aadhaar import redact
from ..config import Settings
from ..publisher.reader import FORMATS, InputError, format_for
from ..publisher.run import KINDS, Job, publish
from .common import add_broker_flags, settings_from_args

__all__ = ["configure", "run"]



class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep the description's paragraphs; show defaults, but not the "None" of flags left unset."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _Formatter
    parser.add_argument("file", metavar="FILE", help='input file, or "-" for JSON Lines on stdin (no resume)')
    parser.add_argument("--bank", required=True, metavar="CODE",
                        help="code of the publishing bank, e.g. SBIN; fills in a missing bank_code")
    parser.add_argument("--kind", required=True, choices=sorted(KINDS), help="which events the file holds")
    parser.add_argument("--format", choices=["auto", *FORMATS], default="auto",
                        help="input format; auto: from the extension (stdin: jsonl)")
    parser.add_argument("--rejects", type=Path, metavar="PATH",
                        help="rejects file (default FILE.rejects.jsonl; for stdin ./stdin.rejects.jsonl)")
    parser.add_argument("--checkpoint", type=Path, metavar="PATH",
                        help="resume state (default FILE.checkpoint.json)")
    parser.add_argument("--restart", action="store_true",
                        help="ignore an existing checkpoint and publish the whole file again")
    parser.add_argument("--batch", type=int, default=1000, metavar="N",
                        help="most records sent but not yet checkpointed: what a rerun after a kill "
                        "may send twice")
    parser.add_argument("--batch-interval", type=float, default=0.5, metavar="SECONDS",
                        help="checkpoint at least this often")
    parser.add_argument("--create-topics", action=argparse.BooleanOptionalAction, default=True,
                        help="create the digindex topics if they are missing")
    parser.add_argument("--connect-timeout", type=float, default=15.0, metavar="SECONDS",
                        help="give up on an unreachable broker after this long")
    add_broker_flags(parser)


def _job(args: argparse.Namespace) -> Job:
    stdin = args.file == "-"
    if stdin and args.checkpoint:
        raise InputError("--checkpoint: stdin cannot be resumed")
    if args.batch < 1 or args.batch_interval <= 0 or args.connect_timeout <= 0:
        raise InputError("--batch, --batch-interval and --connect-timeout must be positive")
    fmt = format_for(args.file) if args.format == "auto" else args.format
    return Job(
        source=args.file,
        kind=args.kind,
        bank_code=args.bank,
        fmt=fmt,
        rejects=args.rejects or Path("stdin.rejects.jsonl" if stdin else f"{args.file}.rejects.jsonl"),
        checkpoint=None if stdin else args.checkpoint or Path(f"{args.file}.checkpoint.json"),
        batch_records=args.batch,
        batch_seconds=args.batch_interval,
        create_topics=args.create_topics,
        restart=args.restart,
        connect_timeout=args.connect_timeout,
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        job = _job(args)
    except InputError as e:
        print(redact(f"digindex publish: error: {e}"), file=sys.stderr)
        return 1
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    kafka_log = logging.getLogger("kafka")
    log_level = kafka_log.level
    if settings.log_level.lower() != "debug":
        # kafka-python logs every failed connection attempt; the summary names the failure once.
        kafka_log.setLevel(logging.CRITICAL)
    main_thread = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGINT, signal.SIGTERM) if main_thread else ()
    previous = {s: signal.signal(s, request_stop) for s in signals}
    try:
        out = publish(job, settings_from_args(args, settings), sys.stderr, stop)
    except KeyboardInterrupt:
        print("digindex publish: interrupted twice; rerun the same command to resume", file=sys.stderr)
        return 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        kafka_log.setLevel(log_level)
    # Redacted like the rejects: a file or directory name could itself carry an Aadhaar number.
    if out.error:
        print(redact(f"digindex publish: error: {out.error}"), file=sys.stderr)
    print(redact(out.summary()), flush=True)
    return out.exit_code

