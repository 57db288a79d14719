"""What `dposweep run` refuses: another spec, a file that is not ours, an
unwritable place.  Each with the documented exit code and message, and the
existing file byte-identical afterwards."""
import os
import shutil
import tempfile

import h5py
import pytest

from sweeptest import BIN, PENDING, SPEC, digest, ours, plan, run, sh


@pytest.fixture
def done_file(spec, tmp_path):
    out = tmp_path / "done.h5"
    run(["run", str(spec), "-o", str(out), "-q"], ranks=2, check=0)
    return out


def test_other_spec_refused(spec, done_file, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.replace("seeds: 3", "seeds: 5", 1))
    before = digest(done_file)
    r = run(["run", str(other), "-o", str(done_file)], ranks=3, check=2)
    assert len(ours(r.stderr)) == 1, r.stderr
    assert "holds another spec" in r.stderr and "--force" in r.stderr
    assert digest(done_file) == before
    # --force replaces it with the new spec's file.
    run(["run", str(other), "-o", str(done_file), "-q", "--force"], check=0)
    exact = plan(other).studies["exact"]
    assert exact != plan(spec).studies["exact"]
    with h5py.File(done_file, "r") as f:
        assert f["studies/exact/tasks/status"].shape == (exact,)


def test_same_spec_reformatted_resumes(spec, done_file, tmp_path):
    # Comments and layout do not change the spec: it resumes (nothing left).
    same = tmp_path / "same.yaml"
    same.write_text("# reformatted\n" + SPEC.replace("beta: [0.5, 2.0]", "beta: [0.50, 2]"))
    total = plan(spec).total
    r = run(["run", str(same), "-o", str(done_file)], check=0)
    assert f"{total} of {total} tasks already done" in r.stderr


@pytest.mark.parametrize("content,word", [
    (b"hello, not hdf5\n", "not an HDF5 file"),
    (b"", "not an HDF5 file (empty)"),
    (b"\x89HDF\r\n\x1a\n" + b"\0" * 100, "HDF5"),  # a truncated HDF5 signature
])
def test_not_hdf5_refused(spec, tmp_path, content, word):
    out = tmp_path / "x.h5"
    out.write_bytes(content)
    for force in ([], ["--force"]):
        r = run(["run", str(spec), "-o", str(out)] + force, ranks=2, check=2)
        assert word in r.stderr, r.stderr
        assert "refusing to touch it" in r.stderr
        assert len(ours(r.stderr)) == 1
        assert out.read_bytes() == content
    st = run(["status", str(out)], check=2)
    assert len(st.stderr.strip().splitlines()) == 1 and word in st.stderr


def test_foreign_hdf5_refused(spec, tmp_path):
    out = tmp_path / "foreign.h5"
    with h5py.File(out, "w") as f:
        f["data"] = [1, 2, 3]
    before = digest(out)
    r = run(["run", str(spec), "-o", str(out), "--force"], check=2)
    assert "not a dposweep results file" in r.stderr
    assert digest(out) == before
    run(["status", str(out)], check=2)


def test_other_format_version_refused(done_file):
    with h5py.File(done_file, "r+") as f:
        f.attrs.modify("dposweep_format", 99)
    before = digest(done_file)
    r = run(["run", "-o", str(done_file)], check=2)
    assert "format version 99" in r.stderr
    assert digest(done_file) == before


def test_other_numerics_version_refused(spec, done_file):
    # A file of this spec whose results another engine computed: run
    # refuses to resume it, naming both versions; --force starts over.
    with h5py.File(done_file, "r+") as f:
        mine = int(f.attrs["numerics"])
        f.attrs.modify("numerics", mine + 1)
    before = digest(done_file)
    r = run(["run", str(spec), "-o", str(done_file)], ranks=2, check=2)
    assert len(ours(r.stderr)) == 1, r.stderr
    assert (f"holds results of numerics version {mine + 1}; this dposweep "
            f"computes version {mine} (--force starts over)") in r.stderr
    assert digest(done_file) == before
    st = run(["status", str(done_file)], check=0)
    assert f"numerics: {mine + 1} (this dposweep computes version {mine}" in st.stdout
    kv = run(["status", "--format=kv", str(done_file)], check=0)
    # (keys are only ever appended: tests/cli/test_status.py checks where)
    assert f"numerics={mine + 1}" in kv.stdout.splitlines()
    run(["run", str(spec), "-o", str(done_file), "-q", "--force"], ranks=2, check=0)
    with h5py.File(done_file, "r") as f:
        assert int(f.attrs["numerics"]) == mine
        assert (f["studies/exact/tasks/status"][()] == 1).all()


def test_temporaries_of_interrupted_attempts(spec, tmp_path):
    # "OUT.h5.tmp.<host>.<pid>": what an attempt that died before its
    # rename leaves.  A refused run leaves them be; a run that goes ahead
    # owns OUT.h5 and removes them, from any host.
    out = tmp_path / "t.h5"
    left = [tmp_path / "t.h5.tmp.elsewhere.12345", tmp_path / "t.h5.tmp.x.1"]
    for p in left:
        p.write_bytes(b"half a file")
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("beta: [0.5, 2.0]", "beta: [0.5, -2.0]"))
    run(["run", str(bad), "-o", str(out)], check=2)
    assert all(p.exists() for p in left)
    run(["run", str(spec), "-o", str(out), "-q"], ranks=2, check=0)
    assert not any(p.exists() for p in left)
    assert not [n for n in os.listdir(tmp_path) if ".tmp." in n]


def test_bad_spec_creates_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("beta: [0.5, 2.0]", "beta: [0.5, -2.0]"))
    out = tmp_path / "never.h5"
    r = run(["run", str(bad), "-o", str(out)], ranks=2, check=2)
    assert "study 'exact': grid.beta[1]" in r.stderr
    assert len(ours(r.stderr)) == 1
    assert not out.exists()
    run(["run", str(tmp_path / "missing.yaml"), "-o", str(out)], check=2)
    assert not out.exists()


@pytest.fixture
def nobody_dir(spec):
    """A read-only directory, and a way to run as an unprivileged user:
    as root, permission bits alone would not stop a write."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to act as an unprivileged user")
    d = tempfile.mkdtemp(prefix="dposweep-ro-", dir="/tmp")
    os.chmod(d, 0o755)
    shutil.copy(spec, os.path.join(d, "spec.yaml"))
    os.chmod(os.path.join(d, "spec.yaml"), 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(args):
    return sh(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BIN] + args)


def test_read_only_directory(nobody_dir):
    spec = os.path.join(nobody_dir, "spec.yaml")
    # A new file in a directory the user cannot write: exit 3, nothing made.
    ro = os.path.join(nobody_dir, "ro")
    os.mkdir(ro)
    os.chmod(ro, 0o555)
    out = os.path.join(ro, "new.h5")
    r = as_nobody(["run", spec, "-o", out])
    assert r.returncode == 3, r.stderr
    assert "cannot create" in r.stderr and "Permission denied" in r.stderr
    assert os.listdir(ro) == []
    # An existing file there (half done, read-only): exit 3, unchanged.
    half = os.path.join(nobody_dir, "half.h5")
    run(["run", spec, "-o", half, "-q"], check=0)
    reopened = 10  # tasks marked pending again
    with h5py.File(half, "r+") as f:
        f["studies/exact/tasks/status"][:reopened] = PENDING
    os.chmod(ro, 0o755)
    target = os.path.join(ro, "half.h5")
    shutil.copy(half, target)
    os.chmod(target, 0o444)
    os.chmod(ro, 0o555)
    before = digest(target)
    r = as_nobody(["run", spec, "-o", target])
    assert r.returncode == 3, r.stderr
    assert "cannot open" in r.stderr and "Permission denied" in r.stderr
    assert digest(target) == before
    # It still reads: status works and says incomplete.
    s = as_nobody(["status", target])
    assert s.returncode == 1 and f"pending: {reopened}" in s.stdout
