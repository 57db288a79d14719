"""Summaries across seeds: quantiles (one implementation, for tables and
figures alike), first-passage steps and per-regime summaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

QUARTILES = (0.25, 0.5, 0.75)


def quantiles(values: np.ndarray | Sequence[float],
              qs: Sequence[float] = QUARTILES, axis: int | None = None
              ) -> list[float] | np.ndarray:
    """Linear-interpolation quantiles of `values`, ignoring NaN.

    Unlike numpy, an infinite neighbour gives inf rather than NaN, so a
    first-passage step of inf ("never") sorts last and propagates; where
    no value is left the quantile is NaN (without a warning).  With
    `axis` None: a list, one float per q over all values; else an array
    `[len(qs), ...]` of the quantiles along `axis`.
    """
    x = np.asarray(values, dtype=float)
    if axis is None:
        return quantiles(x.ravel(), qs, axis=0).tolist()
    x = np.sort(np.moveaxis(x, axis, 0), axis=0)  # NaN sorts last
    n = np.count_nonzero(~np.isnan(x), axis=0)
    out = np.full((len(qs),) + x.shape[1:], np.nan)
    if x.shape[0] == 0:
        return out
    for k, q in enumerate(qs):
        h = np.maximum(n - 1, 0) * q
        lo = np.floor(h).astype(np.intp)
        hi = np.ceil(h).astype(np.intp)
        frac = h - lo
        xlo = np.take_along_axis(x, lo[None], axis=0)[0]
        xhi = np.take_along_axis(x, hi[None], axis=0)[0]
        with np.errstate(invalid="ignore"):
            between = xlo + (xhi - xlo) * frac
        value = np.where((frac == 0) | (xlo == xhi), xlo,
                         np.where(np.isinf(xhi), np.inf, between))
        out[k] = np.where(n > 0, value, np.nan)
    return out


def first_below(rows: np.ndarray, t: np.ndarray,
                threshold: float) -> np.ndarray:
    """Per row, the first recorded step t at which the value is < threshold.

    Rows that never go below give inf.
    """
    below = np.asarray(rows) < threshold
    hit = below.any(axis=1)
    steps = np.full(below.shape[0], np.inf)
    steps[hit] = np.asarray(t)[np.argmax(below[hit], axis=1)]
    return steps


def final(rows: np.ndarray) -> np.ndarray:
    """The value at the last recorded step of each row."""
    return np.asarray(rows)[:, -1]


@dataclass
class Summary:
    """One regime of one group, over its done seeds.

    `band` holds the quartiles (Q1, median, Q3) at each recorded step,
    `final` those of the value at the last step, `step` those of the first
    step below the threshold (inf: never); `reached` counts the seeds that
    got below it.
    """

    regime: str
    seeds: int
    band: np.ndarray
    final: list[float]
    reached: int
    step: list[float]


def summarize(regime: str, rows: np.ndarray, t: np.ndarray,
              threshold: float) -> Summary:
    """The Summary of trajectories `rows` `[seeds, nrec]`."""
    steps = first_below(rows, t, threshold)
    return Summary(regime=regime, seeds=len(rows),
                   band=quantiles(rows, axis=0), final=quantiles(final(rows)),
                   reached=int(np.isfinite(steps).sum()),
                   step=quantiles(steps))
