"""A local S3 server for the embedded broker's durable storage: moto in server mode.

tansu's ``s3://`` storage engine needs an S3 endpoint with conditional puts; moto's server
(``pip install 'moto[server]'``, the ``test`` extra) is one, in memory, in one process, on a
loopback port. It outlives any number of broker restarts, which is the point: the broker's
topics, offsets and groups live in its bucket.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType

from streams.broker import free_port, wait_for_port

__all__ = ["LocalS3"]


class LocalS3:
    """``python -m moto.server`` on ``127.0.0.1:PORT`` with one bucket; a context manager."""

    def __init__(self, bucket: str = "tansu", log_path: Path | None = None, region: str = "eu-west-2") -> None:
        self.bucket = bucket
        self.region = region
        self.port = free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage(self) -> str:
        """The broker's ``--storage-engine`` URL for this bucket."""
        return f"s3://{self.bucket}/"

    @property
    def env(self) -> dict[str, str]:
        """What tansu's S3 client reads (moto accepts any credentials)."""
        return {"AWS_ENDPOINT": self.endpoint, "AWS_ACCESS_KEY_ID": "digindex", "AWS_SECRET_ACCESS_KEY": "digindex",
                "AWS_DEFAULT_REGION": self.region, "AWS_ALLOW_HTTP": "true"}

    def start(self, timeout: float = 30.0) -> LocalS3:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                      stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if out is not subprocess.DEVNULL:
            out.close()
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
            self._create_bucket()
        except Exception:
            self.stop()
            raise
        return self

    def _create_bucket(self) -> None:
        """A plain ``PUT /bucket`` (moto needs no signature), in the region tansu is told."""
        body = (f'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<LocationConstraint>{self.region}</LocationConstraint></CreateBucketConfiguration>").encode()
        req = urllib.request.Request(f"{self.endpoint}/{self.bucket}", data=body, method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> LocalS3:
        return self.start() if self._proc is None else self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
