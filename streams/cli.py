"""The ``digindex`` command line: one subcommand per module under ``streams.commands``."""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__, log_redaction
from .aadhaar import redact
from .config import Settings

__all__ = ["COMMANDS", "Parser", "main", "without_values"]

#: subcommand -> (module exposing ``configure(parser)`` and ``run(args, settings) -> int``, one-line help).
#: Only the chosen subcommand's module is imported, so ``digindex publish`` does not load Faust.
COMMANDS = {
    "demo": ("streams.commands.demo", "run the whole system on the embedded broker with a live terminal board"),
    "broker": ("streams.commands.broker", "run the embedded broker (tansu) in the foreground"),
    "worker": ("streams.commands.worker", "run a worker: consume events, keep the index, serve /metrics"),
    "publish": ("streams.commands.publish", "publish a partner bank's JSON Lines or CSV file"),
    "simulate": ("streams.commands.simulate", "publish realistic synthetic feeds for all districts"),
    "grafana": ("streams.commands.grafana", "publish the boards to a running Grafana"),
    "keys": ("streams.commands.keys", "manage a key registry: add, revoke, expire, list signing keys"),
}


#: argparse's messages that quote the value given: "invalid choice: 'x'", "invalid int value: 'x'"...
_QUOTED_VALUE = re.compile(r"(invalid choice|invalid [\w.]+ value|ignored explicit argument): "
                           r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (.*)$", re.DOTALL)
_OPTION_VALUE = re.compile(r"(--?[\w-]+)=\S*")


def without_values(message: str) -> str:
    """An argparse error message that names options but never echoes a value given to them.

    A mistyped value may be a secret (a token pasted after the wrong flag) or an Aadhaar
    number; the terminal, a CI log or a shell history collector must not get it back.
    """
    message = _QUOTED_VALUE.sub(r"\1", message)
    unrecognized = _UNRECOGNIZED.search(message)
    if unrecognized:
        tokens = unrecognized.group(1).split()
        options = [t.split("=", 1)[0] for t in tokens if t.startswith("-")]
        values = len(tokens) - len(options)
        listed = " ".join(options) + (f" and {values} value(s)" if values else "")
        message = message[:unrecognized.start(1)] + listed.strip()
    return redact(_OPTION_VALUE.sub(r"\1=...", message))


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors never echo a value (its subcommands' parsers too)."""

    def error(self, message: str) -> NoReturn:
        super().error(without_values(message))


def _chosen(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = Parser(
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
    log_redaction.install()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    settings = Settings.from_env()
    return int(args._module.run(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
