"""Build a report directory from a results file.

    DIR/index.html               figures, tables, theory check, metadata
    DIR/figures/<study>-<metric>[-<page>].pdf|png   convergence grids
    DIR/figures/paper-figure.pdf|png               the authors' two panels
    DIR/tables/<study>.csv|tex                      summary per group, regime

Each study is read one group at a time (Study.curves), so a report needs
memory for one group's trajectories, not for a whole study's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

from . import figures, stats, tables, theory
from .index import write_index
from .results import (STATUS_DONE, STATUS_FAILED, STATUS_PENDING, Group,
                      Results, Study, open_results)

# Per group, the summaries of its regimes.
Summaries = list[tuple[Group, Sequence[stats.Summary]]]


@dataclass
class Report:
    """What a report contains; `studies` holds (study, figures, rows)."""

    results: Results
    metric: str
    threshold: float
    outdir: str
    studies: list[tuple[Study, list[str], list[tables.Row]]] = field(
        default_factory=list)
    paper: str | None = None
    notes: list[str] = field(default_factory=list)
    check: theory.TheoryCheck | None = None

    @property
    def index(self) -> str:
        """Path of the index page."""
        return os.path.join(self.outdir, "index.html")

    @property
    def nfigures(self) -> int:
        """Number of figures written (each as PDF and PNG)."""
        return sum(len(f) for _, f, _ in self.studies) + bool(self.paper)

    @property
    def ntables(self) -> int:
        """Number of tables written (each as CSV and LaTeX)."""
        return sum(1 for _, _, rows in self.studies if rows)

    def status_line(self) -> str:
        """Done/total, with the pending and failed counts."""
        res = self.results
        return (f"{res.count(STATUS_DONE)}/{res.ntasks} tasks done"
                f" ({res.count(STATUS_PENDING)} pending,"
                f" {res.count(STATUS_FAILED)} failed)")


def summarize_study(study: Study, metric: str,
                    threshold: float) -> Summaries:
    """Per group (spec order), the summary of each regime's done seeds."""
    return [(group, [stats.summarize(c.regime, c.rows, study.t, threshold)
                     for c in study.curves(metric, group)])
            for group in study.groups()]


def make_report(path: str, outdir: str, metric: str = "max_abs_delta",
                threshold: float = 1e-6) -> Report:
    """Write the report of results file `path` into `outdir`.

    Raises results.NotResultsFile when `path` is not a results file and
    OSError when the report cannot be written.
    """
    results = open_results(path)
    try:
        report = Report(results, metric, threshold, outdir)
        figdir = os.path.join(outdir, "figures")
        tabdir = os.path.join(outdir, "tables")
        os.makedirs(figdir, exist_ok=True)
        os.makedirs(tabdir, exist_ok=True)
        for study in results.studies:
            if not study.count(STATUS_DONE):
                report.notes.append(f"study {study.name}: no task done yet")
                report.studies.append((study, [], []))
                continue
            if metric not in study.layout.metrics:
                report.notes.append(f"study {study.name}: no metric {metric}")
                report.studies.append((study, [], []))
                continue
            summaries = summarize_study(study, metric, threshold)
            names = figures.convergence_figures(study, summaries, metric,
                                                figdir)
            rows = tables.summary_rows(study, summaries, metric, threshold)
            base = os.path.join(tabdir, study.name)
            tables.write_csv(rows, study, base + ".csv")
            tables.write_latex(rows, study, metric, threshold, base + ".tex")
            report.studies.append((study, names, rows))
        report.paper, note = figures.paper_figure(results, figdir)
        if note:
            report.notes.append(note)
        report.check = theory.check(results)
        write_index(report.index, report)
        return report
    finally:
        results.close()
