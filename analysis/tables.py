"""Per-study summary tables (CSV and booktabs LaTeX).

One row per group and regime: the median and quartiles over seeds of the
metric at the last recorded step, and of the first recorded step at which
the metric is below a threshold (inf when a seed never gets there).
"""

import csv
import math

import numpy as np

from . import stats
from .results import GROUP_AXES

COLUMNS = ("study", "regime") + GROUP_AXES + (
    "seeds", "metric", "final_median", "final_q25", "final_q75",
    "threshold", "reached", "step_median", "step_q25", "step_q75")
TEX_AXES = {"arms": "$K$", "beta": r"$\beta$", "sigma": r"$\sigma$",
            "samples": "$n$", "eta": r"$\eta$"}


def summary_rows(study, metric, threshold):
    """The table rows of a study (dicts keyed by COLUMNS), spec order."""
    values = study.metric(metric)
    out = []
    for key, mask in study.groups():
        for regime in study.regimes(mask):
            rows = values[mask & (study.coords["regime"] == regime)]
            steps = stats.first_below(rows, study.t, threshold)
            q25, med, q75 = stats.quantiles(stats.final(rows))
            s25, smed, s75 = stats.quantiles(steps)
            out.append(dict(study=study.name, regime=regime, **key,
                            seeds=len(rows), metric=metric, final_median=med,
                            final_q25=q25, final_q75=q75, threshold=threshold,
                            reached=int(np.isfinite(steps).sum()),
                            step_median=smed, step_q25=s25, step_q75=s75))
    return out


def write_csv(rows, path):
    """Write rows as CSV with a header line; floats at full precision."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def tex_number(x):
    """A float for LaTeX: $m \\times 10^{e}$, $0$, $\\infty$ or --."""
    if math.isnan(x):
        return "--"
    if math.isinf(x):
        return r"$\infty$"
    if x == 0:
        return "$0$"
    mantissa, exponent = f"{x:.2e}".split("e")
    exponent = int(exponent)
    return f"${mantissa}$" if exponent == 0 else \
        f"${mantissa} \\times 10^{{{exponent}}}$"


def tex_step(x):
    """A (median or quartile) step for LaTeX: integer-like, or $\\infty$."""
    if math.isnan(x):
        return "--"
    return r"$\infty$" if math.isinf(x) else f"{x:g}"


def write_latex(rows, study, metric, threshold, path):
    """Write rows as a booktabs tabular, ready to \\input in a table."""
    varying = study.varying()
    fixed = ", ".join(f"{a} = {study.axes[a][0]}" for a in GROUP_AXES
                      if a not in varying)
    header = (["regime"] + [TEX_AXES[a] for a in varying] +
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
        cells = ([row["regime"]] + [row[a] for a in varying] +
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
