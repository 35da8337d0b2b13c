"""Run the embedded Kafka-compatible broker (tansu, memory storage) in the foreground.

For the demo, tests and development only: it keeps nothing on disk, has no
authentication and enforces no ACLs. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import signal
import threading

from ..broker import EmbeddedBroker
from ..config import Settings
from ..topics import ensure_topics


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9092, help="port to listen on (0: a free port)")
    parser.add_argument("--no-topics", action="store_true", help="do not create the digindex topics")


def run(args: argparse.Namespace, settings: Settings) -> int:
    broker = EmbeddedBroker(port=args.port or None, host=args.host).start()
    print(f"broker ready: {broker.url}  (bootstrap {broker.bootstrap})", flush=True)
    if not args.no_topics:
        ensure_topics(settings.replace(broker=broker.url))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            if not broker.running():
                return 1  # tansu died on its own
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()
