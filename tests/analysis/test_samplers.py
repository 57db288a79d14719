"""The samplers table and figure (the talk's comparison) and results files
of dposweep_format 2, on files written with h5py (synthetic.py) in the
shape the engine writes: a ref_spread axis between eta and seed, the
metrics expected_reward, win_rate and kl_ref."""

import csv

import analysis
import h5py
import numpy as np
import pytest

from conftest import run_report
from synthetic import grid, write_file

# The regimes in an order other than the talk's; uniform is no sampler of
# the talk's tables.
AXES = [("regime", ["mix-p", "uniform", "hybrid", "reference", "on-policy"]),
        ("arms", [4]), ("beta", [1.0]), ("sigma", [0.0]), ("samples", [64]),
        ("eta", [0.5]), ("ref_spread", [0.0, 1.0, 2.0]),
        ("seed", [0, 1, 2, 3, 4])]
METRICS = ["expected_reward", "kl_ref", "max_abs_delta", "mean_abs_delta",
           "value_gap", "win_rate"]
T = np.arange(0, 100, 10)  # T = 90: table steps 30, 60, 90
TALK = [("reference", "Vanilla DPO"), ("on-policy", "On-policy DPO"),
        ("hybrid", "Hybrid GSHF"), ("mix-p", "DPO-Mix-P")]


def make(path, metrics=METRICS, fmt=1, axes=AXES):
    """A samplers study with random metrics; every 7th task pending.

    Returns (path, status, data)."""
    ntasks = len(grid(axes))
    rng = np.random.default_rng(5)
    data = {m: rng.uniform(size=(ntasks, len(T))) for m in metrics}
    data["expected_reward"] = rng.normal(size=(ntasks, len(T)))
    status = np.ones(ntasks, dtype=np.uint8)
    status[::7] = 0
    write_file(path, [dict(name="cmp", axes=axes, nrec=len(T),
                           metrics=metrics, status=status, data=data, t=T,
                           settings={"iterations": np.int64(T[-1]),
                                     "record_every": np.int64(10)})],
               fmt=fmt)
    return path, status, data


def read_csv(path):
    """Rows of a CSV file as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_samplers_table_values(tmp_path):
    path, status, data = make(tmp_path / "cmp.h5")
    outdir = tmp_path / "rep"
    proc = run_report("report", path, "-o", outdir)
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(outdir / "tables" / "cmp-samplers.csv")
    # One row per reference spread and sampler, in the talk's order.
    assert [(r["ref_spread"], r["regime"], r["algorithm"]) for r in rows] == [
        (s, regime, name) for s in ("0.0", "1.0", "2.0")
        for regime, name in TALK]
    coords = grid(AXES)
    names = [a for a, _ in AXES]
    for row in rows:
        assert (row["t_1"], row["t_2"], row["t_3"]) == ("30", "60", "90")
        tasks = [i for i, c in enumerate(coords)
                 if dict(zip(names, c))["regime"] == row["regime"]
                 and dict(zip(names, c))["ref_spread"]
                 == float(row["ref_spread"]) and status[i] == 1]
        assert int(row["seeds"]) == len(tasks) and 0 < len(tasks) <= 5
        for k, column in ((1, 3), (2, 6), (3, 9)):
            for metric in ("expected_reward", "win_rate"):
                values = data[metric][tasks, column]
                q25, med, q75 = np.percentile(values, [25, 50, 75])
                assert float(row[f"{metric}_median_{k}"]) == pytest.approx(
                    med, rel=1e-12)
                assert float(row[f"{metric}_q25_{k}"]) == pytest.approx(
                    q25, rel=1e-12)
                assert float(row[f"{metric}_q75_{k}"]) == pytest.approx(
                    q75, rel=1e-12)
    tex = (outdir / "tables" / "cmp-samplers.tex").read_text()
    body = tex.split("\\midrule\n", 1)[1].split("\\bottomrule")[0]
    lines = [ln for ln in body.strip().splitlines() if ln != "\\midrule"]
    assert len(lines) == len(rows)
    assert body.count("\\midrule") == 2  # between the three spreads
    assert "$t = 30$" in tex and "$t = 90$" in tex
    assert lines[0].startswith("Vanilla DPO & 0 & ")
    # The win rate in percent, as the talk shows it.
    assert f"{100 * float(rows[0]['win_rate_median_1']):.1f}\\%" in lines[0]
    for ext in ("png", "pdf"):
        assert (outdir / "figures" / f"cmp-samplers.{ext}").exists()
    index = (outdir / "index.html").read_text()
    assert "src='figures/cmp-samplers.png'" in index
    assert "tables/cmp-samplers.csv" in index
    assert "tables/cmp-samplers.tex" in index
    for _, name in TALK:
        assert f"<td>{name}</td>" in index
    # convergence, the paper figure (sampled panel) and samplers figures
    assert "(3 figures, 2 tables)" in proc.stdout


def test_samplers_figure_and_table_per_other_axis(tmp_path):
    axes = [a if a[0] != "arms" else ("arms", [4, 8]) for a in AXES]
    axes = [a if a[0] != "regime" else ("regime", ["reference", "mix-p"])
            for a in axes]
    path, _, _ = make(tmp_path / "cmp.h5", axes=axes)
    outdir = tmp_path / "rep"
    proc = run_report("report", path, "-o", outdir)
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(outdir / "tables" / "cmp-samplers.csv")
    assert [(r["arms"], r["ref_spread"], r["algorithm"]) for r in rows] == [
        (k, s, name) for k in ("4", "8") for s in ("0.0", "1.0", "2.0")
        for name in ("Vanilla DPO", "DPO-Mix-P")]
    tex = (outdir / "tables" / "cmp-samplers.tex").read_text()
    assert "algorithm & $K$ & ref.\\ spread & seeds" in tex
    assert (outdir / "figures" / "cmp-samplers.png").exists()


def test_samplers_skipped_without_the_metrics(tmp_path):
    path, _, _ = make(tmp_path / "old.h5", metrics=[
        "max_abs_delta", "mean_abs_delta", "value_gap"])
    outdir = tmp_path / "rep"
    proc = run_report("report", path, "-o", outdir)
    assert proc.returncode == 0, proc.stderr
    assert ("note: study cmp: samplers table skipped: no expected_reward or"
            " win_rate in the file") in proc.stdout
    assert "samplers table skipped" in (outdir / "index.html").read_text()
    assert not list(outdir.glob("*/cmp-samplers*"))


def test_no_samplers_table_with_one_sampler(tmp_path):
    axes = [a if a[0] != "regime" else ("regime", ["uniform", "mix-p",
                                                   "mix-r"])
            for a in AXES]
    path, _, _ = make(tmp_path / "one.h5", axes=axes)
    outdir = tmp_path / "rep"
    proc = run_report("report", path, "-o", outdir)
    assert proc.returncode == 0, proc.stderr
    assert "samplers table" not in proc.stdout
    assert not list(outdir.glob("*/cmp-samplers*"))


def test_format_2(tmp_path):
    path, status, data = make(tmp_path / "f2.h5", fmt=2)
    with h5py.File(path, "r") as f:
        assert f.attrs["dposweep_format"] == 2
        assert "checksum" in f["studies/cmp/tasks"] and "runs/isa" in f
    tasks = analysis.load(path)
    assert list(tasks.columns[:10]) == [
        "study", "index", "regime", "arms", "beta", "sigma", "samples",
        "eta", "eta_theory", "ref_spread"]
    assert "checksum" not in tasks.columns
    assert (tasks["status"] == "done").sum() == status.sum()
    win = analysis.trajectories(path, "cmp", "win_rate",
                                select={"ref_spread": 2.0})
    assert win.sizes["ref_spread"] == 1
    outdir = tmp_path / "rep"
    proc = run_report("report", path, "-o", outdir)
    assert proc.returncode == 0, proc.stderr
    assert (outdir / "tables" / "cmp-samplers.csv").exists()
    assert "numerics version: 2" in (outdir / "index.html").read_text()
    with h5py.File(path, "r+") as f:
        f.attrs["dposweep_format"] = np.int32(3)
    proc = run_report("report", path, "-o", tmp_path / "rep3")
    assert proc.returncode == 2
    assert "unsupported dposweep_format 3" in proc.stderr
