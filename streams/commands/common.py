"""Flags shared by several subcommands, and how they land in ``Settings``."""

from __future__ import annotations

import argparse

from ..config import KafkaSecurity, Secret, Settings

__all__ = ["add_broker_flags", "settings_from_args"]


def add_broker_flags(parser: argparse.ArgumentParser, security: bool = True) -> None:
    g = parser.add_argument_group("broker")
    g.add_argument("--broker", help="Kafka bootstrap address, kafka://HOST:PORT (env DIGINDEX_BROKER; "
                   "default kafka://127.0.0.1:9092)")
    g.add_argument("--partitions", type=int, dest="topic_partitions",
                   help="partition count for topics this command creates (default 8)")
    if security:
        g.add_argument("--security-protocol", choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
                       help="env DIGINDEX_KAFKA_SECURITY_PROTOCOL")
        g.add_argument("--sasl-mechanism", choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        g.add_argument("--sasl-username")
        g.add_argument("--sasl-password-env", metavar="VAR",
                       help="name of the environment variable holding the SASL password "
                       "(default DIGINDEX_KAFKA_PASSWORD); never pass secrets as flags")
        g.add_argument("--ssl-cafile")


def settings_from_args(args: argparse.Namespace, settings: Settings) -> Settings:
    """``settings`` with every broker flag that was given applied."""
    import os

    settings = settings.replace(broker=getattr(args, "broker", None),
                                topic_partitions=getattr(args, "topic_partitions", None))
    sec = settings.security
    if getattr(args, "security_protocol", None) or getattr(args, "sasl_username", None):
        password = sec.password
        if getattr(args, "sasl_password_env", None):
            value = os.environ.get(args.sasl_password_env)
            password = Secret(value) if value else None
        sec = KafkaSecurity(
            protocol=args.security_protocol or sec.protocol,
            sasl_mechanism=args.sasl_mechanism or sec.sasl_mechanism,
            username=args.sasl_username or sec.username,
            password=password,
            ssl_cafile=args.ssl_cafile or sec.ssl_cafile,
            ssl_certfile=sec.ssl_certfile,
            ssl_keyfile=sec.ssl_keyfile,
        )
        settings = settings.replace(security=sec)
    return settings
