"""The ``digindex`` command line: one subcommand per module under ``streams.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .config import Settings

__all__ = ["COMMANDS", "main"]

#: subcommand -> (module exposing ``configure(parser)`` and ``run(args, settings) -> int``, one-line help).
#: Only the chosen subcommand's module is imported, so ``digindex publish`` does not load Faust.
COMMANDS = {
    "demo": ("streams.commands.demo", "run the whole system on the embedded broker with a live terminal board"),
    "broker": ("streams.commands.broker", "run the embedded broker (tansu) in the foreground"),
    "worker": ("streams.commands.worker", "run a worker: consume events, keep the index, serve /metrics"),
    "publish": ("streams.commands.publish", "publish a partner bank's JSON Lines or CSV file"),
    "simulate": ("streams.commands.simulate", "publish realistic synthetic feeds for all districts"),
    "grafana": ("streams.commands.grafana", "publish the boards to a running Grafana"),
}


def _chosen(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digindex",
        description="Real-time digitization index for Indian districts. "
        "Every option can also be set as a DIGINDEX_<NAME> environment variable.",
    )
    parser.add_argument("--version", action="version", version=f"digindex {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen(argv)
    for name, (module_name, help_text) in COMMANDS.items():
        if name != chosen:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    settings = Settings.from_env()
    return int(args._module.run(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
