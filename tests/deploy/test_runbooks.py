"""One runbook per alert, one alert per runbook, each with Meaning, Impact, Diagnosis, Mitigation."""

from __future__ import annotations

import re

from .helpers import RUNBOOKS_DIR, alert_names

SECTIONS = ["Meaning", "Impact", "Diagnosis", "Mitigation"]


def _runbooks() -> set[str]:
    return {p.stem for p in RUNBOOKS_DIR.glob("*.md") if p.name != "README.md"}


def test_every_alert_has_a_runbook_and_every_runbook_an_alert() -> None:
    assert alert_names() - _runbooks() == set(), "alerts without a runbook"
    assert _runbooks() - alert_names() == set(), "runbooks without an alert"


def test_runbooks_have_the_four_sections_in_order() -> None:
    for name in _runbooks():
        text = (RUNBOOKS_DIR / f"{name}.md").read_text()
        assert text.startswith(f"# {name}\n"), name
        headings = re.findall(r"^## (.+)$", text, flags=re.M)
        assert headings == SECTIONS, f"{name}: {headings}"
        for section in re.split(r"^## .+$", text, flags=re.M)[1:]:
            assert len(section.strip()) > 80, f"{name}: a section is nearly empty"


def test_runbook_index_lists_every_runbook() -> None:
    index = (RUNBOOKS_DIR / "README.md").read_text()
    for name in _runbooks():
        assert f"]({name}.md)" in index, name


def test_runbook_links_resolve() -> None:
    for path in RUNBOOKS_DIR.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", path.read_text()):
            assert (RUNBOOKS_DIR / target).exists(), f"{path.name} links to missing {target}"
