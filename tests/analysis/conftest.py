"""Fixtures of the analysis tests: small results files made by the real
dposweep binary ($DPOSWEEP, else `dposweep` on the PATH), one of them
interrupted, and helpers to run the report command.

tests/helpers/sweeptest.py (shared with the MPI and fault tests) runs the
binary; synthetic.py here writes files with h5py.
"""

import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # the tests import the analysis package too
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

# Four studies: the theorems' setting with a gaussian-noise axis (only
# sigma = 0 is checked), an eta axis (only eta = theory is checked; eta =
# 1e6 diverges, so those tasks fail), and the authors' exact and sampled
# settings for the paper's figure.
SPEC = """\
name: tiny
master_seed: 7
studies:
  - name: theory
    iterations: 12
    record_every: 1
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 4
    grid:
      regime: [uniform, mix-r, mix-p, mix-p-clip, on-policy]
      arms: [2, 5]
      beta: [1.0, 10.0]
      sigma: [0.0, 0.01]
  - name: eta_axis
    iterations: 10
    record_every: 2
    scale: theory
    rewards: uniform
    seeds: 3
    grid:
      regime: [uniform, mix-r]
      arms: [3]
      beta: [2.0]
      sigma: [0.0]
      eta: [theory, 0.05, 1.0e6]
  - name: authors-exact
    iterations: 30
    record_every: 1
    scale: normalized
    eta: 10.0
    rewards: normal
    seeds: 3
    grid:
      regime: [uniform, mix-r, mix-p]
      arms: [20]
      beta: [3.0]
      sigma: [0.0]
  - name: authors-sampled
    iterations: 100
    record_every: 10
    scale: normalized
    eta: 0.05
    rewards: normal
    seeds: 3
    grid:
      regime: [uniform, mix-r, mix-p-clip]
      arms: [10]
      beta: [3.0]
      sigma: [0.0]
      samples: [256]
"""


def dposweep():
    """Path of the dposweep binary, or skip the test."""
    exe = os.environ.get("DPOSWEEP") or shutil.which("dposweep")
    if not exe:
        pytest.skip("set DPOSWEEP to the dposweep binary")
    return exe


def run_report(*args, prog=None, cwd=None):
    """Run `python3 -m analysis ARGS` (or the script `prog`); return the
    CompletedProcess with text stdout and stderr."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [prog] if prog else [sys.executable, "-m", "analysis"]
    return subprocess.run(cmd + [str(a) for a in args], cwd=cwd or ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="session")
def results_file(tmp_path_factory):
    """A complete results file of SPEC."""
    from sweeptest import run_spec
    tmp = tmp_path_factory.mktemp("results")
    _, out = run_spec(SPEC, tmp / "tiny.yaml", tmp / "tiny.h5", binary=dposweep(),
                      timeout=300)
    return out


@pytest.fixture(scope="session")
def report(results_file, tmp_path_factory):
    """The default report of results_file: (CompletedProcess, DIR)."""
    outdir = tmp_path_factory.mktemp("report") / "rep"
    return run_report("report", results_file, "-o", outdir), outdir


@pytest.fixture
def copy_of(results_file, tmp_path):
    """A writable copy of results_file."""
    path = tmp_path / "copy.h5"
    shutil.copy(results_file, path)
    return path


# A sweep that fails some tasks and is interrupted with others pending:
# eta = 1e6 diverges (failed); the sampled tasks (samples 4096) take long
# enough that a SIGTERM lands mid-run; `small` is cheapest, so it runs last
# and stays pending.
INTERRUPTED_SPEC = """\
name: interrupted
master_seed: 11
studies:
  - name: grid
    iterations: 2000
    record_every: 250
    scale: theory
    rewards: uniform
    seeds: 4
    grid:
      regime: [uniform, mix-r, mix-p]
      arms: [30]
      beta: [1.0, 2.0]
      sigma: [0.0]
      samples: [0, 4096]
      eta: [theory, 1.0e6]
  - name: small
    iterations: 10
    record_every: 5
    scale: normalized
    eta: 0.5
    rewards: normal
    seeds: 2
    grid:
      regime: [uniform]
      arms: [3]
      beta: [1.0]
      sigma: [0.0]
"""
# The spec's axes per study, in index order (seed last), for expectations.
INTERRUPTED_AXES = {
    "grid": [("regime", ["uniform", "mix-r", "mix-p"]), ("arms", [30]),
             ("beta", [1.0, 2.0]), ("sigma", [0.0]), ("samples", [0, 4096]),
             ("eta", ["theory", 1.0e6]), ("ref_spread", [0.0]),
             ("seed", [0, 1, 2, 3])],
    "small": [("regime", ["uniform"]), ("arms", [3]), ("beta", [1.0]),
              ("sigma", [0.0]), ("samples", [0]), ("eta", [0.5]),
              ("ref_spread", [0.0]), ("seed", [0, 1])],
}
# "dposweep run: 20/98 tasks (...), ..., 8 failed"
PROGRESS = re.compile(r": (\d+)/(\d+) tasks .*?(?:, (\d+) failed)?$")


@pytest.fixture(scope="session")
def interrupted_file(tmp_path_factory):
    """A results file of INTERRUPTED_SPEC, stopped by SIGTERM once at least
    20 tasks finished, 2 of them failed: done, failed and pending tasks."""
    from sweeptest import ENV
    tmp = tmp_path_factory.mktemp("interrupted")
    spec = tmp / "spec.yaml"
    spec.write_text(INTERRUPTED_SPEC)
    out = tmp / "interrupted.h5"
    proc = subprocess.Popen(
        [dposweep(), "run", str(spec), "-o", str(out), "--grace", "0",
         "--progress-interval", "0.05", "--chunk-seconds", "0.05"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=ENV)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        m = PROGRESS.search(line.strip())
        if m and int(m.group(1)) >= 20 and int(m.group(3) or 0) >= 2:
            proc.send_signal(signal.SIGTERM)
            break
    seen.append(proc.stderr.read())
    assert proc.wait(timeout=120) == 1, "".join(seen)  # 1: interrupted
    return out
