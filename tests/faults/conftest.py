"""pytest setup: the fault tests' helpers live in tests/helpers/sweeptest.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
