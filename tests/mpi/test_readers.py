"""Readers of a file being written (issue 12): while a sweep writes OUT.h5,
`dposweep status`, `analysis.load`, `analysis.trajectories` and
`python3 -m analysis report` read it again and again.  None of them fails,
and every task a reader sees as done has finite rows equal to the final
file's: a task's status byte is written after its rows, the loaders read
the status first, and nothing but raw data changes in a file once made.

HDF5's own file locking does not get in the way: readers take a shared
lock (flock) and the run's MPI-IO writer takes none.  Where flock fails
(NFS without its lock daemon), readers set HDF5_USE_FILE_LOCKING=FALSE;
one report here runs so to show it reads the same.
"""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from sweeptest import (ENV, QUICK, QUICK_GRID, REPO, SLOW, SLOW_GRID, run, run_spec,
                       spec_yaml, start, status_kv)

sys.path.insert(0, REPO)
import analysis  # noqa: E402


def readers_spec(slow_seeds):
    """The slow study with 6000 steps and slow_seeds seeds, and a quick
    study.  70 seeds keep the run going for the looks asserted below: since
    the batch sampler (src/rng_batch.c) 1500 steps took some 5 s on 3 ranks
    here, too few looks; 6000 take some 17 s."""
    return spec_yaml("readers-test", [
        ("slow", dict(SLOW, iterations=6000, seeds=slow_seeds), SLOW_GRID),
        ("quick", dict(QUICK, seeds=20), QUICK_GRID)], master_seed=7)


STUDIES = ("slow", "quick")
METRICS = ("max_abs_delta", "mean_abs_delta", "value_gap")


def report(out, outdir, env):
    return subprocess.run(["/usr/bin/python3", "-m", "analysis", "report", str(out),
                           "-o", str(outdir)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_readers_during_a_run(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(readers_spec(70))
    out = tmp_path / "out.h5"
    p = start(["run", spec, "-o", out, "-q", "--flush-interval", "1"], ranks=3)
    loads, trajs, dones, reports = [], [], [], 0
    try:
        while p.poll() is None:
            if not out.exists():
                time.sleep(0.05)
                continue
            rc, kv = status_kv(out)
            assert rc in (0, 1) and kv.get("done", "").isdigit(), kv
            dones.append(int(kv["done"]))
            loads.append(analysis.load(out))
            trajs.append({(s, m): analysis.trajectories(out, s, m).values
                          for s in STUDIES for m in METRICS})
            if len(loads) % 5 == 2:
                env = dict(ENV)
                if reports % 2:
                    env["HDF5_USE_FILE_LOCKING"] = "FALSE"
                r = report(out, tmp_path / ("report%d" % reports), env)
                assert r.returncode == 0 and "report: " in r.stdout and not r.stderr, (
                    r.returncode, r.stdout, r.stderr)
                reports += 1
    finally:
        if p.poll() is None:
            p.kill()
        _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    # Enough looks while the sweep was under way.
    total = int(status_kv(out)[1]["total"])
    seen = sorted(set(dones))
    assert len(loads) >= 8 and reports >= 2 and any(0 < d < total for d in seen), (
        len(loads), reports, seen)
    assert dones == sorted(dones), "status saw done tasks go away"

    final = analysis.load(out).set_index(["study", "index"])
    assert (final["status"] == "done").all()
    for df in loads:
        done = df[df["status"] == "done"].set_index(["study", "index"])
        for m in METRICS:
            got = done[m].to_numpy()
            assert np.isfinite(got).all(), m
            assert got.tobytes() == final.loc[done.index, m].to_numpy().tobytes(), m
    last = {(s, m): analysis.trajectories(out, s, m).values for s in STUDIES for m in METRICS}
    for snap in trajs:
        for key, values in snap.items():
            seen_rows = ~np.isnan(values)
            # A task is there whole (every recorded step) or not at all ...
            assert (seen_rows.all(axis=-1) | ~seen_rows.any(axis=-1)).all(), key
            # ... and what is there is the final result.
            assert values[seen_rows].tobytes() == last[key][seen_rows].tobytes(), key
    print("readers: %d looks (done %s), %d reports" % (len(loads), seen, reports))


@pytest.mark.parametrize("locking", ["default", "FALSE"])
def test_status_reads_with_either_hdf5_locking(tmp_path, locking):
    _, out = run_spec(readers_spec(2), tmp_path / "spec.yaml", tmp_path / "out.h5")
    env = dict(ENV)
    if locking != "default":
        env["HDF5_USE_FILE_LOCKING"] = locking
    assert run(["status", out], env=env, check=0).stdout.splitlines()[-1] == "complete"
    assert sorted(os.listdir(tmp_path)) == ["out.h5", "spec.yaml"]  # no lock left
