"""Per-account digital modes and per-district enablement, for one source partition.

Each account's latest set of modes lives in the partition's changelog-backed RocksDB store
(millions of accounts, one packed value of ~20 bytes plus the event id each), written as events
are applied; of two events for one account the later ``occurred_at`` wins and equal times are
ordered by ``event_id``, as for seeding. The per-district counts the metrics read (accounts
known, enabled, having each mode, by account type) are never saved: the state recounts them
from the store when the partition is opened, so they always agree with it whatever crashed
when, and an event the store already holds (its offset at or before the stored one: a replay
after a crash) changes nothing.

Coverage as the RBI and SLBCs count it: a savings account is enabled with at least one of
DEBIT_CARD, INTERNET_BANKING, MOBILE_BANKING, UPI, AEPS; a current account with one of those
or POS or QR. OTHER (and symbols a newer writer adds, read as OTHER) counts towards nothing.

Camp enablements (an applied event with a ``camp_ref`` that makes an account enabled which was
not enabled, or not known, before it) are counted in the account's own value (its camp
enablements so far), so the district's figure is recounted from the store like the others and a
replay changes nothing. A count of its own per district would not do: after a SIGKILL, Faust's
recovery may put an older changelog version back under one key and not under another, so two
keys are never known to be at the same point, while each key's value is one of its own versions
and the events after it are replayed. An account counted elsewhere (moved, or released by the
directory) takes its camp enablements along.

The holder's age band (``holder_age_band``, for the enrolment feed's coverage denominator) is the
band of the latest event of this feed carrying one, by ``occurred_at``; of two bands reported at
one time the later in ``AGE_BANDS`` order is kept, so that the outcome never depends on the order
of redelivery without storing a second event id. An event superseded for its modes (``late``) still
sets the band if it is the newest band reported. The band costs 3 bits of the camp counter's field
(camp enablements saturate at 8,191 per account) plus, only for an account that has a band, the
band's ``occurred_at`` (8 bytes), which the enrolment join needs to pick the newer of the two
feeds' bands.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from ..processor.kv import PartitionKV
from ..processor.signal import StoreBackedState
from ..registry import DistrictRegistry
from ..seeding.state import DIRECTORY, account_key
from ..validation import AGE_BANDS

__all__ = [
    "CURRENT",
    "MODES",
    "RESERVED_PREFIX",
    "SAVINGS",
    "TYPES",
    "EnablementPartitionState",
    "TypeChange",
    "account_key",
    "enabled",
    "mode_mask",
    "pack",
    "release_stored",
    "stored_account_type",
    "stored_view",
    "unpack",
    "unpack_band",
]

SAVINGS, CURRENT = "SAVINGS", "CURRENT"
TYPES = (SAVINGS, CURRENT)
#: The modes a metric names, in bit order (OTHER is none of them).
MODES = ("DEBIT_CARD", "INTERNET_BANKING", "MOBILE_BANKING", "UPI", "AEPS", "POS", "QR")
_BIT = {m: 1 << i for i, m in enumerate(MODES)}
#: the modes that make an account of each type enabled
_ENABLING = {SAVINGS: 0b0011111, CURRENT: 0b1111111}
_TYPE_BIT = 0x80  # in the packed value's first byte: set for CURRENT, the modes below it
#: type and modes, band and camp enablements, occurred_at ms, source offset, district; then, if the
#: account has a band, the band's occurred_at ms (``_BAND_TS``); then the event id
_HEAD = struct.Struct("<BHqqH")
_BAND_TS = struct.Struct("<q")
#: the camp field: its top 3 bits are the band's index in ``_BANDS`` (0: none), the rest camp enablements
_BAND_SHIFT = 13
_CAMP_MAX = (1 << _BAND_SHIFT) - 1
_BANDS: tuple[str | None, ...] = (None, *AGE_BANDS)

#: Store keys starting with this byte are not accounts (account keys start with a bank code):
#: the partition's checkpoints live there.
RESERVED_PREFIX = b"\x00"
#: every account key starts with a bank code: 4 capital letters (``streams.validation.BANK_CODE``)
_ACCOUNT_FIRST_BYTES = [bytes([c]) for c in range(ord("A"), ord("Z") + 1)]

#: an account's age band and the occurred_at it was reported at ((None, 0): none reported)
Band = tuple["str | None", int]
NO_BAND: Band = (None, 0)
#: (key, old district, old type, new district, new type, old band, new band): None where the
#: account was not known / is gone; called when any of them changes
TypeChange = Callable[[bytes, "int | None", "str | None", "int | None", "str | None", Band, Band], None]
#: what the enrolment join reads of a stored account: type, band, band's occurred_at, district
EnablementView = tuple[str, "str | None", int, int]
#: an account as stored: type, modes bitmask, camp enablements, occurred_at, offset, district, event_id
AccountRecord = tuple[str, int, int, int, int, int, str]
#: per (district, account type): [known, enabled, having MODES[0], ..., having MODES[6]]
_KNOWN, _ENABLED, _MODE0 = 0, 1, 2


def mode_mask(modes: list[str]) -> int:
    """The bitmask of ``modes`` (repeated symbols once, OTHER nothing)."""
    mask = 0
    for m in modes:
        mask |= _BIT.get(m, 0)
    return mask


def enabled(account_type: str, mask: int) -> bool:
    return bool(mask & _ENABLING[account_type])


def pack(account_type: str, mask: int, camps: int, occurred_at: int, offset: int, district: int,
         event_id: str, band: Band = NO_BAND) -> bytes:
    b = _BANDS.index(band[0])
    head = _HEAD.pack(mask | (_TYPE_BIT if account_type == CURRENT else 0),
                      min(camps, _CAMP_MAX) | (b << _BAND_SHIFT), occurred_at, offset, district)
    return head + (_BAND_TS.pack(band[1]) if b else b"") + event_id.encode()


def unpack(data: bytes) -> AccountRecord:
    head, camps, ts, off, district = _HEAD.unpack_from(data)
    at = _HEAD.size + (_BAND_TS.size if camps >> _BAND_SHIFT else 0)
    return (CURRENT if head & _TYPE_BIT else SAVINGS), head & ~_TYPE_BIT, camps & _CAMP_MAX, ts, off, district, \
        data[at:].decode()


def unpack_band(data: bytes) -> Band:
    """The band of a stored value and the occurred_at it was reported at (``NO_BAND``: none)."""
    b = _HEAD.unpack_from(data)[1] >> _BAND_SHIFT
    return (_BANDS[b], _BAND_TS.unpack_from(data, _HEAD.size)[0]) if b else NO_BAND



def stored_view(value: bytes) -> EnablementView:
    """What the enrolment join needs of a stored value: type, band, band's occurred_at, district."""
    band, band_ts = unpack_band(value)
    return stored_account_type(value), band, band_ts, _HEAD.unpack_from(value)[4]


def stored_account_type(value: bytes) -> str:
    """The account type of a stored value (``SAVINGS`` or ``CURRENT``), without decoding the rest."""
    return CURRENT if value[0] & _TYPE_BIT else SAVINGS


def _newer_band(candidate: Band, held: Band) -> bool:
    """Whether ``candidate`` (a reported band) replaces ``held``: later occurred_at, ties by band order."""
    if held[0] is None:
        return True
    return (candidate[1], _BANDS.index(candidate[0])) > (held[1], _BANDS.index(held[0]))


def scan_accounts(kv: PartitionKV) -> Iterator[tuple[bytes, bytes]]:
    """Every account of the store (keys by bank code), none of the reserved keys."""
    for first in _ACCOUNT_FIRST_BYTES:
        yield from kv.scan(first)


def release_stored(kv: PartitionKV, key: bytes, lgd: int, occurred_at: int,
                   newer_event_id: str) -> AccountRecord | None:
    """Delete the account if it is stored in ``lgd`` and older than (occurred_at, newer_event_id); what it held."""
    stored = kv.get(key)
    if stored is None:
        return None
    account = unpack(stored)
    if account[5] != lgd or (account[3], account[6]) >= (occurred_at, newer_event_id):
        return None  # the account moved on, or came back with a newer event
    kv.delete(key)
    return account


class EnablementPartitionState(StoreBackedState):
    """Counters of one enablement partition; the accounts themselves are in ``kv``."""

    def __init__(self, partition: int, registry: DistrictRegistry, max_future_skew: float, kv: PartitionKV,
                 forward: Callable[[dict[str, Any]], bytes] | None = None) -> None:
        super().__init__(partition, registry, max_future_skew)
        self.kv = kv
        #: encodes an applied event for an account directory (None: accounts stay in their partition)
        self.forward = forward
        #: called after an applied (not replayed) event or a release changed an account's
        #: (district, account_type), its first appearance and its removal included
        self.on_type_change: TypeChange | None = None
        #: (district, account type) -> [known, enabled, having each of MODES]
        self.counts: dict[tuple[int, str], list[int]] = {}
        #: district -> camp enablements of the accounts counted there
        self.camp: dict[int, int] = {}
        self.recount()

    def recount(self) -> None:
        """Rebuild the counts from the store (at every open: they always agree with it)."""
        self.counts, self.camp = {}, {}
        for _, value in scan_accounts(self.kv):
            t, mask, camps, _, _, district, _ = unpack(value)
            self._count(district, t, mask, camps, +1)

    def _count(self, district: int, account_type: str, mask: int, camps: int, n: int) -> None:
        if camps:
            self.camp[district] = self.camp.get(district, 0) + n * camps
        c = self.counts.get((district, account_type))
        if c is None:
            c = self.counts[(district, account_type)] = [0] * (_MODE0 + len(MODES))
        c[_KNOWN] += n
        if mask & _ENABLING[account_type]:
            c[_ENABLED] += n
        i = _MODE0
        while mask:
            if mask & 1:
                c[i] += n
            mask >>= 1
            i += 1

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        """Apply a checked, first-seen event to its account; returns its outcome."""
        ts, lgd, event_id = record["occurred_at"], record["district_lgd"], record["event_id"]
        a_type, mask = record["account_type"], mode_mask(record["modes"])
        key = account_key(record["bank_code"], record["account_ref"])
        if self.forward is not None:  # the directory decides where the account is counted
            self.emit(DIRECTORY, key, self.forward(record))
        previous = self.kv.get(key)
        was_enabled = False
        camps = 0
        old: tuple[int, str] | None = None
        r_band = record.get("holder_age_band")
        band = old_band = NO_BAND
        if previous is not None:
            band = old_band = unpack_band(previous)
            p_type, p_mask, camps, p_ts, p_offset, p_district, p_event = unpack(previous)
            if p_offset >= offset:
                # a replay after a crash: the store already holds this message's effect (or a later
                # one's); counted as accepted, the most likely original outcome;
                # the applied event it holds still counts for the last-event figures, which the
                # restored checkpoint (older than the store) may not have
                self.seen(record["bank_code"], p_ts, p_district)
                return "accepted"
            if (ts, event_id) < (p_ts, p_event):
                if r_band is None or not _newer_band((r_band, ts), band):
                    return "late"  # an older set than the one we hold: superseded
                # superseded for its modes, but the newest band reported: only the band changes
                self.kv.put(key, pack(p_type, p_mask, camps, p_ts, offset, p_district, p_event, (r_band, ts)))
                self.seen(record["bank_code"], ts, p_district)
                self._changed(key, (p_district, p_type), (p_district, p_type), old_band, (r_band, ts))
                return "accepted"
            was_enabled = enabled(p_type, p_mask)
            old = (p_district, p_type)
            self._count(p_district, p_type, p_mask, camps, -1)
        if record.get("camp_ref") is not None and not was_enabled and enabled(a_type, mask):
            camps = min(camps + 1, _CAMP_MAX)
        if r_band is not None and _newer_band((r_band, ts), band):
            band = (r_band, ts)
        self._count(lgd, a_type, mask, camps, +1)
        self.kv.put(key, pack(a_type, mask, camps, ts, offset, lgd, event_id, band))
        self.seen(record["bank_code"], ts, lgd)
        self._changed(key, old, (lgd, a_type), old_band, band)
        return "accepted"

    def _changed(self, key: bytes, old: tuple[int, str] | None, new: tuple[int, str] | None, old_band: Band,
                 new_band: Band) -> None:
        """Tell ``on_type_change`` (after the write) if the account's district, type or band changed."""
        if self.on_type_change is not None and (old, old_band) != (new, new_band):
            self.on_type_change(key, old[0] if old else None, old[1] if old else None,
                                new[0] if new else None, new[1] if new else None, old_band, new_band)

    def release(self, key: bytes, lgd: int, occurred_at: int, newer_event_id: str) -> bool:
        """Forget an account counted in ``lgd`` if what is stored is older than the newer event elsewhere."""
        stored = self.kv.get(key)
        released_band = NO_BAND if stored is None else unpack_band(stored)
        released = release_stored(self.kv, key, lgd, occurred_at, newer_event_id)
        if released is None:
            return False
        t, mask, camps = released[:3]
        self._count(lgd, t, mask, camps, -1)
        if self.on_type_change is not None:
            self.on_type_change(key, lgd, t, None, None, released_band, NO_BAND)
        return True

    def district(self, lgd: int, account_type: str) -> list[int] | None:
        """[known, enabled, having each of MODES] for one district and type (None: no account)."""
        return self.counts.get((lgd, account_type))
