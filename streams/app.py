"""The Faust application: built from ``Settings``, with agents, tables, recovery, /metrics and the API."""

from __future__ import annotations

import logging
import ssl
import time
from typing import Any

import faust
from faust.types import TP
from faust.web.base import BlueprintManager
from prometheus_client import CONTENT_TYPE_LATEST

from . import log_redaction
from .api import install_api
from .banks import default_banks
from .commits import BackgroundCommits
from .config import Settings
from .enablement import signal as enablement_signal
from .enablement.state import stored_view
from .enrolment import signal as enrolment_signal
from .enrolment.join import type_change_router, types_from
from .exposition import render
from .faust_transport import transport_with_fetch_wait
from .grievances import signal as grievances_signal
from .payments import signal as payments_signal
from .processor.agent import register_agent
from .processor.batch import BatchSource
from .processor.changelog import raw_topic
from .processor.runner import SignalRunner
from .recovery import install_recovery
from .runtime import Runtime
from .seeding import signal as seeding_signal
from .signing import KeyRegistryError, Verifier
from .topics import ensure_topics

__all__ = ["create_app", "main", "verifier_for"]

log = logging.getLogger(__name__)

#: Scrapes within this many seconds of a render get the same bytes (Prometheus scrapes every
#: 15 s or so; a dashboard or the demo board may poll faster).
METRICS_CACHE_SECONDS = 0.5
#: Unsent producer messages (changelog records, mostly) the batch path lets pile up before it
#: waits: measured without a bound, a 1M-account seeding load on a busy broker reached 1.2 GB RSS.
PRODUCER_BACKLOG = 5_000
#: How often a worker looks for a changed key registry file (rotation, revocation).
KEY_RELOAD_SECONDS = 5.0


def _credentials(settings: Settings) -> Any:
    sec = settings.security
    if sec.protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=sec.ssl_cafile) if sec.protocol.endswith("SSL") else None
    if context is not None and sec.ssl_certfile:
        context.load_cert_chain(sec.ssl_certfile, sec.ssl_keyfile)
    if sec.protocol.startswith("SASL"):
        return faust.SASLCredentials(username=sec.username, password=sec.password.get() if sec.password else None,
                                     mechanism=sec.sasl_mechanism, ssl_context=context)
    return faust.SSLCredentials(context)


def verifier_for(settings: Settings) -> Verifier | None:
    """The worker's signature check: required unless ``DIGINDEX_REQUIRE_SIGNATURES=false``."""
    if settings.key_registry is not None:
        return Verifier.from_file(settings.key_registry)
    if settings.require_signatures:
        raise KeyRegistryError("DIGINDEX_REQUIRE_SIGNATURES is on but no key registry is set: set "
                               "DIGINDEX_KEY_REGISTRY (see README, Security)")
    log.warning("DIGINDEX_REQUIRE_SIGNATURES=false and no key registry: messages are not verified")
    return None


def create_app(settings: Settings) -> tuple[faust.App, Runtime]:
    """A configured app and the runtime its agents share."""
    rt = Runtime(settings)
    default_banks().branches  # noqa: B018 - load the 176,918 branch IFSCs now (0.15 s), not at the first event
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=_credentials(settings),
        store="rocksdb://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.topic_partitions,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(0.1, settings.session_timeout / 6),
        broker_rebalance_timeout=max(10.0, settings.session_timeout * 4),
        consumer_auto_offset_reset="earliest",
        recovery_consistency_check=settings.recovery_consistency_check,
        web_enabled=True,
        web_port=settings.metrics_port,
        web_bind=settings.metrics_host,
        web_host=settings.metrics_host,
        # what the group's assignment tells the other workers: the query API forwards there
        canonical_url=settings.web_url,
        logging_config=None,
        # batch changelog records (one per seeding event): +49 % seeding throughput, same memory
        producer_linger=0.02,
    )
    app.transport = transport_with_fetch_wait(int(settings.fetch_max_wait * 1000))(app.conf.broker_consumer, app)
    deadletters = raw_topic(app, settings.deadletter_topic, settings.topic_partitions)

    def highwater(topic: str, partition: int) -> int | None:
        try:
            return int(app.consumer.highwater(TP(topic, partition)))
        except Exception:  # not assigned or consumer not started: no lag sample
            return None

    from .metrics import build_registry

    registry, delay = build_registry(rt, highwater)
    codecs = (rt.payment_codec, rt.seeding_codec, rt.grievance_codec, rt.enablement_codec, rt.enrolment_codec)
    pay_topic, pay = payments_signal.declare(app, settings, rt.registry, rt.payment_codec)
    accounts_table, seeding_signals = seeding_signal.declare(app, settings, rt.registry, rt.seeding_codec,
                                                             rt.accounts)
    griev_topic, griev = grievances_signal.declare(app, settings, rt.registry, rt.grievance_codec)
    # partition p of enrolments reads partition p of the enablement store (co-partitioned: one
    # worker owns both), and every type change made there moves that partition's counts
    enrolment_states: dict[int, Any] = {}
    enablement_signals = enablement_signal.declare(
        app, settings, rt.registry, rt.enablement_codec, lambda p: rt.state("enablement", p),
        on_type_change=type_change_router(enrolment_states.get, settings.topic_partitions))
    enrol_topic, enrol = enrolment_signal.declare(app, settings, rt.registry, rt.enrolment_codec,
                                                  types_from(enablement_signals[0][0], stored_view),
                                                  enrolment_states)
    verifier = verifier_for(settings)
    # the topics partner banks publish to are verified; the internal ones only workers write
    pay.verifier = seeding_signals[0][0].verifier = griev.verifier = verifier
    enablement_signals[0][0].verifier = enrol.verifier = verifier
    if verifier is not None:
        @app.timer(interval=KEY_RELOAD_SECONDS)
        async def reload_keys() -> None:
            try:
                if verifier.reload():
                    log.info("key registry %s re-read: %d keys", verifier.path, len(verifier.registry))
            except KeyRegistryError as exc:
                log.error("key registry not re-read, the previous keys stay in use: %s", exc)

    async def flush() -> None:
        await app.producer.flush()

    def seeker(topic: str) -> Any:
        async def seek(partition: int, offset: int) -> None:
            await app.consumer.seek(TP(topic, partition), offset)
        return seek

    commits = BackgroundCommits(lambda offsets: app.consumer._commit(offsets), TP)

    for signal, topic in ((pay, pay_topic), *seeding_signals, (griev, griev_topic), *enablement_signals,
                          (enrol, enrol_topic)):
        runner = rt.runners[signal.name] = SignalRunner(
            signal, deadletters, rt.worker_id, codecs, settings.checkpoint_events, settings.checkpoint_interval,
            flush, delay.labels(topic=signal.topic).observe, generation=lambda: int(app.consumer_generation_id),
            seek=seeker(signal.topic), commit=commits.committer(signal.topic))
        register_agent(app, runner, topic)
    if settings.batch_path:
        # fetched batches of the source topics skip Faust's per-message path (streams.processor.batch)
        app.digindex_batch = BatchSource(list(rt.runners.values()),  # type: ignore[attr-defined]
                                         producer_backpressure(app))
    install_recovery(app, rt, accounts_table, accounts_table)

    # Faust's own views (the index, /table/ serving every table, /router/, /stats/, /graph/) are
    # not ours to serve: only the pages declared here are
    app.web.blueprints = BlueprintManager()
    rendered: list[Any] = [0.0, b""]  # (monotonic time, bytes): a render blocks the loop 17-40 ms

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        now = time.monotonic()
        if now - rendered[0] >= METRICS_CACHE_SECONDS:
            rendered[:] = [now, render(registry)]
        return web.bytes(rendered[1], headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"worker": rt.worker_id, "payments_partitions": sorted(rt.payments),
                         "seeding_partitions": sorted(rt.seeding)})

    install_api(app, rt)  # /api/v1/...: streams/api/

    app.digindex_runtime = rt  # type: ignore[attr-defined]
    return app, rt


def producer_backpressure(app: faust.App, backlog: int = PRODUCER_BACKLOG) -> Any:
    """Wait while Faust's producer holds more than ``backlog`` unsent messages (changelog writes)."""
    async def ebb() -> None:
        buffer = app.producer.buffer
        while buffer.size > backlog:
            await buffer.flush_atmost(buffer.size - backlog)
    return ebb


def run_worker(settings: Settings) -> int:
    """Create the topics, then run a Faust worker until it is stopped (SIGINT/SIGTERM)."""
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_redaction.install()  # no Aadhaar number in any log line (Faust's and aiokafka's included)
    try:
        verifier_for(settings)  # fail before touching the broker
    except KeyRegistryError as exc:
        log.error("%s", exc)
        return 2
    ensure_topics(settings)
    app, _ = create_app(settings)
    from faust.worker import Worker

    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


def main() -> int:
    """``python -m streams.app``: a worker from the environment (``DIGINDEX_*``)."""
    return run_worker(Settings.from_env())


if __name__ == "__main__":
    raise SystemExit(main())
