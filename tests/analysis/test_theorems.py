"""The empirical-DPO check (14 sigma), the constants table and the
reference policy's part in the theory check: on the real sweep of
conftest.SPEC and on files written with h5py (synthetic.py)."""

import csv
import html
import math

import h5py
import numpy as np
import pytest

from conftest import run_report
from synthetic import grid, write_file

from analysis import results, theory

METRICS = ["max_abs_delta", "mean_abs_delta", "value_gap"]
THEORY = {"scale": "theory", "rewards": "uniform"}


def read_csv(path):
    """Rows of a CSV file as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- the empirical-DPO theorem on synthetic files ----

def gaussian_file(path, at_step, t=None, iterations=None, axes=None,
                  settings=None, attrs=None):
    """A mix-r study with sigma 0.01 (step 7) and 0.02 (step 6), 4 seeds;
    max_abs_delta is 0.5 except at each group's step, where the seeds
    have the values at_step[sigma]."""
    axes = axes or [("regime", ["mix-r"]), ("arms", [3]), ("beta", [1.0]),
                    ("sigma", [0.01, 0.02]), ("samples", [0]),
                    ("eta", ["theory"]), ("seed", [0, 1, 2, 3])]
    t = np.arange(13) if t is None else np.asarray(t)
    coords = grid(axes)
    names = [a for a, _ in axes]
    rows = np.full((len(coords), len(t)), 0.5)
    for i, c in enumerate(coords):
        c = dict(zip(names, c))
        step = theory.gaussian_step(c["sigma"])
        if step in t:
            rows[i, list(t).index(step)] = at_step[c["sigma"]][c["seed"]]
    write_file(path, [dict(
        name="gauss", axes=axes, nrec=len(t), metrics=METRICS,
        status=np.ones(len(coords), dtype=np.uint8), t=t,
        data={"max_abs_delta": rows},
        settings=dict(THEORY, iterations=np.int64(
            t[-1] if iterations is None else iterations),
                      **(settings or {})))], attrs=attrs)
    return path


PASSING = {0.01: [0.1, 0.1, 0.1, 0.1], 0.02: [0.27, 0.27, 0.27, 0.27]}
# sigma 0.02: rms 0.3 > 14 sigma = 0.28, though the median (0) and the
# mean (0.15) are below it.
VIOLATING = {0.01: [0.1, 0.1, 0.1, 0.1], 0.02: [0.0, 0.0, 0.0, 0.6]}
SUMMARY = ("theory check: mix-r gaussian (rms over seeds of max_abs_delta"
           " at step ceil(log2(1/sigma)) <= 14 sigma): ")


def test_gaussian_step():
    assert theory.gaussian_step(0.01) == 7
    assert theory.gaussian_step(0.02) == 6
    assert theory.gaussian_step(0.25) == 2
    assert theory.gaussian_step(2.0) == 0


def test_gaussian_check_passes(tmp_path):
    path = gaussian_file(tmp_path / "pass.h5", PASSING)
    proc = run_report("report", path, "-o", tmp_path / "rep")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SUMMARY + "2 groups checked, 0 violating" in proc.stdout
    assert "VIOLATION" not in proc.stdout
    index = (tmp_path / "rep" / "index.html").read_text()
    assert "2 groups checked, 0 violating" in index
    assert "<td>arms 3 beta 1 sigma 0.02 samples 0 eta theory</td>" in index


def test_gaussian_check_fails_naming_the_group(tmp_path):
    path = gaussian_file(tmp_path / "bad.h5", VIOLATING)
    proc = run_report("report", path, "-o", tmp_path / "rep")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert SUMMARY + "2 groups checked, 1 violating" in proc.stdout
    violation = [ln for ln in proc.stdout.splitlines() if "VIOLATION" in ln]
    assert violation == [
        "theory check: VIOLATION: study gauss: mix-r arms 3 beta 1 sigma"
        " 0.02 samples 0 eta theory (4 seeds): rms of max_abs_delta 0.3 >"
        " 14 sigma = 0.28 at step 6"]
    index = (tmp_path / "rep" / "index.html").read_text()
    named = violation[0][len("theory check: VIOLATION: "):]
    assert "1 violating" in index and html.escape(named) in index


def test_gaussian_step_not_recorded_is_skipped(tmp_path):
    # Recorded every 2 steps: step 6 (sigma 0.02) is there, 7 is not.
    path = gaussian_file(tmp_path / "sparse.h5", VIOLATING,
                         t=np.arange(0, 14, 2))
    proc = run_report("report", path, "-o", tmp_path / "rep")
    assert proc.returncode == 1
    assert SUMMARY + "1 groups checked, 1 violating" in proc.stdout
    assert ("theory check: mix-r gaussian: study gauss: mix-r arms 3 beta 1"
            " sigma 0.01 samples 0 eta theory: step 7 not recorded,"
            " skipped") in proc.stdout


def test_gaussian_check_needs_enough_steps(tmp_path):
    # T = 6 < 7: only sigma 0.02 (step 6) is checked.
    path = gaussian_file(tmp_path / "short.h5", VIOLATING, t=np.arange(7))
    proc = run_report("report", path, "-o", tmp_path / "rep")
    assert proc.returncode == 1
    assert SUMMARY + "1 groups checked, 1 violating" in proc.stdout
    assert "not recorded" not in proc.stdout


REF_AXES = [("regime", ["mix-r"]), ("arms", [3]), ("beta", [1.0]),
            ("sigma", [0.02]), ("samples", [0]), ("eta", ["theory"]),
            ("ref_spread", [0.0, 1.5]), ("seed", [0, 1, 2, 3])]


def test_gaussian_check_only_with_the_uniform_reference(tmp_path):
    path = gaussian_file(tmp_path / "ref.h5", VIOLATING, axes=REF_AXES)
    proc = run_report("report", path, "-o", tmp_path / "rep")
    assert proc.returncode == 1
    assert SUMMARY + "1 groups checked, 1 violating" in proc.stdout
    violation = [ln for ln in proc.stdout.splitlines() if "VIOLATION" in ln]
    assert len(violation) == 1 and "ref_spread 0 (4 seeds)" in violation[0]


@pytest.mark.parametrize("where", ["study", "root"])
def test_no_check_with_explicit_reference_logits(tmp_path, where):
    logits = {"ref_logits": np.array([0.0, 0.5, -1.0])}
    path = gaussian_file(tmp_path / "logits.h5", VIOLATING,
                         settings=logits if where == "study" else None,
                         attrs=logits if where == "root" else None)
    proc = run_report("report", path, "-o", tmp_path / "rep")
    assert proc.returncode == 0, proc.stdout
    assert ("theory check: no done task meets a theorem's conditions"
            in proc.stdout)


# ---- the exact bounds and the constants on synthetic files ----

def exact_rows(m0, factors, quadratic, n):
    """m(0) = m0, then m(t+1) = c_t m(t) (quadratic: c_t m(t)^2)."""
    out = [m0]
    for c in factors[:n - 1]:
        out.append(c * out[-1] ** (2 if quadratic else 1))
    return out


EXACT_AXES = [("regime", ["uniform", "mix-r", "on-policy"]), ("arms", [3]),
              ("beta", [1.0, 2.0]), ("sigma", [0.0]), ("samples", [0]),
              ("eta", ["theory"]), ("ref_spread", [0.0, 1.0]),
              ("seed", [0, 1, 2])]


def exact_file(path, t=None):
    """Trajectories under the bounds with known one-step factors: uniform
    0.3 and mix-r 0.2 per step, except task (beta 2, ref_spread 0, seed
    1): uniform 0.45 from t = 2, mix-r 0.4 from t = 1.  ref_spread 1
    (not checked) has factors 0.9 everywhere; mix-r rows jump back to 1e-2
    after round-off (not counted).  Returns (path, task indices of the
    maxima per regime)."""
    t = np.arange(6) if t is None else t
    coords = grid(EXACT_AXES)
    names = [a for a, _ in EXACT_AXES]
    rows = np.full((len(coords), len(t)), 0.5)
    special = {}
    for i, c in enumerate(coords):
        c = dict(zip(names, c))
        quadratic = c["regime"] != "uniform"
        base = 0.3 if not quadratic else 0.2
        factors = [base] * 5
        if c["ref_spread"] == 1.0:
            factors = [0.9] * 5
        elif c["beta"] == 2.0 and c["seed"] == 1:
            special[c["regime"]] = i
            if quadratic:
                factors[1] = 0.4
            else:
                factors[2:] = [0.45] * 3
        row = exact_rows(0.5, factors, quadratic, len(t))
        if quadratic and c["ref_spread"] == 0.0:
            # 0.5, 0.05, 5e-4 (1e-3 special), 5e-8, 5e-16: then noise.
            row[-1] = 1e-2
        rows[i] = row
    write_file(path, [dict(
        name="exact", axes=EXACT_AXES, nrec=len(t), metrics=METRICS,
        status=np.ones(len(coords), dtype=np.uint8), t=t,
        data={"max_abs_delta": rows},
        settings=dict(THEORY, iterations=np.int64(t[-1])))])
    return path, special


def test_factors_and_their_task(tmp_path):
    path, special = exact_file(tmp_path / "exact.h5")
    res = results.open_results(path)
    try:
        check = theory.check(res)
    finally:
        res.close()
    assert check.passed, [str(v) for v in check.violations]
    # ref_spread 1 is not checked: 2 beta x 3 seeds per regime.
    assert check.counts == {"uniform": (6, 0), "mix-r": (6, 0)}
    uniform, mixr = check.factors["uniform"], check.factors["mix-r"]
    assert uniform.value == pytest.approx(0.45, rel=1e-12)
    assert (uniform.study, uniform.index, uniform.arms, uniform.beta,
            uniform.seed, uniform.t) == ("exact", special["uniform"], 3,
                                         2.0, 1, 2)
    assert uniform.pairs == 6 * 5 and uniform.tasks == 6
    assert mixr.value == pytest.approx(0.4, rel=1e-12)
    assert (mixr.index, mixr.beta, mixr.seed, mixr.t) == (
        special["mix-r"], 2.0, 1, 1)
    # Pairs (0,1), (1,2), (2,3); (3,4) ends at 5e-16 (round-off), (4,5)
    # jumps back from it.
    assert mixr.pairs == 6 * 3 and mixr.tasks == 6
    assert check.factors["mix-p"].pairs == 0
    assert math.isnan(check.factors["mix-p"].value)


def test_constants_table_of_synthetic_file(tmp_path):
    path, special = exact_file(tmp_path / "exact.h5")
    proc = run_report("report", path, "-o", tmp_path / "rep")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["regime"]: r for r in
            read_csv(tmp_path / "rep" / "tables" / "constants.csv")}
    assert list(rows) == ["uniform", "mix-r", "mix-p-clip", "mix-p"]
    assert float(rows["uniform"]["measured"]) == pytest.approx(0.45)
    assert (rows["uniform"]["study"], rows["uniform"]["index"],
            rows["uniform"]["t"]) == ("exact", str(special["uniform"]), "2")
    assert float(rows["mix-r"]["measured"]) == pytest.approx(0.4)
    assert rows["mix-r"]["index"] == str(special["mix-r"])
    assert rows["mix-p"]["pairs"] == "0" and rows["mix-p"]["study"] == ""
    tex = (tmp_path / "rep" / "tables" / "constants.tex").read_text()
    assert f"exact task {special['mix-r']} ($K = 3$, $\\beta = 2$" in tex
    index = (tmp_path / "rep" / "index.html").read_text()
    assert "tables/constants.csv" in index
    assert "(1 figures, 2 tables)" in proc.stdout  # no paper figure


def test_factors_need_consecutive_steps(tmp_path):
    path, _ = exact_file(tmp_path / "sparse.h5", t=np.arange(0, 12, 2))
    res = results.open_results(path)
    try:
        check = theory.check(res)
    finally:
        res.close()
    assert not check.measured
    proc = run_report("report", path, "-o", tmp_path / "rep")
    assert "note: constants table skipped" in proc.stdout
    assert not (tmp_path / "rep" / "tables" / "constants.csv").exists()


def test_one_step_factors():
    rows = np.array([[1.0, 0.5, 0.1, 1e-14, 0.5],
                     [1.0, 0.5, np.nan, 0.1, 0.1]])
    got = theory.one_step_factors(rows, np.arange(5), quadratic=False)
    assert got[0, :2] == pytest.approx([0.5, 0.2])
    assert np.isnan(got[0, 2:]).all()        # round-off at t = 3
    assert got[1, 0] == 0.5 and np.isnan(got[1, 1:]).all()
    got = theory.one_step_factors(rows, np.array([0, 1, 3, 4, 5]), True)
    assert got[0, 0] == 0.5 and np.isnan(got[0, 1:]).all()  # 1 -> 3


# ---- on the real sweep of conftest.SPEC ----

def test_gaussian_check_of_real_sweep(report):
    proc, outdir = report
    # Study theory: sigma 0.01 (step 7 <= T = 12), 2 arms x 2 beta.
    assert SUMMARY + "4 groups checked, 0 violating" in proc.stdout
    assert "4 groups checked" in (outdir / "index.html").read_text()


def test_constants_of_real_sweep(report, results_file):
    proc, outdir = report
    rows = read_csv(outdir / "tables" / "constants.csv")
    assert [r["regime"] for r in rows] == list(theory.BOUNDS)
    with h5py.File(results_file, "r") as f:
        for row in rows:
            proven = theory.BOUNDS[row["regime"]][0]
            assert float(row["proven"]) == proven
            measured = float(row["measured"])
            assert 0 < measured <= proven
            assert int(row["pairs"]) > 0
            # The table names a done task of that regime and setting, and
            # the factor at its step t is the measured one.
            g = f["studies"][row["study"]]
            i, t = int(row["index"]), int(row["t"])
            names = [n.decode() for n in g["tasks/regime"].attrs["names"]]
            assert names[g["tasks/regime"][i]] == row["regime"]
            assert g["tasks/status"][i] == 1
            assert g["tasks/sigma"][i] == 0 and g["tasks/eta_theory"][i]
            assert g["tasks/arms"][i] == int(row["arms"])
            assert g["tasks/beta"][i] == float(row["beta"])
            assert g["tasks/seed"][i] == int(row["seed"])
            steps = list(g["traj/t"][...])
            m = g["traj/max_abs_delta"][i]
            k = steps.index(t)
            assert steps[k + 1] == t + 1
            power = 1 if row["regime"] == "uniform" else 2
            assert m[k + 1] / m[k] ** power == pytest.approx(measured,
                                                           rel=1e-12)
            assert m[k + 1] > theory.ROUNDOFF
