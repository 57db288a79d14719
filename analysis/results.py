"""The report's view of a results file: its studies, each with its tasks
(from loaders.load), its groups and their curves (from the trajectories
loader), read one group at a time.

A group is one combination of the axes other than regime and seed (arms,
beta, sigma, samples, eta and any later axis); its curves are the done
tasks' trajectories, per regime.  Only done tasks are summarized: pending
rows are NaN and failed rows stop at the divergence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import h5py
import numpy as np
import pandas as pd

from .layout import (STATUS_DONE, STATUS_FAILED, STATUS_PENDING, Layout,
                     NotResultsFile, open_handle, read_layout, root_text,
                     study_names)
from .loaders import load, read_trajectories

__all__ = ["Curves", "Group", "NotResultsFile", "Results", "STATUS_DONE",
           "STATUS_FAILED", "STATUS_PENDING", "Study", "label",
           "open_results"]

# The axes that are not part of a group.
OUTER_AXES = ("regime", "seed")


def label(value: Any) -> str:
    """An axis value as tables and titles show it: up to 15 significant
    digits (0.05 reads "0.05"), words and integers as they are."""
    if isinstance(value, (float, np.floating)):
        return f"{value:.15g}"
    return str(value)


@dataclass
class Group:
    """One combination of the group axes with at least one done task.

    `positions` and `values` map each group axis to its position and
    value (eta: the step, NaN for the theory step, see `eta_theory`);
    `regimes` lists the regimes with a done task here, in spec order.
    """

    positions: dict[str, int]
    values: dict[str, Any]
    eta_theory: bool
    regimes: list[str]

    def shown(self, axis: str) -> Any:
        """The value tables show: "theory" for the theory step."""
        return "theory" if axis == "eta" and self.eta_theory else \
            self.values[axis]


@dataclass
class Curves:
    """The done tasks of one group and regime: their trajectories
    `[tasks, nrec]`, task indices and seeds."""

    regime: str
    rows: np.ndarray
    index: np.ndarray
    seed: np.ndarray


@dataclass
class Study:
    """One study: its layout and the tasks table of loaders.load().

    `explicit_reference` says that the file gives the reference policy's
    logits (a `ref_logits` attribute of the study or of the file) rather
    than drawing it (`ref_spread`; spread 0 is the uniform reference).
    """

    layout: Layout
    tasks: pd.DataFrame = field(repr=False)
    explicit_reference: bool = False
    _groups: list[Group] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The study's name."""
        return self.layout.name

    @property
    def settings(self) -> dict[str, Any]:
        """The study's attributes other than its axes (scale, rewards...)."""
        return self.layout.settings

    @property
    def t(self) -> np.ndarray:
        """The recorded steps."""
        return self.layout.t

    @property
    def ntasks(self) -> int:
        """Number of tasks in the study's grid."""
        return self.layout.ntasks

    @property
    def group_axes(self) -> tuple[str, ...]:
        """The axes that make a group, in index order."""
        return tuple(a for a in self.layout.axes if a not in OUTER_AXES)

    def count(self, status: int) -> int:
        """Number of tasks with the given status byte."""
        return int(np.count_nonzero(self.tasks["status"].cat.codes.to_numpy()
                                    == status))

    def varying(self) -> list[str]:
        """The group axes with more than one value in the spec."""
        return [a for a in self.group_axes if len(self.layout.labels[a]) > 1]

    def values(self, axis: str) -> list[Any]:
        """An axis's values as tables show them ("theory" for the theory
        step)."""
        labels = self.layout.labels[axis].tolist()
        if axis == "eta":
            return ["theory" if th else v
                    for v, th in zip(labels, self.layout.eta_theory)]
        return labels

    def groups(self) -> list[Group]:
        """The groups with at least one done task, in spec order."""
        if self._groups is None:
            self._groups = self._find_groups()
        return self._groups

    def _find_groups(self) -> list[Group]:
        """groups() without the cache."""
        lay = self.layout
        done = self.tasks["index"].to_numpy()[
            self.tasks["status"].cat.codes.to_numpy() == STATUS_DONE]
        pos = lay.positions(done)
        axes = self.group_axes
        lengths = [len(lay.labels[a]) for a in axes]
        ids = np.ravel_multi_index([pos[a] for a in axes], lengths)
        out = []
        for gid in np.unique(ids):
            at = dict(zip(axes, (int(p) for p in
                                 np.unravel_index(gid, lengths))))
            regimes = np.unique(pos["regime"][ids == gid])
            out.append(Group(
                positions=at,
                values={a: lay.labels[a][p].item() for a, p in at.items()},
                eta_theory=bool("eta" in at
                                and lay.eta_theory[at["eta"]]),
                regimes=[str(lay.labels["regime"][r]) for r in regimes]))
        return out

    def regimes(self) -> list[str]:
        """Regime names with a done task, in spec order."""
        present = {r for g in self.groups() for r in g.regimes}
        return [r for r in self.layout.labels["regime"] if r in present]

    def curves(self, metric: str, group: Group,
               regimes: Sequence[str] | None = None) -> list[Curves]:
        """The done tasks' trajectories of `metric` in `group`, per regime
        (spec order; only `regimes` when given); reads those rows only."""
        names = list(self.layout.labels["regime"])
        wanted = [r for r in group.regimes
                  if regimes is None or r in regimes]
        if not wanted:
            return []
        positions = {"seed": np.arange(len(self.layout.labels["seed"])),
                     "regime": np.array([names.index(r) for r in wanted])}
        positions.update({a: np.array([p]) for a, p in
                          group.positions.items()})
        array = read_trajectories(self.layout, metric, positions)
        # Plain numpy on the array's regime axis (the first): xarray's
        # sel costs more than the read.
        read = list(array["regime"].to_numpy())
        values = array.to_numpy()
        done_all, index_all = (array[c].to_numpy() for c in ("done",
                                                              "index"))
        out = []
        for regime in wanted:
            at = read.index(regime)
            done = done_all[at].ravel()
            index = index_all[at].ravel()[done]
            seed_at = self.layout.positions(index)["seed"]
            out.append(Curves(
                regime=regime,
                rows=values[at].reshape(-1, self.layout.nrec)[done],
                index=index, seed=self.layout.labels["seed"][seed_at]))
        return out


@dataclass
class Results:
    """An open results file: run metadata and studies in spec order."""

    path: str
    name: str
    sha256: str
    spec: str
    studies: list[Study]
    handle: h5py.File = field(repr=False)
    numerics: int | None = None

    @property
    def ntasks(self) -> int:
        """Number of tasks over all studies."""
        return sum(s.ntasks for s in self.studies)

    def count(self, status: int) -> int:
        """Number of tasks with the given status byte over all studies."""
        return sum(s.count(status) for s in self.studies)

    @property
    def partial(self) -> bool:
        """True while some task is still pending (an interrupted sweep)."""
        return self.count(STATUS_PENDING) > 0

    def close(self) -> None:
        """Close the HDF5 file."""
        self.handle.close()


def open_results(path: str | os.PathLike[str]) -> Results:
    """Open and check a results file; raise NotResultsFile if it is not one.

    The caller closes it (Results.close).
    """
    handle = open_handle(path)
    try:
        root_reference = "ref_logits" in handle.attrs
        studies = []
        for name in study_names(handle):
            layout = read_layout(handle, name)
            studies.append(Study(
                layout, load(handle, name),
                explicit_reference=(root_reference
                                    or "ref_logits" in layout.settings)))
        numerics = handle.attrs.get("numerics")
        return Results(path=os.fspath(path), name=root_text(handle, "name"),
                       sha256=root_text(handle, "spec_sha256"),
                       spec=root_text(handle, "spec"), studies=studies,
                       handle=handle,
                       numerics=None if numerics is None else int(numerics))
    except NotResultsFile:
        handle.close()
        raise
    except (KeyError, OSError, ValueError, TypeError) as err:
        handle.close()
        raise NotResultsFile(f"malformed dposweep file ({err})") from None
