"""Helpers shared by the MPI, fault and reliability tests of `dposweep run`.

The binary comes from $DPOSWEEP (set by meson).  mpirun runs as root here,
so the allow-run-as-root settings are exported, and --oversubscribe lets
4 ranks share 2 cores.
"""
import os
import signal
import subprocess
import time

import h5py
import numpy as np

BIN = os.environ.get("DPOSWEEP", "build/src/dposweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")

# Two studies (plus a sampled one): exact, gaussian and sampled estimators,
# both scales, an eta axis, record_every > 1.
SPEC = """\
name: mpi-test
master_seed: 4242
studies:
  - name: exact
    iterations: 20
    record_every: 3
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 3
    grid:
      regime: [uniform, mix-r, mix-p]
      arms: [3, 8]
      beta: [0.5, 2.0]
      sigma: [0.0]
  - name: noisy
    iterations: 30
    scale: normalized
    rewards: normal
    seeds: 4
    grid:
      regime: [mix-p-clip, on-policy]
      arms: [5]
      beta: [1.0]
      sigma: [0.0, 0.05]
      eta: [0.5, 1.0]
  - name: sampled
    iterations: 25
    record_every: 5
    scale: normalized
    eta: 0.5
    rewards: normal
    seeds: 3
    grid:
      regime: [hybrid, reference, mix-r]
      arms: [4]
      beta: [2.0]
      sigma: [0.0]
      samples: [5, 500]
"""


def run(args, ranks=None, check=None, **kw):
    """Run dposweep (under mpirun with `ranks` ranks, or alone)."""
    cmd = [BIN] + list(args)
    if ranks is not None:
        cmd = ["mpirun", "--oversubscribe", "-n", str(ranks)] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, **kw)
    if check is not None:
        assert p.returncode == check, (cmd, p.returncode, p.stdout, p.stderr)
    return p


def start(args, ranks):
    """Start a run in its own process group (to kill the whole job)."""
    cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), BIN] + list(args)
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def session_pids(sid):
    """Processes of a session: mpirun and its ranks (Open MPI puts each
    rank in its own process group, but they stay in mpirun's session)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getsid(int(d)) == sid:
                    pids.append(int(d))
            except (ProcessLookupError, PermissionError):
                pass
    return pids


def kill_group(p, sig=signal.SIGKILL):
    """Kill the whole job at once (as a batch system's cgroup kill does)
    and wait until none of its processes is left."""
    for pid in session_pids(p.pid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    p.communicate()
    assert wait_for(lambda: not session_pids(p.pid), 30)


def results(path):
    """Every study's traj and final datasets and status, as numpy arrays."""
    out = {}
    with h5py.File(path, "r") as f:
        for name in f["studies"]:
            g = f["studies"][name]
            for ds in ["traj/t", "traj/max_abs_delta", "traj/mean_abs_delta",
                       "traj/value_gap", "final/theta", "tasks/status"]:
                out[f"{name}/{ds}"] = g[ds][()]
    return out


def assert_same_results(a, b):
    ra, rb = results(a), results(b)
    assert ra.keys() == rb.keys()
    for k in ra:
        # Bit-identical, NaN padding included.
        assert ra[k].tobytes() == rb[k].tobytes(), k


def wait_for(pred, timeout=30.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def status_counts(path):
    with h5py.File(path, "r") as f:
        st = np.concatenate([f["studies"][n]["tasks/status"][()] for n in f["studies"]])
    return int((st == 1).sum() + (st == 2).sum()), int(st.size)
