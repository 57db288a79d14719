"""Entry point of `python3 -m analysis`."""

import sys

from .cli import main

sys.exit(main())
