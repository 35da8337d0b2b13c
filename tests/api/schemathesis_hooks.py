"""Loaded by the schemathesis CLI in ``test_api_integration`` (``SCHEMATHESIS_HOOKS``).

schemathesis counts a requests session's pooled connections through urllib3's pool container
(``PoolManager.pools.keys()``), to resend a request a server dropped before answering. In this
environment the module ``urllib3`` is urllib3-future (installed under that name by niquests, a
dependency of grafana-client), whose container has no ``keys()``: every request would end in an
AttributeError inside schemathesis. Counting nothing keeps the resend (once) and nothing else.
"""

from __future__ import annotations

from typing import Any

from schemathesis.transport import requests as transport


def _no_count(session: Any) -> int:
    return 0


transport._count_opened_connections = _no_count
