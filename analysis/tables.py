"""Per-study summary tables (CSV and booktabs LaTeX).

One row per group and regime: the median and quartiles over seeds of the
metric at the last recorded step, and of the first recorded step at which
the metric is below a threshold (inf when a seed never gets there).
"""

from __future__ import annotations

import csv
import math
from typing import Any, Sequence

from . import stats
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
