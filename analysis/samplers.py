"""The talk's sampler comparison: expected reward and win rate of the four
algorithms of its tables, per reference spread, as a table and a figure.

    DIR/tables/<study>-samplers.csv|tex
    DIR/figures/<study>-samplers[-<page>].pdf|png

The talk's algorithms are regimes of dposweep: Vanilla DPO = `reference`
(pairs from pi_ref), On-policy DPO = `on-policy`, Hybrid GSHF = `hybrid`,
DPO-Mix-P = `mix-p`.  A study gets the comparison when it has done tasks
of at least two of them.  The metrics are the engine's `expected_reward`
(sum_y pi(y) r(y)) and `win_rate` (the probability that the policy's
answer beats the reference's under Bradley-Terry); files written before
dposweep recorded them have none, and the comparison is skipped.
"""

from __future__ import annotations

import csv
import math
import textwrap
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from . import stats
from .figures import AXIS_NAMES, color, save
from .results import Group, Study, label

# Regime -> the talk's name, in the talk's order.
SAMPLERS = {"reference": "Vanilla DPO", "on-policy": "On-policy DPO",
            "hybrid": "Hybrid GSHF", "mix-p": "DPO-Mix-P"}
METRICS = ("expected_reward", "win_rate")
METRIC_NAMES = {"expected_reward": "expected reward",
                "win_rate": "win rate against π_ref"}
SPREAD = "ref_spread"
# The table shows the metrics at the recorded steps nearest these
# fractions of T.
FRACTIONS = (1 / 3, 2 / 3, 1.0)
# Figure: one column per reference spread, two rows (win rate, expected
# reward) per combination of the other axes, at most MAX_GROUPS of them
# per figure.
MAX_GROUPS = 3
# The four samplers differ (unlike uniform and reference in the
# convergence figures): one line width for all.
WIDTH = 1.8

Row = dict[str, Any]


def applies(study: Study) -> bool:
    """Whether the study has done tasks of at least two of the samplers."""
    return sum(r in SAMPLERS for r in study.regimes()) >= 2


def missing(study: Study) -> list[str]:
    """The comparison's metrics that the study's file does not have."""
    return [m for m in METRICS if m not in study.layout.metrics]


def table_steps(t: np.ndarray) -> list[int]:
    """Indices of the recorded steps nearest T/3, 2T/3 and T (T the last
    recorded step; the earlier one on a tie)."""
    t = np.asarray(t, dtype=float)
    return [int(np.argmin(np.abs(t - f * t[-1]))) for f in FRACTIONS]


@dataclass
class Comparison:
    """One sampler in one group: its done seeds and, per metric, the
    quartiles (Q1, median, Q3) over seeds at every recorded step."""

    regime: str
    seeds: int
    band: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        """The talk's name of the sampler."""
        return SAMPLERS[self.regime]


def compare(study: Study) -> list[tuple[Group, list[Comparison]]]:
    """Per group with a sampler done (spec order), the samplers in the
    talk's order; reads those tasks' rows of the two metrics only."""
    out = []
    for group in study.groups():
        bands: dict[str, dict[str, np.ndarray]] = {}
        seeds: dict[str, int] = {}
        for metric in METRICS:
            for c in study.curves(metric, group, list(SAMPLERS)):
                bands.setdefault(c.regime, {})[metric] = stats.quantiles(
                    c.rows, axis=0)
                seeds[c.regime] = len(c.rows)
        found = [Comparison(r, seeds[r], bands[r]) for r in SAMPLERS
                 if r in bands]
        if found:
            out.append((group, found))
    return out


def columns(study: Study) -> tuple[str, ...]:
    """The CSV columns: study, algorithm, regime, the group axes, seeds,
    then per table step k = 1, 2, 3: t_k and the median and quartiles of
    each metric."""
    per_step: list[str] = []
    for k in (1, 2, 3):
        per_step.append(f"t_{k}")
        per_step += [f"{m}_{q}_{k}" for m in METRICS
                     for q in ("median", "q25", "q75")]
    return ("study", "algorithm", "regime") + study.group_axes + \
        ("seeds",) + tuple(per_step)


def rows(study: Study,
         compared: Sequence[tuple[Group, Sequence[Comparison]]]
         ) -> list[Row]:
    """The table rows (dicts keyed by columns(study)): per group, one row
    per sampler."""
    steps = table_steps(study.t)
    out = []
    for group, found in compared:
        key = {a: group.shown(a) for a in study.group_axes}
        for c in found:
            row: Row = dict(study=study.name, algorithm=c.name,
                            regime=c.regime, **key, seeds=c.seeds)
            for k, at in enumerate(steps, start=1):
                row[f"t_{k}"] = int(study.t[at])
                for m in METRICS:
                    q25, med, q75 = (float(v) for v in c.band[m][:, at])
                    row.update({f"{m}_median_{k}": med, f"{m}_q25_{k}": q25,
                                f"{m}_q75_{k}": q75})
            out.append(row)
    return out


def write_csv(table: Sequence[Row], study: Study, path: str) -> None:
    """Write the rows as CSV with a header line; floats at full
    precision."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns(study))
        writer.writeheader()
        writer.writerows(table)


def shown_axes(study: Study) -> list[str]:
    """The group axes the LaTeX and HTML tables show: those that vary,
    and the reference spread whenever the study has that axis."""
    varying = study.varying()
    return [a for a in study.group_axes if a in varying or a == SPREAD]


def value_text(metric: str, x: float, tex: bool = False) -> str:
    """A metric value as the talk shows it: win rate in percent, reward
    with three decimals."""
    if math.isnan(x):
        return "--"
    if metric == "win_rate":
        return f"{100 * x:.1f}" + ("\\%" if tex else "%")
    return f"{x:.3f}"


def cell_text(row: Row, metric: str, k: int, tex: bool = False) -> str:
    """"median [Q1, Q3]" of a metric at table step k."""
    med, q25, q75 = (value_text(metric, row[f"{metric}_{q}_{k}"], tex)
                     for q in ("median", "q25", "q75"))
    return f"{med} [{q25}, {q75}]"


TEX_AXES = {"arms": "$K$", "beta": r"$\beta$", "sigma": r"$\sigma$",
            "samples": "$n$", "eta": r"$\eta$", SPREAD: "ref.\\ spread"}


def write_latex(table: Sequence[Row], study: Study, path: str) -> None:
    """Write the rows as a booktabs tabular shaped like the talk's tables:
    algorithm, reference spread, then reward and win rate at three
    steps."""
    axes = shown_axes(study)
    fixed = ", ".join(f"{a} = {label(study.values(a)[0])}"
                      for a in study.group_axes if a not in axes)
    steps = [table[0][f"t_{k}"] for k in (1, 2, 3)] if table else []
    first = 3 + len(axes)
    header1 = (["", *[""] * len(axes), ""] +
               [f"\\multicolumn{{2}}{{c}}{{$t = {s}$}}" for s in steps])
    rules = " ".join(f"\\cmidrule(lr){{{first + 2 * i}-{first + 2 * i + 1}}}"
                     for i in range(len(steps)))
    header2 = (["algorithm"] + [TEX_AXES.get(a, a.replace("_", r"\_"))
                                for a in axes] + ["seeds"] +
               ["reward", "win rate"] * len(steps))
    lines = [
        f"% dposweep study {study.name}: the samplers compared, median"
        f" [Q1, Q3] over seeds ({study.settings.get('scale')} scale,"
        f" {study.settings.get('rewards')} rewards"
        f"{', ' + fixed if fixed else ''}).",
        "% reward: expected reward sum_y pi(y) r(y); win rate: probability"
        " that the policy's answer beats the reference's (Bradley-Terry).",
        "% Needs \\usepackage{booktabs}.",
        r"\begin{tabular}{l" + "r" * (len(header2) - 1) + "}",
        r"\toprule",
        " & ".join(header1) + r" \\",
        rules,
        " & ".join(header2) + r" \\",
        r"\midrule",
    ]
    previous = None
    for row in table:
        key = tuple(row[a] for a in study.group_axes)
        if previous is not None and key != previous:
            lines.append(r"\midrule")
        previous = key
        cells = ([row["algorithm"]] + [label(row[a]) for a in axes] +
                 [str(row["seeds"])])
        for k in (1, 2, 3):
            cells += [cell_text(row, m, k, tex=True) for m in METRICS]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _describe(study: Study, group: Group, axes: Sequence[str]) -> str:
    """"K=20, β=3" for the given axes of a group."""
    return ", ".join(f"{AXIS_NAMES.get(a, a)}={label(group.shown(a))}"
                     for a in axes)


def figures(study: Study,
            compared: Sequence[tuple[Group, Sequence[Comparison]]],
            outdir: str) -> list[str]:
    """Win rate and expected reward against t: median and IQR band per
    sampler, one column per reference spread, two rows per combination
    of the other varying axes.  Returns the names written."""
    if not compared:
        return []
    others = [a for a in study.varying() if a != SPREAD]
    spreads = (list(range(len(study.layout.labels[SPREAD])))
               if SPREAD in study.group_axes else [0])
    blocks: dict[tuple[int, ...], dict[int, tuple[Group, Any]]] = {}
    for group, found in compared:
        other = tuple(group.positions[a] for a in others)
        blocks.setdefault(other, {})[group.positions.get(SPREAD, 0)] = (
            group, found)
    keys = list(blocks)
    pages = math.ceil(len(keys) / MAX_GROUPS)
    present = [r for r in SAMPLERS
               if any(c.regime == r for _, f in compared for c in f)]
    names = []
    for page in range(pages):
        chunk = keys[page * MAX_GROUPS:(page + 1) * MAX_GROUPS]
        fig = Figure(figsize=(4.6 * len(spreads),
                              3.2 * 2 * len(chunk) + 0.6),
                     layout="constrained")
        axs = fig.subplots(2 * len(chunk), len(spreads), squeeze=False)
        for i, key in enumerate(chunk):
            for j, spread in enumerate(spreads):
                panels = (axs[2 * i, j], axs[2 * i + 1, j])
                if spread not in blocks[key]:
                    for ax in panels:
                        ax.remove()
                    continue
                group, found = blocks[key][spread]
                _draw(panels, study, group, found,
                      _describe(study, group, others +
                                ([SPREAD] if SPREAD in group.values
                                 else [])))
        title = (f"{study.name}: the samplers compared, median over seeds"
                 f" ({study.settings.get('scale')} scale,"
                 f" {study.settings.get('rewards')} rewards)")
        if pages > 1:
            title += f" [{page + 1}/{pages}]"
        fig.suptitle(textwrap.fill(title, int(55 * len(spreads))),
                     fontsize=11)
        handles: list[Any] = [Line2D([], [], color=color(r), lw=WIDTH,
                                     label=SAMPLERS[r]) for r in present]
        handles.append(Rectangle((0, 0), 1, 1, color="grey", alpha=0.2,
                                 label="IQR over seeds"))
        fig.legend(handles=handles, loc="center left",
                   bbox_to_anchor=(1.0, 0.5), frameon=False)
        suffix = f"-{page + 1}" if pages > 1 else ""
        names.append(save(fig, outdir, f"{study.name}-samplers{suffix}"))
    return names


def _draw(panels: Sequence[Any], study: Study, group: Group,
          found: Sequence[Comparison], title: str) -> None:
    """The win-rate and expected-reward panels of one group."""
    for ax, metric in zip(panels, ("win_rate", "expected_reward")):
        for c in found:
            lo, med, hi = c.band[metric]
            ax.fill_between(study.t, lo, hi, color=color(c.regime),
                            alpha=0.2, lw=0)
            ax.plot(study.t, med, color=color(c.regime), lw=WIDTH)
        ax.set_xlabel("step t")
        ax.set_ylabel(METRIC_NAMES[metric])
        ax.grid(True, alpha=0.3)
        if title:
            ax.set_title(title, fontsize=10)
