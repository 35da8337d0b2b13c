"""The payment lines' gauges (issue 10), built at scrape time from the payments partition states.

Purposes, bills paid by QR, departments, per-bank declines as NPCI counts them, and bounded
summaries of the branch-wise analysis (branches are never a label: they are kept in the state and
served by the query API). Reads the states only: their windows end where the state's own apply
moved them. Names and labels: ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily

from ..registry import DistrictRegistry
from .rolling import STATUSES, count
from .state import P_QR, PaymentPartitionState

__all__ = ["payment_lines"]

#: (label value, status) of the decline kinds: NPCI's technical (TD) and business (BD) declines
DECLINE_KINDS = (("technical", "TECHNICAL_DECLINE"), ("business", "BUSINESS_DECLINE"))


def payment_lines(states: Iterable[PaymentPartitionState], registry: DistrictRegistry) -> list[GaugeMetricFamily]:
    """The payment lines' families over ``states`` (the payments partitions this worker owns)."""
    dl = ["district_lgd", "district"]
    purpose = GaugeMetricFamily("digindex_purpose_digital_share_ratio",
                                "Successful digital / all successful payments of the purpose in the window",
                                labels=[*dl, "purpose", "window"])
    bill_qr = GaugeMetricFamily("digindex_bill_qr_share_ratio",
                                "Successful UPI_QR / all successful payments of the bill purpose in the window",
                                labels=[*dl, "purpose", "window"])
    department = GaugeMetricFamily("digindex_department_digital_share_ratio",
                                   "Successful digital / all successful payments naming the department in the window",
                                   labels=[*dl, "department", "window"])
    decline = GaugeMetricFamily("digindex_bank_decline_ratio",
                                "Declines of the kind / all digital attempts of the bank in the district in the window",
                                labels=[*dl, "bank", "window", "kind"])
    reporting = GaugeMetricFamily("digindex_branches_reporting",
                                  "Branches of the bank in the district with at least the minimum of successful "
                                  "payments in the window", labels=[*dl, "bank", "window"])
    below = GaugeMetricFamily("digindex_branches_below_target",
                              "Reporting branches of the bank whose digital share is below the district's target",
                              labels=[*dl, "bank", "window"])
    for state in states:
        labels_of = state.window_labels()
        for lgd, d in sorted(state.districts.items()):
            labels = [str(lgd), registry.get(lgd).name]
            for i, wl in enumerate(labels_of):
                for p, vec in sorted(state.purpose_window(d, i).items()):
                    n = sum(vec)
                    if n:
                        purpose.add_metric([*labels, p, wl], (n - vec[0]) / n)
                        if p.startswith("BILL_"):
                            bill_qr.add_metric([*labels, p, wl], vec[P_QR] / n)
                for code, (nd, dg) in sorted(state.department_window(d, i).items()):
                    if nd + dg:
                        department.add_metric([*labels, code, wl], dg / (nd + dg))
                for bank, r in sorted(d.banks.items()):
                    bvec = r.window(i)
                    attempts = sum(count(bvec, st, True) for st in STATUSES)
                    if attempts:
                        for kind, st in DECLINE_KINDS:
                            decline.add_metric([*labels, bank, wl, kind], count(bvec, st, True) / attempts)
                for bank, (_, n, low) in state.branch_summary(lgd, i).items():
                    reporting.add_metric([*labels, bank, wl], n)
                    below.add_metric([*labels, bank, wl], low)
    return [purpose, bill_qr, department, decline, reporting, below]
