"""pytest setup: every helper and fixture lives in tests/helpers/sweeptest.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))

from sweeptest import spec  # noqa: E402,F401  (the fixture)
