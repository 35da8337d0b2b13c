"""The command line never echoes a value it refuses (a pasted secret, an Aadhaar number)."""

from __future__ import annotations

import pytest

from streams.aadhaar import contains_aadhaar_like
from streams.cli import main, without_values

from .factories import aadhaar_forms, aadhaar_like

SECRET = "glsa_s3cr3tT0ken"
NUMBER = aadhaar_forms(aadhaar_like("49911866524"))["4-4-4 dot"]


@pytest.mark.parametrize("argv", [
    ["worker", "--log-level", SECRET],  # invalid choice
    [SECRET],  # an unknown subcommand
    ["worker", "--metrics-port", SECRET],  # invalid int value
    ["worker", "--session-timeout", SECRET],  # a type function's ValueError
    ["simulate", "--seed", SECRET],
    ["worker", f"--token={SECRET}"],  # unrecognized, with its value attached
    ["worker", "--data-dir", "d", SECRET, "another"],  # unrecognized values
    ["worker", f"--log-leve={SECRET}"],  # an abbreviation that matches one option
    ["publish", "--kind", SECRET, "x.jsonl"],
    ["worker", "--log-level", NUMBER],
    ["worker", NUMBER],
])
def test_errors_never_echo_the_value(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert "s3cr3t" not in err and "T0ken" not in err, err
    assert not contains_aadhaar_like(err), err


def test_messages_keep_what_helps() -> None:
    assert without_values("argument --log-level: invalid choice: 'x' (choose from 'debug', 'info')") == \
        "argument --log-level: invalid choice (choose from 'debug', 'info')"
    assert without_values("argument --port: invalid int value: \"it's\"") == "argument --port: invalid int value"
    assert without_values("unrecognized arguments: --token=abc def") == \
        "unrecognized arguments: --token and 1 value(s)"
    assert without_values("ambiguous option: --pa=abc could match --password, --path") == \
        "ambiguous option: --pa=... could match --password, --path"
