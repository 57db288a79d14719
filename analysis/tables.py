"""Per-study summary tables and the constants table (CSV and booktabs
LaTeX).

Summary tables: one row per group and regime, the median and quartiles
over seeds of the metric at the last recorded step, and of the first
recorded step at which the metric is below a threshold (inf when a seed
never gets there).  The constants table: per regime of the theorems, the
largest measured one-step factor next to the proven constant.  (The
samplers tables are in samplers.py.)
"""

from __future__ import annotations

import csv
import math
from typing import Any, Mapping, Sequence

from . import stats, theory
from .results import Group, Study, label

# The columns after the study's coordinates.
STAT_COLUMNS = ("seeds", "metric", "final_median", "final_q25", "final_q75",
                "threshold", "reached", "step_median", "step_q25",
                "step_q75")
TEX_AXES = {"arms": "$K$", "beta": r"$\beta$", "sigma": r"$\sigma$",
            "samples": "$n$", "eta": r"$\eta$"}

Row = dict[str, Any]


def columns(study: Study) -> tuple[str, ...]:
    """The columns of a study's table: study, regime, the group axes (in
    index order), then STAT_COLUMNS."""
    return ("study", "regime") + study.group_axes + STAT_COLUMNS


def summary_rows(study: Study,
                 summaries: Sequence[tuple[Group, Sequence[stats.Summary]]],
                 metric: str, threshold: float) -> list[Row]:
    """The table rows of a study (dicts keyed by columns(study)), in spec
    order, from the per-group summaries of `metric` at `threshold`.

    Coordinates are numbers, except eta "theory" for the theory step.
    """
    out = []
    for group, regimes in summaries:
        key = {a: group.shown(a) for a in study.group_axes}
        for s in regimes:
            q25, med, q75 = s.final
            s25, smed, s75 = s.step
            out.append(dict(study=study.name, regime=s.regime, **key,
                            seeds=s.seeds, metric=metric, final_median=med,
                            final_q25=q25, final_q75=q75,
                            threshold=threshold, reached=s.reached,
                            step_median=smed, step_q25=s25, step_q75=s75))
    return out


def write_csv(rows: Sequence[Row], study: Study, path: str) -> None:
    """Write rows as CSV with a header line; floats at full precision."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns(study))
        writer.writeheader()
        writer.writerows(rows)


def tex_number(x: float) -> str:
    """A float for LaTeX: $m \\times 10^{e}$, $0$, $\\infty$ or --."""
    if math.isnan(x):
        return "--"
    if math.isinf(x):
        return r"$\infty$"
    if x == 0:
        return "$0$"
    mantissa, exponent = f"{x:.2e}".split("e")
    power = int(exponent)
    return f"${mantissa}$" if power == 0 else \
        f"${mantissa} \\times 10^{{{power}}}$"


def tex_step(x: float) -> str:
    """A (median or quartile) step for LaTeX: integer-like, or $\\infty$."""
    if math.isnan(x):
        return "--"
    return r"$\infty$" if math.isinf(x) else f"{x:g}"


def write_latex(rows: Sequence[Row], study: Study, metric: str,
                threshold: float, path: str) -> None:
    """Write rows as a booktabs tabular, ready to \\input in a table."""
    varying = study.varying()
    fixed = ", ".join(f"{a} = {label(study.values(a)[0])}"
                      for a in study.group_axes if a not in varying)
    header = (["regime"] + [TEX_AXES.get(a, a.replace("_", r"\_"))
                            for a in varying] +
              ["seeds", "final median", "final [Q1, Q3]",
               "step median", "step [Q1, Q3]"])
    lines = [
        f"% dposweep study {study.name}: {metric} over seeds"
        f" ({study.settings['scale']} scale, {study.settings['rewards']}"
        f" rewards{', ' + fixed if fixed else ''}).",
        f"% final: at t = {int(study.t[-1])}; step: first recorded t with"
        f" {metric} < {threshold:g} ($\\infty$: not reached).",
        "% Needs \\usepackage{booktabs}.",
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for row in rows:
        cells = ([row["regime"]] + [label(row[a]) for a in varying] +
                 [str(row["seeds"]), tex_number(row["final_median"]),
                  f"[{tex_number(row['final_q25'])}, "
                  f"{tex_number(row['final_q75'])}]",
                  tex_step(row["step_median"]),
                  f"[{tex_step(row['step_q25'])}, "
                  f"{tex_step(row['step_q75'])}]"])
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# The constants table: per regime of the theorems, the largest measured
# one-step factor next to the proven constant, and the task where it is.
CONSTANT_COLUMNS = ("regime", "factor", "proven", "measured", "ratio",
                    "tasks", "pairs", "study", "index", "arms", "beta",
                    "seed", "t")


def constant_rows(factors: Mapping[str, theory.Factor]) -> list[Row]:
    """One row per regime (uniform, mix-r, mix-p-clip, mix-p): the factor
    measured (NaN and no task when no pair of steps counted)."""
    out = []
    for f in factors.values():
        found = f.pairs > 0
        out.append(dict(
            regime=f.regime,
            factor="m(t+1)/m(t)^2" if f.quadratic else "m(t+1)/m(t)",
            proven=f.constant, measured=f.value,
            ratio=f.value / f.constant, tasks=f.tasks, pairs=f.pairs,
            study=f.study if found else "", index=f.index if found else "",
            arms=f.arms if found else "", beta=f.beta if found else "",
            seed=f.seed if found else "", t=f.t if found else ""))
    return out


def write_constants(rows: Sequence[Row], base: str) -> None:
    """Write the constants table as base.csv and base.tex."""
    with open(base + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CONSTANT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "% dposweep: the largest one-step factor of max|delta| measured"
        " over the tasks of the theorems' setting (theory scale, uniform"
        " rewards,",
        "% exact estimator, eta theory, uniform reference), steps t, t+1"
        " both recorded and before round-off (> "
        f"{theory.ROUNDOFF:g}), next to the proven constant.",
        "% Needs \\usepackage{booktabs}.",
        r"\begin{tabular}{llrrrl}",
        r"\toprule",
        r"regime & factor & proven & measured & pairs & where \\",
        r"\midrule",
    ]
    for row in rows:
        factor = (r"$m_{t+1}/m_t^2$" if row["factor"].endswith("^2")
                  else r"$m_{t+1}/m_t$")
        where = (f"{row['study']} task {row['index']} ($K = {row['arms']}$,"
                 f" $\\beta = {label(row['beta'])}$, seed {row['seed']},"
                 f" $t = {row['t']}$)" if row["pairs"] else "--")
        measured = ("--" if math.isnan(row["measured"])
                    else f"{row['measured']:.4f}")
        lines.append(" & ".join([row["regime"], factor,
                                 f"{row['proven']:g}", measured,
                                 str(row["pairs"]),
                                 where.replace("_", r"\_")]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    with open(base + ".tex", "w") as f:
        f.write("\n".join(lines) + "\n")
