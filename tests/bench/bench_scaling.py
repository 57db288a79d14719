"""Strong scaling: one sweep run at growing rank counts, side by side.

    bench_scaling.py DPOSWEEP_BINARY [RANKS] [SEEDS_FACTOR]

RANKS: rank counts, comma-separated (rank 0 is the coordinator, so N ranks
are N - 1 workers); default 2, 3, 5, 9, 17, ... up to this machine's cores
plus one.  The sweep is jobs/paper.yaml (the default sweep) with every
study's seeds multiplied by SEEDS_FACTOR (default 1; 4 is the README's
"big" sweep, 12,640 tasks).  Prints per rank count the wall time of the
sweep loop (`--stats`), the speedup over the first count, the efficiency
(tasks' compute over workers x wall) and the workers' total compute (it
grows when busy cores slow each other down).  Target (exit 1 if missed):
efficiency >= 0.90 at every count that fits the cores.
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))

from sweeptest import ENV, bench_report, mpirun, run_stats  # noqa: E402

BIN = sys.argv[1]
CORES = os.cpu_count() or 1
RANKS = ([int(r) for r in sys.argv[2].split(",")] if len(sys.argv) > 2 and sys.argv[2]
         else [r for r in (2, 3, 5, 9, 17, 33, 65) if r <= CORES + 1])
FACTOR = int(sys.argv[3]) if len(sys.argv) > 3 else 1



def spec_text():
    """jobs/paper.yaml with FACTOR times the seeds."""
    with open(os.path.join(HERE, "..", "..", "jobs", "paper.yaml")) as f:
        text = f.read()
    text = re.sub(r"seeds: (\d+)", lambda m: f"seeds: {int(m.group(1)) * FACTOR}", text)
    return text.replace("name: paper", f"name: paper-x{FACTOR}", 1)


def sweep(spec, out, ranks):
    """The figures of `run --stats` (sweeptest.run_stats)."""
    if os.path.exists(out):
        os.unlink(out)
    p = subprocess.run(mpirun(ranks) + [BIN, "run", spec, "-o", out, "-q", "--stats"],
                       capture_output=True, text=True, env=ENV)
    assert p.returncode == 0, p.stderr
    return run_stats(p.stderr)


def main():
    rows, misses = [], []
    with tempfile.TemporaryDirectory() as tmp:
        spec = os.path.join(tmp, "scaling.yaml")
        with open(spec, "w") as f:
            f.write(spec_text())
        out = os.path.join(tmp, "scaling.h5")
        first = None
        for ranks in RANKS:
            st = sweep(spec, out, ranks)
            wall, tasks, compute, eff, workers = (st[k] for k in
                                                  ("wall", "tasks", "compute", "eff", "workers"))
            first = first or wall
            rows.append(f"ranks {ranks:3d}  workers {int(workers):3d}  wall {wall:8.2f} s  "
                        f"speedup {first / wall:6.2f}x  efficiency {eff:.3f}  "
                        f"worker compute {compute:8.2f} s  ({int(tasks)} tasks)")
            if ranks <= CORES + 1 and eff < 0.90:
                misses.append(f"efficiency {eff:.3f} < 0.90 with {int(workers)} workers")
    return bench_report(f"scaling on {CORES} cores, paper x{FACTOR}", rows, misses, "scaling")


if __name__ == "__main__":
    sys.exit(main())
