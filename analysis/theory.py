"""The theorems' bounds on max_abs_delta(t) and the check of a results file.

Conditions (model.md section 7): theory scale, rewards uniform on [0,1],
exact estimator (sigma 0 and samples 0), the default step eta = 1/(beta^2 K)
and theta(0) = theta_ref.  Under them

    uniform              max_abs_delta(t) <= 0.588^t
    mix-r, mix-p-clip    max_abs_delta(t) <= 0.5^(2^t - 1)
    mix-p                max_abs_delta(t) <= 0.611^(2^t - 1)
"""

from dataclasses import dataclass

import numpy as np

# (base, quadratic): bound = base^t, or base^(2^t - 1) when quadratic.
BOUNDS = {
    "uniform": (0.588, False),
    "mix-r": (0.5, True),
    "mix-p": (0.611, True),
    "mix-p-clip": (0.5, True),
}
REL_SLACK = 1e-9
ROUNDOFF = 1e-13


def bound(regime, t):
    """The theorem's bound on max_abs_delta at steps t (array), or None."""
    if regime not in BOUNDS:
        return None
    base, quadratic = BOUNDS[regime]
    t = np.asarray(t, dtype=float)
    with np.errstate(over="ignore", under="ignore"):
        exponent = np.exp2(t) - 1 if quadratic else t
        return np.power(base, exponent)


def study_applies(study):
    """Whether the study's settings meet the theorems' (scale, rewards)."""
    return (study.settings["scale"] == "theory"
            and study.settings["rewards"] == "uniform")


def group_applies(study, key):
    """Whether a group (GROUP_AXES -> label) meets the theorems' conditions."""
    return (study_applies(study) and float(key["sigma"]) == 0
            and int(float(key["samples"])) == 0 and key["eta"] == "theory")


def first_violations(rows, limit):
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
    arms: str
    beta: str
    seed: int
    step: int
    value: float
    bound: float

    def __str__(self):
        return (f"study {self.study} task {self.index}: regime {self.regime}"
                f" arms {self.arms} beta {self.beta} seed {self.seed}:"
                f" max_abs_delta {self.value:.6g} > bound {self.bound:.6g}"
                f" at step {self.step}")


@dataclass
class TheoryCheck:
    """Outcome of the check: per regime (checked, violating) and the cases."""

    counts: dict
    violations: list

    @property
    def passed(self):
        """True when no checked task violates its bound."""
        return not self.violations

    def lines(self):
        """Summary lines, one per regime with checked tasks."""
        if not self.counts:
            return ["theory check: no done task meets a theorem's conditions"]
        return [f"theory check: {r}: {c} tasks checked, {v} violating"
                for r, (c, v) in self.counts.items()]


def check(results):
    """Check every done task that meets a theorem's conditions."""
    counts = {r: [0, 0] for r in BOUNDS}
    violations = []
    for study in results.studies:
        if not study_applies(study):
            continue
        rows = None
        for key, mask in study.groups():
            if not group_applies(study, key):
                continue
            rows = study.metric("max_abs_delta") if rows is None else rows
            for regime in study.regimes(mask):
                limit = bound(regime, study.t)
                if limit is None:
                    continue
                members = np.flatnonzero(mask & (study.coords["regime"]
                                                 == regime))
                steps = first_violations(rows[members], limit)
                counts[regime][0] += len(members)
                counts[regime][1] += int(np.count_nonzero(steps >= 0))
                for i, step in zip(members[steps >= 0], steps[steps >= 0]):
                    violations.append(Violation(
                        study=study.name, index=int(study.index[i]),
                        regime=regime, arms=key["arms"], beta=key["beta"],
                        seed=int(study.coords["seed"][i]),
                        step=int(study.t[step]), value=float(rows[i][step]),
                        bound=float(limit[step])))
    return TheoryCheck(counts={r: tuple(c) for r, c in counts.items() if c[0]},
                       violations=violations)
