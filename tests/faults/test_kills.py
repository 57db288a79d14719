"""Fault injection: kill `mpirun -n 3 dposweep run` at random moments
(seeded, so a failure reproduces) in four ways, at least 32 times, and
rerun the same command after each kill:

  job     SIGKILL to mpirun and every rank at once (a batch system's kill)
  worker  SIGKILL to one worker rank (mpirun then aborts the job)
  rank0   SIGKILL to the coordinator (likewise)
  drain   a graceful stop: SIGUSR1 to mpirun (which forwards it), or
          SIGTERM to every rank (as a batch system's kill reaches them)

After every kill the file opens and `status` works; no task that was done
before the kill is lost (finished-but-unwritten tasks are by construction
the chunks in flight); every task marked done has all its rows, equal to an
uninterrupted run's; and the rerun completes with every result equal.
"""
import os
import random
import signal
import subprocess
import time

import h5py
import numpy as np

from sweeptest import (BIN, ENV, kill_group, results, run, session_pids, start,
                      status_counts, wait_for)

SPEC = """\
name: faults
master_seed: 77
studies:
  - name: sampled
    iterations: 1500
    record_every: 10
    scale: normalized
    eta: 0.05
    rewards: normal
    seeds: 16
    grid: {regime: [uniform, mix-r, mix-p, mix-p-clip], arms: [20], beta: [3.0], sigma: [0.0], samples: [8192]}
  - name: exact
    iterations: 60
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 12
    grid: {regime: [uniform, mix-r, mix-p, on-policy], arms: [8, 60], beta: [0.5, 2.0], sigma: [0.0, 0.02]}
"""
KINDS = ["job", "worker", "rank0", "drain"]
KILLS = 32


def ranks_of(mpirun_pid):
    """{MPI rank: pid} of the ranks mpirun started."""
    out = {}
    for pid in session_pids(mpirun_pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if comm == "dposweep" and b"OMPI_COMM_WORLD_RANK" in env:
            out[int(env[b"OMPI_COMM_WORLD_RANK"])] = pid
    return out


def runs_recorded(out):
    """How many runs the file records (a run records itself once MPI is up
    and the file is open)."""
    try:
        with h5py.File(out, "r") as f:
            return int((~np.isnan(f["runs/start"][()])).sum())
    except (OSError, KeyError):
        return 0


def check_done_rows(out, ref):
    """Every task marked done has all its rows, equal to the reference."""
    with h5py.File(out, "r") as f, h5py.File(ref, "r") as g:
        for name in f["studies"]:
            st = f["studies"][name]["tasks/status"][()]
            done = st == 1
            assert not (st == 2).any()
            for ds in ["traj/max_abs_delta", "traj/mean_abs_delta", "traj/value_gap"]:
                a = f["studies"][name][ds][()][done]
                b = g["studies"][name][ds][()][done]
                assert np.isfinite(a).all(), (name, ds)
                assert a.tobytes() == b.tobytes(), (name, ds)
            # Pending rows were never written: still the NaN fill.
            assert np.isnan(f["studies"][name]["traj/max_abs_delta"][()][~done]).all()


def test_random_kills(tmp_path):
    spec = tmp_path / "faults.yaml"
    spec.write_text(SPEC)
    ref = tmp_path / "ref.h5"
    run(["run", str(spec), "-o", str(ref), "-q"], ranks=3, check=0)
    out = tmp_path / "out.h5"
    rng = random.Random(20261128)
    log = []
    kills = 0
    drains = drains_sent = 0
    sweeps_completed = 0
    while kills < KILLS:
        kind = KINDS[kills % len(KINDS)]
        delay = rng.uniform(0.05, 2.5)
        if kind == "drain" and out.exists() and status_counts(out)[0] > 0.4 * 448:
            # A drain needs work left to be seen: start this sweep over.
            check_done_rows(out, ref)
            out.unlink()
            sweeps_completed += 1
        before = status_counts(out)[0] if out.exists() else 0
        runs_before = runs_recorded(out) if out.exists() else 0
        p = start(["run", str(spec), "-o", str(out), "-q"], ranks=3)
        t0 = time.time()
        while p.poll() is None and time.time() - t0 < delay:
            time.sleep(0.01)
        if kind == "drain":
            # mpirun drops a signal that comes while it is still launching
            # the ranks, so send it once this run has started.
            wait_for(lambda: p.poll() is not None
                     or (out.exists() and runs_recorded(out) > runs_before), 60)
        if p.poll() is not None:  # finished before the kill: start over
            p.communicate()
            assert p.returncode == 0
            check_done_rows(out, ref)
            out.unlink()
            sweeps_completed += 1
            continue
        seen = status_counts(out)[0] if out.exists() else 0
        if kind == "job":
            kill_group(p)
        elif kind in ("worker", "rank0"):
            ranks = ranks_of(p.pid)
            if not ranks:  # not launched yet: kill the whole job instead
                kill_group(p)
            else:
                target = 0 if kind == "rank0" else rng.choice([r for r in ranks if r != 0] or [0])
                if target in ranks:
                    os.kill(ranks[target], signal.SIGKILL)
                try:
                    p.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    kill_group(p)
                    raise AssertionError(f"kill {kills}: job did not end after {kind} kill")
                assert wait_for(lambda: not session_pids(p.pid), 30)
        else:
            if drains_sent % 2 == 0:
                os.kill(p.pid, signal.SIGUSR1)
            else:
                for pid in ranks_of(p.pid).values():
                    os.kill(pid, signal.SIGTERM)
            drains_sent += 1
            _, err = p.communicate(timeout=120)
            assert p.returncode in (0, 1), err
            # A drain, unless the last tasks finished before the signal.
            if "complete:" not in err:
                assert "signal received" in err and "interrupted:" in err, err
                drains += 1
        kills += 1
        after = status_counts(out)[0] if out.exists() else 0
        log.append(f"kill {kills:2d} {kind:6s} at {delay:.2f}s: done {before} -> {seen} "
                   f"(seen) -> {after} (after)")
        # Nothing that was done is lost.
        assert after >= seen >= before, log[-1]
        if out.exists():
            st = run(["status", str(out)])
            assert st.returncode in (0, 1), st.stderr
            check_done_rows(out, ref)
    print("\n".join(log))
    # Finish: the rerun completes with every result equal.
    if out.exists():
        r = run(["run", str(spec), "-o", str(out), "-q"], ranks=3, check=0)
        assert "complete" in r.stderr
        a, b = results(out), results(ref)
        for k in a:
            assert a[k].tobytes() == b[k].tobytes(), k
    assert kills >= 30
    assert drains >= KILLS // len(KINDS) - 2, "too few graceful stops drained"
