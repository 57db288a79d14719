"""`dposweep verify`: a clean file passes; each kind of damage (a trajectory
value changed by one ulp, a final theta changed, a status byte set on a
task without rows, rows rewritten with a matching checksum, a diverged
task marked done) is named, task by task; a partial file and a file being
written pass, pending tasks counted; the verdict and its text are the same
on 1 and 3 ranks; --recompute N chooses N distinct tasks, reproducibly
from --seed; another numerics version refuses --recompute; hostile files
and bad arguments are one line and exit 2.

The damage is done with h5py on copies of one clean file and of one file
left by a SIGKILLed run."""
import re
import shutil
import zlib

import h5py
import numpy as np
import pytest

from sweeptest import (DONE, FAILED, PENDING, SPEC, kill_group, ours, run,
                       run_spec, start, status_counts, wait_for)

# The shared test spec, plus a study whose mix-p tasks diverge (failed, with
# their reason), so that outcomes are compared too.
VERIFY_SPEC = SPEC + """\
  - name: diverge
    iterations: 30
    record_every: 4
    scale: theory
    rewards: uniform
    seeds: 2
    grid:
      regime: [uniform, mix-p]
      arms: [6]
      beta: [3.0]
      sigma: [0.0]
      eta: [1.0e12]
"""

# Long enough (about 600 tasks of 20 ms) to be caught mid-run.
SLOW_SPEC = """\
name: verify-partial
master_seed: 5
studies:
  - name: slow
    iterations: 3000
    record_every: 100
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 600
    grid:
      regime: [uniform]
      arms: [64]
      beta: [1.0]
      sigma: [0.0]
"""

SUMMARY = re.compile(r"^verify: (?P<file>.+?): (?:(?P<failing>\d+) tasks? fail "
                     r"\((?P<kinds>[^)]*)\); )?(?P<checked>\d+) finished tasks? "
                     r"checked \((?P<done>\d+) done, (?P<diverged>\d+) diverged\)"
                     r"(?P<intact>, all intact)?(?:, (?P<recomputed>\d+) recomputed"
                     r"(?: bit for bit)?)?; (?P<pending>\d+) pending \(not checked\)$")


def verify(path, *args, ranks=None):
    return run(["verify", str(path)] + [str(a) for a in args], ranks=ranks)


def verdict(p):
    """(failing task lines, summary match) of a verify's stdout."""
    lines = p.stdout.splitlines()
    assert lines, p.stderr
    m = SUMMARY.match(lines[-1])
    assert m, lines[-1]
    return lines[:-1], m


def task_name(study, index):
    return f"study '{study}' task {index} ("


def copy_of(src, dst):
    shutil.copyfile(src, dst)
    return dst


def set_row(ds, i, fn):
    """ds[i] = fn(ds[i]) for one row of a dataset."""
    row = ds[i]
    ds[i] = fn(row.copy())


def rechecksum(g, i):
    """Store the checksum of task i's rows as they are now (README,
    "Checksums and provenance"): damage that a checksum cannot see."""
    crc = 0
    for m in g.attrs["metrics"]:
        name = m.decode() if isinstance(m, bytes) else m
        crc = zlib.crc32(g["traj"][name][i].astype("<f8").tobytes(), crc)
    crc = zlib.crc32(g["final/theta"][i].astype("<f8").tobytes(), crc)
    set_row(g["tasks/checksum"], slice(i, i + 1), lambda r: np.array([crc], dtype=r.dtype))


def next_ulp(row, j):
    row[j] = np.nextafter(row[j], np.inf)
    return row


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    d = tmp_path_factory.mktemp("clean")
    _, out = run_spec(VERIFY_SPEC, d / "spec.yaml", d / "clean.h5")
    with h5py.File(out, "r") as f:
        st = np.concatenate([f["studies"][n]["tasks/status"][()] for n in f["studies"]])
    assert (st == FAILED).sum() > 0 and (st == DONE).sum() > 0
    return out, int((st == DONE).sum()), int((st == FAILED).sum())


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    """A file left by a SIGKILLed run, and the verifies run while it wrote."""
    d = tmp_path_factory.mktemp("partial")
    spec = d / "slow.yaml"
    spec.write_text(SLOW_SPEC)
    out = d / "slow.h5"
    p = start(["run", spec, "-o", out, "-q", "--chunk-seconds", "0.05"], 2)
    during = []
    try:
        for at_least in (10, 40):
            assert wait_for(lambda: out.exists() and status_counts(out)[0] >= at_least, 120), \
                "the run made no progress"
            during.append(verify(out))
        finished, total = status_counts(out)
        assert finished < total, "the run ended before it could be interrupted"
    finally:
        kill_group(p)
    return out, during


# ---- clean files -------------------------------------------------------------

def test_clean_file(clean):
    out, done, diverged = clean
    p = verify(out)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == (f"verify: {out}: {done + diverged} finished tasks checked "
                        f"({done} done, {diverged} diverged), all intact; "
                        f"0 pending (not checked)\n")
    assert p.stderr == ""
    p = verify(out, "--recompute", "all")
    assert p.returncode == 0, p.stdout + p.stderr
    _, m = verdict(p)
    assert m["intact"] and int(m["recomputed"]) == done + diverged


# ---- damage ------------------------------------------------------------------

def test_trajectory_value_one_ulp(clean, tmp_path):
    out = copy_of(clean[0], tmp_path / "ulp.h5")
    with h5py.File(out, "r+") as f:
        set_row(f["studies/exact/traj/mean_abs_delta"], 5, lambda r: next_ulp(r, 2))
    p = verify(out)
    assert p.returncode == 1, p.stdout + p.stderr
    lines, m = verdict(p)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"verify: {out}: {task_name('exact', 5)}regime ")
    assert lines[0].endswith("): checksum mismatch")
    assert m["failing"] == "1" and m["kinds"] == "1 checksum mismatch"


def test_final_theta_changed(clean, tmp_path):
    out = copy_of(clean[0], tmp_path / "theta.h5")
    with h5py.File(out, "r+") as f:
        set_row(f["studies/noisy/final/theta"], 11, lambda r: r * 2.0)
    p = verify(out)
    assert p.returncode == 1, p.stdout + p.stderr
    lines, m = verdict(p)
    assert len(lines) == 1 and task_name("noisy", 11) in lines[0], lines
    assert lines[0].endswith(": checksum mismatch")


def test_rows_rewritten_with_their_checksum(clean, tmp_path):
    """Only recomputing sees rows rewritten together with their checksum, and
    a diverged task's status byte set to done (no checksum covers it)."""
    out = copy_of(clean[0], tmp_path / "forged.h5")
    with h5py.File(out, "r+") as f:
        g = f["studies/sampled"]
        set_row(g["traj/value_gap"], 4, lambda r: next_ulp(r, 1))
        rechecksum(g, 4)
        g = f["studies/diverge"]
        st = g["tasks/status"][()]
        failed = int(np.flatnonzero(st == FAILED)[0])
        st[failed] = DONE
        g["tasks/status"][...] = st
    p = verify(out)
    assert p.returncode == 0, p.stdout + p.stderr
    p = verify(out, "--recompute", "all")
    assert p.returncode == 1, p.stdout + p.stderr
    lines, m = verdict(p)
    assert len(lines) == 2, lines
    assert task_name("sampled", 4) in lines[0]
    assert re.search(r"\): recomputed result differs: value_gap at step 5 "
                     r"\(stored \S+, recomputed \S+\)$", lines[0]), lines[0]
    assert task_name("diverge", failed) in lines[1]
    assert "recomputed result differs: stored done, recomputed failed (diverged at step " in lines[1]
    assert m["kinds"] == "2 differ when recomputed"


def test_status_set_without_rows(partial, tmp_path):
    out = copy_of(partial[0], tmp_path / "norows.h5")
    with h5py.File(out, "r+") as f:
        g = f["studies/slow"]
        st = g["tasks/status"][()]
        pending = int(np.flatnonzero(st == PENDING)[-1])
        st[pending] = DONE
        g["tasks/status"][...] = st
    p = verify(out)
    assert p.returncode == 1, p.stdout + p.stderr
    lines, m = verdict(p)
    assert len(lines) == 1, lines
    assert task_name("slow", pending) in lines[0]
    assert lines[0].endswith("): marked finished without rows")
    assert m["kinds"] == "1 marked finished without rows"


def test_invalid_status_byte(clean, tmp_path):
    out = copy_of(clean[0], tmp_path / "status.h5")
    with h5py.File(out, "r+") as f:
        st = f["studies/exact/tasks/status"]
        set_row(st, slice(3, 4), lambda r: np.array([7], dtype=r.dtype))
    p = verify(out)
    assert p.returncode == 1, p.stdout + p.stderr
    lines, m = verdict(p)
    assert len(lines) == 1 and task_name("exact", 3) in lines[0], lines
    assert lines[0].endswith("): invalid status byte 7 (0 pending, 1 done, 2 failed)")


# ---- partial files, files being written --------------------------------------

def test_partial_file(partial):
    out, during = partial
    finished, total = status_counts(out)
    assert 0 < finished < total
    p = verify(out, "--recompute", "all")
    assert p.returncode == 0, p.stdout + p.stderr
    lines, m = verdict(p)
    assert lines == [] and m["intact"]
    assert int(m["checked"]) == finished and int(m["recomputed"]) == finished
    assert int(m["pending"]) == total - finished


def test_file_being_written(partial):
    """Verifies run while the run wrote: intact, and never fewer tasks."""
    _, during = partial
    seen = []
    for p in during:
        assert p.returncode == 0, p.stdout + p.stderr
        lines, m = verdict(p)
        assert lines == [] and m["intact"]
        seen.append(int(m["checked"]))
    assert seen[0] >= 10 and seen[1] >= max(40, seen[0]), seen


# ---- ranks -------------------------------------------------------------------

@pytest.fixture(scope="module")
def damaged(clean, tmp_path_factory):
    """Damage of every kind in one file."""
    out = copy_of(clean[0], tmp_path_factory.mktemp("damaged") / "damaged.h5")
    with h5py.File(out, "r+") as f:
        set_row(f["studies/exact/traj/max_abs_delta"], 2, lambda r: next_ulp(r, 0))
        set_row(f["studies/exact/final/theta"], 30, lambda r: -r)
        set_row(f["studies/noisy/traj/kl_ref"], 9, lambda r: next_ulp(r, 3))
        rechecksum(f["studies/noisy"], 9)
        set_row(f["studies/sampled/tasks/status"], slice(0, 1),
                lambda r: np.array([9], dtype=r.dtype))
    return out


def test_same_verdict_on_three_ranks(damaged):
    kinds = {}
    for args in ([], ["--recompute", "all"], ["--recompute", "20", "--seed", "3"]):
        one = verify(damaged, *args)
        three = verify(damaged, *args, ranks=3)
        assert one.returncode == 1, one.stdout + one.stderr
        assert three.returncode == 1, three.stdout + three.stderr
        assert three.stdout == one.stdout, (args, one.stdout, three.stdout)
        assert ours(three.stderr) == [], three.stderr
        lines, m = verdict(one)
        kinds[" ".join(args)] = (len(lines), m["kinds"])
    assert kinds[""] == (3, "2 checksum mismatches, 1 invalid status byte")
    # Recomputed, both damaged tasks differ too, and the forged one is seen.
    assert kinds["--recompute all"] == (
        4, "2 checksum mismatches, 3 differ when recomputed, 1 invalid status byte")


def test_clean_on_three_ranks(clean):
    one = verify(clean[0], "--recompute", "all")
    three = verify(clean[0], "--recompute", "all", ranks=3)
    assert one.returncode == 0 and three.returncode == 0, three.stdout + three.stderr
    assert verdict(three)[1]["intact"] and three.stdout == one.stdout


def test_many_failures_listed_in_order(tmp_path):
    """A wrecked file: the first 1000 failing tasks by (study, index), a line
    counting the rest, and the same on 3 ranks (each rank keeps only its
    first 2000 failures, trimming as it goes: one rank alone trims, three
    do not; rank 0 merges them)."""
    _, out = run_spec(
        "name: tiny\nmaster_seed: 1\nstudies:\n"
        "  - {name: a, iterations: 1, scale: theory, eta: theory, rewards: uniform,"
        " seeds: 700, grid: {regime: [uniform], arms: [2], beta: [1.0], sigma: [0.0]}}\n"
        "  - {name: b, iterations: 2, scale: theory, eta: theory, rewards: uniform,"
        " seeds: 4500, grid: {regime: [mix-r], arms: [2], beta: [1.0], sigma: [0.0]}}\n",
        tmp_path / "tiny.yaml", tmp_path / "tiny.h5")
    with h5py.File(out, "r+") as f:
        for name in ("a", "b"):
            c = f["studies"][name]["tasks/checksum"]
            c[...] = c[()] ^ 1
    one, three = verify(out), verify(out, ranks=3)
    assert one.returncode == three.returncode == 1
    assert three.stdout == one.stdout
    lines = one.stdout.splitlines()
    assert len(lines) == 1002
    expect = [("a", i) for i in range(700)] + [("b", i) for i in range(300)]
    for line, (study, i) in zip(lines, expect):
        assert task_name(study, i) in line and line.endswith(": checksum mismatch"), line
    assert lines[1000] == f"verify: {out}: ... and 4200 more failing tasks, not listed"
    assert SUMMARY.match(lines[1001])["kinds"] == "5200 checksum mismatches"


# ---- --recompute N -----------------------------------------------------------

@pytest.fixture(scope="module")
def forged(clean, tmp_path_factory):
    """Every finished task's rows rewritten with a matching checksum, so that
    exactly the recomputed tasks fail."""
    out = copy_of(clean[0], tmp_path_factory.mktemp("forged") / "all.h5")
    with h5py.File(out, "r+") as f:
        for name in f["studies"]:
            g = f["studies"][name]
            ds = g["traj/max_abs_delta"]
            rows = ds[()]
            rows[:, 0] = np.nextafter(rows[:, 0], np.inf)
            ds[...] = rows
            for i in range(rows.shape[0]):
                rechecksum(g, i)
    return out


def failing_tasks(p):
    lines, m = verdict(p)
    names = [re.match(r"verify: .+?: (study '.+?' task \d+) \(", l).group(1) for l in lines]
    return names, m


def test_recompute_n_distinct_and_reproducible(forged, clean):
    assert verify(forged).returncode == 0
    a = verify(forged, "--recompute", 7, "--seed", 11)
    assert a.returncode == 1, a.stdout + a.stderr
    names, m = failing_tasks(a)
    assert len(names) == 7 and len(set(names)) == 7, names
    assert m["recomputed"] == "7" and m["kinds"] == "7 differ when recomputed"
    assert verify(forged, "--recompute", 7, "--seed", 11).stdout == a.stdout
    b = verify(forged, "--recompute", 7, "--seed", 12)
    assert failing_tasks(b)[0] != names
    # The default seed is documented as 1.
    assert verify(forged, "--recompute", 7).stdout == \
        verify(forged, "--recompute", 7, "--seed", 1).stdout
    # More than there are: every finished task, once.
    finished = sum(clean[1:])
    c = verify(forged, "--recompute", 10 * finished)
    names, m = failing_tasks(c)
    assert len(names) == len(set(names)) == finished and m["recomputed"] == str(finished)


# ---- refusals ----------------------------------------------------------------

def test_other_numerics_version(clean, tmp_path):
    out = copy_of(clean[0], tmp_path / "numerics.h5")
    with h5py.File(out, "r+") as f:
        f.attrs["numerics"] = np.int32(1)
    assert verify(out).returncode == 0  # the checksums are still checked
    p = verify(out, "--recompute", "3")
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"dposweep verify: {out} holds results of numerics version 1; "
                               "this dposweep computes version ")


def hostile_files(clean, d):
    text = d / "spec.yaml"
    text.write_text(VERIFY_SPEC)
    empty = d / "empty.h5"
    empty.write_bytes(b"")
    truncated = d / "truncated.h5"
    truncated.write_bytes(clean.read_bytes()[:30000])
    foreign = d / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    old = copy_of(clean, d / "format1.h5")
    with h5py.File(old, "r+") as f:
        f.attrs["dposweep_format"] = np.int32(1)
    directory = d / "dir.h5"
    directory.mkdir()
    hollow = copy_of(clean, d / "hollow.h5")
    with h5py.File(hollow, "r+") as f:
        del f["studies/noisy/traj/kl_ref"]
    return {"missing": (d / "missing.h5", "no such file"),
            "directory": (directory, "is a directory"),
            "empty": (empty, "not an HDF5 file (empty)"),
            "not hdf5": (text, "not an HDF5 file"),
            "truncated": (truncated, "truncated"),
            "another format": (foreign, "not a dposweep results file"),
            "format 1": (old, "format version 1"),
            "a dataset missing": (hollow, "cannot read traj/kl_ref")}


def test_hostile_inputs(clean, tmp_path):
    for kind, (path, why) in hostile_files(clean[0], tmp_path).items():
        # Under mpirun too (for two kinds: each mpirun costs a second): one
        # line, from rank 0 alone.
        tries = [([], None)]
        if kind in ("truncated", "another format"):
            tries.append((["--recompute", "all"], 2))
        for args, ranks in tries:
            p = verify(path, *args, ranks=ranks)
            assert p.returncode == 2, (kind, p.stdout, p.stderr)
            assert p.stdout == "", kind
            lines = ours(p.stderr)
            assert len(lines) == 1, (kind, p.stderr)
            assert lines[0].startswith(f"dposweep verify: {path}") and why in lines[0], (kind, lines)
            if ranks is None:
                assert p.stderr == lines[0] + "\n", (kind, p.stderr)


@pytest.mark.parametrize("args,flag", [
    (["OUT", "--recompute"], "--recompute: needs a value"),
    (["OUT", "--recompute", "x"], "--recompute: must be"),
    (["OUT", "--recompute", "-3"], "--recompute: must be"),
    (["OUT", "--recompute", "2.5"], "--recompute: must be"),
    (["OUT", "--seed", "-1"], "--seed: must be"),
    (["OUT", "--seed", "18446744073709551616"], "--seed: must be"),
    (["OUT", "--progress-interval", "nan"], "--progress-interval: must be"),
    (["OUT", "--frobnicate"], "--frobnicate: unknown option"),
    ([], "needs a results file"),
    (["OUT", "OUT"], "one results file at most"),
    ([""], "empty file name"),
])
def test_bad_arguments(clean, args, flag):
    p = run(["verify"] + [str(clean[0]) if a == "OUT" else a for a in args])
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dposweep verify: ") and flag in lines[0], lines


# ---- progress ----------------------------------------------------------------

def test_progress_lines(clean):
    out = clean[0]
    p = verify(out, "--recompute", "all", "--progress-interval", "0")
    assert p.returncode == 0
    lines = p.stderr.splitlines()
    assert lines and all(re.match(r"dposweep verify: checksums \d+/\d+ tasks, "
                                  r"recomputed \d+/\d+ tasks, elapsed \d+:\d\d$", l)
                         for l in lines), lines
    total = sum(clean[1:])
    assert lines[-1].startswith(f"dposweep verify: checksums {total}/{total} tasks, "
                                f"recomputed {total}/{total} tasks")
    q = verify(out, "--recompute", "all", "--progress-interval", "0", "-q")
    assert q.returncode == 0 and q.stderr == "" and q.stdout == p.stdout
