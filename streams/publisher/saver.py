"""Writing checkpoints on a thread of their own, so fsync never stalls the send loop.

A checkpoint costs an fsync and a rename, each of which releases the GIL; with
the producer's I/O thread busy, winning it back can take a whole switch interval.
Measured on a loaded machine that was 3-6 ms per checkpoint, 10-15 % of a run.
Here the loop only hands the newest checkpoint over; the thread writes the
newest it has (one superseded before it was written is skipped: the newer one
covers it). ``wait_saved`` lets the loop bound how far the durable checkpoint
may trail what has been sent.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .checkpoint import Checkpoint

__all__ = ["BackgroundSaver"]


class BackgroundSaver:
    """One thread that writes the newest submitted checkpoint to ``path``."""

    def __init__(self, path: Path, saved_sent: int = 0) -> None:
        """``saved_sent``: the records the checkpoint already on disk covers (a resumed run's)."""
        self._path = path
        self._cond = threading.Condition()
        self._pending: Checkpoint | None = None
        self._saved_sent = saved_sent
        self._error: BaseException | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="digindex-checkpoint", daemon=True)
        self._thread.start()

    def submit(self, checkpoint: Checkpoint) -> None:
        """Have ``checkpoint`` written soon; raise if an earlier write failed."""
        with self._cond:
            self._raise()
            self._pending = checkpoint
            self._cond.notify_all()

    def wait_saved(self, sent: int) -> None:
        """Block until a checkpoint with at least ``sent`` records is durable."""
        with self._cond:
            while self._saved_sent < sent and self._error is None:
                self._cond.wait()
            self._raise()

    def close(self, raise_errors: bool = True) -> None:
        """Write what is pending, stop the thread, and raise its error if asked."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        if raise_errors:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                checkpoint, self._pending = self._pending, None
            if checkpoint is None:
                return
            try:
                checkpoint.save(self._path)
            except BaseException as e:  # handed to the loop, which stops the run
                with self._cond:
                    self._error = e
                    self._cond.notify_all()
                return
            with self._cond:
                self._saved_sent = checkpoint.sent
                self._cond.notify_all()
