"""Fixtures of the analysis tests: a small results file made by the real
dposweep binary ($DPOSWEEP, else `dposweep` on the PATH) and helpers to run
the report command."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # the tests import the analysis package too

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
    tmp = tmp_path_factory.mktemp("results")
    spec = tmp / "tiny.yaml"
    spec.write_text(SPEC)
    out = tmp / "tiny.h5"
    proc = subprocess.run([dposweep(), "run", str(spec), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
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
