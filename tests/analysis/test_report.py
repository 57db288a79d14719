"""The report command on real dposweep results files."""

import csv
import math
import re

import h5py
import numpy as np
import pytest

from conftest import ROOT, run_report

from analysis import figures, samplers, theory

STUDIES = ["theory", "eta_axis", "authors-exact", "authors-sampled"]
AXES = ("arms", "beta", "sigma", "samples")
REPORT_LINE = re.compile(r"^report: (.*)/index\.html \((\d+) figures,"
                         r" (\d+) tables\)$", re.M)


def tasks(path, study):
    """Coordinates (dict of arrays) of the done tasks of a study, with
    their file rows under "index"."""
    with h5py.File(path, "r") as f:
        g = f["studies"][study]["tasks"]
        done = np.flatnonzero(g["status"][...] == 1)
        names = [n.decode() for n in g["regime"].attrs["names"]]
        out = {a: g[a][...][done].astype(float) for a in AXES}
        out["regime"] = np.array([names[r] for r in g["regime"][...][done]])
        eta = g["eta"][...][done].astype(object)
        eta[g["eta_theory"][...][done] == 1] = "theory"
        out["eta"] = eta
        out["seed"] = g["seed"][...][done]
        out["index"] = done
    return out


def key_of(row):
    """A CSV row's coordinates as comparable values."""
    eta = row["eta"] if row["eta"] == "theory" else float(row["eta"])
    return (row["regime"],) + tuple(float(row[a]) for a in AXES) + (eta,)


def expected(path, study, metric, threshold):
    """Per (regime, arms, beta, sigma, samples, eta): seeds, final values
    and first steps below threshold, computed with h5py and numpy."""
    c = tasks(path, study)
    with h5py.File(path, "r") as f:
        traj = f["studies"][study]["traj"]
        values = traj[metric][...][c["index"]]
        t = traj["t"][...]
    out = {}
    for i in range(len(c["index"])):
        key = (c["regime"][i],) + tuple(c[a][i] for a in AXES) + \
            (c["eta"][i],)
        below = np.flatnonzero(values[i] < threshold)
        step = t[below[0]] if below.size else math.inf
        entry = out.setdefault(key, ([], []))
        entry[0].append(values[i, -1])
        entry[1].append(step)
    return out


def read_csv(path):
    """Rows of a CSV file as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def groups(path, study):
    """Number of (arms, beta, sigma, samples, eta) among done tasks."""
    c = tasks(path, study)
    return len(set(zip(*(c[a] for a in AXES + ("eta",)))))


def sampler_studies(path):
    """The studies whose report gets a samplers table and figure: done
    tasks of at least two of the talk's samplers, and a file that records
    expected_reward and win_rate (dposweep after issue 11)."""
    out = []
    with h5py.File(path, "r") as f:
        for study in STUDIES:
            g = f["studies"][study]
            names = [n.decode() for n in g["tasks/regime"].attrs["names"]]
            done = g["tasks/status"][...] == 1
            found = {names[r] for r in g["tasks/regime"][...][done]}
            if (len(found & set(samplers.SAMPLERS)) >= 2
                    and {"expected_reward", "win_rate"} <= set(g["traj"])):
                out.append(study)
    return out


def table_count(path):
    """The tables a report of path should hold: one per study with a done
    task, the constants table (the study `theory` has the theorems'
    setting) and the samplers tables."""
    with h5py.File(path, "r") as f:
        summaries = sum(
            bool((f["studies"][s]["tasks/status"][...] == 1).any())
            for s in STUDIES)
    return summaries + 1 + len(sampler_studies(path))


def sampler_figures(path, study):
    """The samplers figure's files: one page per MAX_GROUPS combinations
    of the study's other axes in which two of the samplers are done."""
    c = tasks(path, study)
    found = {}
    for key, regime in zip(zip(*(c[a] for a in AXES + ("eta",))),
                           c["regime"]):
        if regime in samplers.SAMPLERS:
            found.setdefault(key, set()).add(regime)
    blocks = sum(len(r) >= 2 for r in found.values())
    pages = math.ceil(blocks / samplers.MAX_GROUPS)
    if pages == 1:
        return {f"{study}-samplers"}
    return {f"{study}-samplers-{p + 1}" for p in range(pages)}


def figure_names(path, metric):
    """The figures a report of path should hold, without extension."""
    names = {"paper-figure"}
    for s in sampler_studies(path):
        names |= sampler_figures(path, s)
    for study in STUDIES:
        n = groups(path, study)
        if n == 0:
            continue
        with h5py.File(path, "r") as f:
            a = f["studies"][study].attrs
            sizes = [len(a["axis_" + x]) for x in AXES + ("eta",)]
        varying = [s for s in sizes if s > 1]
        ncols = min(varying[-1] if varying else 1, n)
        pages = math.ceil(n / (ncols * figures.MAX_ROWS))
        names |= ({f"{study}-{metric}"} if pages == 1 else
                  {f"{study}-{metric}-{p + 1}" for p in range(pages)})
    return names


def check_tables(path, outdir, metric, threshold):
    """CSV rows match independent medians; LaTeX has one row per CSV row."""
    for study in STUDIES:
        want = expected(path, study, metric, threshold)
        rows = read_csv(outdir / "tables" / f"{study}.csv")
        assert len(rows) == len(want)
        assert {key_of(r) for r in rows} == set(want)
        for row in rows:
            final, steps = (np.array(v, dtype=float)
                            for v in want[key_of(row)])
            assert row["metric"] == metric
            assert int(row["seeds"]) == len(final)
            assert float(row["final_median"]) == pytest.approx(
                np.median(final), rel=1e-12, abs=1e-300)
            q25, q75 = np.percentile(final, [25, 75])
            assert float(row["final_q25"]) == pytest.approx(q25, rel=1e-12,
                                                            abs=1e-300)
            assert float(row["final_q75"]) == pytest.approx(q75, rel=1e-12,
                                                            abs=1e-300)
            assert int(row["reached"]) == np.isfinite(steps).sum()
            assert float(row["step_median"]) == np.median(steps)
            if np.isfinite(steps).all():
                s25, s75 = np.percentile(steps, [25, 75])
                assert float(row["step_q25"]) == pytest.approx(s25)
                assert float(row["step_q75"]) == pytest.approx(s75)
        tex = (outdir / "tables" / f"{study}.tex").read_text()
        body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0]
        assert "\\toprule" in tex and "\\begin{tabular}" in tex
        assert len(body.strip().splitlines()) == len(rows)


def test_report_figures_and_tables(report, results_file):
    proc, outdir = report
    assert proc.returncode == 0, proc.stderr
    match = REPORT_LINE.search(proc.stdout)
    assert match and match.group(1) == str(outdir)
    want = figure_names(results_file, "max_abs_delta")
    for ext in ("png", "pdf"):
        got = {p.stem for p in (outdir / "figures").glob("*." + ext)}
        assert got == want
    assert int(match.group(2)) == len(want)
    assert int(match.group(3)) == len(STUDIES) + 1 + len(
        sampler_studies(results_file))  # + constants and samplers tables
    assert int(match.group(3)) == table_count(results_file)
    assert "PARTIAL" not in proc.stdout


def test_table_values(report, results_file):
    check_tables(results_file, report[1], "max_abs_delta", 1e-6)


def test_metric_and_threshold_options(results_file, tmp_path):
    proc = run_report("report", results_file, "-o", tmp_path,
                      "--metric", "value_gap", "--threshold", "1e-3")
    assert proc.returncode == 0, proc.stderr
    got = {p.stem for p in (tmp_path / "figures").glob("*.png")}
    assert got == figure_names(results_file, "value_gap")
    check_tables(results_file, tmp_path, "value_gap", 1e-3)


def test_index(report, results_file):
    proc, outdir = report
    index = (outdir / "index.html").read_text()
    with h5py.File(results_file, "r") as f:
        sha = f.attrs["spec_sha256"].decode()
        status = np.concatenate([f["studies"][s]["tasks"]["status"][...]
                                 for s in STUDIES])
    failed = int((status == 2).sum())
    assert failed == 6  # eta_axis: eta = 1e6 diverges
    assert "tiny" in index and sha in index
    assert (f"{len(status) - failed}/{len(status)} tasks done"
            f" (0 pending, {failed} failed)") in index
    for png in (outdir / "figures").glob("*.png"):
        assert f"src='figures/{png.name}'" in index
    for study in STUDIES:
        assert f"tables/{study}.csv" in index
    assert "PARTIAL" not in index


def checked(path):
    """Per regime, the done tasks that meet a theorem's conditions."""
    out = {}
    for study in ("theory", "eta_axis"):
        c = tasks(path, study)
        ok = (c["sigma"] == 0) & (c["samples"] == 0) & (c["eta"] == "theory")
        for regime in theory.BOUNDS:
            rows = c["index"][ok & (c["regime"] == regime)]
            out.setdefault(regime, []).extend((study, int(i)) for i in rows)
    return out


def test_theory_check_passes(report, results_file):
    proc, outdir = report
    for regime, members in checked(results_file).items():
        assert members
        line = (f"theory check: {regime}: {len(members)} tasks checked,"
                f" 0 violating")
        assert line in proc.stdout
        assert line in (outdir / "index.html").read_text()
    assert "VIOLATION" not in proc.stdout


def test_theory_check_fails_on_altered_trajectory(copy_of, tmp_path):
    study, row = [m for m in checked(copy_of)["mix-r"]
                  if m[0] == "theory"][-1]
    with h5py.File(copy_of, "r+") as f:
        g = f["studies"][study]
        seed = int(g["tasks"]["seed"][row])
        arms = int(g["tasks"]["arms"][row])
        assert g["traj"]["t"][1] == 1
        # The bound at t = 1 is 0.5; the true value is below it.
        assert g["traj"]["max_abs_delta"][row, 1] <= 0.5
        g["traj"]["max_abs_delta"][row, 1] = 0.75
    proc = run_report("report", copy_of, "-o", tmp_path / "rep")
    assert proc.returncode == 1
    assert "theory check: mix-r: " in proc.stdout
    assert re.search(r"mix-r: \d+ tasks checked, 1 violating", proc.stdout)
    violation = [ln for ln in proc.stdout.splitlines() if "VIOLATION" in ln]
    assert len(violation) == 1
    assert (f"study {study} task {row}: regime mix-r arms {arms}"
            in violation[0])
    assert f"seed {seed}:" in violation[0]
    assert violation[0].endswith("at step 1")
    assert (tmp_path / "rep" / "index.html").exists()


def test_partial_file(copy_of, tmp_path):
    with h5py.File(copy_of, "r+") as f:
        f["studies/theory/tasks/status"][:10] = 0
        f["studies/authors-sampled/tasks/status"][:] = 0
        total = sum(f["studies"][s]["tasks"]["status"].shape[0]
                    for s in STUDIES)
        status = np.concatenate([f["studies"][s]["tasks"]["status"][...]
                                 for s in STUDIES])
    done, failed = int((status == 1).sum()), int((status == 2).sum())
    assert 0 < done < total
    outdir = tmp_path / "rep"
    proc = run_report("report", copy_of, "-o", outdir)
    assert proc.returncode == 0, proc.stderr
    status = (f"{done}/{total} tasks done ({total - done - failed} pending,"
              f" {failed} failed)")
    assert f"PARTIAL: {status}" in proc.stdout
    index = (outdir / "index.html").read_text()
    assert "PARTIAL" in index and status in index
    assert "authors-sampled: no task done yet" in proc.stdout
    assert not (outdir / "tables" / "authors-sampled.csv").exists()
    rows = read_csv(outdir / "tables" / "theory.csv")
    assert sum(int(r["seeds"]) for r in rows) == 160 - 10
    got = {p.stem for p in (outdir / "figures").glob("*.png")}
    assert got == figure_names(copy_of, "max_abs_delta")
    match = REPORT_LINE.search(proc.stdout)
    assert int(match.group(3)) == table_count(copy_of)
    assert int(match.group(3)) == len(STUDIES) - 1 + 1 + len(
        sampler_studies(copy_of))  # + constants and samplers tables


def test_wrapper_script(results_file, tmp_path):
    proc = run_report(results_file, "-o", "out",
                      prog=f"{ROOT}/analysis/dposweep-report", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "index.html").exists()
    assert REPORT_LINE.search(proc.stdout).group(1) == "out"


def test_long_spec_stored_as_dataset(copy_of, tmp_path):
    with h5py.File(copy_of, "r+") as f:
        spec = f.attrs["spec"].decode()
        del f.attrs["spec"]
        f["spec"] = np.frombuffer(spec.encode(), dtype=np.int8)
    proc = run_report("report", copy_of, "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "name: authors-sampled" in (tmp_path / "index.html").read_text()
