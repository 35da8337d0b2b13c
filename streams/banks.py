"""The bank registry: which bank codes exist, their names, and their branches' IFSCs.

Shipped as ``streams/data/ifsc/`` (an extract of Razorpay's IFSC dataset, MIT, version in
``VERSION``; ``scripts/refresh_ifsc.py`` refreshes it): 1,525 bank codes, 176,918 branch IFSCs
and the "sublet" branches one bank operates under another's IFSC prefix. A bank code is a known
IFSC bank prefix; a branch IFSC is the bank's if it is in the dataset and either starts with the
bank's code or is a sublet of that bank. Every lookup in the worker's per-event path is a set or
dict lookup; the branch set (~20 MB, 0.15 s to read) is read the first time a branch is checked.
"""

from __future__ import annotations

import csv
import gzip
import io
from functools import cached_property, lru_cache
from importlib import resources

from .errors import UnknownBank, UnknownBranch

__all__ = ["BankRegistry", "default_banks"]


class BankRegistry:
    """Bank codes -> names, and the branch IFSCs (loaded lazily by ``branches``)."""

    def __init__(self, names: dict[str, str], branches: frozenset[str] | None = None,
                 sublets: dict[str, str] | None = None, version: str = "") -> None:
        #: code -> name (the code itself when the dataset names no bank for it)
        self.names = {code: name or code for code, name in names.items()}
        self._branches = branches
        sublets = sublets or {}
        #: IFSC of a sublet branch -> the bank operating it
        self.sublets = {k: v for k, v in sublets.items() if len(k) == 11}
        #: IFSC prefixes sublet to a bank (custom sublets), longest first
        self.sublet_prefixes = sorted(((k, v) for k, v in sublets.items() if len(k) < 11), key=lambda kv: -len(kv[0]))
        #: the same, by their first 4 characters (longest first within each); a prefix shorter than
        #: 4 characters (none in the dataset) is tried for every IFSC, under the key ""
        self._prefixes_by_bank: dict[str, list[tuple[str, str]]] = {}
        for prefix, bank in self.sublet_prefixes:
            self._prefixes_by_bank.setdefault(prefix[:4] if len(prefix) >= 4 else "", []).append((prefix, bank))
        self.version = version

    @classmethod
    def shipped(cls) -> BankRegistry:
        root = resources.files("streams").joinpath("data/ifsc")
        names = {row["bank_code"]: row["name"] for row in csv.DictReader(io.StringIO(
            root.joinpath("banks.csv").read_text(encoding="utf-8")))}
        sublets = {row["ifsc"]: row["bank_code"] for row in csv.DictReader(io.StringIO(
            root.joinpath("sublets.csv").read_text(encoding="utf-8")))}
        version = root.joinpath("VERSION").read_text(encoding="utf-8").strip()
        return cls(names, None, sublets, version)

    @cached_property
    def branches(self) -> frozenset[str]:
        if self._branches is None:
            data = resources.files("streams").joinpath("data/ifsc/branches.txt.gz").read_bytes()
            self._branches = frozenset(gzip.decompress(data).decode("ascii").split())
        return self._branches

    def __contains__(self, code: object) -> bool:
        return code in self.names

    def __len__(self) -> int:
        return len(self.names)

    def name(self, code: str) -> str:
        """The bank's name; ``UnknownBank`` if the code is not a known IFSC bank prefix."""
        try:
            return self.names[code]
        except KeyError:
            raise UnknownBank(f"bank_code {code!r} is not a known IFSC bank code (registry: {self.version})",
                              "bank_code") from None

    def operator(self, ifsc: str) -> str | None:
        """The bank a listed branch IFSC belongs to (its prefix, or the sublet's bank); None if unlisted."""
        if ifsc not in self.branches:
            return None
        sublet = self.sublets.get(ifsc)
        if sublet is None:
            groups = self._prefixes_by_bank
            candidates = groups.get(ifsc[:4], ())
            if "" in groups:  # a prefix shorter than a bank code: merge, keeping longest first
                candidates = sorted((*candidates, *groups[""]), key=lambda kv: -len(kv[0]))
            for prefix, bank in candidates:
                if ifsc.startswith(prefix):
                    return bank
        return sublet or ifsc[:4]

    def branches_of(self, bank: str) -> list[str]:
        """Every listed branch IFSC ``bank`` operates, sorted (for the simulator: not the hot path)."""
        if not hasattr(self, "_by_bank"):
            by_bank: dict[str, list[str]] = {}
            for ifsc in sorted(self.branches):
                by_bank.setdefault(self.operator(ifsc) or ifsc[:4], []).append(ifsc)
            self._by_bank = by_bank
        return list(self._by_bank.get(bank, ()))

    def check_branch(self, bank: str, ifsc: str) -> None:
        """Refuse (``UnknownBranch``) an IFSC that is not a listed branch of ``bank``."""
        if ifsc[:4] == bank and ifsc in self.branches:
            return  # the common case: one set lookup
        owner = self.operator(ifsc)
        if owner == bank:
            return
        if owner is None:
            raise UnknownBranch(f"branch_ifsc {ifsc[:20]!r} is not a branch in the IFSC registry ({self.version})",
                                "branch_ifsc")
        raise UnknownBranch(f"branch_ifsc {ifsc!r} is a branch of {owner}, not of the event's bank {bank}",
                            "branch_ifsc")


@lru_cache(maxsize=1)
def default_banks() -> BankRegistry:
    """The registry shipped with the package."""
    return BankRegistry.shipped()
