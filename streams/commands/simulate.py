"""Publish realistic synthetic payments, Aadhaar-seeding, grievance, enablement and enrolment events
for every Uttarakhand district.

District volumes, ticket sizes and the purpose mix are calibrated on the real
PhonePe Pulse series (latest year; utility bills are half of Pulse's "Recharge &
bill payments" share). A first load of accounts goes to the seeding topic, then
payments flow at --rate per second with a trickle of seeding changes, keyed by
district. The same --seed gives the same events (event ids included).

The payments carry the directive's lines: energy, water and housing bills, 15-40 %
of those paid digitally scanned from the bill's UPI QR code (more in the more
digital districts); a department_code on bills (ENERGY, WATER, HOUSING) and on
government receipts, payments and DBT (TRANSPORT, REVENUE, TREASURY, HEALTH,
EDUCATION ...); real branch IFSCs of each event's own bank; and technical and
business declines at each bank's rate (about 1 % and 3.5 % of digital attempts
overall, the small and regional banks worse).

The people lines (issue 11): grievances about failed digital payments, in each district and
bank in proportion to its technical declines (5 % of them become a grievance), most resolved
within the RBI's turn-around time, a tail past it, a few OTHER; a first load of the last
--grievance-backlog of them (open ones past their turn-around time included). Digital
enablement of the same accounts as seeding (savings and current, 72-94 % enabled by district
as the SLBCs report), then literacy camps enabling accounts (camp_ref) and a few disablements;
PMSBY, PMJJBY and APY enrolments of the savings accounts by their holders' age bands (some
banks report none), then enrolments and exits. README, Synthetic feeds, has every figure.

Every event is signed with its bank's newest active key from the key registry
(DIGINDEX_KEY_REGISTRY, a file: secrets are never flags); the simulator needs a key for
each simulated bank (see README, Security).
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
from datetime import UTC, datetime

from kafka.errors import KafkaError

from ..config import Settings, parse_duration
from ..signing import KeyRegistryError
from ..simulator.feed import FeedOptions, run_feed
from .common import add_broker_flags, settings_from_args

__all__ = ["configure", "run"]



def _iso_ms(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a share is between 0 and 1")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("the seed must not be negative")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    add_broker_flags(parser)
    parser.add_argument("--rate", type=float, default=200.0, help="payment events per second")
    parser.add_argument("--duration", type=parse_duration, default=None,
                        help="how long to send payments (90, 90s, 15m, 1h); default: until Ctrl-C")
    parser.add_argument("--seed", type=_seed, default=None,
                        help="random seed; same seed, same events (default: a random seed, printed)")
    parser.add_argument("--banks", default=None,
                        help="comma-separated bank codes of the IFSC registry (streams/data/ifsc/); events "
                        "name real branch IFSCs of each (default SBIN,PUNB,BARB,CNRB,UBIN,HDFC,ICIC,UTKS,NTBL)")
    parser.add_argument("--accounts", type=int, default=20_000,
                        help="bank accounts in the first loads, all districts: seeding, enablement (the same "
                        "accounts) and enrolments (their savings accounts); 0: none of these feeds")
    parser.add_argument("--seeding-rate", type=float, default=None,
                        help="seeding changes per second after the first load (default 1%% of --rate)")
    parser.add_argument("--no-first-load", action="store_true",
                        help="skip the first loads: seeding, enablement, enrolments and the grievance backlog "
                        "(e.g. a second run against the same worker)")
    g = parser.add_argument_group("people lines")
    g.add_argument("--grievance-rate", type=float, default=None,
                   help="grievances raised per second (default: 5%% of the technical declines, "
                   "about 0.04%% of --rate)")
    g.add_argument("--grievance-backlog", type=parse_duration, default=2 * 86400.0, metavar="DURATION",
                   help="grievances of this long before the start sent first, raised and resolved as the "
                   "banks' books hold them (default 2d; 0: none)")
    g.add_argument("--enablement-rate", type=float, default=None,
                   help="enablement changes per second after the first load (default 1%% of --rate, at least 0.5)")
    g.add_argument("--enrolment-rate", type=float, default=None,
                   help="scheme enrolment changes per second after the first load "
                   "(default 1%% of --rate, at least 0.5)")
    g = parser.add_argument_group("event time")
    g.add_argument("--start", type=_iso_ms, default=None,
                   help="event time of the first event, ISO 8601 (default: now); never runs past now")
    g.add_argument("--speedup", type=float, default=1.0,
                   help="event seconds per wall-clock second with --start")
    g = parser.add_argument_group("scenario")
    g.add_argument("--drop-district", type=int, default=None, metavar="LGD",
                   help="district whose digital share drops (alerting tests)")
    g.add_argument("--drop-after", type=parse_duration, default=0.0, metavar="SECONDS",
                   help="when the drop happens, after the first load")
    g.add_argument("--drop-to", type=_share, default=0.2, metavar="SHARE",
                   help="the district's digital share after the drop")


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings_from_args(args, settings)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    options = FeedOptions(
        rate=args.rate, duration=args.duration, seed=seed,
        banks=[b for b in (args.banks or "").split(",") if b.strip()] or None,
        accounts=args.accounts, seeding_rate=args.seeding_rate, first_load=not args.no_first_load,
        drop_district=args.drop_district, drop_after=args.drop_after, drop_to=args.drop_to,
        start_ms=args.start, speedup=args.speedup,
        grievance_rate=args.grievance_rate, grievance_backlog=args.grievance_backlog,
        enablement_rate=args.enablement_rate, enrolment_rate=args.enrolment_rate,
    )
    if options.rate <= 0:
        raise SystemExit("digindex simulate: --rate must be positive")
    for flag, value in (("--grievance-rate", options.grievance_rate), ("--enablement-rate", options.enablement_rate),
                        ("--enrolment-rate", options.enrolment_rate), ("--seeding-rate", options.seeding_rate)):
        if value is not None and value < 0:
            raise SystemExit(f"digindex simulate: {flag} must not be negative")
    from ..banks import default_banks

    unknown = [b for b in options.banks or () if b not in default_banks()]
    if unknown:
        raise SystemExit(f"digindex simulate: --banks: not in the IFSC bank registry: {', '.join(unknown)}")
    if options.drop_district is not None:
        from ..simulator.calibration import default_calibration

        if options.drop_district not in {d.lgd for d in default_calibration().districts}:
            raise SystemExit(f"digindex simulate: --drop-district {options.drop_district} is not simulated")
    print(f"simulate: seed {seed}, {options.rate:g} payments/s to {settings.broker} "
          f"(topics {settings.payments_topic}, {settings.seeding_topic}, {settings.grievances_topic}, "
          f"{settings.enablement_topic}, {settings.enrolments_topic})", flush=True)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stats = run_feed(settings, options, stop=stop)
    except KafkaError as exc:
        print(f"digindex simulate: broker {settings.broker}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyRegistryError as exc:
        print(f"digindex simulate: error: {exc}", file=sys.stderr)
        return 2
    return 1 if stats.errors else 0
