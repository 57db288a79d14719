"""Inputs that are not dposweep results files, and bad arguments."""

import h5py
import numpy as np
import pytest

from conftest import run_report


def make_text(path):
    path.write_text("t,max_abs_delta\n0,1\n")


def make_empty(path):
    path.write_bytes(b"")


def make_plain_hdf5(path):
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
        f.attrs["name"] = "not dposweep"


def make_missing(path):
    pass


@pytest.mark.parametrize("make", [make_text, make_empty, make_plain_hdf5,
                                  make_missing])
def test_not_a_results_file(make, tmp_path):
    path = tmp_path / "input.h5"
    make(path)
    proc = run_report("report", path, "-o", tmp_path / "rep")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"python3 -m analysis: error: {path}: ")
    assert proc.stdout == ""
    assert not (tmp_path / "rep" / "index.html").exists()


@pytest.mark.parametrize("args", [
    [],
    ["report"],
    ["frobnicate", "x.h5"],
    ["report", "x.h5", "--metric", "loss"],
    ["report", "x.h5", "--threshold", "-1"],
    ["report", "x.h5", "--threshold", "tiny"],
])
def test_bad_arguments(args):
    proc = run_report(*args)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr
