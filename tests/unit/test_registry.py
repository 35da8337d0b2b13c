"""The district registry: Uttarakhand's LGD codes and spellings, aliases, and other states."""

from __future__ import annotations

import pytest

from streams.errors import UnknownDistrict
from streams.registry import District, DistrictRegistry

UTTARAKHAND = {
    45: "Almora", 46: "Bageshwar", 47: "Chamoli", 48: "Champawat", 49: "Dehradun", 50: "Haridwar",
    51: "Nainital", 52: "Pauri Garhwal", 53: "Pithoragarh", 54: "Rudra Prayag", 55: "Tehri Garhwal",
    56: "Udam Singh Nagar", 57: "Uttar Kashi",
}


def test_all_uttarakhand_districts_with_lgd_spellings(registry: DistrictRegistry) -> None:
    ukd = registry.in_state("Uttarakhand")
    assert {d.lgd: d.name for d in ukd} == UTTARAKHAND
    assert [d.lgd for d in ukd] == list(range(45, 58))
    for lgd, name in UTTARAKHAND.items():
        d = registry.get(lgd)
        assert d == District(lgd, name, 5, "Uttarakhand")
        assert lgd in registry
        assert registry.by_name(name) is d


@pytest.mark.parametrize(("alias", "lgd"), [
    ("udham singh nagar", 56), ("Udham Singh Nagar", 56), ("uttarkashi", 57), ("rudraprayag", 54),
    ("  RUDRAPRAYAG ", 54), ("garhwal", 52), ("almora", 45), ("UTTAR KASHI", 57),
])
def test_pulse_aliases_and_case(registry: DistrictRegistry, alias: str, lgd: int) -> None:
    assert registry.by_name(alias).lgd == lgd


@pytest.mark.parametrize("lgd", [0, 44, 58, -45, 999])
def test_unknown_lgd(registry: DistrictRegistry, lgd: int) -> None:
    assert lgd not in registry
    with pytest.raises(UnknownDistrict) as exc:
        registry.get(lgd)
    assert exc.value.code == "unknown_district" and exc.value.field == "district_lgd"
    assert str(lgd) in str(exc.value)


def test_unknown_name(registry: DistrictRegistry) -> None:
    with pytest.raises(UnknownDistrict) as exc:
        registry.by_name("Gotham")
    assert exc.value.code == "unknown_district" and exc.value.field == "district"


def test_not_tied_to_one_state() -> None:
    text = ("district_lgd,district,state_lgd,state,aliases\n"
            "45,Almora,5,Uttarakhand,\n"
            "603,Pune,27,Maharashtra,poona|puna\n"
            "519,Mumbai Suburban,27,Maharashtra,\n")
    reg = DistrictRegistry.from_csv(text)
    assert len(reg) == 3
    assert [d.lgd for d in reg] == [45, 519, 603]
    assert reg.by_name("Poona") == District(603, "Pune", 27, "Maharashtra")
    assert reg.by_name("puna").lgd == 603
    assert [d.name for d in reg.in_state("maharashtra")] == ["Mumbai Suburban", "Pune"]
    assert reg.in_state("Kerala") == []


def test_from_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "d.csv"
    p.write_text("district_lgd,district,state_lgd,state,aliases\n1,Nicobars,35,Andaman and Nicobar Islands,\n",
                 encoding="utf-8")
    assert DistrictRegistry.from_path(p).get(1).state == "Andaman and Nicobar Islands"
