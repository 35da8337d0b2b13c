"""The district registry: LGD codes, names and states, loaded from a data file.

Shipped as ``streams/data/districts.csv`` (one row per district, any state), so
adding a state is a data change, not a code change. ``aliases`` holds other
spellings (e.g. PhonePe Pulse's), separated by ``|``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import UnknownDistrict

__all__ = ["District", "DistrictRegistry", "default_registry"]


@dataclass(frozen=True, slots=True)
class District:
    """One district as the Local Government Directory names it."""

    lgd: int
    name: str
    state_lgd: int
    state: str


class DistrictRegistry:
    """Look districts up by LGD code or by any known spelling of their name."""

    def __init__(self, districts: list[District], aliases: dict[str, int] | None = None) -> None:
        self._by_lgd = {d.lgd: d for d in districts}
        self._by_name = {d.name.lower(): d.lgd for d in districts}
        self._by_name.update({k.lower(): v for k, v in (aliases or {}).items()})

    @classmethod
    def from_csv(cls, text: str) -> DistrictRegistry:
        """Parse the registry's CSV form (see module docstring)."""
        districts: list[District] = []
        aliases: dict[str, int] = {}
        for row in csv.DictReader(io.StringIO(text)):
            d = District(int(row["district_lgd"]), row["district"], int(row["state_lgd"]), row["state"])
            districts.append(d)
            for alias in filter(None, (row.get("aliases") or "").split("|")):
                aliases[alias.strip()] = d.lgd
        return cls(districts, aliases)

    @classmethod
    def from_path(cls, path: Path) -> DistrictRegistry:
        return cls.from_csv(path.read_text(encoding="utf-8"))

    def __contains__(self, lgd: object) -> bool:
        return lgd in self._by_lgd

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._by_lgd.values(), key=lambda d: d.lgd))

    def __len__(self) -> int:
        return len(self._by_lgd)

    def get(self, lgd: int) -> District:
        """The district with this LGD code; ``UnknownDistrict`` if there is none."""
        try:
            return self._by_lgd[lgd]
        except KeyError:
            raise UnknownDistrict(f"district_lgd {lgd} is not in the registry", "district_lgd") from None

    def by_name(self, name: str) -> District:
        """The district with this name or alias, case-insensitive."""
        try:
            return self._by_lgd[self._by_name[name.strip().lower()]]
        except KeyError:
            raise UnknownDistrict(f"no district named {name!r}", "district") from None

    def in_state(self, state: str) -> list[District]:
        return [d for d in self if d.state.lower() == state.lower()]


@lru_cache(maxsize=1)
def default_registry() -> DistrictRegistry:
    """The registry shipped with the package."""
    text = resources.files("streams").joinpath("data/districts.csv").read_text(encoding="utf-8")
    return DistrictRegistry.from_csv(text)
