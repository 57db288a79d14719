"""analysis.load, analysis.trajectories and the export command on a real
sweep that was interrupted (pending tasks) after some tasks diverged
(failed), checked against the spec and against h5py reads of the file."""

import csv
import math
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import INTERRUPTED_AXES, run_report
from synthetic import grid
from sweeptest import run

import analysis

AXES = ("regime", "arms", "beta", "sigma", "samples", "eta", "ref_spread",
        "seed")
# The engine's metrics in its order: the columns of `dposweep sim`, which
# the results file's traj/ datasets follow.
METRICS = tuple(run(["sim", "--regime", "uniform", "--arms", "2", "--beta", "1",
                     "--iterations", "1"], check=0).stdout.splitlines()[0]
                .split(",")[1:])
STATUS = {0: "pending", 1: "done", 2: "failed"}


def raw(path, study):
    """Everything of a study, read whole with h5py (small files only)."""
    with h5py.File(path, "r") as f:
        g = f["studies"][study]
        out = {k: g["tasks"][k][...] for k in g["tasks"]}
        out["names"] = [n.decode() for n in g["tasks/regime"].attrs["names"]]
        out["traj"] = {m: g["traj"][m][...] for m in METRICS}
        out["t"] = g["traj/t"][...]
    return out


def kv_status(path):
    """`dposweep status --format=kv` as a dict."""
    proc = run(["status", "--format=kv", str(path)])
    assert proc.returncode in (0, 1), proc.stderr
    return dict(line.split("=", 1) for line in proc.stdout.splitlines())


def test_the_file_has_done_failed_and_pending_tasks(interrupted_file):
    kv = kv_status(interrupted_file)
    assert kv["state"] == "incomplete"
    assert int(kv["done"]) > 0 and int(kv["failed"]) >= 2
    assert int(kv["pending"]) > 0
    assert kv["study.small.pending"] == "2"


def test_load_counts_match_status(interrupted_file):
    tasks = analysis.load(interrupted_file)
    kv = kv_status(interrupted_file)
    assert len(tasks) == int(kv["total"])
    for study in INTERRUPTED_AXES:
        counts = tasks[tasks["study"] == study]["status"].value_counts()
        for status in ("done", "failed", "pending"):
            assert counts[status] == int(kv[f"study.{study}.{status}"])


def test_load_columns_and_types(interrupted_file):
    tasks = analysis.load(interrupted_file, "grid")
    assert list(tasks.columns) == (
        ["study", "index", "regime", "arms", "beta", "sigma", "samples",
         "eta", "eta_theory", "ref_spread", "seed", "status"] + list(METRICS) +
        ["wall_seconds"])
    for column in ("index", "arms", "beta", "sigma", "samples", "eta",
                   "seed") + METRICS + ("wall_seconds",):
        assert pd.api.types.is_numeric_dtype(tasks[column]), column
    assert tasks["eta_theory"].dtype == bool
    assert list(tasks["regime"].cat.categories) == ["uniform", "mix-r",
                                                    "mix-p"]
    assert set(tasks["status"].cat.categories) == set(STATUS.values())
    assert (tasks["study"] == "grid").all()


@pytest.mark.parametrize("study", sorted(INTERRUPTED_AXES))
def test_load_coordinates_are_the_spec_grid(interrupted_file, study):
    tasks = analysis.load(interrupted_file, study)
    r = raw(interrupted_file, study)
    expected = grid(INTERRUPTED_AXES[study])
    assert list(tasks["index"]) == list(range(len(expected)))
    for row, want in zip(tasks.itertuples(index=False), expected):
        coords = dict(zip(AXES, want))
        assert row.regime == coords["regime"]
        for a in ("arms", "beta", "sigma", "samples", "ref_spread", "seed"):
            assert getattr(row, a) == coords[a]
        assert row.eta_theory == (coords["eta"] == "theory")
        if not row.eta_theory:
            assert row.eta == coords["eta"]
    # The step used, as the file records it (theory: depends on K, beta).
    assert tasks["eta"].to_numpy().tobytes() == r["eta"].tobytes()


@pytest.mark.parametrize("study", sorted(INTERRUPTED_AXES))
def test_load_final_values_status_and_wall(interrupted_file, study):
    tasks = analysis.load(interrupted_file, study)
    r = raw(interrupted_file, study)
    assert list(tasks["status"]) == [STATUS[s] for s in r["status"]]
    done = r["status"] == 1
    for m in METRICS:
        got = tasks[m].to_numpy()
        assert np.array_equal(got[done], r["traj"][m][done, -1])
        assert np.isnan(got[~done]).all()
    assert np.array_equal(tasks["wall_seconds"].to_numpy(),
                          r["wall_seconds"], equal_nan=True)


def test_load_all_studies_is_each_study_in_order(interrupted_file):
    whole = analysis.load(interrupted_file)
    assert analysis.studies(interrupted_file) == ["grid", "small"]
    parts = [analysis.load(interrupted_file, s) for s in ("grid", "small")]
    assert len(whole) == sum(len(p) for p in parts)
    assert list(whole["study"]) == [s for p in parts for s in p["study"]]
    for column in ("index", "regime", "eta", "status", "max_abs_delta"):
        both = pd.concat([p[column].astype(object) for p in parts],
                         ignore_index=True)
        assert whole[column].astype(object).equals(both), column


def test_trajectories_dimensions_and_labels(interrupted_file):
    delta = analysis.trajectories(interrupted_file, "grid", "max_abs_delta")
    r = raw(interrupted_file, "grid")
    assert delta.dims == AXES + ("t",)
    axes = dict(INTERRUPTED_AXES["grid"])
    for a in ("regime", "arms", "beta", "sigma", "samples", "ref_spread",
              "seed"):
        assert list(delta[a].values) == axes[a], a
    # eta: the theory step has no single value (NaN), flagged eta_theory.
    assert math.isnan(delta["eta"].values[0]) and delta["eta"].values[1] == 1e6
    assert list(delta["eta_theory"].values) == [True, False]
    assert delta["t"].values.tobytes() == r["t"].tobytes()
    assert delta.name == "max_abs_delta"


def test_trajectories_values_done_and_nan(interrupted_file):
    tasks = analysis.load(interrupted_file, "grid")
    r = raw(interrupted_file, "grid")
    for metric in METRICS:
        array = analysis.trajectories(interrupted_file, "grid", metric)
        for row in tasks.itertuples(index=False):
            where = dict(regime=row.regime, arms=row.arms, beta=row.beta,
                         sigma=row.sigma, samples=row.samples,
                         eta=np.nan if row.eta_theory else row.eta,
                         seed=row.seed)
            cell = array.sel(where)
            assert int(cell["index"]) == row.index
            assert bool(cell["done"]) == (row.status == "done")
            if row.status == "done":
                assert cell.values.tobytes() == \
                    r["traj"][metric][row.index].tobytes()
            else:
                assert np.isnan(cell.values).all()


def test_trajectories_select(interrupted_file):
    full = analysis.trajectories(interrupted_file, "grid", "value_gap")
    part = analysis.trajectories(interrupted_file, "grid", "value_gap",
                                 select={"regime": ["mix-p", "uniform"],
                                         "eta": "theory", "samples": 4096})
    assert part.dims == full.dims
    assert list(part["regime"].values) == ["uniform", "mix-p"]
    assert part.sizes["eta"] == 1 and bool(part["eta_theory"][0])
    want = full.isel(eta=[0]).sel(regime=["uniform", "mix-p"],
                                  samples=[4096])
    assert part.values.tobytes() == want.values.tobytes()
    assert (part["index"].values == want["index"].values).all()


def test_rows_of_tasks_not_done_are_not_shown(interrupted_file, tmp_path):
    # A done task turned pending keeps its rows in the file: the loaders
    # must still show NaN for it.
    path = tmp_path / "copy.h5"
    shutil.copy(interrupted_file, path)
    with h5py.File(path, "r+") as f:
        status = f["studies/grid/tasks/status"]
        index = int(np.flatnonzero(status[...] == 1)[0])
        status[index] = 0
        assert not np.isnan(f["studies/grid/traj/max_abs_delta"][index]).any()
    tasks = analysis.load(path, "grid")
    assert tasks["status"][index] == "pending"
    assert math.isnan(tasks["max_abs_delta"][index])
    array = analysis.trajectories(path, "grid", "max_abs_delta")
    flat = array.values.reshape(-1, array.sizes["t"])
    assert np.isnan(flat[index]).all()


def test_unknown_names(interrupted_file, tmp_path):
    with pytest.raises(KeyError, match="no study 'nope'"):
        analysis.load(interrupted_file, "nope")
    with pytest.raises(KeyError, match="no metric 'loss'"):
        analysis.trajectories(interrupted_file, "grid", "loss")
    with pytest.raises(KeyError, match="arms has no value 7"):
        analysis.trajectories(interrupted_file, "grid", "value_gap",
                              select={"arms": 7})
    with pytest.raises(KeyError, match="no axis colour"):
        analysis.trajectories(interrupted_file, "grid", "value_gap",
                              select={"colour": 1})
    text = tmp_path / "x.h5"
    text.write_text("not hdf5\n")
    with pytest.raises(analysis.NotResultsFile, match="not an HDF5 file"):
        analysis.load(text)


def read_csv(path):
    """Header and rows of a CSV file."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_export(interrupted_file, tmp_path):
    outdir = tmp_path / "csv"
    proc = run_report("export", interrupted_file, "-o", outdir)
    assert proc.returncode == 0, proc.stderr
    header_want = (["study", "index", "regime", "arms", "beta", "sigma",
                    "samples", "eta", "eta_theory", "ref_spread", "seed", "t"] +
                   list(METRICS))
    lines = proc.stdout.splitlines()
    assert len(lines) == len(INTERRUPTED_AXES)
    for study, line in zip(("grid", "small"), lines):
        path = outdir / f"{study}.csv"
        r = raw(interrupted_file, study)
        done = np.flatnonzero(r["status"] == 1)
        nrec = len(r["t"])
        header, rows = read_csv(path)
        assert header == header_want
        assert line == f"export: {path} ({len(rows)} rows)"
        assert len(rows) == done.size * nrec
        coords = grid(INTERRUPTED_AXES[study])
        for k, row in enumerate(rows):
            cell = dict(zip(header, row))
            index, step = done[k // nrec], k % nrec
            assert cell["study"] == study
            assert int(cell["index"]) == index
            want = dict(zip(AXES, coords[index]))
            assert cell["regime"] == want["regime"]
            for a in ("arms", "samples", "seed"):
                assert int(cell[a]) == want[a]
            for a in ("beta", "sigma"):
                assert float(cell[a]) == want[a]
            assert cell["eta_theory"] == str(want["eta"] == "theory")
            assert float(cell["eta"]) == r["eta"][index]
            assert int(cell["t"]) == r["t"][step]
            for m in METRICS:
                # Full precision: the text reads back to the same double.
                assert float(cell[m]) == r["traj"][m][index, step]
    assert read_csv(outdir / "small.csv")[1] == []  # nothing done there


def test_export_errors(interrupted_file, tmp_path):
    proc = run_report("export", interrupted_file, "-o", tmp_path / "a",
                      "--study", "nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"python3 -m analysis: error: {interrupted_file}: no study 'nope'"
        " (studies: grid, small)"]
    assert not (tmp_path / "a").exists()
    missing = tmp_path / "missing.h5"
    proc = run_report("export", missing, "-o", tmp_path / "b")
    assert proc.returncode == 2
    assert proc.stderr == (f"python3 -m analysis: error: {missing}:"
                           " no such file\n")
    proc = run_report("export", interrupted_file)
    assert proc.returncode == 2 and "usage:" in proc.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_report("export", interrupted_file, "-o", blocker)
    assert proc.returncode == 3
    assert proc.stderr.startswith("python3 -m analysis: error: export"
                                  " failed: ")


def test_report_of_the_interrupted_file(interrupted_file, tmp_path):
    proc = run_report("report", interrupted_file, "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    kv = kv_status(interrupted_file)
    assert (f"PARTIAL: {kv['done']}/{kv['total']} tasks done"
            f" ({kv['pending']} pending, {kv['failed']} failed)"
            in proc.stdout)
    assert "note: study small: no task done yet" in proc.stdout
    rows = list(csv.DictReader(open(tmp_path / "tables" / "grid.csv")))
    assert sum(int(r["seeds"]) for r in rows) == int(kv["study.grid.done"])
