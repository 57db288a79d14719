"""Entry point of `python3 -m analysis` (see cli.main)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
