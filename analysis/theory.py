"""The theorems' bounds on max_abs_delta and the check of a results file.

The theorems' setting (docs/model.md, section 8): theory scale, rewards
uniform on [0,1], the default step eta = 1/(beta^2 K) (`eta: theory`) and
theta(0) = theta_ref with the uniform reference.  Every task starts at its
reference, but the theorems were stated for the uniform one, so only tasks
with `ref_spread` 0 (or no such axis) and no explicit `ref_logits` are
checked.  With the exact estimator (sigma 0 and samples 0):

    uniform              max_abs_delta(t) <= 0.588^t
    mix-r, mix-p-clip    max_abs_delta(t) <= 0.5^(2^t - 1)
    mix-p                max_abs_delta(t) <= 0.611^(2^t - 1)

which follow from the one-step bounds m(t+1) <= c m(t) (uniform) and
m(t+1) <= c m(t)^2 (the others) with m(0) <= 1; `check` also measures the
largest one-step factor of each regime (how tight c is).  With the
gaussian estimator (sigma > 0, samples 0), regime mix-r: the root mean
square over seeds of max_abs_delta at step ceil(log2(1/sigma)) is at most
14 sigma.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .results import label

if TYPE_CHECKING:  # the report's types
    from .results import Curves, Group, Results, Study

# (base, quadratic): bound = base^t, or base^(2^t - 1) when quadratic;
# base is also the proven one-step constant.
BOUNDS = {
    "uniform": (0.588, False),
    "mix-r": (0.5, True),
    "mix-p-clip": (0.5, True),
    "mix-p": (0.611, True),
}
REL_SLACK = 1e-9
ROUNDOFF = 1e-13
# The empirical-DPO theorem: regime and factor of sigma.
GAUSSIAN_REGIME = "mix-r"
GAUSSIAN_FACTOR = 14.0
METRIC = "max_abs_delta"


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
    return (study.settings.get("scale") == "theory"
            and study.settings.get("rewards") == "uniform"
            and METRIC in study.layout.metrics)


def uniform_reference(study: Study, group: Group) -> bool:
    """Whether the group's reference policy is the uniform one: no
    explicit ref_logits and ref_spread 0 (or no ref_spread axis)."""
    return (not study.explicit_reference
            and float(group.values.get("ref_spread", 0)) == 0)


def setting_applies(study: Study, group: Group) -> bool:
    """The theorems' setting, whatever the estimator."""
    return (study_applies(study) and group.eta_theory
            and uniform_reference(study, group))


def group_applies(study: Study, group: Group) -> bool:
    """Whether a group meets the exact theorems' conditions."""
    return (setting_applies(study, group) and group.values["sigma"] == 0
            and group.values["samples"] == 0)


def gaussian_applies(study: Study, group: Group) -> bool:
    """Whether a group has the gaussian estimator in the theorems' setting
    (the step condition T >= gaussian_step(sigma) is checked apart)."""
    return (setting_applies(study, group) and group.values["sigma"] > 0
            and group.values["samples"] == 0)


def gaussian_step(sigma: float) -> int:
    """The step ceil(log2(1/sigma)) of the empirical-DPO theorem (0 for
    sigma >= 1)."""
    return max(0, math.ceil(math.log2(1.0 / sigma)))


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


def one_step_factors(rows: np.ndarray, t: np.ndarray,
                     quadratic: bool) -> np.ndarray:
    """Per row and recorded step k, m(t+1) / m(t) (quadratic: / m(t)^2)
    with t = t[k]; NaN where the pair does not count.

    A pair counts when t[k+1] = t[k] + 1 (record_every 1) and the row is
    above ROUNDOFF at every recorded step up to t[k+1]: the steps before
    round-off, those the bound check checks.  Shape [rows, nrec - 1].
    """
    rows = np.asarray(rows, dtype=float)
    active = ~np.logical_or.accumulate(~(rows > ROUNDOFF), axis=1)
    counts = active[:, 1:] & (np.diff(np.asarray(t)) == 1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = rows[:, 1:] / rows[:, :-1] ** (2 if quadratic else 1)
    return np.where(counts, ratio, np.nan)


def describe(study: Study, group: Group) -> str:
    """A group's coordinates, e.g. "arms 5 beta 1 sigma 0.01 samples 0
    eta theory"."""
    return " ".join(f"{a} {label(group.shown(a))}" for a in study.group_axes)


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
class GaussianGroup:
    """One group of the empirical-DPO theorem: its mix-r seeds' root mean
    square of max_abs_delta at `step` (NaN when the step is not
    recorded: then the group is skipped) against 14 sigma."""

    study: str
    group: str
    sigma: float
    seeds: int
    step: int
    rms: float

    @property
    def limit(self) -> float:
        """The bound 14 sigma."""
        return GAUSSIAN_FACTOR * self.sigma

    @property
    def recorded(self) -> bool:
        """Whether the theorem's step is recorded (else: skipped)."""
        return not math.isnan(self.rms)

    @property
    def passed(self) -> bool:
        """Whether the group meets the bound (a skipped group does)."""
        return not self.recorded or self.rms <= self.limit * (1 + REL_SLACK)

    def __str__(self) -> str:
        """The group and its outcome, one line."""
        head = f"study {self.study}: {GAUSSIAN_REGIME} {self.group}"
        if not self.recorded:
            return f"{head}: step {self.step} not recorded, skipped"
        return (f"{head} ({self.seeds} seeds): rms of max_abs_delta"
                f" {self.rms:.6g} {'<=' if self.passed else '>'}"
                f" 14 sigma = {self.limit:.6g} at step {self.step}")


@dataclass
class Factor:
    """The largest one-step factor measured in a regime, and where: the
    task (study, index, arms, beta, seed) and the step t of m(t)."""

    regime: str
    value: float = math.nan
    pairs: int = 0
    tasks: int = 0
    study: str = ""
    index: int = -1
    arms: int = 0
    beta: float = math.nan
    seed: int = -1
    t: int = -1

    @property
    def constant(self) -> float:
        """The proven constant."""
        return BOUNDS[self.regime][0]

    @property
    def quadratic(self) -> bool:
        """Whether the factor is m(t+1) / m(t)^2 (else m(t+1) / m(t))."""
        return BOUNDS[self.regime][1]


@dataclass
class TheoryCheck:
    """Outcome of the check: per exact regime (checked, violating), the
    gaussian groups, the violations of both, and the one-step factors."""

    counts: dict[str, tuple[int, int]]
    violations: list[Violation | GaussianGroup]
    gaussian: list[GaussianGroup] = field(default_factory=list)
    factors: dict[str, Factor] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no checked task or group violates its bound."""
        return not self.violations

    def lines(self) -> list[str]:
        """Summary lines: one per exact regime with checked tasks, one for
        the gaussian groups, one per skipped gaussian group."""
        if not self.counts and not self.gaussian:
            return ["theory check: no done task meets a theorem's conditions"]
        out = [f"theory check: {r}: {c} tasks checked, {v} violating"
               for r, (c, v) in self.counts.items()]
        checked = [g for g in self.gaussian if g.recorded]
        if self.gaussian:
            failed = sum(not g.passed for g in checked)
            out.append(f"theory check: {GAUSSIAN_REGIME} gaussian (rms over"
                       f" seeds of max_abs_delta at step"
                       f" ceil(log2(1/sigma)) <= 14 sigma): {len(checked)}"
                       f" groups checked, {failed} violating")
        out += [f"theory check: {GAUSSIAN_REGIME} gaussian: {g}"
                for g in self.gaussian if not g.recorded]
        return out

    @property
    def measured(self) -> bool:
        """Whether some regime has a measured one-step factor."""
        return any(f.pairs for f in self.factors.values())


def check(results: Results) -> TheoryCheck:
    """Check every group of done tasks that meets a theorem's conditions
    and measure the one-step factors; reads the max_abs_delta rows of those
    groups only (of mix-r only for the gaussian theorem)."""
    out = TheoryCheck(counts={}, violations=[],
                      factors={r: Factor(r) for r in BOUNDS})
    counts = {r: [0, 0] for r in BOUNDS}
    for study in results.studies:
        if not study_applies(study):
            continue
        for group in study.groups():
            if group_applies(study, group):
                for curves in study.curves(METRIC, group, list(BOUNDS)):
                    bad = _check_exact(out, study, group, curves)
                    counts[curves.regime][0] += len(curves.rows)
                    counts[curves.regime][1] += bad
                    _measure(out.factors[curves.regime], study, group,
                             curves)
            elif gaussian_applies(study, group):
                _check_gaussian(out, study, group)
    out.counts = {r: (c[0], c[1]) for r, c in counts.items() if c[0]}
    return out


def _check_exact(out: TheoryCheck, study: Study, group: Group,
                 curves: Curves) -> int:
    """Check one regime's tasks of a group against its bound; add the
    violations to `out`; return their number."""
    limit = bound(curves.regime, study.t)
    steps = first_violations(curves.rows, limit)
    bad = np.flatnonzero(steps >= 0)
    for i in bad:
        out.violations.append(Violation(
            study=study.name, index=int(curves.index[i]),
            regime=curves.regime, arms=group.values["arms"],
            beta=group.values["beta"], seed=int(curves.seed[i]),
            step=int(study.t[steps[i]]),
            value=float(curves.rows[i, steps[i]]),
            bound=float(limit[steps[i]])))
    return len(bad)


def _measure(factor: Factor, study: Study, group: Group,
             curves: Curves) -> None:
    """Fold one regime's tasks of a group into its largest factor."""
    ratios = one_step_factors(curves.rows, study.t, factor.quadratic)
    counted = ~np.isnan(ratios)
    if not counted.any():
        return
    factor.pairs += int(counted.sum())
    factor.tasks += int(counted.any(axis=1).sum())
    row, k = np.unravel_index(np.nanargmax(ratios), ratios.shape)
    if math.isnan(factor.value) or ratios[row, k] > factor.value:
        factor.value = float(ratios[row, k])
        factor.study, factor.index = study.name, int(curves.index[row])
        factor.arms = int(group.values["arms"])
        factor.beta = float(group.values["beta"])
        factor.seed, factor.t = int(curves.seed[row]), int(study.t[k])


def _check_gaussian(out: TheoryCheck, study: Study, group: Group) -> None:
    """The empirical-DPO theorem for one group (when T is long enough)."""
    sigma = float(group.values["sigma"])
    step = gaussian_step(sigma)
    iterations = int(study.settings.get("iterations", study.t[-1]))
    if iterations < step:
        return
    curves = study.curves(METRIC, group, [GAUSSIAN_REGIME])
    if not curves:
        return
    at = np.flatnonzero(study.t == step)
    rows = curves[0].rows
    rms = (float(np.sqrt(np.mean(rows[:, at[0]] ** 2))) if at.size
           else math.nan)
    result = GaussianGroup(study=study.name, group=describe(study, group),
                           sigma=sigma, seeds=len(rows), step=step, rms=rms)
    out.gaussian.append(result)
    if not result.passed:
        out.violations.append(result)
