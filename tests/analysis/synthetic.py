"""Results files written with h5py in the layout of `dposweep run`
(README "Results file"), for tests that need sizes or axes the binary
cannot make quickly: many tasks, a later axis, more metrics.

Every value is a formula of the task index, so a test knows what a
reader must return without reading the file itself:

    traj/<metric>[i, k] = value(metric_number, i, k)
"""

import itertools

import h5py
import numpy as np

REGIMES = ("uniform", "mix-r", "mix-p", "mix-p-clip", "on-policy", "hybrid",
           "reference")
THEORY_ETA = 0.125  # the step the file records for eta "theory"


def value(metric_number, index, k):
    """traj/<metric number>[index, k] of a synthetic file."""
    return index + k / 1000.0 + metric_number * 1e7


def write_study(studies, name, axes, nrec, metrics, status,
                index_order=None, settings=None, data=None, t=None,
                fmt=1):
    """Write one study under the group `studies`.

    axes: list of (axis, values) in index order, seed last; eta values are
    numbers or "theory".  status: uint8 array, one per task.  index_order:
    the attribute's text (default: the axes, as dposweep writes it).
    settings: study attributes to set or replace (scale, rewards,
    ref_logits, ...).  data: metric -> [ntasks, nrec] array written instead
    of value().  t: the recorded steps (default 0, 1, ..., nrec - 1).
    fmt: 2 adds the per-task datasets of dposweep_format 2.
    """
    names = [a for a, _ in axes]
    values = dict(axes)
    assert names[-1] == "seed"
    ntasks = int(np.prod([len(v) for _, v in axes]))
    assert len(status) == ntasks
    g = studies.create_group(name)
    g.attrs.update({"iterations": np.int64(nrec - 1),
                    "record_every": np.int64(1),
                    "seeds": np.int64(len(values["seed"])),
                    "ntasks": np.int64(ntasks), "nrec": np.int64(nrec),
                    "max_arms": np.int32(max(values["arms"])),
                    "scale": "normalized", "rewards": "normal"})
    g.attrs.update(settings or {})
    g.attrs["index_order"] = index_order or (
        ",".join(names) + " (seed fastest)")
    for axis, vals in axes:
        if axis == "seed":
            continue
        if axis in ("regime", "eta"):
            g.attrs["axis_" + axis] = [str(v) for v in vals]
        else:
            g.attrs["axis_" + axis] = np.asarray(vals)
    # Coordinates by meshgrid in C order: seed fastest, like the radix.
    pos = [p.ravel() for p in np.meshgrid(
        *(np.arange(len(v)) for _, v in axes), indexing="ij")]
    at = dict(zip(names, pos))
    tasks = g.create_group("tasks")
    regime = tasks.create_dataset(
        "regime", data=np.array([REGIMES.index(values["regime"][p])
                                 for p in range(len(values["regime"]))],
                                dtype=np.int32)[at["regime"]])
    regime.attrs["names"] = list(REGIMES)
    for axis in names:
        if axis == "regime":
            continue
        vals = values[axis]
        if axis == "eta":
            theory = np.array([v == "theory" for v in vals])
            steps = np.array([THEORY_ETA if v == "theory" else v
                              for v in vals], dtype=float)
            tasks["eta"] = steps[at["eta"]]
            tasks["eta_theory"] = theory[at["eta"]].astype(np.uint8)
        else:
            tasks[axis] = np.asarray(vals)[at[axis]]
    tasks["status"] = np.asarray(status, dtype=np.uint8)
    done = tasks["status"][...] == 1
    tasks["wall_seconds"] = np.where(done, np.arange(ntasks) * 1e-3, np.nan)
    tasks["rank"] = np.where(done, 1, -1).astype(np.int32)
    if fmt >= 2:
        tasks["checksum"] = np.arange(ntasks, dtype=np.uint64) * 2654435761
        tasks["run"] = np.where(done, 0, -1).astype(np.int32)
        tasks["origin_run"] = np.where(done, 0, -1).astype(np.int32)
        tasks["origin_index"] = np.arange(ntasks, dtype=np.int64)
    traj = g.create_group("traj")
    traj["t"] = (np.arange(nrec, dtype=np.int64) if t is None
                 else np.asarray(t, dtype=np.int64))
    assert traj["t"].shape == (nrec,)
    block = 1 << 14
    for m, metric in enumerate(metrics):
        d = traj.create_dataset(metric, (ntasks, nrec), dtype=float)
        if data is not None and metric in data:
            d[...] = data[metric]
            continue
        for lo in range(0, ntasks, block):
            hi = min(ntasks, lo + block)
            rows = value(m, np.arange(lo, hi)[:, None], np.arange(nrec))
            # Rows of tasks not done hold data too: readers must not
            # show it.
            d[lo:hi] = rows
    return ntasks


def write_file(path, studies, fmt=1, attrs=None):
    """A results file of studies: a list of dicts with write_study's
    arguments (name, axes, nrec, metrics, status, index_order, settings,
    data, t).  fmt: the dposweep_format (2 adds its datasets: the root
    attribute numerics, per-task checksum, run and origin, /sources,
    /runs/nodes and /runs/isa).  attrs: root attributes to set."""
    with h5py.File(path, "w") as f:
        f.attrs.update({"dposweep_format": np.int32(fmt), "name": "synthetic",
                        "spec": "synthetic", "spec_sha256": "0" * 64})
        if fmt >= 2:
            f.attrs["numerics"] = np.int32(2)
            f.create_group("sources")["0"] = "synthetic.h5"
            runs = f.create_group("runs")
            runs["nodes"] = np.array([1], dtype=np.int32)
            runs["isa"] = np.array([b"x86-64-v3"])
        f.attrs.update(attrs or {})
        group = f.create_group("studies")
        group.attrs["order"] = [s["name"] for s in studies]
        for s in studies:
            write_study(group, fmt=fmt, **s)
    return path


def grid(axes):
    """The coordinates of every task, in index order (seed fastest)."""
    return list(itertools.product(*(v for _, v in axes)))
