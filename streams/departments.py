"""The department registry: which government departments a payment may name, and their names.

Shipped as ``streams/data/departments.csv`` (``department_code,name``, one row per department,
codes in capitals with underscores), so a state's own departments are a data change, not a code
change. ``department_code`` is a metric label (``digindex_department_digital_share_ratio``): the
worker refuses a code that is not listed (``unknown_department``), which keeps the label set
bounded and a typo off the boards. The lookup on the per-event path is one dict lookup.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

from .errors import UnknownDepartment

__all__ = ["DepartmentRegistry", "default_departments"]


class DepartmentRegistry:
    """Department codes -> names."""

    def __init__(self, names: dict[str, str]) -> None:
        #: code -> name (the code itself when the file names none)
        self.names = {code: name or code for code, name in names.items()}

    @classmethod
    def from_csv(cls, text: str) -> DepartmentRegistry:
        """Parse the registry's CSV form (see the module docstring)."""
        return cls({row["department_code"].strip(): (row.get("name") or "").strip()
                    for row in csv.DictReader(io.StringIO(text)) if row["department_code"].strip()})

    @classmethod
    def shipped(cls) -> DepartmentRegistry:
        return cls.from_csv(resources.files("streams").joinpath("data/departments.csv").read_text(encoding="utf-8"))

    def __contains__(self, code: object) -> bool:
        return code in self.names

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self.names))

    def __len__(self) -> int:
        return len(self.names)

    def name(self, code: str) -> str:
        """The department's name; ``UnknownDepartment`` if the code is not listed."""
        try:
            return self.names[code]
        except KeyError:
            raise UnknownDepartment(f"department_code {code[:40]!r} is not in the department registry",
                                    "department_code") from None


@lru_cache(maxsize=1)
def default_departments() -> DepartmentRegistry:
    """The registry shipped with the package."""
    return DepartmentRegistry.shipped()
