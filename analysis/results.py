"""Read a dposweep results file (dposweep_format 1: the layout written by
`dposweep run`, described under "HDF5 layout" in the design notes).

Only tasks whose status byte is 1 (done) are exposed: pending rows are NaN
and failed rows stop at the divergence, so neither belongs in a summary.
"""

from dataclasses import dataclass, field

import h5py
import numpy as np

FORMAT = 1
# The axes that, with regime and seed, make a task's coordinates; a "group"
# is one combination of these values (all regimes and seeds together).
GROUP_AXES = ("arms", "beta", "sigma", "samples", "eta")
METRICS = ("max_abs_delta", "mean_abs_delta", "value_gap")
STATUS_PENDING, STATUS_DONE, STATUS_FAILED = 0, 1, 2


class NotResultsFile(Exception):
    """The file is not a readable dposweep results file."""


def text(value):
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


def label(value):
    """Format an axis value the way tables and titles show it.

    Numbers print with up to 15 significant digits, so the 17-digit
    canonical form of 0.05 reads "0.05"; words such as "theory" stay.
    """
    value = text(value) if isinstance(value, (bytes, np.bytes_)) else value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.15g}"


@dataclass
class Study:
    """One study: its settings, axes and the coordinates of its done tasks.

    `index` holds the file rows of the done tasks; `coords` maps "regime",
    the GROUP_AXES and "seed" to arrays aligned with `index`, as labels
    (str) except "seed" (int).
    """

    name: str
    settings: dict
    axes: dict
    t: np.ndarray
    status: np.ndarray
    index: np.ndarray
    coords: dict
    group: h5py.Group = field(repr=False)

    @property
    def ntasks(self):
        """Number of tasks in the study's grid."""
        return len(self.status)

    def count(self, status):
        """Number of tasks with the given status byte."""
        return int(np.count_nonzero(self.status == status))

    def metric(self, name):
        """Trajectories of `name` for the done tasks, [len(index), len(t)]."""
        return self.group["traj"][name][...][self.index]

    def groups(self):
        """The study's groups in spec order, as (key, mask) pairs.

        key is a dict GROUP_AXES -> label, mask selects the done tasks of
        the group (all regimes and seeds).
        """
        keys = list(zip(*(self.coords[a] for a in GROUP_AXES)))
        unique = sorted(set(keys), key=self._order)
        code = {k: i for i, k in enumerate(unique)}
        codes = np.array([code[k] for k in keys], dtype=int)
        return [(dict(zip(GROUP_AXES, k)), codes == i)
                for i, k in enumerate(unique)]

    def regimes(self, mask=None):
        """Regime names present among the (masked) done tasks, spec order."""
        present = set(self.coords["regime"][mask if mask is not None else
                                            slice(None)])
        return [r for r in self.axes["regime"] if r in present]

    def varying(self):
        """The GROUP_AXES with more than one value in the spec."""
        return [a for a in GROUP_AXES if len(self.axes[a]) > 1]

    def _order(self, key):
        """Sort key of a group: the positions of its values on the axes."""
        return tuple(self.axes[a].index(v) if v in self.axes[a] else
                     len(self.axes[a]) for a, v in zip(GROUP_AXES, key))


@dataclass
class Results:
    """An open results file: run metadata and studies in spec order."""

    path: str
    name: str
    sha256: str
    spec: str
    studies: list
    handle: h5py.File = field(repr=False)

    @property
    def ntasks(self):
        """Number of tasks over all studies."""
        return sum(s.ntasks for s in self.studies)

    def count(self, status):
        """Number of tasks with the given status byte over all studies."""
        return sum(s.count(status) for s in self.studies)

    @property
    def partial(self):
        """True while some task is still pending (an interrupted sweep)."""
        return self.count(STATUS_PENDING) > 0

    def close(self):
        """Close the HDF5 file."""
        self.handle.close()


def open_results(path):
    """Open and check a results file; raise NotResultsFile if it is not one."""
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise NotResultsFile(_reason(err)) from None
    try:
        if "dposweep_format" not in handle.attrs or "studies" not in handle:
            raise NotResultsFile("HDF5 file without the dposweep attributes")
        version = int(handle.attrs["dposweep_format"])
        if version != FORMAT:
            raise NotResultsFile(f"unsupported dposweep_format {version}")
        order = [text(n) for n in handle["studies"].attrs["order"]]
        studies = [_study(n, handle["studies"][n]) for n in order]
        return Results(path=path, name=_root_text(handle, "name"),
                       sha256=_root_text(handle, "spec_sha256"),
                       spec=_root_text(handle, "spec"), studies=studies,
                       handle=handle)
    except NotResultsFile:
        handle.close()
        raise
    except (KeyError, OSError, ValueError, TypeError) as err:
        handle.close()
        raise NotResultsFile(f"malformed dposweep file ({err})") from None


def _reason(err):
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


def _root_text(handle, key):
    """A root attribute, or the dataset of chars a long value is stored in."""
    if key in handle.attrs:
        return text(handle.attrs[key])
    if key in handle:
        return text(handle[key][()])
    return ""


def _study(name, group):
    """Load one study's settings, axes and done-task coordinates."""
    attrs = group.attrs
    settings = {k: text(attrs[k]) if isinstance(attrs[k], (bytes, np.bytes_))
                else attrs[k].item()
                for k in ("iterations", "record_every", "seeds", "scale",
                          "rewards")}
    axes = {a: [label(v) for v in attrs["axis_" + a]]
            for a in ("regime",) + GROUP_AXES}
    tasks = group["tasks"]
    status = tasks["status"][...]
    index = np.flatnonzero(status == STATUS_DONE)
    names = [text(n) for n in tasks["regime"].attrs["names"]]
    eta_theory = tasks["eta_theory"][...][index].astype(bool)
    eta = np.array([label(e) for e in tasks["eta"][...][index]], dtype=object)
    eta[eta_theory] = "theory"
    coords = {"regime": np.array([names[r] for r in
                                  tasks["regime"][...][index]], dtype=object),
              "eta": eta,
              "seed": tasks["seed"][...][index]}
    for a in ("arms", "beta", "sigma", "samples"):
        coords[a] = np.array([label(v) for v in tasks[a][...][index]],
                             dtype=object)
    return Study(name=name, settings=settings, axes=axes,
                 t=group["traj"]["t"][...], status=status, index=index,
                 coords=coords, group=group)
