"""Settings: environment round trip, durations, windows, targets, and secrets kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config import ENV_PREFIX, KafkaSecurity, Secret, Settings, parse_duration, parse_windows

PASSWORD = "hunter2-s3cret"


def custom() -> Settings:
    return Settings(
        broker="kafka://k1:9093;kafka://k2:9093", app_id="digindex-prod", data_dir=Path("/var/lib/digindex"),
        metrics_port=9100, metrics_host="0.0.0.0", log_level="debug", session_timeout=45.0, topic_partitions=24,
        payments_topic="pay", seeding_topic="seed", deadletter_topic="dlq", windows=(900.0, 3600.0, 86400.0),
        dedupe_horizon=72 * 3600.0, max_future_skew=120.0, checkpoint_events=500, checkpoint_interval=2.5,
        extra_schema_dir="/etc/digindex/schemas", recovery_consistency_check=False, target=0.75,
        targets=((45, 0.9), (49, 0.85)), branch_min_transactions=50,
        security=KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", username="digindex",
                               password=Secret(PASSWORD), ssl_cafile="/etc/ca.pem", ssl_certfile="/etc/c.pem",
                               ssl_keyfile="/etc/k.pem"),
    )


def test_defaults_from_empty_env() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings().windows == (3600.0, 86400.0)
    assert Settings().dedupe_horizon == 7 * 86400.0


@pytest.mark.parametrize("horizon", [3599.0, 35 * 86400.0 + 1])
def test_dedupe_horizon_is_between_an_hour_and_35_days(horizon: float) -> None:
    with pytest.raises(ValueError, match="dedupe_horizon"):
        Settings(dedupe_horizon=horizon, windows=(600.0,))
    assert Settings(dedupe_horizon=35 * 86400.0).dedupe_horizon == 35 * 86400.0
    assert Settings(dedupe_horizon=3600.0, windows=(600.0, 3600.0)).dedupe_horizon == 3600.0


def test_dedupe_horizon_covers_the_longest_window() -> None:
    with pytest.raises(ValueError, match="longest window"):
        Settings(dedupe_horizon=12 * 3600.0)  # the 24 h window's events could not all be deduplicated


@pytest.mark.parametrize("settings", [Settings(), custom()], ids=["defaults", "custom"])
def test_env_round_trip(settings: Settings) -> None:
    env = settings.to_env()
    assert all(k.startswith(ENV_PREFIX) and isinstance(v, str) for k, v in env.items())
    assert Settings.from_env(env) == settings


def test_from_env_ignores_unrelated_and_empty_variables() -> None:
    s = Settings.from_env({"PATH": "/bin", "DIGINDEX_BROKER": "", "DIGINDEX_METRICS_PORT": "7000",
                           "BROKER": "kafka://x:1"})
    assert s == Settings(metrics_port=7000)


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("1h", 3600.0), ("2d", 172800.0), (" 1.5H ", 5400.0),
    (30, 30.0), (2.5, 2.5), ("0.25", 0.25),
])
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_durations_and_windows_from_env() -> None:
    s = Settings.from_env({"DIGINDEX_WINDOWS": "24h, 15m,1h", "DIGINDEX_DEDUPE_HORIZON": "3d",
                           "DIGINDEX_MAX_FUTURE_SKEW": "2m", "DIGINDEX_SESSION_TIMEOUT": "45s",
                           "DIGINDEX_CHECKPOINT_INTERVAL": "500"})
    assert s.windows == (900.0, 3600.0, 86400.0), "sorted: the longest window last"
    assert s.longest_window == 86400.0
    assert (s.dedupe_horizon, s.max_future_skew, s.session_timeout, s.checkpoint_interval) == (
        259200.0, 120.0, 45.0, 500.0)
    assert parse_windows("1h,,") == (3600.0,)


@pytest.mark.parametrize(("seconds", "label"), [(3600, "1h"), (86400, "24h"), (900, "15m"), (90, "90s"),
                                                (5400, "90m"), (7 * 86400, "168h"), (60, "1m")])
def test_window_label(seconds: float, label: str) -> None:
    assert Settings.window_label(seconds) == label


def test_targets() -> None:
    s = Settings.from_env({"DIGINDEX_TARGET": "0.7", "DIGINDEX_TARGETS": "45=0.9, 49=0.85,"})
    assert s.targets == ((45, 0.9), (49, 0.85))
    assert s.target_for(45) == 0.9 and s.target_for(49) == 0.85 and s.target_for(50) == 0.7
    assert Settings().target_for(45) == 0.8


def test_branch_min_transactions() -> None:
    assert Settings().branch_min_transactions == 20
    assert Settings.from_env({"DIGINDEX_BRANCH_MIN_TRANSACTIONS": "5"}).branch_min_transactions == 5
    with pytest.raises(ValueError, match="branch_min_transactions"):
        Settings(branch_min_transactions=0)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("1", True), ("YES", True), ("on", True),
                                             ("false", False), ("0", False), ("no", False)])
def test_booleans(text: str, value: bool) -> None:
    assert Settings.from_env({"DIGINDEX_RECOVERY_CONSISTENCY_CHECK": text}).recovery_consistency_check is value


def test_replace_ignores_none() -> None:
    s = custom().replace(metrics_port=None, log_level="warning")
    assert s.metrics_port == 9100 and s.log_level == "warning"


def test_bootstrap_servers() -> None:
    assert custom().bootstrap_servers == "k1:9093,k2:9093"
    assert Settings(broker="127.0.0.1:9092").bootstrap_servers == "127.0.0.1:9092"


def test_secrets_never_shown() -> None:
    s = custom()
    for text in (repr(s), str(s), repr(s.security), str(s.security.password), repr(s.security.password),
                 f"{s.security.password}", f"{s!r}"):
        assert PASSWORD not in text
    assert "**********" in repr(s.security)
    assert s.security.password is not None and s.security.password.get() == PASSWORD
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b") and Secret("a") != "a"


def test_password_from_env_is_a_secret() -> None:
    s = Settings.from_env({"DIGINDEX_KAFKA_PASSWORD": PASSWORD, "DIGINDEX_KAFKA_USERNAME": "u",
                           "DIGINDEX_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    assert isinstance(s.security.password, Secret) and PASSWORD not in repr(s)
    kw = s.security.kafka_python_kwargs()
    assert kw == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_plain_username": "u",
                  "sasl_plain_password": PASSWORD}


def test_kafka_kwargs() -> None:
    assert KafkaSecurity().kafka_python_kwargs() == {"security_protocol": "PLAINTEXT"}
    kw = custom().security.kafka_python_kwargs()
    assert kw["ssl_cafile"] == "/etc/ca.pem" and kw["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kw["sasl_plain_password"] == PASSWORD
    assert KafkaSecurity(protocol="SSL", ssl_cafile="/ca").kafka_python_kwargs() == {
        "security_protocol": "SSL", "ssl_cafile": "/ca"}


def test_web_url_is_what_other_workers_reach() -> None:
    import socket

    assert Settings().web_url == "http://127.0.0.1:6066"
    assert Settings(metrics_host="0.0.0.0", metrics_port=7000).web_url == f"http://{socket.gethostname()}:7000"
    s = Settings.from_env({"DIGINDEX_ADVERTISED_URL": "http://w-0.digindex-worker:6066/"})
    assert s.web_url == "http://w-0.digindex-worker:6066"
    assert Settings.from_env(s.to_env()).advertised_url == s.advertised_url


def test_grievance_retention() -> None:
    assert Settings().grievance_retention == 35 * 86400.0
    assert Settings.from_env({"DIGINDEX_GRIEVANCE_RETENTION": "10d"}).grievance_retention == 10 * 86400.0
    with pytest.raises(ValueError, match="grievance_retention"):
        Settings(grievance_retention=3600.0)  # less than a day
    with pytest.raises(ValueError, match="grievance_retention"):
        Settings(windows=(3600.0, 2 * 86400.0), grievance_retention=86400.0)  # less than the longest window
