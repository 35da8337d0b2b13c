"""``python -m streams`` is the ``digindex`` command."""

import sys

from .cli import main

sys.exit(main())
