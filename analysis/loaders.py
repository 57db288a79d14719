"""Loaders for notebooks and scripts: a tidy table of tasks, trajectories
as labelled arrays, and long CSV files.

    >>> import analysis
    >>> tasks = analysis.load("paper.h5")                  # pandas.DataFrame
    >>> delta = analysis.trajectories("paper.h5", "theory-exact",
    ...                               "max_abs_delta")    # xarray.DataArray
    >>> delta.sel(regime="mix-r", arms=5).median("seed")

Each reads only what it returns: the per-task datasets of the studies
asked for, and the rows of done tasks of one metric, in bounded blocks
(see layout.read_rows).  A file of 10^7 tasks is never read whole.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from .layout import (STATUS_DONE, STATUS_NAMES, Layout, NotResultsFile,
                     Source, open_file, read_at, read_layout, read_rows,
                     study_names, text)

# An export chunk holds at most this many bytes of trajectories.
EXPORT_BYTES = 8 << 20


def studies(source: Source) -> list[str]:
    """The names of the file's studies, in spec order."""
    with open_file(source) as handle:
        return study_names(handle)


def load(source: Source, study: str | None = None) -> pd.DataFrame:
    """One row per task of `study` (default: every study, in spec order).

    Columns: `study`, `index` (the task's index in its study), one column
    per axis in index order with the task's coordinate (numbers; `regime`
    as a category of names; `eta` is the step the task used and
    `eta_theory` says whether that is the theory step), `status`
    (category: pending, done, failed), one column per metric with its
    value at the last recorded step (NaN unless the task is done), and
    `wall_seconds`.  Raises KeyError for an unknown study and
    layout.NotResultsFile for a file that is not a results file.
    """
    with open_file(source) as handle:
        names = study_names(handle) if study is None else [study]
        layouts = [read_layout(handle, n) for n in names]
        regimes: list[str] = []
        for lay in layouts:
            regimes += [r for r in lay.labels["regime"] if r not in regimes]
        try:
            frames = [_study_frame(lay, names, regimes) for lay in layouts]
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise NotResultsFile(f"malformed dposweep file ({err})") from None
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)


def _study_frame(layout: Layout, studies: list[str],
                 regimes: list[str]) -> pd.DataFrame:
    """load() of one study; `studies` and `regimes` are the categories."""
    n = layout.ntasks
    status = layout.tasks("status")[...]
    columns: dict[str, Any] = {
        "study": pd.Categorical.from_codes(
            np.full(n, studies.index(layout.name), dtype=np.int32), studies),
        "index": np.arange(n, dtype=np.int64)}
    for axis in layout.axes:
        columns[axis] = _coordinate(layout, axis, regimes)
        if axis == "eta":
            columns["eta_theory"] = layout.tasks("eta_theory")[...].astype(
                bool)
    codes = np.where(status < len(STATUS_NAMES), status, -1).astype(np.int8)
    columns["status"] = pd.Categorical.from_codes(codes, STATUS_NAMES)
    done = np.flatnonzero(status == STATUS_DONE)
    for metric in layout.metrics:
        final = np.full(n, np.nan)
        if layout.nrec:
            final[done] = read_at(layout.metric(metric), done,
                                  column=layout.nrec - 1)
        columns[metric] = final
    columns["wall_seconds"] = layout.tasks("wall_seconds")[...]
    # The arrays are ours: no copy into pandas' consolidated blocks.
    return pd.DataFrame(columns, copy=False)


def _coordinate(layout: Layout, axis: str, regimes: list[str]) -> Any:
    """Every task's coordinate on `axis`, from tasks/<axis>."""
    values = layout.tasks(axis)[...]
    if axis != "regime":
        return values
    # The file stores regime codes; tasks/regime's `names` maps them.
    names = [text(v) for v in layout.tasks("regime").attrs["names"]]
    to_category = np.array([regimes.index(r) if r in regimes else -1
                            for r in names], dtype=np.int32)
    return pd.Categorical.from_codes(to_category[values], regimes)


def trajectories(source: Source, study: str, metric: str,
                 select: Mapping[str, Any] | None = None) -> xr.DataArray:
    """The trajectories of `metric` in `study` as a labelled array.

    Dimensions: the study's axes in index order (regime, arms, beta,
    sigma, samples, eta, any later axis, seed), labelled with their
    values, then `t` (the recorded steps).  The eta labels are the steps
    used; a theory step (which depends on arms and beta) is labelled NaN
    and flagged by the coordinate `eta_theory`.  Entries of tasks that are
    not done are NaN; the coordinates `done` (bool) and `index` (task
    index, to join with load()) span the axes.

    `select` maps an axis to one value or a list of values (eta may be
    "theory"): only those tasks are read, and that axis keeps only those
    labels (a length-1 dimension for one value).  Raises KeyError for an
    unknown study, metric, axis or value.
    """
    with open_file(source) as handle:
        layout = read_layout(handle, study)
        positions = select_positions(layout, select or {})
        return read_trajectories(layout, metric, positions)


def select_positions(layout: Layout, select: Mapping[str, Any]
                     ) -> dict[str, np.ndarray]:
    """Axis -> ascending positions of the selected values (all by default)."""
    unknown = set(select) - set(layout.axes)
    if unknown:
        raise KeyError(f"study {layout.name}: no axis"
                       f" {', '.join(sorted(unknown))}"
                       f" (axes: {', '.join(layout.axes)})")
    out = {}
    for axis in layout.axes:
        if axis not in select:
            out[axis] = np.arange(len(layout.labels[axis]))
            continue
        wanted = select[axis]
        if isinstance(wanted, (str, bytes)) or np.ndim(wanted) == 0:
            wanted = [wanted]
        out[axis] = np.unique(np.array(
            [_position(layout, axis, v) for v in wanted], dtype=np.int64))
    return out


def _position(layout: Layout, axis: str, value: Any) -> int:
    """The position of `value` on `axis`, or KeyError."""
    labels = layout.labels[axis]
    if axis == "eta" and isinstance(value, str) and value == "theory":
        hits = np.flatnonzero(layout.eta_theory)
    elif labels.dtype.kind in "US":
        hits = np.flatnonzero(labels == value) if isinstance(value, str) \
            else np.zeros(0, dtype=int)
    elif isinstance(value, (str, bytes)):
        hits = np.zeros(0, dtype=int)
    elif isinstance(value, float) and np.isnan(value):
        hits = np.flatnonzero(np.isnan(labels))
    else:
        hits = np.flatnonzero(labels == value)
    if not hits.size:
        raise KeyError(f"study {layout.name}: {axis} has no value {value!r}"
                       f" (values: {', '.join(map(str, labels))})")
    return int(hits[0])


def read_trajectories(layout: Layout, metric: str,
                      positions: Mapping[str, np.ndarray]) -> xr.DataArray:
    """trajectories() of the grid spanned by per-axis `positions`."""
    dataset = layout.metric(metric)
    flat = layout.flat_index(positions)
    index = flat.ravel()
    if index.size == layout.ntasks:
        status = layout.tasks("status")[...]
    else:
        status = read_at(layout.tasks("status"), index)
    done = status == STATUS_DONE
    values = np.full((index.size, layout.nrec), np.nan)
    where = np.flatnonzero(done)
    for a, b, rows in read_rows(dataset, index[where]):
        values[where[a:b]] = rows
    dims = layout.axes + ("t",)
    coords: dict[str, Any] = {a: layout.labels[a][positions[a]]
                              for a in layout.axes}
    coords["t"] = layout.t
    if "eta" in layout.axes:
        coords["eta_theory"] = ("eta", layout.eta_theory[positions["eta"]])
    coords["done"] = (layout.axes, done.reshape(flat.shape))
    coords["index"] = (layout.axes, flat)
    return xr.DataArray(values.reshape(flat.shape + (layout.nrec,)),
                        dims=dims, coords=coords, name=metric,
                        attrs={"study": layout.name, "metric": metric})


def export_csv(source: Source, outdir: str | os.PathLike[str],
               names: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """Write one long-format CSV per study into `outdir` (made if needed).

    DIR/<study>.csv has a header line and one line per done task and
    recorded step: study, index, the coordinates (as in load()), t, then
    every metric, numbers at full precision.  Pending and failed tasks are
    left out.  Each file is written under a temporary name and renamed
    into place.  `names` limits the export to those studies.  Returns
    (path, data lines) per file; raises KeyError for an unknown study
    (before writing anything) and OSError when a file cannot be written.
    """
    written = []
    with open_file(source) as handle:
        layouts = [read_layout(handle, name) for name in
                   (study_names(handle) if names is None else names)]
        os.makedirs(outdir, exist_ok=True)
        for layout in layouts:
            path = os.path.join(os.fspath(outdir), f"{layout.name}.csv")
            written.append((path, _write_long_csv(layout, path)))
    return written


def _write_long_csv(layout: Layout, path: str) -> int:
    """Write one study's long CSV to `path`; return its data lines."""
    tasks = _study_frame(layout, [layout.name],
                         list(layout.labels["regime"]))
    keep = ["study", "index"] + [c for c in tasks.columns
                                  if c in layout.axes or c == "eta_theory"]
    done = np.flatnonzero((tasks["status"] == "done").to_numpy())
    nrec, lines = layout.nrec, 0
    per_chunk = max(1, EXPORT_BYTES // max(1, 8 * nrec * len(layout.metrics)))
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", newline="") as out:
            header = keep + ["t"] + list(layout.metrics)
            out.write(",".join(header) + "\n")
            for start in range(0, done.size, per_chunk):
                chunk = done[start:start + per_chunk]
                frame = tasks.iloc[np.repeat(chunk, nrec)][keep].reset_index(
                    drop=True)
                frame["t"] = np.tile(layout.t, chunk.size)
                for metric in layout.metrics:
                    frame[metric] = read_at(layout.metric(metric),
                                            chunk).ravel()
                frame.to_csv(out, header=False, index=False)
                lines += len(frame)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return lines
