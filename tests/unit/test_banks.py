"""The bank registry's branch index: grouping sublet prefixes must not change any answer."""

from __future__ import annotations

import time

from streams.banks import BankRegistry, default_banks


def _operator_by_scan(banks: BankRegistry, ifsc: str) -> str | None:
    """The original definition: every sublet prefix tried, longest first."""
    if ifsc not in banks.branches:
        return None
    sublet = banks.sublets.get(ifsc)
    if sublet is None:
        for prefix, bank in banks.sublet_prefixes:
            if ifsc.startswith(prefix):
                return bank
    return sublet or ifsc[:4]


def test_grouped_prefixes_give_the_scans_operator_for_every_shipped_branch() -> None:
    banks = default_banks()
    assert len(banks.sublet_prefixes) > 50  # the dataset's custom sublets are exercised
    differ = [i for i in banks.branches if banks.operator(i) != _operator_by_scan(banks, i)]
    assert differ == []
    assert banks.operator("SBIN0999999") is None  # unlisted


def test_branches_of_partitions_the_registry_by_operator() -> None:
    banks = default_banks()
    started = time.perf_counter()
    sbin = banks.branches_of("SBIN")
    assert time.perf_counter() - started < 1.5  # the per-IFSC scan of every prefix took ~2 s
    assert sbin == sorted(sbin) and all(banks.operator(i) == "SBIN" for i in sbin)
    by_bank: dict[str, int] = {}
    for i in banks.branches:
        op = banks.operator(i)
        assert op is not None
        by_bank[op] = by_bank.get(op, 0) + 1
    assert {b: len(banks.branches_of(b)) for b in by_bank} == by_bank
    sublet = [i for i in banks.branches_of("USFB") if not i.startswith("USFB")]
    assert sublet and all(i.startswith("UJVN") for i in sublet)  # UJVN is sublet to USFB as a prefix


def test_overlapping_and_short_prefixes_resolve_longest_first() -> None:
    branches = frozenset({"HDFC0CHB101", "HDFC0CH0001", "HDFC0000001", "HDXX0000001", "ABCD0000001"})
    sublets = {"HDFC0CHB1": "BNKA", "HDFC0CH": "BNKB", "HD": "BNKC", "ABCD0000001": "BNKD"}
    banks = BankRegistry({c: c for c in ("HDFC", "HDXX", "ABCD", "BNKA", "BNKB", "BNKC", "BNKD")}, branches, sublets)
    got = {i: banks.operator(i) for i in sorted(branches)}
    assert got == {i: _operator_by_scan(banks, i) for i in sorted(branches)}
    assert got == {"ABCD0000001": "BNKD", "HDFC0000001": "BNKC", "HDFC0CH0001": "BNKB",
                   "HDFC0CHB101": "BNKA", "HDXX0000001": "BNKC"}
