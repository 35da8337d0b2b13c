"""Reading the generated boards: every panel, rows' nested panels included."""

from __future__ import annotations

from typing import Any

__all__ = ["panels"]


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out
