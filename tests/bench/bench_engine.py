"""Engine speed: dposweep's C step against a vectorized NumPy step of the
same model (float64, same instance, same number of steps, mix-p,
normalized scale), measured side by side in one run.

    bench_engine.py BENCH_ENGINE_BINARY

Prints every figure and ratio, and exits 1 if a target is missed:
exact K=20 >= 50x, exact K=1000 >= 15x, sampled n=8192 K=20 >= 5x, and the
sampled cost flat in n once n exceeds the number of cells.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

BIN = sys.argv[1]
BETA, ETA_EXACT, ETA_SAMPLED = 3.0, 10.0, 0.05


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_exact_step(u, pr):
    """One exact mix-p step, normalized scale, fully vectorized."""
    z = BETA * u
    e = np.exp(z - z.max())
    ratio = e[:, None] / e[None, :]
    s = 2.0 + ratio + 1.0 / ratio            # 1 / sig'(z)
    q = e[:, None] / (e[:, None] + e[None, :])  # sig(beta (u_y - u_y'))
    g = -BETA * (2.0 / s.sum()) * (s * (pr - q)).sum(axis=1)
    return u - ETA_EXACT * g


def numpy_sampled_step(u, pr, n, rng):
    """One sampled mix-p step: n pairs from W = S / sum S, labels from the
    preference, the authors' estimator; bincount instead of a loop."""
    k = u.size
    z = BETA * u
    e = np.exp(z - z.max())
    ratio = e[:, None] / e[None, :]
    s = 2.0 + ratio + 1.0 / ratio
    idx = rng.choice(k * k, size=n, p=(s / s.sum()).ravel())
    a1, a2 = idx // k, idx % k
    sign = np.where(rng.random(n) < pr[a1, a2], 1.0, -1.0)
    w = (BETA / n) * sign / (1.0 + np.exp(BETA * sign * (u[a1] - u[a2])))
    g = np.bincount(a2, weights=w, minlength=k) - np.bincount(a1, weights=w, minlength=k)
    return u - ETA_SAMPLED * g


def time_numpy(step, u, steps):
    best = float("inf")
    for _ in range(3):
        x = u.copy()
        t0 = time.perf_counter()
        for _ in range(steps):
            x = step(x)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best, x


def run_c(k, steps, samples, rfile, eta, repeat=3):
    """Best of `repeat` runs, as for NumPy: seconds per step and final u."""
    best = None
    for _ in range(repeat):
        t, u = run_c_once(k, steps, samples, rfile, eta)
        if best is None or t < best[0]:
            best = (t, u)
    return best


def run_c_once(k, steps, samples, rfile, eta):
    out = subprocess.run([BIN, "step", "mix-p", str(k), str(steps), str(samples),
                          repr(BETA), repr(eta), rfile],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    ns = float(out[0].split()[1])
    assert out[1] == "status 0", out[1]
    return ns * 1e-9, np.array([float(x) for x in out[2:2 + k]])


def instance(k, tmp):
    r = np.random.default_rng(1234567 + k).standard_normal(k)
    path = os.path.join(tmp, f"r{k}.txt")
    np.savetxt(path, r, fmt="%.17g")
    return r, path


def main():
    misses = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        div = subprocess.run([BIN, "divlimit"], capture_output=True, text=True,
                             check=True).stdout.split()
        ns_div = float(div[1])
        stream = subprocess.run([BIN, "streamlimit"], capture_output=True, text=True,
                                check=True).stdout.split()
        ns_stream = float(stream[1])
        for k, target, c_steps, np_steps in [(20, 50.0, 200000, 2000), (1000, 15.0, 200, 10)]:
            r, rfile = instance(k, tmp)
            pr = sig(r[:, None] - r[None, :])
            u0 = np.zeros(k)
            # Same model: a few steps agree to round-off.
            _, uc = run_c(k, 5, 0, rfile, ETA_EXACT)
            un = u0
            for _ in range(5):
                un = numpy_exact_step(un, pr)
            assert np.allclose(uc, un, rtol=1e-9, atol=1e-12), (uc[:4], un[:4])
            t_np, _ = time_numpy(lambda x: numpy_exact_step(x, pr), u0, np_steps)
            t_c, _ = run_c(k, c_steps, 0, rfile, ETA_EXACT)
            ratio = t_np / t_c
            pairs = k * (k - 1) / 2
            rows.append(f"exact mix-p K={k:<5d} C {t_c * 1e6:10.2f} us/step  NumPy "
                        f"{t_np * 1e6:10.2f} us/step  ratio {ratio:7.1f}x  (target "
                        f">= {target:.0f}x)  C {t_c * 1e9 / pairs:.3f} ns per "
                        f"unordered pair")
            if ratio < target:
                misses.append(f"exact K={k}: {ratio:.1f}x < {target}x")

        # The machine's limits for the two pair loops, and where they stand.
        for regime, k, floor, what in [
                ("mix-p", 1000, ns_stream, "streaming its 16 bytes of table per pair from memory"),
                ("uniform", 1000, ns_div, "its one division per pair (vectorized, in cache)")]:
            _, rfile = instance(k, tmp)
            t_c, _ = run_c_once(k, 200, 0, rfile, ETA_EXACT) if regime == "mix-p" else (None, None)
            if regime != "mix-p":
                out = subprocess.run([BIN, "step", regime, str(k), "200", "0", repr(BETA),
                                      repr(ETA_EXACT), rfile], capture_output=True,
                                     text=True, check=True).stdout.split("\n")
                t_c = float(out[0].split()[1]) * 1e-9
            ns = t_c * 1e9 / (k * (k - 1) / 2)
            rows.append(f"limit: {regime} K={k}: {ns:.3f} ns per unordered pair; the floor "
                        f"for {what} is {floor:.3f} ns ({ns / floor:.1f}x)")

        k = 20
        r, rfile = instance(k, tmp)
        pr = sig(r[:, None] - r[None, :])
        rng = np.random.default_rng(7)
        t_np, _ = time_numpy(lambda x: numpy_sampled_step(x, pr, 8192, rng), np.zeros(k), 200)
        t_c, _ = run_c(k, 20000, 8192, rfile, ETA_SAMPLED)
        ratio = t_np / t_c
        rows.append(f"sampled mix-p K=20 n=8192  C {t_c * 1e6:8.2f} us/step  NumPy "
                    f"{t_np * 1e6:8.2f} us/step  ratio {ratio:6.1f}x  (target >= 5x)")
        if ratio < 5.0:
            misses.append(f"sampled n=8192: {ratio:.1f}x < 5x")

        # Cost against n: it stops growing once n exceeds the K(K-1)/2 + 1
        # = 191 cells (one multinomial over the cells instead of n draws).
        costs = {}
        for n in [100, 1000, 10**4, 10**5, 10**6, 10**7]:
            costs[n], _ = run_c(k, 4000 if n <= 10**5 else 1000, n, rfile, ETA_SAMPLED)
            rows.append(f"sampled K=20 n={n:<9d} C {costs[n] * 1e6:8.2f} us/step "
                        f"({costs[n] * 1e9 / n:10.3f} ns per pair drawn)")
        grow = costs[10**7] / costs[10**4]
        rows.append(f"sampled cost from n = 1e4 to 1e7 (1000x the pairs): x{grow:.2f} "
                    f"(target <= 1.5: it no longer grows with n)")
        if grow > 1.5:
            misses.append(f"sampled cost grows with n: x{grow:.2f} from 1e4 to 1e7")
        np_big = None
        try:
            t0 = time.perf_counter()
            numpy_sampled_step(np.zeros(k), pr, 10**7, rng)
            np_big = time.perf_counter() - t0
            rows.append(f"sampled K=20 n=1e7 NumPy {np_big * 1e6:10.0f} us/step "
                        f"(ratio {np_big / costs[10**7]:.0f}x)")
        except MemoryError:
            pass

    print("== engine benchmark (same instance, same steps, float64) ==")
    for row in rows:
        print(row)
    if misses:
        print("MISSED: " + "; ".join(misses))
        return 1
    print("all engine targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
