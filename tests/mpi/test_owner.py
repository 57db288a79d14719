"""One owner per results file (issue 12): a run owns OUT.h5 through the
lock file OUT.h5.lock for its whole life.  A second run on a file in use
(same spec or not, with or without --force) is refused with exit 2 and one
line naming the owner, and changes nothing; a SIGKILLed run's stale lock
is taken over and the sweep completes bit-identical; a "remote" owner
(another host name in the lock) is refused while its lease lasts and taken
over once it has expired; a run whose output was replaced, or whose lock
was taken from it, does not report "complete" (exit 3); and the lock is
gone after every way a run ends."""
import os
import re
import shutil
import signal
import socket
import time

import pytest

from sweeptest import (QUICK, QUICK_GRID, SLOW, SLOW_GRID, assert_complete_and_equal,
                       digest, kill_group, leftovers, ours, ranks_of, run,
                       run_spec, runs_recorded, spec_yaml, start, status_counts,
                       status_kv, wait_for)

HOST = socket.gethostname()


def owner_spec(seeds):
    """The slow study with `seeds` (20: ~100 tasks, a few seconds for one
    worker, long enough to act on a run while it writes) and a quick one."""
    return spec_yaml("owner-test", [("slow", dict(SLOW, seeds=seeds), SLOW_GRID),
                                    ("quick", dict(QUICK, seeds=5), QUICK_GRID)],
                     master_seed=99)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The spec, another spec, and the reference: the spec run whole."""
    d = tmp_path_factory.mktemp("owner")
    other = d / "other.yaml"
    other.write_text(owner_spec(3))
    spec, ref = run_spec(owner_spec(20), d / "spec.yaml", d / "reference.h5", ranks=2)
    return spec, other, ref


def lock_of(out):
    return str(out) + ".lock"


def start_run(spec, out, ranks=2):
    """A run in the background, once it owns its output and has recorded
    itself (so it is past every check)."""
    before = runs_recorded(out)
    p = start(["run", spec, "-o", out, "--progress-interval", "1"], ranks)
    assert wait_for(lambda: runs_recorded(out) > before or p.poll() is not None, 60)
    assert p.poll() is None, p.communicate()
    assert os.path.exists(lock_of(out))
    return p


def plant(out, host, pid, expires, job="", node=""):
    """A lock record of another owner, as lock_format writes it."""
    text = ("dposweep-lock 1\ncommand=run\nhost=%s\nnode=%s\njob=%s\nboot=\n"
            "pid=%d\nstart=0\nsince=%d\nrefreshed=%d\nexpires=%d\n"
            "token=00000000deadbeef\nreplaced=\n"
            % (host, node, job, pid, expires - 300, expires - 120, expires))
    tmp = lock_of(out) + ".planted"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, lock_of(out))


def finish(p, code):
    _, err = p.communicate(timeout=300)
    assert p.returncode == code, err
    return err


def test_second_run_refused_while_first_runs(work, tmp_path):
    spec, other, ref = work
    out = tmp_path / "out.h5"
    p = start_run(spec, out)
    owner = ranks_of(p.pid)[0]
    # Frozen, so that the file stands still while the others knock.
    for pid in ranks_of(p.pid).values():
        os.kill(pid, signal.SIGSTOP)
    try:
        before, lock_text, files = digest(out), open(lock_of(out)).read(), leftovers(out)
        who = f" is in use by dposweep run on host {HOST}, pid {owner}, since "
        for args, ranks in [([spec], 2), ([spec, "--force"], None),
                            ([other], 2), ([other, "--force"], 3)]:
            r = run(["run"] + args + ["-o", out], ranks=ranks, check=2)
            lines = ours(r.stderr)
            assert len(lines) == 1 and who in lines[0] and \
                lines[0].endswith("; refusing to touch it"), (args, r.stderr)
            assert digest(out) == before and open(lock_of(out)).read() == lock_text
            assert leftovers(out) == files
        # status names the owner.
        s = run(["status", out], check=1)
        assert re.search(rf"^owner: dposweep run on host {re.escape(HOST)}, pid {owner}, "
                         r"since \S+Z, lease until \S+Z \(in use\)$", s.stdout, re.M), s.stdout
        _, kv = status_kv(out)
        assert f"pid {owner}," in kv["owner"] and kv["owner_job"] == ""
        assert int(kv["owner_expires"]) > time.time()
    finally:
        for pid in ranks_of(p.pid).values():
            os.kill(pid, signal.SIGCONT)
    finish(p, 0)
    assert_complete_and_equal(ref, out)
    assert leftovers(out) == []
    assert status_kv(out)[1]["owner"] == ""


def test_stale_lock_of_killed_run_taken_over(work, tmp_path):
    spec, _, ref = work
    out = tmp_path / "out.h5"
    p = start_run(spec, out)
    owner = ranks_of(p.pid)[0]
    assert wait_for(lambda: status_counts(out)[0] > 0, 60)
    kill_group(p)
    assert os.path.exists(lock_of(out))
    s = run(["status", out], check=1)
    assert (f"owner: none (a stale lock of dposweep run on host {HOST}, pid {owner}, since "
            in s.stdout and "its process is gone; the next run takes it over)" in s.stdout), s.stdout
    assert status_kv(out)[1]["owner"] == ""
    r = run(["run", spec, "-o", out], ranks=2, check=0)
    assert (f"took over the stale lock of dposweep run on host {HOST}, pid {owner}, since "
            in r.stderr and ": its process is gone" in r.stderr), r.stderr
    assert_complete_and_equal(ref, out)
    assert leftovers(out) == []  # no lock, no takeover ticket


@pytest.mark.parametrize("exists", [False, True], ids=["new", "half-done"])
def test_remote_owner_lease(work, tmp_path, exists):
    spec, _, ref = work
    out = tmp_path / "out.h5"
    if exists:
        shutil.copy(ref, out)
        run(["status", out], check=0)
    plant(out, "far-away.invalid", 4242, int(time.time()) + 300, job="777", node="n9")
    before = digest(out) if exists else None
    r = run(["run", spec, "-o", out, "--force"], ranks=2, check=2)
    assert len(ours(r.stderr)) == 1, r.stderr
    assert ("is in use by dposweep run on host far-away.invalid (SLURM node n9), pid 4242, "
            "SLURM job 777, since " in r.stderr), r.stderr
    assert (digest(out) == before) if exists else not out.exists()
    kv = status_kv(out)[1] if exists else None
    if kv:
        assert kv["owner_job"] == "777" and "far-away.invalid" in kv["owner"]
    # Its lease over (by this host's clock): taken over.
    plant(out, "far-away.invalid", 4242, int(time.time()) - 1, job="777")
    r = run(["run", spec, "-o", out], ranks=2, check=0)
    assert ("took over the stale lock of dposweep run on host far-away.invalid, pid 4242, "
            "SLURM job 777, since " in r.stderr and ": its lease expired" in r.stderr), r.stderr
    assert_complete_and_equal(ref, out)
    assert leftovers(out) == []


def test_lock_released_on_every_exit(work, tmp_path):
    spec, other, _ = work
    out = tmp_path / "out.h5"
    # Interrupted (a drain): exit 1.
    p = start_run(spec, out)
    os.kill(p.pid, signal.SIGUSR1)
    err = finish(p, 1)
    assert "interrupted:" in err
    assert leftovers(out) == []
    # Refused once it held the lock: another spec (2), not ours (2).
    run(["run", other, "-o", out], ranks=2, check=2)
    assert leftovers(out) == []
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5\n")
    run(["run", spec, "-o", junk, "--force"], check=2)
    assert leftovers(junk) == []
    # Completed: exit 0.
    run(["run", spec, "-o", out, "-q"], ranks=3, check=0)
    assert leftovers(out) == []


@pytest.mark.parametrize("how", ["replaced", "removed"])
def test_output_replaced_during_run(work, tmp_path, how):
    spec, _, ref = work
    out = tmp_path / "out.h5"
    p = start_run(spec, out)
    assert wait_for(lambda: status_counts(out)[0] > 0, 60)
    moved = tmp_path / "moved.h5"
    if how == "replaced":  # someone else's copy renamed over it
        shutil.copy(out, moved)
        os.replace(moved, out)
    else:
        os.rename(out, moved)
    err = finish(p, 3)
    assert (f"dposweep run: {out} is no longer the file this run wrote (it was {how} "
            "during the run): this run's results are not in it") in err, err
    assert "complete:" not in err
    assert leftovers(out) == []
    if how == "replaced":  # the copy is a good file: the next run finishes it
        run(["run", spec, "-o", out, "-q"], ranks=2, check=0)
        assert_complete_and_equal(ref, out)


def test_lost_lock_is_not_complete(work, tmp_path):
    # The lock taken away mid-run (as after an expired lease of a frozen
    # node): the run does not report complete and leaves the new owner's
    # lock alone.
    spec, _, _ = work
    out = tmp_path / "out.h5"
    p = start_run(spec, out)
    plant(out, "thief.invalid", 7, int(time.time()) + 300)
    planted = open(lock_of(out)).read()
    err = finish(p, 3)
    assert re.search(r"dposweep run: stopped: this run lost the ownership of its output: "
                     r"the lock file \S+ now names dposweep run on host thief\.invalid, "
                     r"pid 7, since \S+ \(its lease ran out: was the node frozen\?\)", err), err
    assert open(lock_of(out)).read() == planted

