"""Convergence figures per study and the paper's two-panel figure.

Figures are matplotlib.figure.Figure objects saved straight to files:
pyplot is never imported and the backend never chosen, so importing this
module (or making a report from a notebook) leaves matplotlib as it was.
"""

from __future__ import annotations

import math
import os
import textwrap
from typing import Any, Iterable, Sequence

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from . import stats, theory
from .results import Group, Results, Study, label

# One colour per regime in every figure (tab10, the authors' palette).
COLORS = {r: matplotlib.colormaps["tab10"](i) for i, r in enumerate(
    ("uniform", "mix-r", "mix-p", "mix-p-clip", "on-policy", "hybrid",
     "reference"))}
# Later regimes draw thinner, so that identical curves (uniform and
# reference share S when theta_ref = 0) stay visible.
WIDTHS = {r: 2.6 - 0.25 * i for i, r in enumerate(COLORS)}
# A regime not listed above (a later one) draws in this style.
OTHER_COLOR, OTHER_WIDTH = matplotlib.colormaps["tab10"](9), 1.0
# The authors' names for the samplers, used in the paper's figure.
PAPER_NAMES = {"uniform": "DPO-Unif", "mix-r": "DPO-Mix-R",
               "mix-p": "DPO-Mix-P", "mix-p-clip": "DPO-Mix-P*",
               "on-policy": "On-policy", "hybrid": "Hybrid",
               "reference": "Reference"}
# Short names of the axes in titles; an axis not listed shows its name.
AXIS_NAMES = {"arms": "K", "beta": "β", "sigma": "σ", "samples": "n",
              "eta": "η"}
# Axis labels of the metrics; a metric not listed shows its name.
METRIC_NAMES = {"max_abs_delta": "max |δ|", "mean_abs_delta": "mean |δ|",
                "value_gap": "V* − V(π)"}
# Log axes cannot show 0 (exact round-off) or negative round-off of
# value_gap: such values are drawn at this floor.
FLOOR = 1e-17
# A grid has one column per value of the last varying axis (4 columns when
# it has more than MAX_COLUMNS values) and at most MAX_ROWS rows; more
# panels go to further figures ("pages").
MAX_COLUMNS = 6
MAX_ROWS = 5
DPI = 100


def save(fig: Figure, outdir: str, name: str, dpi: int = DPI) -> str:
    """Write fig as name.pdf and name.png under outdir; return name.

    The layout and the tight bounding box are computed once, for both
    files: savefig(bbox_inches="tight") would lay the figure out and
    measure every text twice per file, most of a report's time.  fig
    keeps that layout: draw nothing more on it after saving.
    """
    fig.draw_without_rendering()  # the layout engine places the axes
    fig.set_layout_engine(None)  # and stay there: no layout per file
    bbox = fig.get_tightbbox().padded(
        matplotlib.rcParams["savefig.pad_inches"])
    for ext in ("pdf", "png"):
        fig.savefig(os.path.join(outdir, f"{name}.{ext}"), dpi=dpi,
                    bbox_inches=bbox)
    return name


def color(regime: str) -> Any:
    """The colour of a regime in every figure."""
    return COLORS.get(regime, OTHER_COLOR)


def width(regime: str) -> float:
    """The line width of a regime's median."""
    return WIDTHS.get(regime, OTHER_WIDTH)


def describe(group: Group, axes: Iterable[str]) -> str:
    """Short text for a group, e.g. "K=20, β=3" for the given axes."""
    return ", ".join(f"{AXIS_NAMES.get(a, a)}={label(group.shown(a))}"
                     for a in axes)


def floored(values: Any) -> Any:
    """Values raised to FLOOR, for a log axis."""
    return values.clip(min=FLOOR)


def draw_panel(ax: Axes, study: Study, group: Group,
               summaries: Sequence[stats.Summary], metric: str) -> bool:
    """One panel: median and IQR per regime, and bounds where they apply.

    Returns whether the panel shows bounds.
    """
    show_bounds = (metric == "max_abs_delta"
                   and theory.group_applies(study, group))
    for s in summaries:
        lo, med, hi = s.band
        ax.fill_between(study.t, floored(lo), floored(hi),
                        color=color(s.regime), alpha=0.2, lw=0)
        ax.plot(study.t, floored(med), color=color(s.regime),
                lw=width(s.regime))
        limit = theory.bound(s.regime, study.t) if show_bounds else None
        if limit is not None:
            keep = limit >= FLOOR
            ax.plot(study.t[keep], limit[keep], color=color(s.regime),
                    ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step t")
    ax.set_ylabel(METRIC_NAMES.get(metric, metric))
    ax.grid(True, which="major", alpha=0.3)
    return show_bounds


def legend_handles(regimes: Sequence[str], bounds: bool) -> list[Any]:
    """Legend entries: one line per regime, plus the bound's style."""
    handles: list[Any] = [Line2D([], [], color=color(r), lw=width(r),
                                 label=r) for r in regimes]
    if bounds:
        handles.append(Line2D([], [], color="grey", ls="--", lw=1,
                              label="theorem bound"))
    handles.append(Rectangle((0, 0), 1, 1, color="grey", alpha=0.2,
                             label="IQR over seeds"))
    return handles


def grid_shape(study: Study, ngroups: int) -> tuple[int, int]:
    """(columns, panels per figure) for a study's convergence figures."""
    varying = study.varying()
    ncols = len(study.values(varying[-1])) if varying else 1
    ncols = min(ncols if ncols <= MAX_COLUMNS else 4, ngroups)
    return ncols, ncols * MAX_ROWS


def convergence_figures(
        study: Study,
        summaries: Sequence[tuple[Group, Sequence[stats.Summary]]],
        metric: str, outdir: str) -> list[str]:
    """Grids of panels, one panel per group (see grid_shape), from the
    per-group, per-regime summaries of `metric` (report.summarize_study).

    Returns the names of the figures written (without extension).
    """
    if not summaries:
        return []
    varying = study.varying()
    fixed = [a for a in study.group_axes if a not in varying]
    ncols, per_page = grid_shape(study, len(summaries))
    pages = math.ceil(len(summaries) / per_page)
    names = []
    for page in range(pages):
        chunk = summaries[page * per_page:(page + 1) * per_page]
        nrows = math.ceil(len(chunk) / ncols)
        width, height = (4.2, 3.2) if ncols > 1 else (7, 4.5)
        fig = Figure(figsize=(width * ncols, height * nrows + 0.6),
                     layout="constrained")
        axs = fig.subplots(nrows, ncols, squeeze=False)
        bounds = False
        for ax, (group, regimes) in zip(axs.flat, chunk):
            bounds |= draw_panel(ax, study, group, regimes, metric)
            if varying:
                ax.set_title(describe(group, varying), fontsize=10)
        for ax in axs.flat[len(chunk):]:
            ax.remove()
        title = (f"{study.name}: {metric}, median over seeds"
                 f" ({study.settings['scale']} scale,"
                 f" {study.settings['rewards']} rewards"
                 f"{', ' + describe(chunk[0][0], fixed) if fixed else ''})")
        if pages > 1:
            title += f" [{page + 1}/{pages}]"
        fig.suptitle(textwrap.fill(title, int(12 * width * ncols)),
                     fontsize=11)
        fig.legend(handles=legend_handles(study.regimes(), bounds),
                   loc="center left", bbox_to_anchor=(1.0, 0.5),
                   frameon=False)
        suffix = f"-{page + 1}" if pages > 1 else ""
        names.append(save(fig, outdir, f"{study.name}-{metric}{suffix}"))
    return names


def paper_settings(results: Results) -> list[tuple[str, Study, Group]]:
    """The exact and sampled settings for the paper's figure.

    Returns [(title, study, group)] for the panels found: the first group
    of exact tasks (sigma 0, samples 0) and of sampled tasks (samples > 0)
    among normalized-scale, normal-reward studies, preferring the studies
    named authors-exact and authors-sampled.
    """
    candidates = [s for s in results.studies
                  if s.settings["scale"] == "normalized"
                  and s.settings["rewards"] == "normal"]
    candidates.sort(key=lambda s: not s.name.startswith("authors-"))
    panels = []
    for title, wanted in (("exact", lambda g: g.values["sigma"] == 0
                           and g.values["samples"] == 0),
                          ("sampled", lambda g: g.values["samples"] > 0)):
        found = [(title, s, g) for s in candidates
                 for g in s.groups() if wanted(g)]
        panels.extend(found[:1])
    return panels


def paper_figure(results: Results, outdir: str, name: str = "paper-figure",
                 dpi: int = DPI) -> tuple[str | None, str | None]:
    """The authors' plot: Param Diff (mean_abs_delta) against t, log scale.

    Exact runs are drawn as thick dashed lines (thinning a little from
    regime to regime, so that identical curves stay visible), sampled
    ("empirical") ones as thin solid lines, one line per regime (median
    over seeds).  Returns (name, note): note is None when both panels were
    drawn; name is None when no study has the authors' settings.
    """
    panels = paper_settings(results)
    if not panels:
        return None, ("paper figure skipped: no normalized-scale,"
                      " normal-reward study with done tasks")
    fig = Figure(figsize=(8 * len(panels), 6))
    axs = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, study, group) in zip(axs.flat, panels):
        exact = title == "exact"
        kind = "exact" if exact else "empirical"
        for curves in study.curves("mean_abs_delta", group):
            _, med, _ = stats.quantiles(curves.rows, axis=0)
            sampler = PAPER_NAMES.get(curves.regime, curves.regime)
            ax.plot(study.t, floored(med), color=color(curves.regime),
                    ls="--" if exact else "-",
                    lw=width(curves.regime) + 1 if exact else 1,
                    label=f"{sampler} ({kind})")
        ax.set_yscale("log")
        ax.set_xlabel("# Updates: $t$", fontsize=15)
        ax.set_ylabel("Param Diff", fontsize=15)
        ax.set_title(f"{title} ({study.name}: "
                     f"{describe(group, ('arms', 'beta', 'samples', 'eta'))})",
                     fontsize=12)
        ax.legend(fontsize=11)
    fig.tight_layout()
    save(fig, outdir, name, dpi)
    note = None
    if len(panels) < 2:
        missing = {"exact", "sampled"} - {p[0] for p in panels}
        note = f"paper figure: no {missing.pop()} setting, one panel only"
    return name, note
