"""Growing a sweep (issue 10, item 2): `dposweep run GROWN -o OUT --reuse
OLD.h5 ...` copies every task of GROWN that is the same task as a finished
task of an OLD file and computes the rest, and the result equals a fresh
run of GROWN bit for bit; growing OUT in place survives a SIGKILL at any
moment; a reused task that fails its checksum is recomputed; a file of
another numerics version gives nothing; bad --reuse files are refused
(issue 12, item 5).  Expected counts come from `dposweep plan --list` and
the identity rule (same values, same settings, recorded steps a subset),
never typed in."""
import os
import random
import shutil
import signal
import time

import h5py
import numpy as np
import pytest

from sweeptest import (DONE, FAILED, SLOW, SLOW_GRID, assert_results_equal, digest,
                       kill_group, leftovers, ours, plan, plan_tasks, run, spec_yaml,
                       start, wait_for)


EXACT = dict(iterations=20, record_every=3, scale="theory", eta="theory",
             rewards="uniform", seeds=3)
EXACT_GRID = dict(regime=["uniform", "mix-r", "mix-p"], arms=[3, 8],
                  beta=[0.5, 2.0], sigma=[0.0])
NOISY = dict(iterations=30, scale="normalized", rewards="normal", seeds=2)
NOISY_GRID = dict(regime=["mix-p-clip", "on-policy"], arms=[5], beta=[1.0],
                  sigma=[0.0, 0.05], eta=[0.5, 1.0])
SAMPLED = dict(iterations=25, record_every=5, scale="normalized", eta=0.5,
               rewards="normal", seeds=2)
SAMPLED_GRID = dict(regime=["hybrid", "reference"], arms=[4], beta=[2.0],
                    sigma=[0.0], samples=[5, 50])
SHORT = dict(iterations=12, scale="theory", eta="theory", rewards="uniform",
             seeds=2)
SHORT_GRID = dict(regime=["uniform", "mix-p"], arms=[3], beta=[1.0],
                  sigma=[0.0])
# Some of these diverge (failed, status 2): finished results, reused too.
DIVERGE = dict(iterations=50, scale="theory", rewards="uniform", seeds=2)
DIVERGE_GRID = dict(regime=["uniform", "mix-p", "on-policy"], arms=[8],
                    beta=[3.0], sigma=[0.0], eta=[1.0, 1.0e12])
NEW = dict(iterations=10, scale="theory", eta="theory", rewards="uniform",
           seeds=2)
NEW_GRID = dict(regime=["mix-r"], arms=[4], beta=[1.0], sigma=[0.0])

OLD = spec_yaml("grow-test", [
    ("exact", EXACT, EXACT_GRID),
    ("noisy", NOISY, NOISY_GRID),
    ("sampled", SAMPLED, SAMPLED_GRID),
    ("short", SHORT, SHORT_GRID),
    ("diverge", DIVERGE, DIVERGE_GRID),
])
# More seeds and record_every 3 -> 6 (its steps a subset: copied); a
# renamed study with a new sigma value; an unchanged study; a study whose
# iterations changed (nothing reused from it); a new study.
GROWN = spec_yaml("grow-test", [
    ("exact", dict(EXACT, record_every=6, seeds=5), EXACT_GRID),
    ("noisy-renamed", NOISY, dict(NOISY_GRID, sigma=[0.0, 0.02, 0.05])),
    ("sampled", SAMPLED, SAMPLED_GRID),
    ("short", dict(SHORT, iterations=16), SHORT_GRID),
    ("diverge", DIVERGE, DIVERGE_GRID),
    ("new", NEW, NEW_GRID),
])
# A second source: some exact tasks OLD has too (seed 0: the first file
# wins) and some it lacks (seed 3), and part of the new study.
OLD2 = spec_yaml("grow-test-2", [
    ("exact-part", dict(EXACT, seeds=[0, 3]), EXACT_GRID),
    ("new", dict(NEW, seeds=[1]), NEW_GRID),
])


def settings_of(spec_text):
    """{study: (iterations, record_every, scale, rewards)} of a spec written
    by spec_yaml: what must agree for two tasks to be the same."""
    out, name = {}, None
    for line in spec_text.splitlines():
        line = line.strip()
        if line.startswith("- name: "):
            name = line[len("- name: "):]
            out[name] = {"record_every": "1"}
        elif name and ":" in line and not line.startswith("grid"):
            k, v = line.split(":", 1)
            out[name][k] = v.strip()
    return {n: (int(s["iterations"]), int(s["record_every"]), s["scale"], s["rewards"])
            for n, s in out.items()}


def steps(iterations, every):
    return set(range(0, iterations, every)) | {iterations}


def key(t):
    return (t["regime"], t["arms"], t["beta"], t["sigma"], t["samples"], t["eta"],
            t["ref_spread"], t["seed"])


def expected_reuse(target, sources):
    """What `run --reuse` must take from each source, in order, by the
    identity rule: [(source path, {(study, index): (source study, index)})].
    target and sources are (spec path, spec text); every source task is
    finished."""
    tset = settings_of(target[1])
    taken, out = set(), []
    for path, text in sources:
        sset = settings_of(text)
        found = {}
        for s in plan_tasks(path):
            found.setdefault((sset[s["study"]][0],) + sset[s["study"]][2:] + key(s), []).append(
                (s["study"], s["index"]))
        got = {}
        for t in plan_tasks(target[0]):
            T, every, scale, rewards = tset[t["study"]]
            if (t["study"], t["index"]) in taken:
                continue
            for study, index in found.get((T, scale, rewards) + key(t), []):
                if steps(T, every) <= steps(T, sset[study][1]):
                    got[(t["study"], t["index"])] = (study, index)
                    taken.add((t["study"], t["index"]))
                    break
        out.append(got)
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The specs, OLD and OLD2 run whole, and GROWN run fresh."""
    d = tmp_path_factory.mktemp("grow")
    paths = {}
    for name, text in (("old", OLD), ("grown", GROWN), ("old2", OLD2)):
        paths[name] = d / f"{name}.yaml"
        paths[name].write_text(text)
    for name, ranks in (("old", 2), ("old2", None), ("grown", 2)):
        h5 = d / f"{name}.h5"
        run(["run", paths[name], "-o", h5, "-q"], ranks=ranks, check=0)
        paths[name + ".h5"] = h5
    with h5py.File(paths["old.h5"], "r") as f:
        st = np.concatenate([f["studies"][n]["tasks/status"][()] for n in f["studies"]])
        assert (st == FAILED).any() and (st == DONE).any(), "OLD has failed and done tasks"
    return paths


def grown_expected(work, *sources):
    by_name = {"old": (work["old"], OLD), "old2": (work["old2"], OLD2)}
    return expected_reuse((work["grown"], GROWN), [by_name[s] for s in sources])


def test_grown_equals_fresh_with_exact_counts(work, tmp_path):
    out = tmp_path / "grown.h5"
    exp = grown_expected(work, "old", "old2")
    assert all(exp), exp  # each source has something to give
    # By construction: the study whose iterations changed gives nothing.
    assert not any(t[0] == "short" for e in exp for t in e)
    r = run(["run", work["grown"], "-o", out, "--reuse", work["old.h5"],
             "--reuse", work["old2.h5"], "-q"], ranks=3, check=0)
    assert f"reused {len(exp[0])} tasks from {work['old.h5']}\n" in r.stderr, r.stderr
    assert f"reused {len(exp[1])} tasks from {work['old2.h5']}\n" in r.stderr, r.stderr
    total = plan(work["grown"]).total
    reused = len(exp[0]) + len(exp[1])
    assert f"{reused} of {total} tasks already done" in r.stderr
    assert_results_equal(work["grown.h5"], out)
    # Provenance: where each reused task came from; the rest computed here.
    sources = [work["old.h5"], work["old2.h5"]]
    with h5py.File(out, "r") as f:
        assert [p.decode() for p in f["sources/path"][:2]] == [str(os.path.realpath(p))
                                                                for p in sources]
        for study in f["studies"]:
            g = f["studies"][study]["tasks"]
            origin, run_slot = g["origin_source"][()], g["run"][()]
            ostudy, oindex = g["origin_study"][()], g["origin_index"][()]
            for i in range(origin.size):
                where = [k for k, e in enumerate(exp) if (study, i) in e]
                if where:
                    assert origin[i] == where[0] and run_slot[i] == -1, (study, i)
                    assert (ostudy[i].decode(), int(oindex[i])) == exp[where[0]][(study, i)]
                else:
                    assert origin[i] == -1 and run_slot[i] >= 0, (study, i)
    # status names the sources and what each gave.
    st = run(["status", out], check=0).stdout
    assert "\nsources: 2\n" in st
    for k, p in enumerate(sources):
        assert f"  {k + 1}: {os.path.realpath(p)}: {len(exp[k])} tasks (spec sha256 " in st
    kv = run(["status", out, "--format=kv"], check=0).stdout
    assert kv.rstrip("\n").endswith("\nsources=2")


def test_grow_in_place_then_resume_says_why(work, tmp_path):
    out = tmp_path / "out.h5"
    shutil.copy(work["old.h5"], out)
    before = digest(out)
    # Another spec: refused, naming --reuse OUT as the way to grow it
    # (issue 10, item 8), also when other files are given to reuse.
    for extra in ([], ["--reuse", work["old2.h5"]]):
        r = run(["run", work["grown"], "-o", out] + extra, ranks=2, check=2)
        assert len(ours(r.stderr)) == 1, r.stderr
        assert "holds another spec" in r.stderr and f"--reuse {out}" in r.stderr
        assert digest(out) == before and leftovers(out) == []
    cmd = ["run", work["grown"], "-o", out, "--reuse", out, "--reuse", work["old2.h5"], "-q"]
    r = run(cmd, ranks=2, check=0)
    exp = grown_expected(work, "old", "old2")
    assert f"growing {out} in place" in r.stderr
    assert f"reused {len(exp[0])} tasks from {out}\n" in r.stderr
    assert f"reused {len(exp[1])} tasks from {work['old2.h5']}\n" in r.stderr
    assert_results_equal(work["grown.h5"], out)
    assert leftovers(out) == []
    # The same command again (the next link of a chain): it resumes, and
    # says why it takes nothing.
    r = run(cmd, ranks=2, check=0)
    for src in (out, work["old2.h5"]):
        assert f"reused 0 tasks from {src}: {out} already holds this spec" in r.stderr
    total = plan(work["grown"]).total
    assert f"{total} of {total} tasks already done" in r.stderr
    assert_results_equal(work["grown.h5"], out)


def test_force_starts_over_reusing_the_listed_files(work, tmp_path):
    out = tmp_path / "out.h5"
    shutil.copy(work["old.h5"], out)
    r = run(["run", work["grown"], "-o", out, "--reuse", work["old2.h5"], "--force", "-q"],
            check=0)
    exp = grown_expected(work, "old2")
    assert f"--force: replacing {out}" in r.stderr
    assert f"reused {len(exp[0])} tasks from {work['old2.h5']}\n" in r.stderr
    assert_results_equal(work["grown.h5"], out)


def test_other_numerics_gives_nothing(work, tmp_path):
    v1 = tmp_path / "v1.h5"
    shutil.copy(work["old.h5"], v1)
    with h5py.File(v1, "r+") as f:
        mine = int(f.attrs["numerics"])
        f.attrs.modify("numerics", mine - 1)
    out = tmp_path / "out.h5"
    r = run(["run", work["grown"], "-o", out, "--reuse", v1, "-q"], check=0)
    assert (f"reused 0 tasks from {v1}: it holds results of numerics version "
            f"{mine - 1}; this dposweep computes version {mine}") in r.stderr
    assert_results_equal(work["grown.h5"], out)
    # Growing it in place would take nothing of it: refused without --force.
    before = digest(v1)
    r = run(["run", work["grown"], "-o", v1, "--reuse", v1], check=2)
    assert f"numerics version {mine - 1}" in r.stderr and "--force" in r.stderr
    assert len(ours(r.stderr)) == 1 and digest(v1) == before


def test_task_failing_its_checksum_is_recomputed(work, tmp_path):
    bad = tmp_path / "tampered.h5"
    shutil.copy(work["old.h5"], bad)
    exp = grown_expected(work, "old")[0]
    # A task the grown spec reuses: one value 1 ulp off, its checksum not.
    (study, index), (ostudy, oindex) = sorted(exp.items())[0]
    with h5py.File(bad, "r+") as f:
        row = f["studies"][ostudy]["traj/value_gap"][oindex]
        row[1] = np.nextafter(row[1], np.inf)
        f["studies"][ostudy]["traj/value_gap"][oindex] = row
    out = tmp_path / "out.h5"
    r = run(["run", work["grown"], "-o", out, "--reuse", bad, "-q"], check=0)
    assert f"reused {len(exp) - 1} tasks from {bad}\n" in r.stderr
    assert (f"{bad}: 1 tasks fail their checksum and are not reused; "
            f"dposweep verify {bad} names them") in r.stderr
    assert_results_equal(work["grown.h5"], out)
    with h5py.File(out, "r") as f:
        assert f["studies"][study]["tasks/origin_source"][index] == -1
        assert f["studies"][study]["tasks/run"][index] >= 0


def hostile(kind, path, good):
    """Make `path` a bad input of the given kind (from the good file)."""
    if kind == "directory":
        os.mkdir(path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("name: not a results file\n")
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[:4096])
    elif kind == "foreign":
        with h5py.File(path, "w") as f:
            f["data"] = [1, 2, 3]
    elif kind == "format":
        shutil.copy(good, path)
        with h5py.File(path, "r+") as f:
            f.attrs.modify("dposweep_format", 1)


WORDS = {"missing": "no such file", "directory": "is a directory",
         "empty": "not an HDF5 file (empty)", "text": "not an HDF5 file",
         "truncated": "HDF5", "foreign": "not a dposweep results file",
         "format": "format version 1"}


@pytest.mark.parametrize("kind", sorted(WORDS))
def test_bad_reuse_file_refused(work, tmp_path, kind):
    bad = tmp_path / "bad.h5"
    hostile(kind, bad, work["old.h5"])
    # A new output: not created.
    out = tmp_path / "new.h5"
    r = run(["run", work["grown"], "-o", out, "--reuse", work["old2.h5"], "--reuse", bad],
            check=2)
    assert len(ours(r.stderr)) == 1, r.stderr
    assert f"--reuse: {bad}" in r.stderr and WORDS[kind] in r.stderr, r.stderr
    assert not out.exists() and leftovers(out) == []
    # An output grown in place: untouched, also with --force.
    inplace = tmp_path / "inplace.h5"
    shutil.copy(work["old.h5"], inplace)
    before = digest(inplace)
    for force in ([], ["--force"]):
        r = run(["run", work["grown"], "-o", inplace, "--reuse", inplace, "--reuse", bad]
                + force, check=2)
        assert len(ours(r.stderr)) == 1 and WORDS[kind] in r.stderr, r.stderr
        assert digest(inplace) == before and leftovers(inplace) == []


# ---- growing in place, killed at random moments -----------------------------

# Many cheap tasks (the copy takes a moment) and some slow ones (the
# compute does); the grown spec adds both.
KILL_BULK = dict(iterations=2, scale="theory", eta="theory", rewards="uniform")
KILL_BULK_GRID = dict(regime=["uniform"], arms=[2], beta=[1.0], sigma=[0.0])
KILL_OLD = spec_yaml("kill-test", [
    ("bulk", dict(KILL_BULK, seeds=20000), KILL_BULK_GRID),
    ("slow", dict(SLOW, seeds=2), SLOW_GRID),
])
KILL_GROWN = spec_yaml("kill-test", [
    ("bulk", dict(KILL_BULK, seeds=20000), dict(KILL_BULK_GRID, regime=["uniform", "mix-r"])),
    ("slow", dict(SLOW, seeds=10), SLOW_GRID),
])


def temps(out):
    return [n for n in leftovers(out) if ".tmp." in n]


def check_after_kill(out, old_digest, fresh, grown_sha):
    """OUT is readable and either the old file, byte-identical, or the
    grown file with every finished task equal to the fresh run's."""
    if digest(out) == old_digest:
        return "old"
    assert run(["status", out]).returncode in (0, 1)
    with h5py.File(out, "r") as f, h5py.File(fresh, "r") as g:
        assert f.attrs["spec_sha256"].decode() == grown_sha
        for s in g["studies"]:
            a, b = f["studies"][s], g["studies"][s]
            st = a["tasks/status"][()]
            fin = (st == DONE) | (st == FAILED)
            assert (st[fin] == b["tasks/status"][()][fin]).all(), s
            assert a["traj/t"][()].tobytes() == b["traj/t"][()].tobytes()
            for n in ["traj/" + k for k in b["traj"] if k != "t"] + ["final/theta"]:
                x, y = a[n][()][fin], b[n][()][fin]
                assert x.tobytes() == y.tobytes(), (s, n)
    return "new"


def test_grow_in_place_killed_at_random_moments(tmp_path):
    old_spec, grown = tmp_path / "old.yaml", tmp_path / "grown.yaml"
    old_spec.write_text(KILL_OLD)
    grown.write_text(KILL_GROWN)
    old, fresh = tmp_path / "old.h5", tmp_path / "fresh.h5"
    run(["run", old_spec, "-o", old, "-q"], ranks=2, check=0)
    t0 = time.time()
    run(["run", grown, "-o", fresh, "-q"], ranks=2, check=0)
    whole = time.time() - t0
    old_digest, sha = digest(old), plan(grown).sha256
    out = tmp_path / "out.h5"
    cmd = ["run", grown, "-o", out, "--reuse", out, "-q"]
    seed = int(time.time())
    rng = random.Random(seed)
    seen = []
    # The first kill as soon as the temporary appears (during the copy),
    # the others at random moments of a whole grown run.
    for round_ in range(4):
        shutil.copy(old, out)
        p = start(cmd, 2)
        if round_ == 0:
            assert wait_for(lambda: temps(out) or p.poll() is not None, 60, step=0.0005)
            assert p.poll() is None, "the run ended before its temporary was seen"
            # Its name ends in the builder's pid: kill that one first, at once.
            os.kill(int(temps(out)[0].rsplit(".", 1)[1]), signal.SIGKILL)
        else:
            time.sleep(rng.uniform(0.0, whole))
        kill_group(p)
        seen.append(check_after_kill(out, old_digest, fresh, sha))
        # The same command completes it; nothing is left beside it.
        run(cmd, ranks=2, check=0)
        assert_results_equal(fresh, out)
        assert leftovers(out) == [], (seed, leftovers(out))
    assert seen[0] == "old", f"the kill during the copy left the grown file (seed {seed})"
