"""`dposweep run` under MPI: results independent of the rank count, equal
to `dposweep sim`, resumable after SIGKILL, provenance, plan agreement."""
import os
import re
import signal
import zlib

import h5py
import numpy as np

from sweeptest import (DONE, ENV, assert_same_results, kill_group, plan, regime_names, run,
                       start, status_counts, wait_for)


def test_rank_count_does_not_change_results(spec, tmp_path):
    total = plan(spec).total
    outs = []
    for p in [1, 2, 3, 4]:
        out = tmp_path / f"p{p}.h5"
        r = run(["run", str(spec), "-o", str(out), "-q"], ranks=p, check=0)
        assert f"complete: {total} tasks" in r.stderr
        outs.append(out)
    # Without mpirun at all (singleton MPI).
    alone = tmp_path / "alone.h5"
    run(["run", str(spec), "-o", str(alone), "-q"], check=0)
    outs.append(alone)
    for o in outs[1:]:
        assert_same_results(outs[0], o)
    # Every task done, and the work was spread over the workers.
    with h5py.File(outs[2], "r") as f:
        ranks = np.concatenate([f["studies"][n]["tasks/rank"][()] for n in f["studies"]])
        status = np.concatenate([f["studies"][n]["tasks/status"][()] for n in f["studies"]])
    assert (status == DONE).all()
    assert set(ranks) == {1, 2}  # rank 0 coordinates, 1 and 2 compute


def text(v):
    """An HDF5 string attribute as str."""
    return v.decode() if isinstance(v, bytes) else str(v)


def sim_args(f, study, i):
    g = f["studies"][study]
    t = g["tasks"]
    args = ["sim", "--regime", regime_names(g)[t["regime"][i]],
            "--arms", str(t["arms"][i]), "--beta", repr(float(t["beta"][i])),
            "--sigma", repr(float(t["sigma"][i])),
            "--samples", str(t["samples"][i]),
            "--iterations", str(g.attrs["iterations"]),
            "--every", str(g.attrs["record_every"]),
            "--scale", text(g.attrs["scale"]),
            "--rewards", text(g.attrs["rewards"]),
            "--seed", str(t["seed"][i]),
            "--master-seed", str(f.attrs["master_seed"])]
    args += ["--eta", "theory" if t["eta_theory"][i] else repr(float(t["eta"][i]))]
    return args


def test_rows_equal_sim(spec, tmp_path):
    out = tmp_path / "r.h5"
    run(["run", str(spec), "-o", str(out), "-q"], ranks=3, check=0)
    checked = 0
    with h5py.File(out, "r") as f:
        for study in f["studies"]:
            g = f["studies"][study]
            for i in range(g.attrs["ntasks"]):
                p = run(sim_args(f, study, i), check=0)
                rows = [l.split(",") for l in p.stdout.splitlines()[1:]]
                t = np.array([int(r[0]) for r in rows])
                m = np.array([[float(x) for x in r[1:4]] for r in rows])
                assert (t == g["traj/t"][()]).all()
                # %.17g round-trips: the rows must be bit-identical.
                assert m[:, 0].tobytes() == g["traj/max_abs_delta"][i].tobytes(), (study, i)
                assert m[:, 1].tobytes() == g["traj/mean_abs_delta"][i].tobytes(), (study, i)
                assert m[:, 2].tobytes() == g["traj/value_gap"][i].tobytes(), (study, i)
                checked += 1
    assert checked == plan(spec).total


def test_sigkill_then_rerun_completes_identically(tmp_path):
    # Enough work (~5 s on 2 cores) to kill it partway through.
    spec = tmp_path / "slow.yaml"
    spec.write_text("""\
name: slow
master_seed: 9
studies:
  - name: sampled
    iterations: 2000
    record_every: 10
    scale: normalized
    eta: 0.05
    rewards: normal
    seeds: 30
    grid: {regime: [uniform, mix-r, mix-p], arms: [20], beta: [3.0], sigma: [0.0], samples: [8192]}
  - name: exact
    iterations: 50
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 10
    grid: {regime: [uniform, mix-p], arms: [10, 40], beta: [1.0], sigma: [0.0]}
""")
    total = plan(spec).total
    ref = tmp_path / "ref.h5"
    run(["run", str(spec), "-o", str(ref), "-q"], ranks=3, check=0)
    out = tmp_path / "killed.h5"
    kills = 0
    before = 0
    for attempt in range(2):  # killed twice, then completed
        p = start(["run", str(spec), "-o", str(out), "-q"], ranks=3)
        # Kill once this run has finished some, but not all, tasks: as soon
        # as the file's count passes what the last kill left.
        assert wait_for(lambda: out.exists() and before < status_counts(out)[0], 60)
        kill_group(p)
        kills += 1
        done, size = status_counts(out)
        st = run(["status", str(out)])
        m = re.search(r"tasks: (\d+)/(\d+) finished", st.stdout)
        assert m, st.stdout + st.stderr
        assert 0 < int(m.group(1)) == done < size == int(m.group(2)) == total
        assert st.returncode == 1
        before = done
    r = run(["run", str(spec), "-o", str(out), "-q"], ranks=3, check=0)
    assert f"resuming {out}: {done} of {total} tasks already done" in r.stderr
    assert_same_results(ref, out)
    # The killed runs are recorded without an end; the last with one.
    with h5py.File(out, "r") as f:
        start_t = f["runs/start"][()]
        end_t = f["runs/end"][()]
    used = ~np.isnan(start_t)
    assert used.sum() == kills + 1
    assert np.isnan(end_t[:kills]).all() and not np.isnan(end_t[kills])


def test_signal_drains_and_rerun_completes(spec, tmp_path):
    # SIGUSR1 to mpirun, which forwards it (its handling of SIGTERM is
    # less reliable: see README); SIGTERM to the ranks is in tests/faults.
    slow = tmp_path / "slow.yaml"
    slow.write_text("""\
name: slow2
master_seed: 3
studies:
  - name: s
    iterations: 3000
    record_every: 10
    scale: normalized
    eta: 0.05
    rewards: normal
    seeds: 40
    grid: {regime: [mix-r, mix-p], arms: [20], beta: [3.0], sigma: [0.0], samples: [8192]}
""")
    total = plan(slow).total
    out = tmp_path / "t.h5"
    p = start(["run", str(slow), "-o", str(out), "--progress-interval", "0.2"], ranks=3)
    assert wait_for(lambda: out.exists() and status_counts(out)[0] > 0, 60)
    os.kill(p.pid, signal.SIGUSR1)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert "signal received" in err
    m = re.search(rf"interrupted: (\d+) of {total} tasks done, (\d+) remain", err)
    assert m, err
    done, _ = status_counts(out)
    assert int(m.group(1)) == done and int(m.group(2)) == total - done
    # Progress lines carry done/total, rate, elapsed and ETA.
    assert re.search(rf"\d+/{total} tasks \([\d.]+%\), [\d.]+ tasks/s, elapsed \d+:\d\d, ETA", err)
    r = run(["run", str(slow), "-o", str(out), "-q"], ranks=2, check=0)
    assert f"{done} of {total} tasks already done" in r.stderr
    assert status_counts(out) == (total, total)


def test_provenance(spec, tmp_path):
    out = tmp_path / "p.h5"
    run(["run", str(spec), "-o", str(out), "-q"], ranks=3, check=0)
    planned = plan(spec)
    sha = planned.sha256
    assert re.fullmatch(r"[0-9a-f]{64}", sha), sha
    with h5py.File(out, "r") as f:
        a = f.attrs
        assert text(a["spec"]) == spec.read_text()
        assert text(a["spec_sha256"]) == sha
        assert a["dposweep_format"] == 2
        for k in ["dposweep_version", "git_revision", "created", "spec_canonical"]:
            assert len(a[k]) > 0, k
        for n in f["studies"]:
            t = f["studies"][n]["tasks"]
            assert (t["rank"][()] >= 1).all()
            assert (t["wall_seconds"][()] >= 0).all()
            assert (t["finished_at"][()] > 1.7e9).all()
        assert f["runs/ranks"][0] == 3
        assert f["runs/end"][0] >= f["runs/start"][0]
        assert len(f["runs/hosts"][0]) > 0
        assert f["runs/done_before"][0] == 0 and f["runs/done_after"][0] == planned.total
        assert text(f["runs/nodes"][0]) == text(f["runs/hosts"][0])  # no SLURM here
        assert text(f["runs/isa"][0]) != ""
        assert int(a["numerics"]) >= 1 and text(f["sources/path"][0]) == ""


def test_task_provenance_and_checksums(spec, tmp_path):
    # Every task computed by run 0 (the workers learn the slot), none
    # copied; each checksum is CRC-32 of its metric rows in the traj/
    # order of the metric table, then its final theta, little-endian;
    # the nodes are SLURM's names where SLURMD_NODENAME is set.
    out = tmp_path / "c.h5"
    run(["run", str(spec), "-o", str(out), "-q"], ranks=3, check=0,
        env=dict(ENV, SLURMD_NODENAME="n7"))
    with h5py.File(out, "r") as f:
        assert text(f["runs/nodes"][0]) == "n7"
        for n in f["studies"]:
            g = f["studies"][n]
            t = g["tasks"]
            assert (t["run"][()] == 0).all()
            assert (t["origin_source"][()] == -1).all()
            assert (t["origin_index"][()] == -1).all()
            names = [text(k) for k in g.attrs["metrics"]]
            assert sorted(names) == sorted(k for k in g["traj"] if k != "t")
            rows = [g["traj"][k][()].astype("<f8") for k in names]
            theta = g["final/theta"][()].astype("<f8")
            for i, stored in enumerate(t["checksum"][()]):
                crc = 0
                for r in rows:
                    crc = zlib.crc32(r[i].tobytes(), crc)
                assert zlib.crc32(theta[i].tobytes(), crc) == stored, (n, i)


def test_plan_agrees_with_run(spec, tmp_path):
    # The spec's counts, worked out by hand (the other tests take them
    # from plan): exact 3 regimes x 2 arms x 2 betas x 3 seeds, noisy
    # 2 x 2 sigmas x 2 etas x 4 seeds, sampled 3 x 2 samples x 3 seeds.
    text = run(["plan", str(spec)], check=0).stdout
    assert text.startswith("tasks: 86\n")
    planned = plan(spec)
    assert planned.total == 86
    assert planned.studies == {"exact": 36, "noisy": 32, "sampled": 18}
    assert list(planned.studies) == ["exact", "noisy", "sampled"]
    out = tmp_path / "c.h5"
    run(["run", str(spec), "-o", str(out), "-q"], check=0)
    with h5py.File(out, "r") as f:
        for n, count in planned.studies.items():
            assert f["studies"][n]["tasks/status"].shape == (count,)
            assert f["studies"][n]["traj/max_abs_delta"].shape[0] == count
    predicted = planned.output_bytes
    actual = out.stat().st_size
    assert abs(actual - predicted) <= 0.02 * actual, (predicted, actual)
    # --list: one line per task, in index order.
    lst = run(["plan", str(spec), "--list"], check=0).stdout
    lines = lst.split("study,index,regime,arms,beta,sigma,samples,eta,ref_spread,seed\n")[1].splitlines()
    assert len(lines) == planned.total
    assert lines[0].startswith("exact,0,uniform,3,0.5,0,0,theory,0,0")
    assert lines[1].startswith("exact,1,uniform,3,0.5,0,0,theory,0,1")
    assert lines[planned.studies["exact"]].startswith("noisy,0,mix-p-clip,5,1,0,0,0.5,0,0")


def test_long_spec_is_stored_and_resumes(tmp_path):
    # A spec text over 64 KiB does not fit an attribute: it is stored as a
    # dataset, and status and resume read it back.
    vals = ", ".join("%.15f" % (i / 5000) for i in range(4000))
    spec = tmp_path / "long.yaml"
    spec.write_text("name: l\nmaster_seed: 1\nstudies:\n  - name: s\n    iterations: 2\n"
                    "    scale: theory\n    eta: theory\n    rewards: explicit\n"
                    f"    reward_values: [{vals}]\n    seeds: 1\n"
                    "    grid: {regime: [uniform], arms: [4000], beta: [1.0], sigma: [0.0]}\n")
    out = tmp_path / "long.h5"
    run(["run", str(spec), "-o", str(out), "-q"], check=0)
    with h5py.File(out, "r") as f:
        assert "spec" not in f.attrs and f["spec"].shape[0] > 65536
        assert bytes(f["spec"][()]).decode() == spec.read_text()
    run(["status", str(out)], check=0)
    total = plan(spec).total
    r = run(["run", str(spec), "-o", str(out)], check=0)
    assert f"{total} of {total} tasks already done" in r.stderr
