"""The terminal board on handcrafted exposition text (no worker)."""

from __future__ import annotations

import io
import threading

from streams.board import BankRow, metrics_url, parse_banks, parse_metrics, render, run_board, scrape
from streams.registry import DistrictRegistry

T = 1_767_225_600.0

WORKER_A = f"""\
# HELP digindex_digital_share_ratio share
# TYPE digindex_digital_share_ratio gauge
digindex_digital_share_ratio{{district_lgd="49",district="Dehradun",window="1h"}} 0.871
digindex_digital_share_ratio{{district_lgd="49",district="Dehradun",window="24h"}} 0.865
digindex_digital_share_ratio{{district_lgd="46",district="Bageshwar",window="1h"}} 0.2
digindex_digital_share_ratio{{district_lgd="46",district="Bageshwar",window="24h"}} 0.51
# TYPE digindex_digital_value_share_ratio gauge
digindex_digital_value_share_ratio{{district_lgd="49",district="Dehradun",window="24h"}} 0.74
# TYPE digindex_aadhaar_seeding_ratio gauge
digindex_aadhaar_seeding_ratio{{district_lgd="49",district="Dehradun"}} 0.882
digindex_aadhaar_seeding_ratio{{district_lgd="46",district="Bageshwar"}} 0.7
# TYPE digindex_district_target_ratio gauge
digindex_district_target_ratio{{district_lgd="49",district="Dehradun"}} 0.8
digindex_district_target_ratio{{district_lgd="46",district="Bageshwar"}} 0.8
# TYPE digindex_payments_total counter
digindex_payments_total{{district_lgd="49",district="Dehradun",channel="UPI",status="SUCCESS"}} {{p49_upi}}
digindex_payments_total{{district_lgd="49",district="Dehradun",channel="CASH",status="SUCCESS"}} 100
digindex_payments_created{{district_lgd="49",district="Dehradun",channel="CASH",status="SUCCESS"}} 1.7e9
digindex_payments_total{{district_lgd="46",district="Bageshwar",channel="UPI",status="SUCCESS"}} 10
# TYPE digindex_last_event_timestamp_seconds gauge
digindex_last_event_timestamp_seconds{{district_lgd="49",district="Dehradun",topic="payments"}} {T - 2}
digindex_last_event_timestamp_seconds{{district_lgd="49",district="Dehradun",topic="seeding"}} {T - 30}
digindex_last_event_timestamp_seconds{{district_lgd="46",district="Bageshwar",topic="payments"}} {T - 125}
# TYPE digindex_bank_last_event_timestamp_seconds gauge
digindex_bank_last_event_timestamp_seconds{{bank="SBIN",topic="payments"}} {T - 2}
digindex_bank_last_event_timestamp_seconds{{bank="SBIN",topic="seeding"}} {T - 30}
digindex_bank_last_event_timestamp_seconds{{bank="NTBL",topic="payments"}} {T - 7200}
# TYPE digindex_bank_info gauge
digindex_bank_info{{bank="SBIN",name="State Bank of India"}} 1
digindex_bank_info{{bank="NTBL",name="Nainital Bank"}} 1
# TYPE digindex_worker_info gauge
digindex_worker_info{{worker="a",version="0.1.0"}} 1
"""

# A second worker: owns Haridwar, and still shows a stale Dehradun from before a handover.
WORKER_B = f"""\
# TYPE digindex_digital_share_ratio gauge
digindex_digital_share_ratio{{district_lgd="50",district="Haridwar",window="1h"}} 0.9
digindex_digital_share_ratio{{district_lgd="49",district="Dehradun",window="1h"}} 0.5
# TYPE digindex_last_event_timestamp_seconds gauge
digindex_last_event_timestamp_seconds{{district_lgd="50",district="Haridwar",topic="payments"}} {T - 1}
digindex_last_event_timestamp_seconds{{district_lgd="49",district="Dehradun",topic="payments"}} {T - 3600}
# TYPE digindex_worker_info gauge
digindex_worker_info{{worker="b",version="0.1.0"}} 1
"""


def _fetch(p49: int):  # type: ignore[no-untyped-def]
    pages = {"a": WORKER_A.replace("{p49_upi}", str(p49)), "b": WORKER_B}
    return lambda url: pages[url] if url in pages else (_ for _ in ()).throw(OSError("refused"))


def test_parse_sums_counters_and_takes_latest_event() -> None:
    rows, workers = parse_metrics(WORKER_A.replace("{p49_upi}", "900"))
    assert workers == 1
    d = rows[49]
    got = (d.name, d.share_1h, d.share_24h, d.value_share_24h, d.seeding)
    assert got == ("Dehradun", 0.871, 0.865, 0.74, 0.882)
    assert d.payments_total == 1000  # _created samples are not counted
    assert d.last_event == T - 2


def test_merge_and_render(registry: DistrictRegistry) -> None:
    prev = scrape(["a", "b"], _fetch(900), clock=lambda: T - 10)
    snap = scrape(["a", "b", "c"], _fetch(1900), clock=lambda: T)
    assert snap.workers == 2 and len(snap.errors) == 1
    assert snap.districts[49].share_1h == 0.871  # the fresher owner wins over the stale one
    text = render(snap, prev, registry)
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()[:2].isdigit()}
    assert len(lines) == 13  # every Uttarakhand district, reporting or not
    dehradun = lines["49"]
    for cell in ("Dehradun", "87.1%", "86.5%", "74.0%", "88.2%", "100.0", "2s"):
        assert cell in dehradun
    assert "20.0%*" in lines["46"] and "0.0" in lines["46"] and "2m" in lines["46"]
    assert lines["45"].split()[1:] == ["Almora", "-", "-", "-", "-", "-", "-"]
    assert "total" in text and "100.0" in text.split("total")[1]
    assert "2 worker(s), 3 district(s) reporting" in text and "below target" in text
    assert "unreachable: c" in text


def test_counter_reset_shows_no_rate(registry: DistrictRegistry) -> None:
    prev = scrape(["a"], _fetch(5000), clock=lambda: T - 10)
    snap = scrape(["a"], _fetch(10), clock=lambda: T)
    line = next(x for x in render(snap, prev, registry).splitlines() if x.strip().startswith("49"))
    assert line.split()[-2] == "-"


def test_run_board_logs_a_line_per_refresh_off_a_tty() -> None:
    out, stop, calls = io.StringIO(), threading.Event(), []

    def fetch(url: str) -> str:
        calls.append(url)
        if len(calls) >= 3:
            stop.set()
        return WORKER_A.replace("{p49_upi}", str(100 * len(calls)))

    run_board(["a"], interval=0.01, stop=stop, out=out, fetch=fetch)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and all(x.startswith("board ") for x in lines)
    assert "lowest_digital_1h=46:Bageshwar:20.0%" in lines[-1] and "\x1b" not in out.getvalue()
    assert "events_per_s=-" in lines[0] and "events_per_s=-" not in lines[1]


def test_run_board_redraws_in_place_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, stop, n = Tty(), threading.Event(), []

    def fetch(url: str) -> str:
        n.append(1)
        if len(n) >= 2:
            stop.set()
        return WORKER_B

    run_board(["b"], interval=0.01, stop=stop, out=out, fetch=fetch)
    text = out.getvalue()
    assert text.startswith("\x1b[H\x1b[2J") and text.count("\x1b[H") == 2 and "Haridwar" in text


def test_metrics_url_completion() -> None:
    assert metrics_url("localhost:6066") == "http://localhost:6066/metrics"
    assert metrics_url("http://w1:6066/") == "http://w1:6066/metrics"
    assert metrics_url("http://w1:6066/metrics") == "http://w1:6066/metrics"


def test_banks_by_name_with_their_freshness(registry: DistrictRegistry) -> None:
    """Bank names from digindex_bank_info; a worker that exports a bank without its info shows the code."""
    assert parse_banks(WORKER_A.replace("{p49_upi}", "1")) == {"NTBL": BankRow("NTBL", "Nainital Bank", T - 7200),
                                     "SBIN": BankRow("SBIN", "State Bank of India", T - 2)}
    b_page = WORKER_B + 'digindex_bank_last_event_timestamp_seconds{bank="PUNB",topic="payments"} ' + f"{T - 1}\n"
    pages = {"a": WORKER_A.replace("{p49_upi}", "1"), "b": b_page}
    snap = scrape(["a", "b"], pages.__getitem__, clock=lambda: T)
    text = render(snap, None, registry)
    assert "SBIN    State Bank of India" in text and "2s" in text.split("State Bank of India")[1].split("\n")[0]
    assert "NTBL    Nainital Bank" in text and "2h" in text.split("Nainital Bank")[1].split("\n")[0]
    assert "PUNB    PUNB" in text
