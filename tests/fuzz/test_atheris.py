"""A short coverage-guided run (atheris) of every target, in parallel: ``FUZZ_SECONDS`` each (default 3).

``make fuzz`` runs them for longer (``python -m tests.fuzz.atheris_main TARGET SECONDS``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from .atheris_main import TARGETS, run

SECONDS = float(os.environ.get("FUZZ_SECONDS", "3"))


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[int, int, str]]:
    with ThreadPoolExecutor(len(TARGETS)) as pool:
        return dict(zip(TARGETS, pool.map(lambda t: run(t, SECONDS), TARGETS), strict=True))


@pytest.mark.parametrize("target", TARGETS)
def test_atheris_finds_nothing(results: dict[str, tuple[int, int, str]], target: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, runs, output = results[target]
    with capsys.disabled():
        print(f"\nfuzz {target}: {runs:,} inputs in {SECONDS:.0f} s, {'no finding' if code == 0 else 'FINDING'}")
    assert code == 0, output[-6000:]
    assert runs > 0, output[-2000:]
