"""Inputs the fuzzers found (tests/fuzz/regressions): each must give a
clean result, never a crash: `plan` on a spec, `sim` on an argument list
(one argument per line) exits 0 or 2, and an error is exactly one line.
A spec `plan` accepts must also run, and `status` must read the file back
(its stored canonical spec parses to the same hash).

Run: meson test -C build fuzz-regressions (pytest; $DPOSWEEP is the
binary, tests/helpers on PYTHONPATH).
"""
import os
import re
import subprocess

import pytest

from sweeptest import BIN

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz",
                   "regressions")
CASES = [(kind, name) for kind in ("spec", "sim")
         for name in sorted(os.listdir(os.path.join(DIR, kind)))]


def command(kind, path):
    if kind == "spec":
        return [BIN, "plan", path]
    with open(path, "rb") as f:
        args = f.read().decode("utf-8", "surrogateescape").split("\n")
    return [BIN, "sim"] + args + ["--iterations", "2"] * ("--iterations" not in args)


def test_there_are_regression_inputs():
    assert {kind for kind, _ in CASES} == {"spec", "sim"}


@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}/{n}" for k, n in CASES])
def test_regression_input(tmp_path, kind, name):
    path = os.path.join(DIR, kind, name)
    # Bytes: an argument may hold bytes that are not UTF-8.
    p = subprocess.run(command(kind, path), capture_output=True)
    err = p.stderr.decode("utf-8", "replace").strip()
    assert p.returncode in (0, 2), err
    if p.returncode == 2:
        assert len(err.splitlines()) == 1, err
        return
    if kind != "spec":
        return
    tasks = int(re.search(rb"tasks: (\d+)", p.stdout).group(1))
    if tasks > 1000:
        return
    out = tmp_path / "r.h5"
    # MPI's own allocations are not ours to leak-check.
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    r = subprocess.run([BIN, "run", path, "-o", str(out), "-q"],
                       capture_output=True, env=env)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    s = subprocess.run([BIN, "status", str(out)], capture_output=True)
    assert s.returncode == 0, s.stderr.decode("utf-8", "replace")
