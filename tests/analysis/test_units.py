"""Bounds and quantiles, checked against hand values and numpy."""

import math

import numpy as np
import pytest

from analysis import stats, theory


def test_bounds():
    t = np.arange(4)
    assert theory.bound("uniform", t) == pytest.approx(0.588 ** t)
    assert theory.bound("mix-r", t) == pytest.approx(
        [1, 0.5, 0.5 ** 3, 0.5 ** 7])
    assert theory.bound("mix-p-clip", t) == pytest.approx(
        theory.bound("mix-r", t))
    assert theory.bound("mix-p", t) == pytest.approx(
        [1, 0.611, 0.611 ** 3, 0.611 ** 7])
    assert theory.bound("on-policy", t) is None
    assert theory.bound("mix-r", [3000])[0] == 0


def test_first_violations_stop_at_roundoff():
    limit = theory.bound("uniform", np.arange(4))
    rows = np.array([[1.0, 0.5, 0.3, 1e-14],     # under the bound
                     [1.0, 0.7, 0.1, 0.1],       # above at step 1
                     [1.0, 1e-14, 0.5, 0.5],     # round-off, then noise
                     [1.0, 0.5, np.nan, 0.1]])   # NaN is not checked
    assert list(theory.first_violations(rows, limit)) == [-1, 1, -1, -1]


def test_quantiles_match_numpy():
    x = np.random.default_rng(1).lognormal(size=11)
    assert stats.quantiles(x) == pytest.approx(
        np.percentile(x, [25, 50, 75]), rel=1e-12)


def test_quantiles_with_never():
    inf = math.inf
    assert stats.quantiles([1, 2, inf, inf]) == [1.75, inf, inf]
    assert stats.quantiles([inf]) == [inf, inf, inf]
    assert all(math.isnan(q) for q in stats.quantiles([np.nan]))


def test_first_below():
    rows = np.array([[1, 1e-3, 1e-7], [1, 1, 1]])
    assert list(stats.first_below(rows, [0, 10, 20], 1e-6)) == [20, math.inf]


def test_quantiles_along_an_axis():
    rng = np.random.default_rng(2)
    x = rng.lognormal(size=(9, 5))
    x[2, 1] = x[7, 1] = np.nan
    got = stats.quantiles(x, axis=0)
    assert got.shape == (3, 5)
    assert got == pytest.approx(np.nanpercentile(x, [25, 50, 75], axis=0),
                                rel=1e-12)
    # The same implementation as the 1-D form, column by column.
    for j in range(5):
        assert list(got[:, j]) == stats.quantiles(x[:, j])


def test_quantiles_along_an_axis_with_never_and_nothing():
    inf, nan = math.inf, math.nan
    x = np.array([[1, inf, nan], [2, inf, nan], [inf, 1, nan],
                  [inf, 2, nan]])
    got = stats.quantiles(x, axis=0)
    assert got[:, 0].tolist() == [1.75, inf, inf]
    assert got[:, 1].tolist() == [1.75, inf, inf]
    assert np.isnan(got[:, 2]).all()


def test_summarize():
    rows = np.array([[1.0, 1e-3, 1e-7], [1.0, 1.0, 1.0], [1.0, 1e-8, 0]])
    s = stats.summarize("mix-r", rows, np.array([0, 10, 20]), 1e-6)
    assert s.regime == "mix-r" and s.seeds == 3 and s.reached == 2
    assert s.band.shape == (3, 3)
    assert list(s.band[1]) == [1.0, 1e-3, 1e-7]
    assert s.final == stats.quantiles([1e-7, 1.0, 0])
    assert s.step == stats.quantiles([20, math.inf, 10])
