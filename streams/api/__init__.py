"""The query API (``/api/v1/...``): a district's figures and its branches, from any worker.

Served on every worker's metrics port beside ``/metrics`` and ``/healthz``. A district lives in
one payments partition, owned by one worker; whichever worker is asked answers, forwarding the
request to the owner the consumer group's assignment names (``routing.py``), so a client needs
one address. ``params.py`` checks what a client sends, ``answers.py`` builds the bodies from a
partition's state, ``openapi.py`` describes it all, ``views.py`` mounts it on Faust's web server.
"""

from .views import install_api

__all__ = ["install_api"]
