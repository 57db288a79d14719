"""Fault injection: kill `mpirun -n 3 dposweep run` at random moments
(seeded, so a failure reproduces), one test per way of killing it, each
over two seeds with four kills per seed (32 kills in all), rerunning the
same command after each kill:

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
import pytest

from sweeptest import (DONE, FAILED, assert_same_results, kill_group, plan, ranks_of,
                       run, runs_recorded, session_pids, start, status_counts, wait_for)

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
SEEDS = [20261128, 20261129]
KILLS_PER_SEED = 4  # x 2 seeds x 4 ways = 32 kills


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The spec, an uninterrupted run's file, the task count and that run's
    wall time (seconds, MPI's start included)."""
    d = tmp_path_factory.mktemp("kills")
    spec, ref = d / "faults.yaml", d / "ref.h5"
    spec.write_text(SPEC)
    t0 = time.monotonic()
    run(["run", spec, "-o", ref, "-q"], ranks=3, check=0)
    return spec, ref, plan(spec).total, time.monotonic() - t0


def finished(out):
    """Tasks finished in the file so far (0 before it exists)."""
    return status_counts(out)[0] if out.exists() else 0


def check_done_rows(out, ref):
    """Every task marked done has all its rows, equal to the reference."""
    with h5py.File(out, "r") as f, h5py.File(ref, "r") as g:
        for name in f["studies"]:
            st = f["studies"][name]["tasks/status"][()]
            done = st == DONE
            assert not (st == FAILED).any()
            for ds in ["traj/max_abs_delta", "traj/mean_abs_delta", "traj/value_gap"]:
                a = f["studies"][name][ds][()][done]
                b = g["studies"][name][ds][()][done]
                assert np.isfinite(a).all(), (name, ds)
                assert a.tobytes() == b.tobytes(), (name, ds)
            # A pending task's rows are the NaN fill, or, where a kill came
            # between a batch's rows and its status bytes, already the
            # values its redo writes (design.md, "What a SIGKILL leaves").
            a = f["studies"][name]["traj/max_abs_delta"][()][~done]
            b = g["studies"][name]["traj/max_abs_delta"][()][~done]
            assert (np.isnan(a) | (a.view(np.uint64) == b.view(np.uint64))).all(), name


def kill_repeatedly(sweep, out, kind, seed, kill, wait_started=False, restart_above=None,
                    latest=2.5):
    """Start the sweep into `out` and stop it with kill(p, rng) at a random
    moment, KILLS_PER_SEED times, checking the file after each kill; then
    rerun it to completion and compare with the uninterrupted run.

    wait_started: send the kill only once the run has recorded itself in
    the file (mpirun drops a signal that comes while it is still launching
    the ranks).  restart_above: start the sweep over once more than this
    fraction of it is done (a drain needs work left to be seen).  latest:
    the latest moment drawn, in seconds."""
    spec, ref, total, _ = sweep
    rng = random.Random(f"{kind}:{seed}")
    log = []
    kills = 0
    while kills < KILLS_PER_SEED:
        delay = rng.uniform(0.05, latest)
        if restart_above is not None and finished(out) > restart_above * total:
            check_done_rows(out, ref)
            out.unlink()
        before = finished(out)
        runs_before = runs_recorded(out)
        p = start(["run", spec, "-o", out, "-q"], ranks=3)
        try:  # the random moment: here time itself is what is tested
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        if wait_started:
            wait_for(lambda: p.poll() is not None or runs_recorded(out) > runs_before, 60)
        if p.poll() is not None:  # finished before the kill: start over
            p.communicate()
            assert p.returncode == 0
            log.append(f"{kind}: the sweep finished within {delay:.2f}s; starting over")
            check_done_rows(out, ref)
            out.unlink()
            continue
        seen = finished(out)
        kill(p, rng)
        kills += 1
        after = finished(out)
        log.append(f"{kind} kill {kills} at {delay:.2f}s: done {before} -> {seen} (seen) "
                   f"-> {after} (after)")
        # Nothing that was done is lost.
        assert after >= seen >= before, log[-1]
        if out.exists():
            st = run(["status", out])
            assert st.returncode in (0, 1), st.stderr
            check_done_rows(out, ref)
    print("\n".join(log))
    # Finish: the rerun completes with every result equal.
    if out.exists():
        r = run(["run", spec, "-o", out, "-q"], ranks=3, check=0)
        assert "complete" in r.stderr
        assert_same_results(out, ref)
    assert kills == KILLS_PER_SEED


def kill_rank(p, rank):
    """SIGKILL to one rank; mpirun then ends the whole job (or the whole
    job at once when the ranks are not launched yet)."""
    ranks = ranks_of(p.pid)
    if not ranks:
        kill_group(p)
        return
    if rank in ranks:
        os.kill(ranks[rank], signal.SIGKILL)
    try:
        p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        kill_group(p)
        raise AssertionError(f"the job did not end after rank {rank} was killed")
    assert wait_for(lambda: not session_pids(p.pid), 30)


@pytest.mark.parametrize("seed", SEEDS)
def test_job_killed_at_once(sweep, tmp_path, seed):
    kill_repeatedly(sweep, tmp_path / "out.h5", "job", seed, lambda p, rng: kill_group(p))


@pytest.mark.parametrize("seed", SEEDS)
def test_worker_killed(sweep, tmp_path, seed):
    def kill(p, rng):
        workers = [r for r in ranks_of(p.pid) if r != 0]
        kill_rank(p, rng.choice(workers or [0]))

    kill_repeatedly(sweep, tmp_path / "out.h5", "worker", seed, kill)


@pytest.mark.parametrize("seed", SEEDS)
def test_coordinator_killed(sweep, tmp_path, seed):
    kill_repeatedly(sweep, tmp_path / "out.h5", "rank0", seed, lambda p, rng: kill_rank(p, 0))


@pytest.mark.parametrize("seed", SEEDS)
def test_drain(sweep, tmp_path, seed):
    drains = {"sent": 0, "drained": 0}

    def drain(p, rng):
        # Half the drains the way mpirun forwards a signal, half the way a
        # batch system's kill reaches every rank.
        if drains["sent"] % 2 == 0:
            os.kill(p.pid, signal.SIGUSR1)
        else:
            for pid in ranks_of(p.pid).values():
                os.kill(pid, signal.SIGTERM)
        drains["sent"] += 1
        _, err = p.communicate(timeout=120)
        assert p.returncode in (0, 1), err
        # A drain, unless the last tasks finished before the signal.
        if "complete:" not in err:
            assert "signal received" in err and "interrupted:" in err, err
            drains["drained"] += 1

    # Moments within the first 60% of an uninterrupted run, however fast the
    # engine and the machine: a signal after the last task is no drain.
    kill_repeatedly(sweep, tmp_path / "out.h5", "drain", seed, drain,
                    wait_started=True, restart_above=0.4, latest=0.6 * sweep[3])
    assert drains["drained"] >= KILLS_PER_SEED - 1, "too few graceful stops drained"
