"""Run a digindex worker (a Faust worker) against a Kafka-compatible broker.

Several workers with the same --app-id share the partitions; each serves
/metrics (Prometheus), /healthz and the query API (/api/v1/...) on its --metrics-port. State lives under
--data-dir (RocksDB) and is recoverable from the broker's changelog topics.

Every message on the payments, seeding, grievances, enablement and enrolments topics must be signed by a key of the key
registry DIGINDEX_KEY_REGISTRY (a JSON file; re-read when it changes, for rotation and
revocation) for the event's own bank; others are dead-lettered as bad_signature or
bank_mismatch. Without a key registry the worker does not start, unless
DIGINDEX_REQUIRE_SIGNATURES=false (no verification at all).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..app import run_worker
from ..config import Settings, parse_duration
from .common import add_broker_flags, settings_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    add_broker_flags(parser)
    parser.add_argument("--app-id", help="consumer group / application id (default digindex)")
    parser.add_argument("--metrics-port", type=int, help="port for /metrics, /healthz and the API (default 6066)")
    parser.add_argument("--metrics-host", help="address to bind /metrics to (default 127.0.0.1)")
    parser.add_argument("--advertised-url", help="URL the other workers reach this one's web server at, for the "
                        "query API's forwarding (default http://<metrics-host>:<metrics-port>; the host name "
                        "when bound to 0.0.0.0)")
    parser.add_argument("--data-dir", type=Path, help="RocksDB state directory (default ./digindex-data)")
    parser.add_argument("--log-level", choices=["debug", "info", "warn", "error"], help="default info")
    parser.add_argument("--session-timeout", type=parse_duration,
                        help="consumer-group session timeout, seconds (default 3: right for the embedded "
                        "broker; use 30-60 on a production Kafka cluster)")
    parser.add_argument("--windows", help="rolling windows, e.g. 1h,24h (default 1h,24h)")
    parser.add_argument("--dedupe-horizon", type=parse_duration,
                        help="how long event ids are remembered, e.g. 7d (default 7d, at most 35d); "
                        "older events are refused as too_old")
    parser.add_argument("--grievance-retention", type=parse_duration,
                        help="how long a resolved grievance is kept after its resolution day (by the newest "
                        "grievance event), e.g. 35d (default 35d; at least 1d and the longest window); an event for "
                        "one expired is judged as for a grievance never seen (env DIGINDEX_GRIEVANCE_RETENTION)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..config import parse_windows

    settings = settings_from_args(args, settings).replace(
        app_id=args.app_id, metrics_port=args.metrics_port, metrics_host=args.metrics_host,
        advertised_url=args.advertised_url, data_dir=args.data_dir, log_level=args.log_level,
        session_timeout=args.session_timeout,
        windows=parse_windows(args.windows) if args.windows else None, dedupe_horizon=args.dedupe_horizon,
        grievance_retention=args.grievance_retention,
    )
    return run_worker(settings)
