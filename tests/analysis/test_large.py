"""The loaders on synthetic files (synthetic.py): memory and bytes read on
a large file stay far below its size, and axes and metrics beyond those
of today's dposweep are read generically."""

import io
import tracemalloc

import h5py
import numpy as np
import pytest

from conftest import run_report
from synthetic import THEORY_ETA, grid, value, write_file

import analysis

METRICS = ["max_abs_delta", "mean_abs_delta", "value_gap"]
# 40,000 tasks of 128 recorded steps: 41 MB per metric.
BIG_AXES = [("regime", ["uniform", "mix-r"]), ("arms", [2, 3, 5, 8, 13]),
            ("beta", [0.5, 1.0, 2.0, 4.0, 8.0]), ("sigma", [0.0, 0.1]),
            ("samples", [0]), ("eta", ["theory", 0.5]),
            ("seed", list(range(200)))]
BIG_TASKS = 40000
NREC = 128
SMALL_AXES = [("regime", ["mix-r"]), ("arms", [3]), ("beta", [1.0]),
              ("sigma", [0.0]), ("samples", [0]), ("eta", ["theory"]),
              ("seed", [0, 1, 2])]


def big_status():
    """The first tenth done, a task every 997 done, some failed."""
    status = np.zeros(BIG_TASKS, dtype=np.uint8)
    status[:BIG_TASKS // 10] = 1
    status[BIG_TASKS // 10::997] = 1
    status[5::1009] = 2
    return status


@pytest.fixture(scope="module")
def large_file(tmp_path_factory):
    """Two studies: `big` (BIG_TASKS tasks, a tenth done) and `small`."""
    path = tmp_path_factory.mktemp("large") / "large.h5"
    return write_file(path, [
        dict(name="big", axes=BIG_AXES, nrec=NREC, metrics=METRICS,
             status=big_status()),
        dict(name="small", axes=SMALL_AXES, nrec=NREC, metrics=METRICS,
             status=np.array([1, 0, 2]))])


def traj_bytes(path, study):
    """Size of a study's [ntasks, nrec] datasets together."""
    with h5py.File(path, "r") as f:
        return sum(f["studies"][study]["traj"][m].nbytes for m in METRICS)


def peak_memory(fn):
    """(result of fn(), peak bytes allocated while it ran)."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class CountingFile(io.FileIO):
    """A file that counts the bytes h5py reads from it."""

    nread = 0

    def readinto(self, buffer):
        n = super().readinto(buffer)
        self.nread += n or 0
        return n


def bytes_read(path, fn):
    """Bytes read from path while fn(h5py.File) runs."""
    raw = CountingFile(path, "r")
    with h5py.File(raw, "r") as f:
        fn(f)
    return raw.nread


def test_values_of_the_large_file(large_file):
    tasks = analysis.load(large_file, "big")
    status = big_status()
    done = np.flatnonzero(status == 1)
    assert len(tasks) == BIG_TASKS
    assert (tasks["status"].cat.codes.to_numpy() == status).all()
    final = tasks["value_gap"].to_numpy()
    assert np.array_equal(final[done], value(2, done, NREC - 1))
    assert np.isnan(np.delete(final, done)).all()
    array = analysis.trajectories(large_file, "big", "mean_abs_delta")
    flat = array.values.reshape(BIG_TASKS, NREC)
    assert np.array_equal(flat[done], value(1, done[:, None],
                                            np.arange(NREC)))
    assert np.isnan(np.delete(flat, done, axis=0)).all()


def test_load_memory_is_a_small_part_of_the_file(large_file):
    tasks, peak = peak_memory(lambda: analysis.load(large_file, "big"))
    total = traj_bytes(large_file, "big")
    assert total > 100e6
    # The table itself (about 100 bytes a task) and little more.
    assert peak < 2 * tasks.memory_usage(deep=True).sum()
    assert peak < total / 10


def test_trajectories_memory_is_its_result(large_file):
    array, peak = peak_memory(
        lambda: analysis.trajectories(large_file, "big", "value_gap"))
    one_metric = traj_bytes(large_file, "big") / len(METRICS)
    assert array.nbytes == one_metric
    # No second copy of the result and no other metric: the result plus
    # bounded blocks.
    assert peak < 1.25 * array.nbytes


def test_one_small_study_reads_a_tiny_part(large_file):
    size = large_file.stat().st_size
    assert size > 100e6
    for fn in (lambda f: analysis.load(f, "small"),
               lambda f: analysis.trajectories(f, "small", "value_gap"),
               lambda f: analysis.trajectories(f, "big", "value_gap",
                                               select={"arms": 3,
                                                       "beta": 2.0,
                                                       "sigma": 0.0,
                                                       "eta": "theory"})):
        assert bytes_read(large_file, fn) < size / 100


def test_done_rows_only(large_file):
    one_metric = traj_bytes(large_file, "big") / len(METRICS)
    # A tenth of the tasks is done: their rows (and HDF5's 64 KiB read
    # windows around the scattered ones), not the whole dataset.
    n = bytes_read(large_file,
                   lambda f: analysis.trajectories(f, "big", "value_gap"))
    assert n < 0.3 * one_metric
    # load: every task's coordinates, the last step of done rows only.
    n = bytes_read(large_file, lambda f: analysis.load(f, "big"))
    assert n < 0.3 * one_metric * len(METRICS)


def test_reading_a_whole_file_is_counted(large_file):
    # The counter works: reading a dataset whole reads at least its size.
    n = bytes_read(large_file,
                   lambda f: f["studies/big/traj/value_gap"][...])
    assert n >= traj_bytes(large_file, "big") / len(METRICS)


# A later axis (ref_spread, between eta and seed) and later metrics.
LATER_AXES = [("regime", ["uniform", "mix-r", "mix-p"]), ("arms", [2, 4]),
              ("beta", [1.0]), ("sigma", [0.0]), ("samples", [0]),
              ("eta", [0.5, "theory"]), ("ref_spread", [0.0, 0.5, 2.0]),
              ("seed", [0, 1, 2, 3])]
LATER_METRICS = ["expected_reward", "kl_ref", "max_abs_delta",
                 "mean_abs_delta", "value_gap", "win_rate"]


@pytest.mark.parametrize("index_order", [
    None,  # the attribute names ref_spread
    "regime,arms,beta,sigma,samples,eta,seed (seed fastest)",  # it does not
])
def test_later_axes_and_metrics(tmp_path, index_order):
    ntasks = len(grid(LATER_AXES))
    status = np.arange(ntasks) % 3 == 0
    path = write_file(tmp_path / "later.h5", [dict(
        name="later", axes=LATER_AXES, nrec=6, metrics=LATER_METRICS,
        status=status.astype(np.uint8), index_order=index_order)])
    tasks = analysis.load(path)
    names = [a for a, _ in LATER_AXES]
    assert list(tasks.columns) == (
        ["study", "index"] + names[:6] + ["eta_theory", "ref_spread", "seed",
                                          "status"] + LATER_METRICS +
        ["wall_seconds"])
    for row, want in zip(tasks.itertuples(index=False), grid(LATER_AXES)):
        coords = dict(zip(names, want))
        assert row.ref_spread == coords["ref_spread"]
        assert row.seed == coords["seed"]
        assert row.eta == (THEORY_ETA if coords["eta"] == "theory"
                           else coords["eta"])
    array = analysis.trajectories(path, "later", "win_rate")
    assert array.dims == tuple(names) + ("t",)
    assert list(array["ref_spread"].values) == [0.0, 0.5, 2.0]
    flat = array.values.reshape(ntasks, 6)
    done = np.flatnonzero(status)
    assert np.array_equal(flat[done], value(LATER_METRICS.index("win_rate"),
                                            done[:, None], np.arange(6)))
    assert np.isnan(flat[~status]).all()
    one = array.sel(regime="mix-r", arms=4, eta=0.5, ref_spread=2.0, seed=3)
    index = int(one["index"].values.ravel()[0])
    assert tasks.loc[index, ["regime", "arms", "eta", "ref_spread",
                             "seed"]].tolist() == ["mix-r", 4, 0.5, 2.0, 3]


def test_report_with_a_later_axis(tmp_path):
    axes = [("regime", ["uniform", "mix-r"]), ("arms", [2]), ("beta", [1.0]),
            ("sigma", [0.0]), ("samples", [0]), ("eta", [0.5, "theory"]),
            ("ref_spread", [0.0, 2.0]), ("seed", [0, 1])]
    path = write_file(tmp_path / "later.h5", [dict(
        name="later", axes=axes, nrec=6, metrics=LATER_METRICS,
        status=np.ones(len(grid(axes)), dtype=np.uint8))])
    proc = run_report("report", path, "-o", tmp_path / "rep",
                      "--metric", "win_rate")
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "rep" / "tables" / "later.csv").read_text()
    assert lines.startswith("study,regime,arms,beta,sigma,samples,eta,"
                            "ref_spread,seeds,metric,")
    # 2 eta x 2 ref_spread groups, 2 regimes each, in spec order.
    rows = [line.split(",")[:8] for line in lines.splitlines()[1:]]
    assert [(r[1], r[6], r[7]) for r in rows] == [
        (regime, eta, spread) for eta in ("0.5", "theory")
        for spread in ("0.0", "2.0") for regime in ("uniform", "mix-r")]
    figures = {p.name for p in (tmp_path / "rep" / "figures").iterdir()}
    assert figures == {"later-win_rate.png", "later-win_rate.pdf",
                       "paper-figure.png", "paper-figure.pdf"}
