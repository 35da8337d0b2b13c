"""The Prometheus text format (0.0.4) of a registry, as ``prometheus_client.generate_latest`` writes it, faster.

A worker's ``/metrics`` holds ~3,800 series (every district x bank x window, and the payment
lines' purposes, departments and branch summaries) and is rendered on the event loop, so the
render is paid in events not processed. ``generate_latest`` (prometheus_client 0.26) validates
and escapes every label *name* of every sample against the UTF-8 naming rules (a regex match and
a character walk each time): measured, three quarters of a render went there, 98 ms of 3,757
series. Here label and metric names are escaped once and remembered (a worker has a few dozen
of them), label values are escaped only if they hold a character that needs it, and the rest is
the same algorithm: same order, same lines, same bytes (``tests/unit/test_exposition.py``
compares the two on a full worker's registry). Only the default escaping (underscores) of the
plain text format is written; the OpenMetrics format is not served.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["render"]

_UNDERSCORES = openmetrics.UNDERSCORES
#: OpenMetrics-only samples, moved to their own gauges after the metric (as generate_latest does)
_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
_TYPES = {"counter": "counter", "info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram",
          "unknown": "untyped"}
_SUFFIX = {"counter": "_total", "info": "_info"}


@lru_cache(maxsize=4096)
def _metric_name(name: str) -> str:
    return openmetrics.escape_metric_name(name, _UNDERSCORES)


@lru_cache(maxsize=1024)
def _label_name(name: str) -> str:
    return openmetrics.escape_label_name(name, _UNDERSCORES)


def _label_value(v: str) -> str:
    if "\\" in v or "\n" in v or '"' in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


def _line(sample: Any) -> str:
    labels = sample.labels
    if labels:
        body = ",".join([f'{_label_name(k)}="{_label_value(v)}"' for k, v in sorted(labels.items())])
        head = f"{_metric_name(sample.name)}{{{body}}}"
    else:
        head = _metric_name(sample.name)
    ts = sample.timestamp
    stamp = "" if ts is None else f" {int(float(ts) * 1000):d}"
    return f"{head} {floatToGoString(sample.value)}{stamp}\n"


def _help(name: str, documentation: str, mtype: str) -> list[str]:
    doc = documentation.replace("\\", r"\\").replace("\n", r"\n")
    n = _metric_name(name)
    return [f"# HELP {n} {doc}\n", f"# TYPE {n} {mtype}\n"]


def render(registry: Collector) -> bytes:
    """What ``generate_latest(registry)`` returns (text format 0.0.4, underscore escaping)."""
    out: list[str] = []
    for metric in registry.collect():
        mtype = metric.type
        name = metric.name + _SUFFIX.get(mtype, "")
        out += _help(name, metric.documentation, _TYPES.get(mtype, mtype))
        om: dict[str, list[str]] = {}
        base = metric.name
        for s in metric.samples:
            sname = s.name
            if sname.startswith(base) and sname[len(base):] in _OM_SUFFIXES:
                om.setdefault(sname[len(base):], []).append(_line(s))
            else:
                out.append(_line(s))
        for suffix, lines in sorted(om.items()):
            out += _help(base + suffix, metric.documentation, "gauge")
            out += lines
    return "".join(out).encode("utf-8")
