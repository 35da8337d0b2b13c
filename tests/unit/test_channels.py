"""Which channels are digital: cash and paper are not, every other schema symbol is."""

from __future__ import annotations

from streams.avro_codec import load_schema
from streams.channels import NON_DIGITAL_CHANNELS, is_digital


def channel_symbols() -> list[str]:
    field = next(f for f in load_schema("PaymentEvent")["fields"] if f["name"] == "channel")
    return list(field["type"]["symbols"])


def test_non_digital_channels() -> None:
    assert {"CASH", "CHEQUE", "DEMAND_DRAFT"} == NON_DIGITAL_CHANNELS
    assert set(channel_symbols()) >= NON_DIGITAL_CHANNELS
    assert not any(is_digital(c) for c in NON_DIGITAL_CHANNELS)


def test_every_other_schema_channel_is_digital() -> None:
    digital = [c for c in channel_symbols() if c not in NON_DIGITAL_CHANNELS]
    assert len(digital) == 13
    assert all(is_digital(c) for c in digital)
    assert is_digital("CBDC"), "a symbol from a newer writer is digital unless listed as cash or paper"
