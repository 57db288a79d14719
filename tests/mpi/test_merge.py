"""Merging results files (issue 10, item 3): `dposweep merge A.h5 B.h5 -o
OUT.h5` holds the union of the inputs' specs and every task finished in
any of them; two halves of a sweep (split by seeds or by regimes) merged
equal the whole bit for bit; tasks of the union no input ran are pending
and `run UNION.yaml -o OUT.h5` completes them; inputs that disagree on a
task, fail a checksum, clash, are of another numerics version or master
seed, or are no results file at all are refused with exit 2 and nothing
is written (issue 12, items 2 and 5).  Counts come from `dposweep plan
--list`, never typed in."""
import os
import shutil
import socket
import time
import zlib

import h5py
import numpy as np
import pytest

from sweeptest import (assert_results_equal, digest, leftovers, ours, plan,
                       plan_tasks, run, run_spec, spec_yaml, status_kv)

HOST = socket.gethostname()


def merge_spec(studies, master_seed=4242):
    """The YAML of a spec "merge-test" of (name, settings, grid) triples."""
    return spec_yaml("merge-test", studies, master_seed)


EXACT = dict(iterations=20, record_every=3, scale="theory", eta="theory",
             rewards="uniform")
EXACT_GRID = dict(regime=["uniform", "mix-r", "mix-p"], arms=[3, 8],
                  beta=[0.5, 2.0], sigma=[0.0])
NOISY = dict(iterations=30, scale="normalized", rewards="normal")
NOISY_GRID = dict(regime=["mix-p-clip", "on-policy"], arms=[5], beta=[1.0],
                  sigma=[0.0, 0.05], eta=[0.5, 1.0])
# Some tasks of this one diverge (failed): finished results, merged too.
DIVERGE = dict(iterations=50, scale="theory", rewards="uniform")
DIVERGE_GRID = dict(regime=["uniform", "mix-p", "on-policy"], arms=[8],
                    beta=[3.0], sigma=[0.0], eta=[1.0, 1.0e12])


def whole(seeds=(4, 3, 2), regimes=None):
    """The sweep, or a part of it: seeds per study (a count or a list) and
    regimes per study (None: all)."""
    regimes = regimes or [None, None, None]
    studies = []
    for (name, settings, grid), s, g in zip(
            [("exact", EXACT, EXACT_GRID), ("noisy", NOISY, NOISY_GRID),
             ("diverge", DIVERGE, DIVERGE_GRID)], seeds, regimes):
        studies.append((name, dict(settings, seeds=s),
                        dict(grid, regime=g) if g else grid))
    return merge_spec(studies)


WHOLE = whole()
HALVES = {
    # Overlapping seeds: the shared tasks must agree, and do.
    "seeds": (whole(seeds=([0, 1, 2], [0, 1], [0])), whole(seeds=([2, 3], [2], [1]))),
    "regimes": (whole(regimes=(["uniform", "mix-r"], ["mix-p-clip"], ["uniform", "mix-p"])),
                whole(regimes=(["mix-p"], ["on-policy"], ["on-policy"]))),
}


def keys(spec):
    """The tasks of a spec by value (every study here has one setting per
    name, so (study, values) identifies a task)."""
    return {(t["study"],) + tuple(t[k] for k in ("regime", "arms", "beta", "sigma", "samples",
                                                 "eta", "ref_spread", "seed"))
            for t in plan_tasks(spec)}


def make(d, name, text):
    """A spec file and its complete results file."""
    return run_spec(text, d / f"{name}.yaml", d / f"{name}.h5")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("merge")
    files = {"whole": make(d, "whole", WHOLE)}
    for split, (a, b) in HALVES.items():
        files[split + "-a"] = make(d, split + "-a", a)
        files[split + "-b"] = make(d, split + "-b", b)
    with h5py.File(files["whole"][1], "r") as f:
        assert (f["studies/diverge/tasks/status"][()] == 2).any(), "some tasks fail"
    return d, files


def nothing_written(out):
    assert not os.path.exists(out) and leftovers(out) == [], leftovers(out)


@pytest.mark.parametrize("split", sorted(HALVES))
def test_halves_merge_to_the_whole(work, tmp_path, split):
    d, files = work
    (sa, a), (sb, b) = files[split + "-a"], files[split + "-b"]
    out, union = tmp_path / "merged.h5", tmp_path / "union.yaml"
    r = run(["merge", a, b, "-o", out, "--spec-out", union], check=0)
    ka, kb = keys(sa), keys(sb)
    total = plan(files["whole"][0]).total
    assert len(ka | kb) == total
    line = (f"dposweep merge: {out}: 3 studies, {total} tasks: {total} finished, 0 pending; "
            f"provided by {a} {len(ka)}, {b} {len(kb - ka)}")
    assert line in r.stderr, r.stderr
    if ka & kb:
        assert f"(and {len(ka & kb)} equal to an earlier input's)" in r.stderr
    assert len(ours(r.stderr)) == 1 and leftovers(out) == []
    assert_results_equal(files["whole"][1], out)
    # The union spec is the whole spec (same canonical text): a run of the
    # whole resumes the merged file with nothing left to do.
    assert plan(union).sha256 == plan(files["whole"][0]).sha256
    rr = run(["run", files["whole"][0], "-o", out], check=0)
    assert f"{total} of {total} tasks already done" in rr.stderr
    # Provenance: the two inputs, and how many tasks each provided.
    st = run(["status", out], check=0).stdout
    assert "\nsources: 2\n" in st
    assert f"  1: {os.path.realpath(a)}: {len(ka)} tasks (spec sha256 " in st
    assert f"  2: {os.path.realpath(b)}: {len(kb - ka)} tasks (spec sha256 " in st
    assert status_kv(out)[1]["sources"] == "2"


def test_union_with_pending_tasks_completed_by_run(work, tmp_path):
    a_spec, a = make(tmp_path, "a", merge_spec([("exact", dict(EXACT, seeds=2),
                                                  dict(EXACT_GRID, arms=[3], beta=[0.5]))]))
    b_spec, b = make(tmp_path, "b", merge_spec([("exact", dict(EXACT, seeds=2),
                                                  dict(EXACT_GRID, arms=[8], beta=[2.0])),
                                                 ("noisy", dict(NOISY, seeds=1), NOISY_GRID)]))
    out, union = tmp_path / "merged.h5", tmp_path / "union.yaml"
    r = run(["merge", a, b, "-o", out, "--spec-out", union], check=0)
    total = plan(union).total
    finished = len(keys(a_spec) | keys(b_spec))
    pending = total - finished
    assert pending > 0
    assert f"{total} tasks: {finished} finished, {pending} pending" in r.stderr
    assert f"the union spec is in {union}: 'dposweep run {union} -o {out}'" in r.stderr
    code, kv = status_kv(out)
    assert code == 1 and kv["pending"] == str(pending) and kv["total"] == str(total)
    # run with the union spec takes the merged file as its own and
    # completes it; the result equals a fresh run of the union.
    rr = run(["run", union, "-o", out, "-q"], ranks=2, check=0)
    assert f"{finished} of {total} tasks already done" in rr.stderr
    fresh = tmp_path / "fresh.h5"
    run(["run", union, "-o", fresh, "-q"], check=0)
    assert_results_equal(fresh, out)
    # Without --spec-out the line says where the union spec is.
    r = run(["merge", a, b, "-o", tmp_path / "m2.h5"], check=0)
    assert "--spec-out" in r.stderr and "spec_canonical" in r.stderr


def recompute_checksum(g, i):
    crc = 0
    for m in g.attrs["metrics"]:
        m = m.decode() if isinstance(m, bytes) else m
        crc = zlib.crc32(g["traj"][m][i].astype("<f8").tobytes(), crc)
    g["tasks/checksum"][i] = zlib.crc32(g["final/theta"][i].astype("<f8").tobytes(), crc)


def shared_task(files):
    """A task both seed halves ran: (study, index in half b, its values)."""
    (sa, _), (sb, _) = files["seeds-a"], files["seeds-b"]
    ka = keys(sa)
    for t in plan_tasks(sb):
        k = (t["study"],) + tuple(t[c] for c in ("regime", "arms", "beta", "sigma", "samples",
                                                 "eta", "ref_spread", "seed"))
        if k in ka and t["study"] == "exact":
            return t
    pytest.fail("the seed halves share no task")


def test_disagreeing_inputs_refused(work, tmp_path):
    d, files = work
    a = files["seeds-a"][1]
    b = tmp_path / "b.h5"
    shutil.copy(files["seeds-b"][1], b)
    t = shared_task(files)
    # One value 1 ulp off, its checksum recomputed: only the agreement
    # check can see it.
    with h5py.File(b, "r+") as f:
        g = f["studies"][t["study"]]
        row = g["traj/mean_abs_delta"][t["index"]]
        row[2] = np.nextafter(row[2], -np.inf)
        g["traj/mean_abs_delta"][t["index"]] = row
        recompute_checksum(g, t["index"])
        step = int(g["traj/t"][2])
    run(["status", b], check=0)
    out = tmp_path / "merged.h5"
    r = run(["merge", a, b, "-o", out], check=2)
    assert len(ours(r.stderr)) == 1, r.stderr
    msg = ours(r.stderr)[0]
    assert f"{a} and {b} disagree on study '{t['study']}'" in msg
    assert f"regime={t['regime']}, arms={t['arms']}" in msg and f"seed={t['seed']}" in msg
    assert f"traj/mean_abs_delta at step {step} (" in msg
    nothing_written(out)


def test_input_failing_a_checksum_refused(work, tmp_path):
    d, files = work
    b = tmp_path / "b.h5"
    shutil.copy(files["regimes-b"][1], b)
    with h5py.File(b, "r+") as f:
        g = f["studies/exact"]
        theta = g["final/theta"][1]
        theta[0] = np.nextafter(theta[0], np.inf)
        g["final/theta"][1] = theta
    out = tmp_path / "merged.h5"
    r = run(["merge", files["regimes-a"][1], b, "-o", out], check=2)
    assert len(ours(r.stderr)) == 1
    assert f"{b}: study 'exact' task 1 (" in r.stderr and "checksum mismatch" in r.stderr
    nothing_written(out)


def edited(src, dst, **attrs):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        for k, v in attrs.items():
            f.attrs.modify(k, v)
    return dst


def test_inputs_refused(work, tmp_path):
    d, files = work
    a, b = files["seeds-a"][1], files["seeds-b"][1]
    with h5py.File(a, "r") as f:
        numerics = int(f.attrs["numerics"])
    # Studies of one name with other settings.
    _, clash = make(tmp_path, "clash", merge_spec([("exact", dict(EXACT, iterations=21, seeds=1),
                                                    EXACT_GRID)]))
    _, seed = make(tmp_path, "seed", merge_spec([("exact", dict(EXACT, seeds=1), EXACT_GRID)],
                                                master_seed=7))
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = [1, 2, 3]
    (tmp_path / "text.h5").write_text("not a results file\n")
    (tmp_path / "empty.h5").write_bytes(b"")
    (tmp_path / "truncated.h5").write_bytes(b.read_bytes()[:4096])
    os.mkdir(tmp_path / "dir.h5")
    cases = {
        clash: "study 'exact': input 2 gives it other settings",
        seed: "master seed 7 differs",
        edited(b, tmp_path / "v1.h5", numerics=numerics - 1):
            f"numerics version {numerics - 1}; this dposweep computes version {numerics}",
        edited(b, tmp_path / "format.h5", dposweep_format=1): "format version 1",
        foreign: "not a dposweep results file",
        tmp_path / "text.h5": "not an HDF5 file",
        tmp_path / "empty.h5": "not an HDF5 file (empty)",
        tmp_path / "truncated.h5": "HDF5",
        tmp_path / "dir.h5": "is a directory",
        tmp_path / "missing.h5": "no such file",
    }
    out = tmp_path / "merged.h5"
    for bad, word in cases.items():
        r = run(["merge", a, bad, "-o", out], check=2)
        assert len(ours(r.stderr)) == 1 and word in r.stderr, (bad, r.stderr)
        nothing_written(out)


def plant_lock(out):
    """A lock of a live owner on another host (its lease fresh)."""
    expires = int(time.time()) + 3600
    text = ("dposweep-lock 1\ncommand=run\nhost=%s-elsewhere\nnode=\njob=\nboot=\n"
            "pid=1\nstart=0\nsince=%d\nrefreshed=%d\nexpires=%d\n"
            "token=00000000deadbeef\nreplaced=\n" % (HOST, expires - 300, expires - 120, expires))
    with open(str(out) + ".lock", "w") as f:
        f.write(text)


def test_output_rules(work, tmp_path):
    d, files = work
    a, b = files["regimes-a"][1], files["regimes-b"][1]
    out = tmp_path / "merged.h5"
    shutil.copy(files["seeds-a"][1], out)
    before = digest(out)
    # An existing dposweep file: only with --force.
    r = run(["merge", a, b, "-o", out], check=2)
    assert "exists" in r.stderr and "--force" in r.stderr and digest(out) == before
    # One of the inputs, never (--force or not).
    r = run(["merge", a, out, "-o", out, "--force"], check=2)
    assert "is one of the inputs" in r.stderr and digest(out) == before
    # In use by another run: refused, --force or not, nothing changed.
    plant_lock(out)
    lock = open(str(out) + ".lock").read()
    r = run(["merge", a, b, "-o", out, "--force"], check=2)
    assert "in use by dposweep run" in r.stderr and len(ours(r.stderr)) == 1
    assert digest(out) == before and open(str(out) + ".lock").read() == lock
    os.unlink(str(out) + ".lock")
    # A --spec-out file that exists: only with --force.
    spec_out = tmp_path / "union.yaml"
    spec_out.write_text("mine\n")
    r = run(["merge", a, b, "-o", tmp_path / "new.h5", "--spec-out", spec_out], check=2)
    assert f"--spec-out: {spec_out} exists" in r.stderr and spec_out.read_text() == "mine\n"
    nothing_written(tmp_path / "new.h5")
    run(["merge", a, b, "-o", out, "--force", "--spec-out", spec_out], check=0)
    assert_results_equal(files["whole"][1], out)
    assert plan(spec_out).sha256 == plan(files["whole"][0]).sha256
    assert leftovers(out) == []
    # Not a dposweep file: never replaced.
    text = tmp_path / "notes.h5"
    text.write_text("my notes\n")
    r = run(["merge", a, b, "-o", text, "--force"], check=2)
    assert "not an HDF5 file" in r.stderr and text.read_text() == "my notes\n"
    assert leftovers(text) == []
