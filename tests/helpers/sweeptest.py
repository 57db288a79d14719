"""The one helper module of the Python test suites (mpi, faults, slurm,
cli, analysis) and of the benchmarks: writing specs and running dposweep
alone or under mpirun, reading what `plan` and `status --format=kv`
report, watching and killing a run's processes, reading and comparing
results files, waiting for a condition instead of sleeping, and a
benchmark's report.

The binary is $DPOSWEEP (meson sets it), else build/src/dposweep of this
repository.  mpirun runs as root here, so the allow-run-as-root settings
are exported, and --oversubscribe lets 4 ranks share 2 cores.

The pytest suites import it from their conftest.py (which also provides
the `spec` fixture below); the SLURM driver and the benchmarks import it
directly.
"""
import collections
import hashlib
import os
import re
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _binary():
    path = os.environ.get("DPOSWEEP") or os.path.join(REPO, "build", "src", "dposweep")
    # A path is made absolute (tests run commands in other folders); a bare
    # name is left to the PATH.
    return os.path.abspath(path) if os.sep in path else path


BIN = _binary()
# What Open MPI needs to start as root; ENV adds oversubscription (more
# ranks than cores) for the tests' own mpirun commands.
ROOT_MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
ENV = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe="1", **ROOT_MPI_ENV)

# Task status bytes in /studies/*/tasks/status (task.h's enum task_status).
PENDING, DONE, FAILED = 0, 1, 2

# Two studies (plus a sampled one): exact, gaussian and sampled estimators,
# both scales, an eta axis, record_every > 1.
SPEC = """\
name: mpi-test
master_seed: 4242
studies:
  - name: exact
    iterations: 20
    record_every: 3
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 3
    grid:
      regime: [uniform, mix-r, mix-p]
      arms: [3, 8]
      beta: [0.5, 2.0]
      sigma: [0.0]
  - name: noisy
    iterations: 30
    scale: normalized
    rewards: normal
    seeds: 4
    grid:
      regime: [mix-p-clip, on-policy]
      arms: [5]
      beta: [1.0]
      sigma: [0.0, 0.05]
      eta: [0.5, 1.0]
  - name: sampled
    iterations: 25
    record_every: 5
    scale: normalized
    eta: 0.5
    rewards: normal
    seeds: 3
    grid:
      regime: [hybrid, reference, mix-r]
      arms: [4]
      beta: [2.0]
      sigma: [0.0]
      samples: [5, 500]
"""


@pytest.fixture
def spec(tmp_path):
    """SPEC written to a file."""
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


# ---- writing specs ---------------------------------------------------------

def spec_yaml(name, studies, master_seed=4242):
    """A spec's YAML from (name, settings, grid) triples."""
    def fmt(v):
        return "[" + ", ".join(map(str, v)) + "]" if isinstance(v, list) else str(v)
    lines = [f"name: {name}", f"master_seed: {master_seed}", "studies:"]
    for study, settings, grid in studies:
        lines.append(f"  - name: {study}")
        lines += [f"    {k}: {fmt(v)}" for k, v in settings.items()]
        lines.append("    grid:")
        lines += [f"      {k}: {fmt(v)}" for k, v in grid.items()]
    return "\n".join(lines) + "\n"


# A study whose tasks take long (K = 20 and 8192 samples a step: about 0.1
# s a task of 3000 steps here), for tests that act on a run while it
# writes; each sets its seeds, and its iterations where the default's 1500
# are too few.
SLOW = dict(iterations=1500, record_every=100, scale="normalized", eta=0.05,
            rewards="normal")
SLOW_GRID = dict(regime=["uniform", "mix-p"], arms=[20], beta=[3.0], sigma=[0.0],
                 samples=[8192])
# A cheap study to run beside it: a second study's rows at little cost.
QUICK = dict(iterations=40, scale="theory", eta="theory", rewards="uniform")
QUICK_GRID = dict(regime=["uniform", "mix-r", "mix-p"], arms=[2, 10], beta=[0.5, 1.0],
                  sigma=[0.0])


# ---- running commands ------------------------------------------------------

def mpirun(ranks):
    """The mpirun command line that starts `ranks` ranks."""
    return ["mpirun", "--oversubscribe", "-n", str(ranks)]


def sh(cmd, check=None, **kw):
    """Run a command to its end (ENV unless env= is given), capturing its
    output as text; with `check`, assert that it exits with that code."""
    kw.setdefault("env", ENV)
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check is not None:
        assert p.returncode == check, (
            f"{' '.join(map(str, cmd))}: exit {p.returncode}, expected {check}\n"
            f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def run(args, ranks=None, check=None, **kw):
    """Run dposweep (under mpirun with `ranks` ranks, or alone)."""
    cmd = [BIN] + [str(a) for a in args]
    if ranks is not None:
        cmd = mpirun(ranks) + cmd
    return sh(cmd, check=check, **kw)


def start(args, ranks, **kw):
    """Start `dposweep ARGS` under mpirun in its own session (to kill the
    whole job); stdout and stderr are pipes unless given."""
    kw.setdefault("env", ENV)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    cmd = mpirun(ranks) + [BIN] + [str(a) for a in args]
    return subprocess.Popen(cmd, text=True, start_new_session=True, **kw)


def run_spec(text, spec, out, ranks=None, binary=None, **kw):
    """Write the spec `text` to the file `spec` and run it whole into `out`
    (`dposweep run -q`, under mpirun with `ranks`; `binary` instead of
    BIN), asserting exit 0; returns (spec, out)."""
    spec.write_text(text)
    cmd = [binary or BIN, "run", str(spec), "-o", str(out), "-q"]
    sh(mpirun(ranks) + cmd if ranks is not None else cmd, check=0, **kw)
    return spec, out


def ours(stderr):
    """dposweep's own lines (mpirun adds a banner when a rank exits != 0)."""
    return [l for l in stderr.splitlines() if l.startswith("dposweep")]


def digest(path):
    """SHA-256 of a file's bytes: equal digests, untouched file."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---- what plan and status report --------------------------------------------

Plan = collections.namedtuple("Plan", "total studies output_bytes sha256")


def plan(spec, binary=None):
    """`dposweep plan SPEC`: total tasks, {study: tasks} in spec order,
    predicted output bytes and the spec's sha256."""
    out = sh([binary or BIN, "plan", str(spec)], check=0).stdout
    head = dict(re.findall(r"^(tasks|sha256|output bytes): (\S+)$", out.split("\n\n")[0], re.M))
    studies = {name: int(n) for name, n in re.findall(r"^study (\S+):\n  tasks: (\d+)$", out, re.M)}
    total = int(head["tasks"])
    assert sum(studies.values()) == total, out
    return Plan(total, studies, int(head["output bytes"]), head["sha256"])


def status_kv(path, **kw):
    """`dposweep status PATH --format=kv`: (exit code, {key: value})."""
    p = run(["status", str(path), "--format=kv"], **kw)
    return p.returncode, dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)


def status_counts(path):
    """(tasks finished (done or failed), all tasks), read from the file
    itself (also while a run writes it)."""
    with h5py.File(path, "r") as f:
        st = np.concatenate([f["studies"][n]["tasks/status"][()] for n in f["studies"]])
    return int((st == DONE).sum() + (st == FAILED).sum()), int(st.size)


def runs_recorded(path):
    """How many runs the file records (a run records itself once MPI is up
    on every rank and the file is open); 0 without a readable file."""
    try:
        with h5py.File(path, "r") as f:
            return int((~np.isnan(f["runs/start"][()])).sum())
    except (OSError, KeyError):
        return 0


# ---- waiting ---------------------------------------------------------------

def wait_for(pred, timeout=30.0, step=0.05):
    """Poll `pred` until it is true (True) or `timeout` seconds pass (False)."""
    end = time.time() + timeout
    while True:
        if pred():
            return True
        if time.time() >= end:
            return False
        time.sleep(step)


# ---- a run's processes -----------------------------------------------------

def session_pids(sid):
    """Processes of a session: mpirun and its ranks (Open MPI puts each
    rank in its own process group, but they stay in mpirun's session)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getsid(int(d)) == sid:
                    pids.append(int(d))
            except (ProcessLookupError, PermissionError):
                pass
    return pids


def ranks_of(mpirun_pid):
    """{MPI rank: pid} of the dposweep ranks mpirun started (none before
    they are launched)."""
    out = {}
    for pid in session_pids(mpirun_pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if comm == "dposweep" and b"OMPI_COMM_WORLD_RANK" in env:
            out[int(env[b"OMPI_COMM_WORLD_RANK"])] = pid
    return out


def kill_group(p, sig=signal.SIGKILL):
    """Kill the whole job at once (as a batch system's cgroup kill does)
    and wait until none of its processes is left."""
    for pid in session_pids(p.pid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    p.communicate()
    assert wait_for(lambda: not session_pids(p.pid), 30)


# ---- results files ---------------------------------------------------------

RESULT_DATASETS = ["traj/t", "traj/max_abs_delta", "traj/mean_abs_delta",
                   "traj/value_gap", "final/theta", "tasks/status"]


def results(path):
    """Every study's traj and final datasets and status, as numpy arrays."""
    out = {}
    with h5py.File(path, "r") as f:
        for name in f["studies"]:
            g = f["studies"][name]
            for ds in RESULT_DATASETS:
                out[f"{name}/{ds}"] = g[ds][()]
    return out


def assert_same_results(a, b):
    """Bit-identical results (NaN padding included)."""
    ra, rb = results(a), results(b)
    assert ra.keys() == rb.keys()
    for k in ra:
        assert ra[k].tobytes() == rb[k].tobytes(), k


def regime_names(study):
    """The regime names of a study group, indexed by the codes stored in
    its tasks/regime (the dataset's `names` attribute)."""
    return [n.decode() for n in study["tasks/regime"].attrs["names"]]


def differing_rows(x, y):
    """Row indices where two arrays of one shape differ (NaN equals NaN)."""
    same = x == y
    if x.dtype.kind == "f":
        same |= np.isnan(x) & np.isnan(y)
    return sorted({int(i) for i in np.argwhere(~same)[:, 0]})


def assert_complete_and_equal(ref, got):
    """`got` is complete (every status byte DONE) and every per-task dataset
    of every study (every traj and final dataset and the task coordinates)
    is bit-identical to the complete `ref`; returns the number of rows."""
    coords = ["tasks/" + k for k in ("regime", "arms", "beta", "sigma", "samples", "eta", "seed")]
    nrows = 0
    with h5py.File(ref, "r") as a, h5py.File(got, "r") as b:
        assert sorted(a["studies"]) == sorted(b["studies"]), (list(a["studies"]), list(b["studies"]))
        for s in a["studies"]:
            sa, sb = a["studies"][s], b["studies"][s]
            st = sb["tasks/status"][()]
            assert st.size > 0 and np.all(st == DONE), (
                f"{s}: status bytes not all done: {np.unique(st, return_counts=True)}")
            assert np.all(sa["tasks/status"][()] == DONE), f"{s}: reference incomplete"
            names = ["traj/" + k for k in sa["traj"]] + ["final/" + k for k in sa["final"]]
            names += [n for n in coords if n in sa]
            for n in names:
                x, y = sa[n][()], sb[n][()]
                assert x.shape == y.shape, f"{s}/{n}: shape {x.shape} vs {y.shape}"
                assert x.tobytes() == y.tobytes(), (
                    f"{s}/{n} differs from the reference in rows {differing_rows(x, y)[:20]}")
            # Rows really hold results (not fill values).
            assert np.all(np.isfinite(sb["traj/value_gap"][()])), f"{s}: non-finite value_gap rows"
            nrows += st.size
    return nrows


# ---- benchmarks ------------------------------------------------------------

RUN_STATS = re.compile(
    r"stats: wall ([\d.]+) s, rank 0 cpu ([\d.]+) s \(([\d.]+)% of wall\), "
    r"(\d+) tasks in ([\d.]+) s of compute, efficiency ([\d.]+) over "
    r"(\d+) workers?, peak memory rank 0 ([\d.]+) MB, workers ([\d.]+) MB")


def run_stats(stderr):
    """The figures of `dposweep run --stats`'s line, by name: wall, cpu,
    cpu_pct, tasks, compute, eff, workers, rss0, rssw."""
    m = RUN_STATS.search(stderr)
    assert m, stderr
    keys = ["wall", "cpu", "cpu_pct", "tasks", "compute", "eff", "workers", "rss0", "rssw"]
    return dict(zip(keys, map(float, m.groups())))


def bench_report(title, rows, misses, what):
    """A benchmark's end: its title and figures, then the targets missed
    (returns exit code 1) or "all WHAT targets met" (0)."""
    print(f"== {title} ==")
    for row in rows:
        print(row)
    if misses:
        print("MISSED: " + "; ".join(misses))
        return 1
    print(f"all {what} targets met")
    return 0


# ---- growing and merging (run --reuse, merge) -------------------------------

def plan_tasks(spec):
    """Every task of SPEC as `dposweep plan --list` prints it: a list of
    dicts with the keys study, index and the coordinates' values (floats;
    eta 'theory' stays a string; index, arms, samples and seed ints)."""
    out = sh([BIN, "plan", str(spec), "--list"], check=0).stdout
    head, rows = out.split("\nstudy,index,", 1)
    cols = ["study", "index"] + rows.split("\n", 1)[0].split(",")
    tasks = []
    for line in rows.split("\n")[1:]:
        if not line:
            continue
        t = dict(zip(cols, line.split(",")))
        for k in ("index", "arms", "samples", "seed"):
            t[k] = int(t[k])
        for k in ("beta", "sigma", "ref_spread"):
            t[k] = float(t[k])
        if t["eta"] != "theory":
            t["eta"] = float(t["eta"])
        tasks.append(t)
    return tasks


def assert_results_equal(ref, got):
    """Every study of `got` holds bit for bit what `ref` holds: the task
    coordinates, status bytes, failure reasons, every traj dataset and the
    final theta (failed and pending tasks included)."""
    with h5py.File(ref, "r") as a, h5py.File(got, "r") as b:
        assert list(a["studies"]) == list(b["studies"])
        for s in a["studies"]:
            sa, sb = a["studies"][s], b["studies"][s]
            names = (["traj/" + k for k in sa["traj"]] + ["final/theta"] +
                     ["tasks/" + k for k in ("regime", "arms", "beta", "sigma", "samples",
                                             "eta", "ref_spread", "seed", "status",
                                             "reason")])
            for n in names:
                x, y = sa[n][()], sb[n][()]
                assert x.shape == y.shape, f"{s}/{n}: shape {x.shape} vs {y.shape}"
                assert x.tobytes() == y.tobytes(), (
                    f"{s}/{n} differs in rows {differing_rows(x, y)[:20]}")


def leftovers(out):
    """Files beside OUT.h5 that belong to it: its lock, temporaries."""
    base = os.path.basename(out)
    return sorted(n for n in os.listdir(os.path.dirname(os.path.abspath(out)))
                  if n.startswith(base) and n != base)
