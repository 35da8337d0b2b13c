"""The ``digindex`` command line: one subcommand per module under ``streams.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .config import Settings

__all__ = ["COMMANDS", "main"]

#: subcommand -> module exposing ``HELP``, ``configure(parser)`` and ``run(args, settings) -> int``.
COMMANDS = {
    "broker": "streams.commands.broker",
    "worker": "streams.commands.worker",
    "publish": "streams.commands.publish",
    "simulate": "streams.commands.simulate",
    "demo": "streams.commands.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digindex",
        description="Real-time digitization index for Indian districts. "
        "Every option can also be set as a DIGINDEX_<NAME> environment variable.",
    )
    parser.add_argument("--version", action="version", version=f"digindex {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.configure(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    return int(args._module.run(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
