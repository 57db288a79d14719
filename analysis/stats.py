"""Summaries across seeds: medians, quartiles and first-passage steps."""

import warnings

import numpy as np


def quantiles(values, qs=(0.25, 0.5, 0.75)):
    """Linear-interpolation quantiles of `values`, ignoring NaN.

    Unlike numpy, an infinite neighbour gives inf rather than NaN, so a
    first-passage step of inf ("never") sorts last and propagates.  Returns
    NaN for every q when no finite-or-infinite value is left.
    """
    x = np.sort(np.asarray(values, dtype=float))
    x = x[~np.isnan(x)]
    if x.size == 0:
        return [float("nan")] * len(qs)
    out = []
    for q in qs:
        h = (x.size - 1) * q
        lo, hi = int(np.floor(h)), int(np.ceil(h))
        frac = h - lo
        if frac == 0 or x[lo] == x[hi]:
            out.append(float(x[lo]))
        elif np.isinf(x[hi]):
            out.append(float("inf"))
        else:
            out.append(float(x[lo] + (x[hi] - x[lo]) * frac))
    return out


def band(rows):
    """Median, 25th and 75th percentile across rows (seeds) per column.

    Columns with no finite value give NaN without a warning.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, med, hi = np.nanpercentile(rows, [25, 50, 75], axis=0)
    return med, lo, hi


def first_below(rows, t, threshold):
    """Per row, the first recorded step t at which the value is < threshold.

    Rows that never go below give inf.
    """
    below = np.asarray(rows) < threshold
    hit = below.any(axis=1)
    steps = np.full(below.shape[0], np.inf)
    steps[hit] = np.asarray(t)[np.argmax(below[hit], axis=1)]
    return steps


def final(rows):
    """The value at the last recorded step of each row."""
    return np.asarray(rows)[:, -1]
