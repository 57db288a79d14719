"""Sweep benchmarks: how well `dposweep run` keeps its workers busy, how
fast it dispatches and writes, and how much memory it needs.

    bench_sweep.py DPOSWEEP_BINARY

Every figure is measured in this run and printed with its target; the
script exits 1 if a target is missed:
  - efficiency (sum of task compute times / (workers x wall)) >= 0.95 with
    ~10 ms tasks and >= 0.85 with ~1 ms tasks, 2 workers (mpirun -n 3);
  - rank 0 (the coordinator) uses < 2% of a core while it waits;
  - 100,000 tiny tasks (K = 2, 1 step) at >= 20,000 tasks/s, output included;
  - `plan` of 10^7 tasks in < 100 MB peak; the coordinator grows by a few
    bytes per task (1M against 2M tasks); a worker's memory does not grow
    with the task count;
  - the output file is the size `plan` predicts (within 2%).
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))

from sweeptest import ENV, bench_report, mpirun, plan, run_stats  # noqa: E402

BIN = sys.argv[1]

SPEC = """\
name: bench
master_seed: 1
studies:
  - name: s
    iterations: {iterations}
    record_every: {every}
    scale: theory
    eta: theory
    rewards: uniform
    seeds: {seeds}
    grid: {{regime: [uniform], arms: [{arms}], beta: [1.0], sigma: [0.0]}}
"""


def write_spec(tmp, name, **kw):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(SPEC.format(**kw))
    return path


def sweep(tmp, spec, ranks=3, extra=()):
    """Run a sweep with --stats; return (stats dict, command wall seconds,
    file size, plan's predicted size)."""
    out = spec.replace(".yaml", ".h5")
    if os.path.exists(out):
        os.unlink(out)
    predicted = plan(spec, binary=BIN).output_bytes
    t0 = time.perf_counter()
    p = subprocess.run(mpirun(ranks) + [BIN, "run", spec, "-o", out, "-q", "--stats", *extra],
                       capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr
    stats = run_stats(p.stderr)
    size = os.path.getsize(out)
    os.unlink(out)
    return stats, wall, size, predicted


def seconds_per_step(tmp, arms):
    """Calibrate: seconds per step of one uniform task of `arms` arms (the
    difference of two lengths cancels the process start)."""
    times = []
    for n in (2000, 22000):
        t0 = time.perf_counter()
        subprocess.run([BIN, "sim", "--regime", "uniform", "--arms", str(arms), "--beta",
                        "1", "--iterations", str(n), "--every", str(n)],
                       capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return (times[1] - times[0]) / 20000


def peak_rss_mb(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    p.stderr.close()
    assert os.waitstatus_to_exitcode(status) == 0
    return ru.ru_maxrss / 1024.0


def main():
    rows, misses = [], []

    def check(ok, what):
        if not ok:
            misses.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        sps = seconds_per_step(tmp, 100)
        for target_ms, need, seeds in [(10.0, 0.95, 600), (1.0, 0.85, 4000)]:
            iters = max(1, int(target_ms * 1e-3 / sps))
            spec = write_spec(tmp, f"eff{int(target_ms)}", iterations=iters, every=iters,
                              seeds=seeds, arms=100)
            st, wall, size, pred = sweep(tmp, spec)
            mean_ms = 1e3 * st["compute"] / st["tasks"]
            rows.append(f"efficiency, {st['tasks']:.0f} tasks of {mean_ms:.2f} ms on 2 workers: "
                        f"{st['eff']:.3f} (target >= {need}); sweep wall {st['wall']:.2f} s, "
                        f"command {wall:.2f} s; rank 0 CPU {st['cpu']:.3f} s = "
                        f"{st['cpu_pct']:.2f}% of a core (target < 2%)")
            check(st["eff"] >= need, f"efficiency {st['eff']:.3f} < {need} at {mean_ms:.2f} ms")
            check(st["cpu_pct"] < 2.0, f"coordinator CPU {st['cpu_pct']:.2f}% >= 2%")
            check(abs(size - pred) <= 0.02 * size, f"size {size} vs plan {pred}")

        # Tiny tasks: dispatch and output dominate.
        spec = write_spec(tmp, "tiny", iterations=1, every=1, seeds=100000, arms=2)
        st, wall, size, pred = sweep(tmp, spec)
        rate = 100000 / wall
        rows.append(f"100,000 tiny tasks (K=2, 1 step), 2 workers: {rate:,.0f} tasks/s for the "
                    f"whole command incl. MPI start and file creation ({wall:.2f} s; the sweep "
                    f"loop alone {100000 / st['wall']:,.0f} tasks/s) (target >= 20,000)")
        check(rate >= 20000, f"tiny tasks {rate:.0f}/s < 20000/s")
        rows.append(f"output size: {size} bytes, plan predicted {pred} "
                    f"({100.0 * (pred - size) / size:+.2f}%)")
        check(abs(size - pred) <= 0.02 * size, f"size {size} vs plan {pred}")

        # Dispatch rate: one task per chunk, so every task is a request.
        st1, _, _, _ = sweep(tmp, spec, extra=["--chunk-seconds", "1e-9"])
        dispatch = st1["tasks"] / st1["wall"]
        rows.append(f"dispatch: one task per chunk -> {dispatch:,.0f} chunks/s through one "
                    f"coordinator (rank 0 CPU {st1['cpu_pct']:.1f}% while serving them)")

        # Write rate: big rows, cheap compute.
        spec = write_spec(tmp, "rows", iterations=20000, every=1, seeds=200, arms=2)
        st2, _, size2, _ = sweep(tmp, spec)
        write_rate = size2 / st2["wall"] / 1e6
        rows.append(f"write rate: {size2 / 1e6:.0f} MB of rows in {st2['wall']:.2f} s = "
                    f"{write_rate:.0f} MB/s (2 workers, independent MPI-IO writes)")

        # Memory: the coordinator keeps one status byte per task; a worker
        # keeps one chunk (capped at 65,536 tasks), whatever the task count.
        small = write_spec(tmp, "m1", iterations=1, every=1, seeds=1000000, arms=2)
        big = write_spec(tmp, "m2", iterations=1, every=1, seeds=2000000, arms=2)
        a, _, _, _ = sweep(tmp, small)
        b, _, _, _ = sweep(tmp, big)
        per_task = (b["rss0"] - a["rss0"]) * 1024 * 1024 / 1e6
        rows.append(f"coordinator peak memory: {a['rss0']:.1f} MB at 1M tasks, {b['rss0']:.1f} MB "
                    f"at 2M tasks = {per_task:.1f} bytes per task (target: a few)")
        check(per_task <= 4, f"coordinator grows {per_task:.1f} bytes per task")
        rows.append(f"worker peak memory: {a['rssw']:.1f} MB at 1M tasks, {b['rssw']:.1f} MB at "
                    f"2M tasks (target: no growth)")
        check(b["rssw"] <= a["rssw"] * 1.05 + 1.0, "worker memory grows with the task count")
        huge = write_spec(tmp, "huge", iterations=10, every=1, seeds=10**7, arms=20)
        mb = peak_rss_mb([BIN, "plan", huge])
        rows.append(f"plan of 10^7 tasks: peak {mb:.1f} MB (target < 100 MB)")
        check(mb < 100, f"plan of 10^7 tasks needs {mb:.1f} MB")

    return bench_report("sweep benchmark (mpirun -n 3 on this machine: 1 coordinator, "
                        "2 workers)", rows, misses, "sweep")


if __name__ == "__main__":
    sys.exit(main())
