"""Resume state: how far into which input every record has been acknowledged by the broker.

The publisher advances a checkpoint only past records whose futures have all
succeeded, so the offset it records is never ahead of the broker. It is written
atomically (temporary file, fsync, ``os.replace``): a kill at any instant leaves
either the old or the new checkpoint, never a torn one. The directory is not
fsynced: a power cut that loses the rename leaves the previous checkpoint, which
is behind the broker, never ahead (a few more duplicates, no loss), and skipping
it halves the cost of a checkpoint, which is paid every few hundred records.

The input's identity (size, mtime, hash of its first MiB) and the job (kind,
bank, topic) are stored with it, so a checkpoint is never applied to a
different file or a different publication.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint", "CheckpointMismatch", "InputIdentity"]

VERSION = 1
_HEAD_BYTES = 1 << 20


class CheckpointMismatch(Exception):
    """A checkpoint exists but belongs to another input or another publication."""


@dataclass(frozen=True)
class InputIdentity:
    """What makes "the same input file": size, modification time and a hash of its head."""

    size: int
    mtime_ns: int
    #: SHA-256 of the first MiB, URL-safe base64: hex would hold a 12-digit run (which reads as an
    #: Aadhaar-like number to any scanner) in about one file in fifty.
    head_sha256: str

    @classmethod
    def of(cls, path: Path) -> InputIdentity:
        st = path.stat()
        with path.open("rb") as f:
            head = base64.urlsafe_b64encode(hashlib.sha256(f.read(_HEAD_BYTES)).digest()).decode().rstrip("=")
        return cls(st.st_size, st.st_mtime_ns, head)


@dataclass(frozen=True)
class Checkpoint:
    """Everything up to ``offset`` (``line`` lines) is acknowledged or rejected."""

    input: InputIdentity
    kind: str
    bank_code: str
    topic: str
    offset: int = 0
    line: int = 0
    sent: int = 0
    rejected: int = 0
    rejects_size: int = 0
    complete: bool = False

    def advanced(self, **changes: Any) -> Checkpoint:
        return dataclasses.replace(self, **changes)

    def check_matches(self, other: Checkpoint) -> None:
        """Raise ``CheckpointMismatch`` unless ``other`` is for the same input and job."""
        if self.input != other.input:
            changed = [f.name for f in dataclasses.fields(InputIdentity)
                       if getattr(self.input, f.name) != getattr(other.input, f.name)]
            raise CheckpointMismatch(f"the input file changed since the checkpoint ({', '.join(changed)})")
        for name in ("kind", "bank_code", "topic"):
            if getattr(self, name) != getattr(other, name):
                raise CheckpointMismatch(f"the checkpoint is for {name} {getattr(self, name)!r}, "
                                         f"not {getattr(other, name)!r}")

    def save(self, path: Path) -> None:
        """Write atomically and durably (see module docstring)."""
        data = json.dumps({"version": VERSION, **dataclasses.asdict(self)}).encode()
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        """The checkpoint at ``path``, or ``None`` if there is none."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as e:
            raise CheckpointMismatch(f"{path} is not a checkpoint: {e}") from None
        if raw.pop("version", None) != VERSION:
            raise CheckpointMismatch(f"{path} has an unknown checkpoint version")
        try:
            raw["input"] = InputIdentity(**raw["input"])
            return cls(**raw)
        except (KeyError, TypeError) as e:
            raise CheckpointMismatch(f"{path} is not a checkpoint: {e}") from None
