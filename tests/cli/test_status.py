"""`dposweep status` on a complete and an incomplete results file, in both
formats.  --format=kv is a contract with the scripts in jobs/: its keys,
their order and their values are checked here line by line.  Expected
counts come from the spec (`plan --list`: every task's study and regime)
and from the task states the test writes, not from numbers typed in.

Run: meson test -C build status-format (pytest; $DPOSWEEP is the binary,
tests/helpers on PYTHONPATH).
"""
import csv
import io
import re
import shutil
from collections import Counter

import h5py
import pytest

from sweeptest import SPEC, run, run_spec

DONE, FAILED, PENDING = 1, 2, 0  # enum task_status (include/dposweep/task.h)

# The incomplete file: these tasks of these studies are set back.
SET_BACK = {"exact": (range(0, 10), PENDING), "noisy": (range(0, 3), FAILED)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("status")
    spec, complete = run_spec(SPEC, d / "spec.yaml", d / "complete.h5")
    incomplete = d / "incomplete.h5"
    shutil.copy(complete, incomplete)
    with h5py.File(incomplete, "r+") as f:
        for study, (which, state) in SET_BACK.items():
            f[f"studies/{study}/tasks/status"][which.start:which.stop] = state
    return spec, complete, incomplete


@pytest.fixture(scope="module")
def plan(files):
    """The spec as `plan --list` describes it: its name, hash, and every
    task's (study, index, regime) in study order."""
    spec = files[0]
    out = run(["plan", "--list", str(spec)], check=0).stdout
    head, table = out.split("\nstudy,index,", 1)
    rows = list(csv.reader(io.StringIO("study,index," + table)))[1:]
    return {
        "name": re.search(r"^spec: (.*)$", head, re.M).group(1),
        "sha256": re.search(r"^sha256: (.*)$", head, re.M).group(1),
        "tasks": [(r[0], int(r[1]), r[2]) for r in rows],
    }


def states(plan, complete):
    """Each task's state: all done, or done but for SET_BACK."""
    out = []
    for study, index, regime in plan["tasks"]:
        state = DONE
        if not complete and study in SET_BACK:
            which, set_to = SET_BACK[study]
            if index in which:
                state = set_to
        out.append((study, regime, state))
    return out


def studies_of(plan):
    return list(dict.fromkeys(study for study, _, _ in plan["tasks"]))


def expected_kv(path, plan, complete):
    tasks = states(plan, complete)
    count = Counter(state for _, _, state in tasks)
    lines = [
        f"file={path}",
        f"spec_name={plan['name']}",
        f"spec_sha256={plan['sha256']}",
        f"total={len(tasks)}",
        f"done={count[DONE]}",
        f"failed={count[FAILED]}",
        f"pending={count[PENDING]}",
        f"state={'complete' if count[PENDING] == 0 else 'incomplete'}",
        "runs=1",
    ]
    for study in studies_of(plan):
        mine = Counter(state for s, _, state in tasks if s == study)
        lines += [f"study.{study}.total={sum(mine.values())}",
                  f"study.{study}.done={mine[DONE]}",
                  f"study.{study}.failed={mine[FAILED]}",
                  f"study.{study}.pending={mine[PENDING]}"]
    # Nobody writes the file: no owner.
    lines += ["owner=", "owner_job=", "owner_expires="]
    # Then (keys are only ever appended): the numerics version
    # of the file's results, as the file records it.
    with h5py.File(path, "r") as f:
        lines.append(f"numerics={int(f.attrs['numerics'])}")
        # Then the files it was built from (run --reuse, merge): a file
        # a run made has none.
        lines.append(f"sources={int((f['sources/path'][()] != b'').sum())}")
    return lines


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "incomplete"])
def test_kv_keys_order_and_values(files, plan, complete):
    path = files[1] if complete else files[2]
    r = run(["status", "--format=kv", str(path)])
    assert r.returncode == (0 if complete else 1), r.stderr
    assert r.stderr == ""
    assert r.stdout.splitlines() == expected_kv(path, plan, complete)


def test_kv_incomplete_file_really_is_incomplete(files, plan):
    # The test's own premise: set-back tasks are pending and failed.
    kv = dict(l.split("=", 1) for l in expected_kv(files[2], plan, False))
    assert int(kv["pending"]) > 0 and int(kv["failed"]) > 0
    assert kv["state"] == "incomplete"


def test_kv_value_may_follow_as_its_own_argument(files):
    a = run(["status", "--format=kv", str(files[2])])
    b = run(["status", "--format", "kv", str(files[2])])
    assert (a.returncode, a.stdout) == (b.returncode, b.stdout)


@pytest.mark.parametrize("args", [["--format=bad"], ["--format", "bad"], ["--format="]],
                         ids=["equals", "separate", "empty"])
def test_unknown_format_is_a_usage_error(files, args):
    r = run(["status"] + args + [str(files[1])])
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("dposweep status: --format: unknown format"), lines
    assert "(text, kv)" in lines[0]
    assert r.stdout == ""


def expected_text_lines(path, plan, complete):
    """The text format's key lines, in order (other lines may come between)."""
    tasks = states(plan, complete)
    count = Counter(state for _, _, state in tasks)
    finished = count[DONE] + count[FAILED]
    lines = [
        f"file: {path}",
        f"spec: {plan['name']} (sha256 {plan['sha256']})",
        f"tasks: {finished}/{len(tasks)} finished ({100.0 * finished / len(tasks):.1f}%)",
        f"done: {count[DONE]}",
        f"failed: {count[FAILED]}",
        f"pending: {count[PENDING]}",
    ]
    for study in studies_of(plan):
        mine = Counter(state for s, _, state in tasks if s == study)
        lines.append(f"study {study}: {mine[DONE] + mine[FAILED]}/{sum(mine.values())} "
                     f"finished, {mine[FAILED]} failed, {mine[PENDING]} pending")
        for regime in dict.fromkeys(g for s, g, _ in tasks if s == study):
            n = Counter(state for s, g, state in tasks if s == study and g == regime)
            lines.append(f"  {regime:<11} {n[DONE] + n[FAILED]}/{sum(n.values())} "
                         f"finished, {n[FAILED]} failed, {n[PENDING]} pending")
    lines.append("runs: 1")
    return lines


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "incomplete"])
def test_text_key_lines(files, plan, complete):
    path = files[1] if complete else files[2]
    r = run(["status", str(path)])
    assert r.returncode == (0 if complete else 1), r.stderr
    out = r.stdout.splitlines()
    want = expected_text_lines(path, plan, complete)
    # In this order, each line whole.
    positions = [out.index(line) for line in want]
    assert positions == sorted(positions), out
    assert re.fullmatch(r"  1: start \S+Z, end \S+Z, 1 rank on .+, tasks done 0 -> \d+",
                        out[out.index("runs: 1") + 1]), out
    assert out[-1] == ("complete" if complete else "incomplete")


def test_text_is_the_default_format(files):
    for path in files[1:]:
        a = run(["status", str(path)])
        b = run(["status", "--format=text", str(path)])
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout)


@pytest.mark.parametrize("args,word", [
    ([], "needs a results file"),
    (["a.h5", "b.h5"], "one results file at most"),
    (["--bogus", "x.h5"], "unknown option"),
    (["--format"], "needs a value"),
])
def test_usage_errors(args, word):
    r = run(["status"] + args)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and word in lines[0], r.stderr
    assert r.stdout == ""


def test_a_file_that_is_not_a_results_file(files):
    spec = files[0]  # YAML, not HDF5
    for fmt in ("text", "kv"):
        r = run(["status", f"--format={fmt}", str(spec)])
        assert r.returncode == 2
        assert len(r.stderr.splitlines()) == 1 and "not an HDF5 file" in r.stderr, r.stderr
        assert r.stdout == ""
