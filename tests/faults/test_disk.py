"""Disk and permission faults: a full file system, a file-size limit hit
mid-run, a file system that became read-only.  Each: a clear one-line
error, exit code 3, and the results already written stay readable."""
import os
import shutil
import subprocess

import h5py
import pytest

from sweeptest import (BIN, DONE, PENDING, assert_same_results, digest, mpirun, ours,
                       plan, run, sh, start, wait_for)

SPEC = """\
name: disk
master_seed: 5
studies:
  - name: small
    iterations: 10
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 4
    grid: {regime: [uniform, mix-p], arms: [5], beta: [1.0], sigma: [0.0]}
  - name: big
    iterations: 20000
    record_every: 1
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 40
    grid: {regime: [uniform, mix-r], arms: [6], beta: [1.0], sigma: [0.0]}
"""


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (root only); yields a function to (re)mount."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = []

    def mount(size_kb, opts=""):
        o = f"size={size_kb}k" + ("," + opts if opts else "")
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", o, "tmpfs", str(mnt)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip("cannot mount a tmpfs here: " + p.stderr.strip())
        mounted.append(1)
        return mnt

    yield mount
    for _ in mounted:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def spec_file(tmp_path):
    p = tmp_path / "disk.yaml"
    p.write_text(SPEC)
    return p


def predicted(spec):
    return plan(spec).output_bytes


def test_no_space_at_creation(tmp_path, tmpfs):
    spec = spec_file(tmp_path)
    mnt = tmpfs(predicted(spec) // 1024 // 3)  # a third of what it needs
    out = mnt / "out.h5"
    r = run(["run", str(spec), "-o", str(out)], ranks=2, check=3)
    assert len(ours(r.stderr)) == 1, r.stderr
    assert "cannot create" in r.stderr and "No space left on device" in r.stderr
    assert os.listdir(mnt) == []  # no half-made file, no temporary left


def test_disk_full_after_creation_loses_nothing(tmp_path, tmpfs):
    # Every dataset is allocated at creation, so a file system that fills
    # up afterwards cannot stop the sweep.
    spec = spec_file(tmp_path)
    ref = tmp_path / "ref.h5"
    run(["run", str(spec), "-o", str(ref), "-q"], check=0)
    mnt = tmpfs(predicted(spec) // 1024 + 2048)
    out = mnt / "out.h5"
    p = start(["run", str(spec), "-o", str(out), "-q"], ranks=3)
    assert wait_for(lambda: out.exists(), 60)
    # Fill every remaining byte; unbuffered, so that the failed last write
    # leaves nothing for close() to flush (and fail on again).
    with open(mnt / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    assert shutil.disk_usage(mnt).free < 65536
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert_same_results(out, ref)


def test_file_size_limit_mid_run(tmp_path):
    # Half the tasks done, the other half's rows at the end of the file;
    # a file-size limit below them makes the writes fail (EFBIG).
    spec = spec_file(tmp_path)
    big = plan(spec).studies["big"]
    half = big // 2
    out = tmp_path / "out.h5"
    run(["run", str(spec), "-o", str(out), "-q"], check=0)
    # A file of ~40 MB: the limit must stay above the few MB of Open MPI's
    # own shared-memory files.
    with h5py.File(out, "r+") as f:
        st = f["studies/big/tasks/status"]
        st[half:] = PENDING  # these rows lie in the last part of the file
        kept = f["studies/big/traj/max_abs_delta"][:half]
    size = out.stat().st_size

    # The limit on the ranks only: mpirun's own files must not hit it.
    p = sh(mpirun(3) + ["prlimit", f"--fsize={size * 3 // 4}", BIN, "run", str(spec),
                        "-o", str(out)], check=3)
    assert "cannot write results" in p.stderr and "File too large" in p.stderr, p.stderr
    assert "stopped by an error" in p.stderr
    # What was done stays readable and intact; the rest is still pending.
    s = run(["status", str(out)], check=1)
    assert f"study big: {half}/{big} finished" in s.stdout
    with h5py.File(out, "r") as f:
        assert (f["studies/big/tasks/status"][:half] == DONE).all()
        assert f["studies/big/traj/max_abs_delta"][:half].tobytes() == kept.tobytes()
    # Without the limit the same command completes.
    run(["run", str(spec), "-o", str(out), "-q"], ranks=3, check=0)


def test_read_only_file_system(tmp_path, tmpfs):
    spec = spec_file(tmp_path)
    mnt = tmpfs(predicted(spec) // 1024 + 1024)
    half = plan(spec).studies["big"] // 2
    out = mnt / "out.h5"
    run(["run", str(spec), "-o", str(out), "-q"], check=0)
    with h5py.File(out, "r+") as f:
        f["studies/big/tasks/status"][half:] = PENDING
    before = digest(out)
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    r = run(["run", str(spec), "-o", str(out)], ranks=2, check=3)
    assert len(ours(r.stderr)) == 1, r.stderr
    assert "Read-only file system" in r.stderr
    assert digest(out) == before
    s = run(["status", str(out)], check=1)
    assert f"pending: {plan(spec).studies['big'] - half}" in s.stdout
    # A new file there cannot be made either.
    r = run(["run", str(spec), "-o", str(mnt / "new.h5")], check=3)
    assert "Read-only file system" in r.stderr
