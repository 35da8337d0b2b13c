"""Publish the committed boards to a running Grafana.

    digindex grafana push --url http://grafana:3000 --token-env GRAFANA_TOKEN
    digindex grafana push --url https://grafana.example/ --user admin --password-env GRAFANA_PASSWORD

Every board in --dashboards (default: grafana/dashboards of this checkout) is saved with its
own uid and overwrite into --folder (created if missing): pushing again updates the same
boards, each to a new version. Secrets are read only from the environment variable you name
(a service-account token with the Editor role, or a user's password); never pass them as
flags or in the URL. The boards expect a Prometheus datasource with uid digindex-prometheus
(grafana/provisioning/datasources/prometheus.yml); a warning says so if Grafana has none.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from .. import __version__
from ..config import Settings

__all__ = ["configure", "run"]

#: The checkout's boards, when the command runs from a source tree (the default of --dashboards).
REPO_BOARDS = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"


def _default_dashboards() -> Path:
    here = Path("grafana") / "dashboards"
    return here if here.is_dir() else REPO_BOARDS


class _RedactingParser(argparse.ArgumentParser):
    """Unknown arguments are refused without echoing their values (``--token SECRET`` is a
    likely mistake, and argparse would print SECRET)."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            shown = [a.split("=", 1)[0] + ("=..." if "=" in a else "") if a.startswith("-") else "..."
                     for a in extras]
            self.error(f"unrecognized arguments: {' '.join(shown)} (values hidden; secrets go in "
                       "environment variables: --token-env, --password-env)")
        return namespace, extras


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_RedactingParser)
    # allow_abbrev=False: "--token SECRET" or "--password SECRET" must be an error, not an
    # abbreviation of --token-env/--password-env that would then echo SECRET as a variable name.
    p = sub.add_parser("push", help="create or update the boards in a Grafana (idempotent)", allow_abbrev=False,
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=os.environ.get("DIGINDEX_GRAFANA_URL"),
                   help="Grafana's base URL, http(s)://HOST[:PORT][/PATH] (env DIGINDEX_GRAFANA_URL)")
    auth = p.add_argument_group("authentication (one of)")
    auth.add_argument("--token-env", metavar="VAR",
                      help="name of the environment variable holding a service-account token (Bearer)")
    auth.add_argument("--user", help="user name for basic authentication (with --password-env)")
    auth.add_argument("--password-env", metavar="VAR",
                      help="name of the environment variable holding that user's password")
    p.add_argument("--folder", default="digindex", help="folder title; created (uid: its slug) if missing "
                   "(default digindex, as the file provisioning)")
    p.add_argument("--dashboards", type=Path, default=None,
                   help="directory of dashboard JSON files (default grafana/dashboards)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request (default 10)")


def _secret(var: str, what: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        # Name the variable only if it looks like one: a secret passed by mistake is not echoed.
        name = var if re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}", var) else "named there"
        raise SystemExit(f"digindex grafana push: environment variable {name} (the {what}) is not set or empty"
                         " (the flag takes a variable's name, never the secret itself)")
    return value


def _credential(args: argparse.Namespace) -> str | tuple[str, str]:
    if args.token_env and (args.user or args.password_env):
        raise SystemExit("digindex grafana push: give either --token-env or --user with --password-env, not both")
    if args.token_env:
        return _secret(args.token_env, "Grafana token")
    if args.user and args.password_env:
        return args.user, _secret(args.password_env, f"password of {args.user}")
    if args.user or args.password_env:
        raise SystemExit("digindex grafana push: --user and --password-env go together")
    raise SystemExit("digindex grafana push: give --token-env VAR (a service-account token) "
                     "or --user USER --password-env VAR")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..grafana_push import PushError, connect, load_boards, push

    if not args.url:
        raise SystemExit("digindex grafana push: give --url (or DIGINDEX_GRAFANA_URL)")
    credential = _credential(args)
    directory = args.dashboards or _default_dashboards()
    try:
        boards = load_boards(directory)
        api = connect(args.url, credential, timeout=args.timeout)
        results = push(api, boards, args.folder, message=f"digindex grafana push (digindex {__version__})")
    except PushError as exc:
        print(f"digindex grafana push: {exc}", file=sys.stderr)
        return 1
    created = sum(r.action == "created" for r in results)
    print(f"grafana: {len(results)} boards pushed ({created} created, {len(results) - created} updated)")
    return 0
