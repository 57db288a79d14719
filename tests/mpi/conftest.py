"""pytest setup: the shared helpers live in tests/helpers/sweeptest.py."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))

from sweeptest import SPEC  # noqa: E402


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path
