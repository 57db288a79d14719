"""Inputs the fuzzers found (tests/fuzz/regressions): each must give a
clean result, never a crash: `plan` on a spec, `sim` on an argument list
(one argument per line) exits 0 or 2, and an error is exactly one line.
A spec `plan` accepts must also run, and `status` must read the file back
(its stored canonical spec parses to the same hash).

Run: test_regressions.py PATH/TO/dposweep REGRESSIONS_DIR
"""
import os
import re
import subprocess
import sys
import tempfile

BIN, DIR = sys.argv[1], sys.argv[2]
failures = 0
cases = 0
for kind in ("spec", "sim"):
    folder = os.path.join(DIR, kind)
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        cases += 1
        if kind == "spec":
            cmd = [BIN, "plan", path]
        else:
            with open(path, "rb") as f:
                args = f.read().decode("utf-8", "surrogateescape").split("\n")
            cmd = [BIN, "sim"] + args + ["--iterations", "2"] * ("--iterations" not in args)
        p = subprocess.run(cmd, capture_output=True)
        err = p.stderr.decode("utf-8", "replace").strip()
        ok = p.returncode in (0, 2) and (p.returncode == 0 or len(err.splitlines()) == 1)
        if ok and kind == "spec" and p.returncode == 0:
            tasks = int(re.search(rb"tasks: (\d+)", p.stdout).group(1))
            if tasks <= 1000:
                with tempfile.TemporaryDirectory() as tmp:
                    out = os.path.join(tmp, "r.h5")
                    # MPI's own allocations are not ours to leak-check.
                    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
                    r = subprocess.run([BIN, "run", path, "-o", out, "-q"],
                                       capture_output=True, env=env)
                    s = subprocess.run([BIN, "status", out], capture_output=True)
                    ok = r.returncode == 0 and s.returncode == 0
                    err = (r.stderr + s.stderr).decode("utf-8", "replace")
        if not ok:
            failures += 1
            print(f"FAIL {kind}/{name}: rc={p.returncode} stderr={err!r}")
print(f"{cases} regression inputs, {failures} failures")
sys.exit(1 if failures or cases == 0 else 0)
