"""The one configuration object, read from ``DIGINDEX_*`` environment variables and flags.

Every command builds a ``Settings`` with :func:`Settings.from_env` and applies its
flags with :meth:`Settings.replace`. (Secrets named by a flag, e.g. ``--sasl-password-env``,
and ``digindex grafana``'s own settings are read where they are used.)
"""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KafkaSecurity", "Secret", "Settings", "parse_duration"]

ENV_PREFIX = "DIGINDEX_"
#: The longest deduplication horizon (ids on disk: ~30 bytes each; see streams/processor/dedupe.py).
MAX_DEDUPE_HORIZON = 35 * 86400.0


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``1h`` or ``2d``."""
    if isinstance(text, (int, float)):
        return float(text)
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


@dataclass(frozen=True)
class KafkaSecurity:
    """How to reach a secured cluster; the defaults are plaintext for the embedded broker."""

    protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    sasl_mechanism: str = "PLAIN"  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    username: str | None = None
    password: Secret | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def kafka_python_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients."""
        kw: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol.startswith("SASL"):
            kw.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                      sasl_plain_password=self.password.get() if self.password else None)
        if self.protocol.endswith("SSL"):
            kw.update(ssl_cafile=self.ssl_cafile, ssl_certfile=self.ssl_certfile, ssl_keyfile=self.ssl_keyfile)
        return {k: v for k, v in kw.items() if v is not None}


def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def _targets(text: str) -> tuple[tuple[int, float], ...]:
    """``45=0.9,49=0.85`` -> ((45, 0.9), (49, 0.85))."""
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return tuple((int(k), float(v)) for k, v in pairs)


def parse_windows(text: str) -> tuple[float, ...]:
    return tuple(sorted(parse_duration(w) for w in text.split(",") if w.strip()))


@dataclass(frozen=True)
class Settings:
    """Everything a digindex process can be told. Durations are in seconds."""

    broker: str = "kafka://127.0.0.1:9092"
    app_id: str = "digindex"
    data_dir: Path = Path("./digindex-data")
    metrics_port: int = 6066
    metrics_host: str = "127.0.0.1"
    #: How the other workers reach this one's web server (the query API forwards to it);
    #: default ``http://<metrics_host>:<metrics_port>``, the host name if bound to every address.
    advertised_url: str | None = None
    log_level: str = "info"
    #: Consumer-group session timeout. tansu holds JoinGroup ~half of it: keep 2-3 s there,
    #: use Kafka's usual 30-60 s in production.
    session_timeout: float = 3.0
    topic_partitions: int = 8
    payments_topic: str = "payments"
    seeding_topic: str = "seeding"
    grievances_topic: str = "grievances"
    enablement_topic: str = "enablement"
    enrolments_topic: str = "enrolments"
    deadletter_topic: str = "digindex-deadletter"
    windows: tuple[float, ...] = (3600.0, 86400.0)
    #: How long event ids are remembered (deduplicated); older events are refused as too_old.
    dedupe_horizon: float = 7 * 86400.0
    max_future_skew: float = 300.0
    #: A checkpoint every this many events or seconds, whichever comes first. Each costs a few ms
    #: (the delta, its ids, the dedupe commit): every 2,000 events or 1 s that was 5-6 us of an
    #: event's ~45 (``bench.micro``), every 10,000 or 5 s 2.5-3 us. A crash replays at most this much
    #: (deduplicated by id); dead letters and the consumer offset commit follow each checkpoint.
    #: Kafka Streams commits every 30 s by default.
    checkpoint_events: int = 10_000
    checkpoint_interval: float = 5.0
    #: Longest time a consumer fetch may wait for data (Faust's own value is 1.5 s).
    fetch_max_wait: float = 0.1
    #: Source topics' fetched batches go straight to the processors (streams.processor.batch);
    #: off, every message takes Faust's agent path (same processor, ~10x the CPU per event).
    batch_path: bool = True
    extra_schema_dir: str | None = None
    #: Faust's check that local RocksDB state is not ahead of its changelog. Turn it off on the
    #: embedded broker: tansu under-reports a partition's high watermark (the last batch's base
    #: offset + 1), so the check fires falsely after a worker is killed.
    recovery_consistency_check: bool = True
    #: Digital-share target for every district, and per-district overrides (LGD -> ratio).
    target: float = 0.8
    targets: tuple[tuple[int, float], ...] = ()
    #: A branch counts in ``digindex_branches_below_target`` only with at least this many successful
    #: payments in the window (fewer say nothing about the branch).
    branch_min_transactions: int = 20
    #: ``digindex_grievance_resolved_within_days_ratio``: resolved at most this many days after the
    #: transaction date (the directive's "within 1-2 days").
    grievance_days: int = 2
    #: A resolved grievance is deleted from the worker's store once it was resolved more than this
    #: long (whole days) before the partition's newest grievance event; an event for it after that
    #: is judged as for a grievance never seen (README, Limits). At least a day and the longest window.
    grievance_retention: float = 35 * 86400.0
    #: The key registry (streams/signing.py): the worker verifies every source message with it;
    #: publish and simulate sign with the bank's newest active key in it.
    key_registry: Path | None = None
    #: Workers refuse (bad_signature) unsigned messages and refuse to start without a key
    #: registry; publishers refuse to send unsigned. Off only for a broker whose every producer
    #: is trusted (there is no default key registry: tests and the demo make one).
    require_signatures: bool = True
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    def __post_init__(self) -> None:
        if not 3600 <= self.dedupe_horizon <= MAX_DEDUPE_HORIZON:
            raise ValueError(f"dedupe_horizon must be between 1 h and 35 days, not {self.dedupe_horizon:.0f} s")
        if self.dedupe_horizon < self.longest_window:
            raise ValueError("dedupe_horizon must be at least the longest window")
        if self.branch_min_transactions < 1:
            raise ValueError("branch_min_transactions must be at least 1")
        if self.grievance_days < 0:
            raise ValueError("grievance_days must not be negative")
        if self.grievance_retention < max(86400.0, self.longest_window):
            raise ValueError("grievance_retention must be at least a day and the longest window")

    @property
    def longest_window(self) -> float:
        return max(self.windows)

    @property
    def web_url(self) -> str:
        """``advertised_url``, or this worker's web server as the others can reach it."""
        if self.advertised_url:
            return self.advertised_url.rstrip("/")
        host = self.metrics_host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        return f"http://{host}:{self.metrics_port}"

    @property
    def seeding_directory_topic(self) -> str:
        """Internal: every applied seeding event again, keyed by account (the account directory)."""
        return f"{self.seeding_topic}-directory"

    @property
    def seeding_releases_topic(self) -> str:
        """Internal: the directory's releases of moved accounts, keyed by district like the seeding topic."""
        return f"{self.seeding_topic}-releases"

    @property
    def enablement_directory_topic(self) -> str:
        """Internal: every applied enablement event again, keyed by account (its account directory)."""
        return f"{self.enablement_topic}-directory"

    @property
    def enablement_releases_topic(self) -> str:
        """Internal: the enablement directory's releases of moved accounts, keyed by district."""
        return f"{self.enablement_topic}-releases"

    def target_for(self, district_lgd: int) -> float:
        return dict(self.targets).get(district_lgd, self.target)

    @staticmethod
    def window_label(seconds: float) -> str:
        """``3600`` -> ``1h``, ``86400`` -> ``24h``, ``900`` -> ``15m``."""
        if seconds % 3600 == 0:
            return f"{int(seconds // 3600)}h"
        if seconds % 60 == 0:
            return f"{int(seconds // 60)}m"
        return f"{int(seconds)}s"

    @property
    def bootstrap_servers(self) -> str:
        """``host:port[,host:port]`` without the ``kafka://`` scheme, for kafka-python."""
        return ",".join(part.split("://", 1)[-1] for part in self.broker.split(";") if part)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied; ``None`` values are ignored (flag not given)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_env(self) -> dict[str, str]:
        """``DIGINDEX_*`` variables that make ``from_env`` rebuild these settings (for child processes)."""
        env: dict[str, str] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "security" or v is None:
                continue
            if f.name == "windows":
                v = ",".join(str(w) for w in v)
            elif f.name == "targets":
                v = ",".join(f"{k}={t}" for k, t in v)
            elif isinstance(v, bool):
                v = "true" if v else "false"
            env[ENV_PREFIX + f.name.upper()] = str(v)
        sec = self.security
        for name, v in (("kafka_security_protocol", sec.protocol), ("kafka_sasl_mechanism", sec.sasl_mechanism),
                        ("kafka_username", sec.username), ("kafka_ssl_cafile", sec.ssl_cafile),
                        ("kafka_ssl_certfile", sec.ssl_certfile), ("kafka_ssl_keyfile", sec.ssl_keyfile),
                        ("kafka_password", sec.password.get() if sec.password else None)):
            if v:
                env[ENV_PREFIX + name.upper()] = v
        return env

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Defaults overridden by ``DIGINDEX_<FIELD>`` variables (e.g. ``DIGINDEX_BROKER``)."""
        env = dict(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            return env.get(ENV_PREFIX + name.upper())

        kw: dict[str, Any] = {}
        conv: dict[str, Any] = {
            "broker": str, "app_id": str, "data_dir": Path, "metrics_port": int, "metrics_host": str,
            "advertised_url": str,
            "log_level": str, "session_timeout": parse_duration, "topic_partitions": int,
            "payments_topic": str, "seeding_topic": str, "grievances_topic": str, "enablement_topic": str,
            "enrolments_topic": str, "deadletter_topic": str,
            "windows": parse_windows,
            "dedupe_horizon": parse_duration, "max_future_skew": parse_duration,
            "checkpoint_events": int, "checkpoint_interval": parse_duration,
            "fetch_max_wait": parse_duration, "extra_schema_dir": str,
            "target": float, "targets": _targets, "branch_min_transactions": int, "grievance_days": int,
            "grievance_retention": parse_duration,
            "recovery_consistency_check": _bool,
            "batch_path": _bool, "key_registry": Path, "require_signatures": _bool,
        }
        for name, fn in conv.items():
            raw = get(name)
            if raw is not None and raw != "":
                kw[name] = fn(raw)
        password = get("kafka_password")
        sec = KafkaSecurity(
            protocol=get("kafka_security_protocol") or "PLAINTEXT",
            sasl_mechanism=get("kafka_sasl_mechanism") or "PLAIN",
            username=get("kafka_username"),
            password=Secret(password) if password else None,
            ssl_cafile=get("kafka_ssl_cafile"),
            ssl_certfile=get("kafka_ssl_certfile"),
            ssl_keyfile=get("kafka_ssl_keyfile"),
        )
        return cls(security=sec, **kw)
