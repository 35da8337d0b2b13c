"""``python -m streams`` is the ``digindex`` command.

Guarded: the dedupe store's SST writers (``streams.processor.dedupe``) are spawned processes,
which import the parent's main module.
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
