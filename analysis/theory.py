"""The theorems' bounds on max_abs_delta(t) and the check of a results file.

Conditions (docs/model.md): theory scale, rewards uniform on [0,1],
exact estimator (sigma 0 and samples 0), the default step eta = 1/(beta^2 K)
and theta(0) = theta_ref.  Under them

    uniform              max_abs_delta(t) <= 0.588^t
    mix-r, mix-p-clip    max_abs_delta(t) <= 0.5^(2^t - 1)
    mix-p                max_abs_delta(t) <= 0.611^(2^t - 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # the report's types, without an import cycle
    from .results import Group, Results, Study

# (base, quadratic): bound = base^t, or base^(2^t - 1) when quadratic.
BOUNDS = {
    "uniform": (0.588, False),
    "mix-r": (0.5, True),
    "mix-p": (0.611, True),
    "mix-p-clip": (0.5, True),
}
REL_SLACK = 1e-9
ROUNDOFF = 1e-13


def bound(regime: str, t: Sequence[float] | np.ndarray) -> np.ndarray | None:
    """The theorem's bound on max_abs_delta at steps t (array), or None."""
    if regime not in BOUNDS:
        return None
    base, quadratic = BOUNDS[regime]
    t = np.asarray(t, dtype=float)
    with np.errstate(over="ignore", under="ignore"):
        exponent = np.exp2(t) - 1 if quadratic else t
        return np.power(base, exponent)


def study_applies(study: Study) -> bool:
    """Whether the study's settings meet the theorems' (scale, rewards)."""
    return (study.settings["scale"] == "theory"
            and study.settings["rewards"] == "uniform")


def group_applies(study: Study, group: Group) -> bool:
    """Whether a group meets the theorems' conditions."""
    return (study_applies(study) and group.values["sigma"] == 0
            and group.values["samples"] == 0 and group.eta_theory)


def first_violations(rows: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Per row, the index of the first step above `limit`, or -1 if none.

    A row is checked until its first value at or below ROUNDOFF: after that
    it sits at round-off, which the bound (going on to 0) ignores.  NaN
    values (not computed) never violate.
    """
    rows = np.asarray(rows)
    active = ~np.logical_or.accumulate(rows <= ROUNDOFF, axis=1)
    above = active & (rows > limit * (1 + REL_SLACK))
    return np.where(above.any(axis=1), np.argmax(above, axis=1), -1)


@dataclass
class Violation:
    """A checked task whose max_abs_delta went above its bound."""

    study: str
    index: int
    regime: str
    arms: int
    beta: float
    seed: int
    step: int
    value: float
    bound: float

    def __str__(self) -> str:
        """The line the report prints after "VIOLATION: "."""
        return (f"study {self.study} task {self.index}: regime {self.regime}"
                f" arms {self.arms} beta {self.beta:.15g} seed {self.seed}:"
                f" max_abs_delta {self.value:.6g} > bound {self.bound:.6g}"
                f" at step {self.step}")


@dataclass
class TheoryCheck:
    """Outcome of the check: per regime (checked, violating) and the cases."""

    counts: dict[str, tuple[int, int]]
    violations: list[Violation]

    @property
    def passed(self) -> bool:
        """True when no checked task violates its bound."""
        return not self.violations

    def lines(self) -> list[str]:
        """Summary lines, one per regime with checked tasks."""
        if not self.counts:
            return ["theory check: no done task meets a theorem's conditions"]
        return [f"theory check: {r}: {c} tasks checked, {v} violating"
                for r, (c, v) in self.counts.items()]


def check(results: Results) -> TheoryCheck:
    """Check every done task that meets a theorem's conditions; reads the
    max_abs_delta rows of those groups only."""
    counts = {r: [0, 0] for r in BOUNDS}
    violations = []
    for study in results.studies:
        if not study_applies(study):
            continue
        for group in study.groups():
            if not group_applies(study, group):
                continue
            for curves in study.curves("max_abs_delta", group):
                limit = bound(curves.regime, study.t)
                if limit is None:
                    continue
                steps = first_violations(curves.rows, limit)
                counts[curves.regime][0] += len(curves.rows)
                counts[curves.regime][1] += int(np.count_nonzero(steps >= 0))
                for i in np.flatnonzero(steps >= 0):
                    violations.append(Violation(
                        study=study.name, index=int(curves.index[i]),
                        regime=curves.regime, arms=group.values["arms"],
                        beta=group.values["beta"],
                        seed=int(curves.seed[i]),
                        step=int(study.t[steps[i]]),
                        value=float(curves.rows[i, steps[i]]),
                        bound=float(limit[steps[i]])))
    return TheoryCheck(counts={r: (c[0], c[1]) for r, c in counts.items()
                               if c[0]},
                       violations=violations)
