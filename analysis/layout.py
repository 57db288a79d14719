"""The results-file layout (dposweep_format 1 and 2), read generically.

Format 2 is format 1 plus datasets this package does not need (the root
attribute `numerics`, tasks/checksum, tasks/run, tasks/origin_*, /sources,
/runs/nodes, /runs/isa): both are read the same way.

A study's axes are its `axis_<name>` attributes (and `seed`), in the
study's index order: task index i has its coordinates at positions
`(i // stride[a]) % len[a]`, seed fastest.  Index order is taken from the
`index_order` attribute when it names exactly the study's axes; otherwise
it is regime, arms, beta, sigma, samples, eta, then any other axis, then
seed.  A study's metrics are the datasets under `traj/` other than `t`.

Nothing here reads a whole `[ntasks, nrec]` dataset: `read_rows` reads
the rows it is asked for in bounded blocks.  Nothing here sets global
state; every public function works on an open `h5py.File`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Union

import h5py
import numpy as np

# The dposweep_format values this package reads.
FORMATS = (1, 2)
STATUS_PENDING, STATUS_DONE, STATUS_FAILED = 0, 1, 2
STATUS_NAMES = ("pending", "done", "failed")
# The axes of format 1 in index order; seed comes last, any later axis
# goes between these and seed.
BASE_AXES = ("regime", "arms", "beta", "sigma", "samples", "eta")
# A block read holds at most this many bytes of one dataset; rows closer
# than GAP_BYTES are read together (HDF5's sieve buffer reads 64 KiB
# windows of a contiguous dataset anyway).
BLOCK_BYTES = 2 << 20
GAP_BYTES = 64 << 10

# A results file: a path, or an h5py.File the caller opened (and closes).
Source = Union[str, "os.PathLike[str]", h5py.File]


class NotResultsFile(Exception):
    """The file is not a readable dposweep results file."""


def text(value: Any) -> str:
    """Return an HDF5 string value as str.

    Accepts str, bytes, numpy bytes, and the array of chars (int8) a long
    text is stored in.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        value = value.astype(np.uint8).tobytes()
    elif isinstance(value, np.ndarray) and value.dtype.kind == "S":
        value = value.tobytes()
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace").rstrip("\0")
    return str(value)


@contextmanager
def open_file(source: Source) -> Iterator[h5py.File]:
    """The checked results file of `source`, open for reading.

    A path is opened here and closed on exit; an open h5py.File is checked
    and left open.  Raises NotResultsFile when it is not a results file.
    """
    if isinstance(source, h5py.File):
        check_file(source)
        yield source
        return
    handle = open_handle(source)
    try:
        yield handle
    finally:
        handle.close()


def open_handle(path: str | os.PathLike[str]) -> h5py.File:
    """Open and check a results file for reading; the caller closes it.

    Raises NotResultsFile when it is not a results file.
    """
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise NotResultsFile(_reason(err)) from None
    try:
        check_file(handle)
    except BaseException:
        handle.close()
        raise
    return handle


def check_file(handle: h5py.File) -> None:
    """Raise NotResultsFile unless `handle` holds the dposweep layout."""
    if ("dposweep_format" not in handle.attrs or "studies" not in handle
            or "order" not in handle["studies"].attrs):
        raise NotResultsFile("HDF5 file without the dposweep attributes")
    try:
        version = int(handle.attrs["dposweep_format"])
    except (TypeError, ValueError):
        version = None
    if version not in FORMATS:
        raise NotResultsFile(
            f"unsupported dposweep_format {handle.attrs['dposweep_format']}")


def _reason(err: OSError) -> str:
    """One-line reason why h5py could not open a file."""
    message = str(err)
    if isinstance(err, FileNotFoundError):
        return "no such file"
    if isinstance(err, IsADirectoryError):
        return "is a directory"
    if "truncated file" in message:
        return "truncated HDF5 file"
    if "signature not found" in message:
        return "not an HDF5 file"
    return "cannot open: " + " ".join(message.split())


def root_text(handle: h5py.File, key: str) -> str:
    """A root attribute, or the dataset of chars a long value is stored in."""
    if key in handle.attrs:
        return text(handle.attrs[key])
    if key in handle:
        return text(handle[key][()])
    return ""


def study_names(handle: h5py.File) -> list[str]:
    """The file's studies in spec order."""
    return [text(n) for n in handle["studies"].attrs["order"]]


@dataclass
class Layout:
    """One study's grid: axes in index order, their values, and metrics.

    `labels[a]` holds axis a's values in spec order: numbers (regime:
    names); the eta values are the step used, NaN where `eta_theory` says
    the step is the theory step (it depends on arms and beta).
    """

    name: str
    axes: tuple[str, ...]
    labels: dict[str, np.ndarray]
    eta_theory: np.ndarray
    t: np.ndarray
    metrics: tuple[str, ...]
    settings: dict[str, Any]
    group: h5py.Group = field(repr=False)

    @property
    def lengths(self) -> tuple[int, ...]:
        """Number of values of each axis, in index order."""
        return tuple(len(self.labels[a]) for a in self.axes)

    @property
    def ntasks(self) -> int:
        """Number of tasks in the study's grid."""
        return int(np.prod(self.lengths, dtype=np.int64))

    @property
    def nrec(self) -> int:
        """Number of recorded steps of every trajectory."""
        return len(self.t)

    def stride(self, axis: str) -> int:
        """Distance in task index between neighbours along `axis`."""
        after = self.lengths[self.axes.index(axis) + 1:]
        return int(np.prod(after, dtype=np.int64))

    def positions(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Axis -> position on that axis of each task index in `index`."""
        pos = np.unravel_index(np.asarray(index, dtype=np.int64),
                               self.lengths)
        return dict(zip(self.axes, pos))

    def flat_index(self, positions: Mapping[str, np.ndarray]) -> np.ndarray:
        """Task indices of the grid spanned by per-axis positions.

        Returns an array with one dimension per axis (index order); it
        ravels in ascending order when every position list ascends.
        """
        grids = np.ix_(*(np.asarray(positions[a], dtype=np.int64)
                         for a in self.axes))
        return np.ravel_multi_index(grids, self.lengths)

    def metric(self, name: str) -> h5py.Dataset:
        """The `[ntasks, nrec]` dataset of metric `name` (not read)."""
        if name not in self.metrics:
            raise KeyError(f"study {self.name}: no metric {name!r}"
                           f" (metrics: {', '.join(self.metrics)})")
        return self.group["traj"][name]

    def tasks(self, name: str) -> h5py.Dataset:
        """The per-task dataset tasks/<name> (not read)."""
        return self.group["tasks"][name]


def read_layout(handle: h5py.File, name: str) -> Layout:
    """The layout of study `name`.

    Raises KeyError for an unknown study and NotResultsFile when the
    study's attributes and datasets do not fit together.
    """
    if name not in handle["studies"]:
        raise KeyError(f"no study {name!r} (studies:"
                       f" {', '.join(study_names(handle))})")
    group = handle["studies"][name]
    try:
        return _layout(name, group)
    except (KeyError, ValueError, TypeError, IndexError) as err:
        raise NotResultsFile(f"malformed study {name} ({err})") from None


def _layout(name: str, group: h5py.Group) -> Layout:
    """read_layout without the error translation."""
    attrs = group.attrs
    axes = axis_order(group)
    lengths = {a: _axis_length(group, a) for a in axes}
    strides, step = {}, 1
    for a in reversed(axes):
        strides[a], step = step, step * lengths[a]
    ntasks = group["tasks"]["status"].shape[0]
    if step != ntasks or ("ntasks" in attrs and int(attrs["ntasks"]) != step):
        raise ValueError(f"axes give {step} tasks, the file has {ntasks}")
    labels, eta_theory = {}, np.zeros(0, dtype=bool)
    for a in axes:
        labels[a] = _axis_labels(group, a, lengths[a], strides[a])
        if a == "eta":
            at = np.arange(lengths[a]) * strides[a]
            eta_theory = group["tasks"]["eta_theory"][at].astype(bool)
            labels[a] = np.where(eta_theory, np.nan, labels[a])
    traj = group["traj"]
    metrics = tuple(m for m in traj if m != "t"
                    and isinstance(traj[m], h5py.Dataset)
                    and traj[m].shape[:1] == (ntasks,))
    # The engine's order (its metric table, which format 2 records in the
    # study's `metrics` attribute), not HDF5's alphabetical one.
    if "metrics" in attrs:
        table = [text(m) for m in np.atleast_1d(attrs["metrics"])]
        metrics = tuple(m for m in table if m in metrics) + tuple(
            m for m in metrics if m not in table)
    settings = {k: text(v) if isinstance(v, (bytes, str, np.bytes_))
                else (v.item() if np.ndim(v) == 0 else v)
                for k, v in attrs.items() if not k.startswith("axis_")}
    return Layout(name=name, axes=axes, labels=labels, eta_theory=eta_theory,
                  t=traj["t"][...], metrics=metrics, settings=settings,
                  group=group)


def axis_order(group: h5py.Group) -> tuple[str, ...]:
    """The study's axes in index order (see the module's comment)."""
    names = [k[len("axis_"):] for k in group.attrs if k.startswith("axis_")]
    if "seed" not in names:
        names.append("seed")
    if "index_order" in group.attrs:
        declared = text(group.attrs["index_order"]).split("(")[0]
        declared = [a.strip() for a in declared.split(",") if a.strip()]
        if sorted(declared) == sorted(names):
            return tuple(declared)
    later = [a for a in names if a not in BASE_AXES and a != "seed"]
    return tuple([a for a in BASE_AXES if a in names] + later + ["seed"])


def _axis_length(group: h5py.Group, axis: str) -> int:
    """Number of values of an axis (seed: the `seeds` count or list)."""
    if "axis_" + axis in group.attrs:
        return int(np.size(group.attrs["axis_" + axis]))
    seeds = group.attrs["seeds"]
    return int(np.size(seeds)) if np.ndim(seeds) else int(seeds)


def _axis_labels(group: h5py.Group, axis: str, length: int,
                 stride: int) -> np.ndarray:
    """An axis's values: a numeric attribute as it is, regime names, and
    otherwise (eta, seed, a text attribute) the tasks/<axis> values of the
    first task at each position."""
    value = group.attrs.get("axis_" + axis)
    if value is not None and np.asarray(value).dtype.kind in "iuf":
        return np.asarray(value)
    if axis == "regime":
        return np.array([text(v) for v in value])
    if axis in group["tasks"]:
        return group["tasks"][axis][np.arange(length) * stride]
    return np.array([text(v) for v in value])


def read_rows(dataset: h5py.Dataset, index: np.ndarray,
              column: int | None = None
              ) -> Iterator[tuple[int, int, np.ndarray]]:
    """Read the rows `index` (ascending task indices) of `dataset`.

    Yields (a, b, values): values[k] is row index[a + k] (only its
    `column` when given).  Each read is one slice of at most BLOCK_BYTES;
    rows whose gap is under GAP_BYTES share a slice, so the rows between
    them are read too but never kept.
    """
    index = np.asarray(index, dtype=np.int64)
    row_bytes = dataset.dtype.itemsize
    if column is None:
        row_bytes *= int(np.prod(dataset.shape[1:], dtype=np.int64))
    max_rows = max(1, BLOCK_BYTES // row_bytes)
    max_gap = max(1, GAP_BYTES // row_bytes)
    breaks = np.flatnonzero(np.diff(index) > max_gap) + 1
    edges = np.concatenate(([0], breaks, [index.size]))
    for a, end in zip(edges[:-1].tolist(), edges[1:].tolist()):
        while a < end:
            b = a + int(np.searchsorted(index[a:end], index[a] + max_rows))
            lo, hi = int(index[a]), int(index[b - 1]) + 1
            block = (dataset[lo:hi] if column is None
                     else dataset[lo:hi, column])
            yield a, b, block[index[a:b] - lo]
            a = b


def read_at(dataset: h5py.Dataset, index: np.ndarray,
            column: int | None = None) -> np.ndarray:
    """The rows `index` (ascending) of `dataset`, as one array."""
    shape = (len(index),) + (() if column is not None
                             else dataset.shape[1:])
    out = np.empty(shape, dtype=dataset.dtype)
    for a, b, values in read_rows(dataset, index, column):
        out[a:b] = values
    return out
