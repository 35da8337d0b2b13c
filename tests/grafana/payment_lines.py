"""Series for the payment lines' metrics (issue 10) that the worker under test does not export.

The boards' bills, departments, decline and branch panels read recording rules over six worker
metrics (docs/metrics.md: ``digindex_purpose_digital_share_ratio``, ``digindex_bill_qr_share_ratio``,
``digindex_department_digital_share_ratio``, ``digindex_bank_decline_ratio``,
``digindex_branches_reporting``, ``digindex_branches_below_target``). Where the worker already
exports a family, it is the one the test reads; for the others this exporter, one more scrape
target of the same job, serves that family with exactly the documented names and labels, for
every simulated district and bank and both windows. It retires itself family by family: it
serves only the families the worker did not have when :meth:`LinesExporter.retire_what_the_worker_has`
last looked.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

__all__ = ["FAMILIES", "LinesExporter"]

PURPOSES = ["P2P", "P2M", "BILL_ENERGY", "BILL_WATER", "BILL_HOUSING", "GOVT_RECEIPT", "GOVT_PAYMENT", "DBT", "OTHER"]
BILLS = [p for p in PURPOSES if p.startswith("BILL_")]
DEPARTMENTS = ["ENERGY", "WATER", "HOUSING", "TRANSPORT", "REVENUE", "TREASURY", "HEALTH", "EDUCATION"]
WINDOWS = ["1h", "24h"]

#: family name (as exposed, without a suffix) -> its help text
FAMILIES = {
    "digindex_purpose_digital_share_ratio": "successful digital / all successful payments of the purpose",
    "digindex_bill_qr_share_ratio": "successful UPI_QR / all successful payments of the bill purpose",
    "digindex_department_digital_share_ratio": "successful digital / all successful payments of the department",
    "digindex_bank_decline_ratio": "declines of the kind / all digital attempts of the bank in the district",
    "digindex_branches_reporting": "branches with at least the configured minimum of transactions",
    "digindex_branches_below_target": "reporting branches whose digital share is below the district's target",
}


class _Collector:
    def __init__(self, exporter: LinesExporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterable[GaugeMetricFamily]:
        e = self.exporter
        rng = random.Random(7)  # the same values on every scrape
        with e.lock:
            serve = set(e.serving)
        out: dict[str, GaugeMetricFamily] = {}

        def family(name: str, labels: list[str]) -> GaugeMetricFamily:
            if name not in out:
                out[name] = GaugeMetricFamily(name, FAMILIES[name], labels=["district_lgd", "district", *labels])
            return out[name]

        for lgd, district in e.districts:
            for window in WINDOWS:
                d = [str(lgd), district]
                for purpose in PURPOSES:
                    family("digindex_purpose_digital_share_ratio", ["purpose", "window"]).add_metric(
                        [*d, purpose, window], rng.uniform(0.3, 0.95))
                for purpose in BILLS:
                    family("digindex_bill_qr_share_ratio", ["purpose", "window"]).add_metric(
                        [*d, purpose, window], rng.uniform(0.05, 0.4))
                for department in DEPARTMENTS:
                    family("digindex_department_digital_share_ratio", ["department", "window"]).add_metric(
                        [*d, department, window], rng.uniform(0.4, 1.0))
                for bank in e.banks:
                    for kind, top in (("technical", 0.02), ("business", 0.05)):
                        family("digindex_bank_decline_ratio", ["bank", "window", "kind"]).add_metric(
                            [*d, bank, window, kind], rng.uniform(0, top))
                    reporting = rng.randint(1, 30)
                    family("digindex_branches_reporting", ["bank", "window"]).add_metric([*d, bank, window], reporting)
                    family("digindex_branches_below_target", ["bank", "window"]).add_metric(
                        [*d, bank, window], rng.randint(0, reporting))
        return [f for name, f in out.items() if name in serve]


class LinesExporter:
    """A /metrics endpoint (stdlib ``http.server`` in a thread) on a free loopback port."""

    def __init__(self, districts: list[tuple[int, str]], banks: list[str]) -> None:
        self.districts, self.banks = districts, banks
        self.lock = threading.Lock()
        self.serving: set[str] = set(FAMILIES)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))  # type: ignore[arg-type]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="lines", daemon=True)
        self.thread.start()

    def retire_what_the_worker_has(self, worker_families: set[str]) -> set[str]:
        """Stop serving the families the worker exports itself; returns those still served."""
        with self.lock:
            self.serving -= worker_families
            return set(self.serving)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
