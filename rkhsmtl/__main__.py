"""``python -m rkhsmtl``: the same command line as the ``rkhsmtl`` script."""

import sys

from .cli import main

sys.exit(main())
