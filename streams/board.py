"""A live terminal board of every district and reporting bank, read from the workers' ``/metrics``.

For the demo and for operators without Grafana at hand: scrape each worker (plain
HTTP, Prometheus text format), merge them (each district is owned by one worker),
and print a table. On a terminal the table is redrawn in place with ANSI codes
(no curses); elsewhere (a log, a pipe) one summary line is written per refresh.
``render`` is pure so the table tests without a worker.
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TextIO

from prometheus_client.parser import text_string_to_metric_families

from .registry import DistrictRegistry, default_registry

__all__ = [
    "BankRow",
    "DistrictRow",
    "Snapshot",
    "fetch_text",
    "log_line",
    "metrics_url",
    "parse_banks",
    "parse_metrics",
    "render",
    "run_board",
    "scrape",
]


@dataclass(frozen=True)
class DistrictRow:
    """One district's figures as its owning worker exports them (None: not exported)."""

    lgd: int
    name: str
    share_1h: float | None = None
    share_24h: float | None = None
    value_share_24h: float | None = None
    seeding: float | None = None
    target: float | None = None
    #: Sum of ``digindex_payments_total`` over channels and statuses.
    payments_total: float | None = None
    #: Latest event time over topics, epoch seconds.
    last_event: float | None = None


@dataclass(frozen=True)
class BankRow:
    """One reporting bank: its code, its name (``digindex_bank_info``), its latest event time."""

    code: str
    name: str = ""
    last_event: float | None = None


@dataclass(frozen=True)
class Snapshot:
    """All workers' districts at one moment."""

    taken_at: float
    districts: dict[int, DistrictRow] = field(default_factory=dict)
    workers: int = 0
    #: (url, reason) for every worker that could not be scraped.
    errors: tuple[tuple[str, str], ...] = ()
    banks: dict[str, BankRow] = field(default_factory=dict)


def metrics_url(url: str) -> str:
    """``url`` completed to a metrics endpoint: ``host:6066`` -> ``http://host:6066/metrics``."""
    if "://" not in url:
        url = "http://" + url
    scheme, rest = url.split("://", 1)
    if "/" not in rest or rest.split("/", 1)[1] == "":
        url = f"{scheme}://{rest.split('/', 1)[0]}/metrics"
    return url


def fetch_text(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(metrics_url(url), timeout=timeout) as resp:
        return resp.read().decode("utf-8")


def parse_metrics(text: str) -> tuple[dict[int, DistrictRow], int]:
    """(district rows, worker count) from one worker's exposition text."""
    rows: dict[int, dict[str, object]] = {}
    workers = 0

    def row(labels: dict[str, str]) -> dict[str, object] | None:
        try:
            lgd = int(labels["district_lgd"])
        except (KeyError, ValueError):
            return None
        r = rows.setdefault(lgd, {"lgd": lgd, "name": labels.get("district", "")})
        return r

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name, labels, value = s.name, s.labels, float(s.value)
            if name == "digindex_worker_info":
                workers += 1
                continue
            r = row(labels)
            if r is None:
                continue
            window = labels.get("window")
            if name == "digindex_digital_share_ratio" and window in ("1h", "24h"):
                r[f"share_{window}"] = value
            elif name == "digindex_digital_value_share_ratio" and window == "24h":
                r["value_share_24h"] = value
            elif name == "digindex_aadhaar_seeding_ratio":
                r["seeding"] = value
            elif name == "digindex_district_target_ratio":
                r["target"] = value
            elif name == "digindex_payments_total":
                r["payments_total"] = float(r.get("payments_total") or 0.0) + value  # type: ignore[arg-type]
            elif name == "digindex_last_event_timestamp_seconds":
                r["last_event"] = max(value, float(r.get("last_event") or 0.0))  # type: ignore[arg-type]
    return {k: DistrictRow(**v) for k, v in rows.items()}, workers  # type: ignore[arg-type]


def parse_banks(text: str) -> dict[str, BankRow]:
    """Reporting banks from one worker's exposition text: names and latest event over topics."""
    names: dict[str, str] = {}
    last: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            bank = s.labels.get("bank")
            if bank is None:
                continue
            if s.name == "digindex_bank_info":
                names[bank] = s.labels.get("name", "")
            elif s.name == "digindex_bank_last_event_timestamp_seconds":
                last[bank] = max(float(s.value), last.get(bank, 0.0))
    return {b: BankRow(b, names.get(b, ""), last.get(b)) for b in sorted(set(names) | set(last))}


def _merge_banks(into: dict[str, BankRow], banks: dict[str, BankRow]) -> None:
    for code, b in banks.items():
        old = into.get(code)
        if old is None:
            into[code] = b
        else:
            into[code] = BankRow(code, old.name or b.name,
                                 max((x for x in (old.last_event, b.last_event) if x is not None), default=None))


def _merge(into: dict[int, DistrictRow], rows: dict[int, DistrictRow]) -> None:
    """Keep, per district, the worker's row with the latest event (a handover can show both)."""
    for lgd, r in rows.items():
        old = into.get(lgd)
        if old is None or (r.last_event or 0.0) > (old.last_event or 0.0):
            into[lgd] = r


def scrape(urls: Iterable[str], fetch: Callable[[str], str] = fetch_text,
           clock: Callable[[], float] = time.time) -> Snapshot:
    """One merged snapshot of every worker; unreachable ones are listed in ``errors``."""
    districts: dict[int, DistrictRow] = {}
    banks: dict[str, BankRow] = {}
    workers = 0
    errors: list[tuple[str, str]] = []
    for url in urls:
        try:
            text = fetch(url)
            rows, n = parse_metrics(text)
            bank_rows = parse_banks(text)
        except Exception as exc:  # network errors, bad text: show, keep going
            errors.append((url, f"{type(exc).__name__}: {exc}"))
            continue
        workers += n
        _merge(districts, rows)
        _merge_banks(banks, bank_rows)
    return Snapshot(clock(), districts, workers, tuple(errors), banks)


def _rows(snap: Snapshot, registry: DistrictRegistry | None) -> list[DistrictRow]:
    """Exported districts plus the missing ones of the states seen (so a gap shows)."""
    rows = dict(snap.districts)
    if registry is not None:
        states = {registry.get(k).state for k in rows if k in registry}
        for d in registry:
            if d.state in states and d.lgd not in rows:
                rows[d.lgd] = DistrictRow(d.lgd, d.name)
        rows = {k: r if r.name or k not in registry else replace(r, name=registry.get(k).name)
                for k, r in rows.items()}
    return [rows[k] for k in sorted(rows)]


def _rate(row: DistrictRow, snap: Snapshot, prev: Snapshot | None) -> float | None:
    if prev is None or row.payments_total is None:
        return None
    before = prev.districts.get(row.lgd)
    dt = snap.taken_at - prev.taken_at
    if before is None or before.payments_total is None or dt <= 0 \
            or row.payments_total < before.payments_total:
        return None  # new owner or restarted worker: no rate this round
    return (row.payments_total - before.payments_total) / dt


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def render(snap: Snapshot, prev: Snapshot | None = None, registry: DistrictRegistry | None = None) -> str:
    """The board as text: one line per district, a total, and a status line."""
    registry = registry if registry is not None else default_registry()
    rows = _rows(snap, registry)
    head = (f"{'LGD':>4}  {'District':<18} {'Digital 1h':>10}  {'Digital 24h':>11} {'Value 24h':>10} "
            f"{'Seeding':>8} {'Events/s':>9} {'Last event':>10}")
    lines = [head, "-" * len(head)]
    total_rate: float | None = None
    below = False
    for r in rows:
        rate = _rate(r, snap, prev)
        if rate is not None:
            total_rate = (total_rate or 0.0) + rate
        mark = " "
        if r.share_1h is not None and r.target is not None and r.share_1h < r.target:
            mark, below = "*", True
        age = None if r.last_event is None else snap.taken_at - r.last_event
        lines.append(
            f"{r.lgd:>4}  {r.name[:18]:<18} {_pct(r.share_1h):>10}{mark} {_pct(r.share_24h):>11} "
            f"{_pct(r.value_share_24h):>10} {_pct(r.seeding):>8} "
            f"{'-' if rate is None else f'{rate:.1f}':>9} {_age(age):>10}")
    lines.append("-" * len(head))
    lines.append(f"{'':>4}  {'total':<18} {'':>11} {'':>11} {'':>10} {'':>8} "
                 f"{'-' if total_rate is None else f'{total_rate:.1f}':>9}")
    stamp = datetime.fromtimestamp(snap.taken_at, UTC).strftime("%H:%M:%S UTC")
    status = f"{snap.workers} worker(s), {len(snap.districts)} district(s) reporting, {stamp}"
    if below:
        status += "   * below target"
    lines.append(status)
    if not rows:
        lines.append("waiting for metrics...")
    if snap.banks:
        lines.append("")
        lines.append(f"{'Bank':<6}  {'Name':<40} {'Last event':>10}")
        for b in snap.banks.values():
            age = None if b.last_event is None else snap.taken_at - b.last_event
            lines.append(f"{b.code:<6}  {(b.name or b.code)[:40]:<40} {_age(age):>10}")
    lines.extend(f"unreachable: {url}: {why}" for url, why in snap.errors)
    return "\n".join(lines) + "\n"


def log_line(snap: Snapshot, prev: Snapshot | None = None) -> str:
    """One line per refresh for logs: totals, the least digital and the stalest district."""
    stamp = datetime.fromtimestamp(snap.taken_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = list(snap.districts.values())
    rates = [x for x in (_rate(r, snap, prev) for r in rows) if x is not None]
    parts = [f"board {stamp}", f"workers={snap.workers}", f"districts={len(rows)}",
             f"events_per_s={sum(rates):.1f}" if rates else "events_per_s=-"]
    shared = [r for r in rows if r.share_1h is not None]
    if shared:
        low = min(shared, key=lambda r: r.share_1h or 0.0)
        parts.append(f"lowest_digital_1h={low.lgd}:{low.name}:{_pct(low.share_1h)}")
    timed = [r for r in rows if r.last_event is not None]
    if timed:
        stale = min(timed, key=lambda r: r.last_event or 0.0)
        parts.append(f"stalest={stale.lgd}:{stale.name}:{_age(snap.taken_at - (stale.last_event or 0.0))}")
    parts.extend(f"unreachable={url}" for url, _ in snap.errors)
    return " ".join(parts) + "\n"


def _is_tty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def run_board(urls: list[str], interval: float = 2.0, stop: threading.Event | None = None,
              out: TextIO | None = None, *, fetch: Callable[[str], str] = fetch_text,
              registry: DistrictRegistry | None = None) -> None:
    """Scrape ``urls`` every ``interval`` seconds and show the board on ``out`` (default: the
    current ``sys.stdout``) until ``stop`` is set or Ctrl-C."""
    stop = stop or threading.Event()
    out = out or sys.stdout
    tty = _is_tty(out)
    prev: Snapshot | None = None
    home = "\x1b[H\x1b[2J"  # the first frame clears the screen; later ones overwrite in place
    try:
        while not stop.is_set():
            snap = scrape(urls, fetch)
            if tty:
                body = render(snap, prev, registry).replace("\n", "\x1b[K\n")
                out.write(home + body + "\x1b[J")  # overwrite, then clear what is left below
                home = "\x1b[H"
            else:
                out.write(log_line(snap, prev))
            out.flush()
            prev = snap
            stop.wait(interval)
    except KeyboardInterrupt:
        pass
