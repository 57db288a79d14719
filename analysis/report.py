"""Build a report directory from a results file.

    DIR/index.html               figures, tables, theory check, metadata
    DIR/figures/<study>-<metric>[-<page>].pdf|png   convergence grids
    DIR/figures/paper-figure.pdf|png               the authors' two panels
    DIR/tables/<study>.csv|tex                      summary per group, regime
    DIR/figures/<study>-samplers[-<page>].pdf|png  the samplers compared
    DIR/tables/<study>-samplers.csv|tex             (the talk's tables)
    DIR/tables/constants.csv|tex                    the theorems' constants

Each study is read one group at a time (Study.curves), so a report needs
memory for one group's trajectories, not for a whole study's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

from . import figures, samplers, stats, tables, theory
from .index import write_index
from .results import (STATUS_DONE, STATUS_FAILED, STATUS_PENDING, Group,
                      Results, Study, open_results)

# Per group, the summaries of its regimes.
Summaries = list[tuple[Group, Sequence[stats.Summary]]]


@dataclass
class Report:
    """What a report contains; `studies` holds (study, figures, rows);
    `samplers` maps a study's name to its comparison (figures, rows);
    `constants` holds the constants table's rows (empty: not written)."""

    results: Results
    metric: str
    threshold: float
    outdir: str
    studies: list[tuple[Study, list[str], list[tables.Row]]] = field(
        default_factory=list)
    paper: str | None = None
    notes: list[str] = field(default_factory=list)
    check: theory.TheoryCheck | None = None
    samplers: dict[str, tuple[list[str], list[tables.Row]]] = field(
        default_factory=dict)
    constants: list[tables.Row] = field(default_factory=list)

    @property
    def index(self) -> str:
        """Path of the index page."""
        return os.path.join(self.outdir, "index.html")

    @property
    def nfigures(self) -> int:
        """Number of figures written (each as PDF and PNG)."""
        return (sum(len(f) for _, f, _ in self.studies) + bool(self.paper)
                + sum(len(f) for f, _ in self.samplers.values()))

    @property
    def ntables(self) -> int:
        """Number of tables written (each as CSV and LaTeX)."""
        return (sum(1 for _, _, rows in self.studies if rows)
                + sum(1 for _, rows in self.samplers.values() if rows)
                + bool(self.constants))

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
            compare_samplers(report, study, figdir, tabdir)
        report.paper, note = figures.paper_figure(results, figdir)
        if note:
            report.notes.append(note)
        report.check = theory.check(results)
        write_constants(report, tabdir)
        write_index(report.index, report)
        return report
    finally:
        results.close()


def compare_samplers(report: Report, study: Study, figdir: str,
                     tabdir: str) -> None:
    """The samplers table and figure of a study that has at least two of
    the talk's samplers (a note when its file lacks the metrics)."""
    if not samplers.applies(study):
        return
    lacking = samplers.missing(study)
    if lacking:
        report.notes.append(
            f"study {study.name}: samplers table skipped: no"
            f" {' or '.join(lacking)} in the file (written before dposweep"
            " recorded them)")
        return
    compared = samplers.compare(study)
    names = samplers.figures(study, compared, figdir)
    rows = samplers.rows(study, compared)
    base = os.path.join(tabdir, f"{study.name}-samplers")
    samplers.write_csv(rows, study, base + ".csv")
    samplers.write_latex(rows, study, base + ".tex")
    report.samplers[study.name] = (names, rows)


def write_constants(report: Report, tabdir: str) -> None:
    """The constants table, when some one-step factor was measured (a
    note otherwise)."""
    if not report.check.measured:
        report.notes.append(
            "constants table skipped: no done task in the theorems' exact"
            " setting has two consecutive recorded steps before round-off")
        return
    report.constants = tables.constant_rows(report.check.factors)
    tables.write_constants(report.constants,
                           os.path.join(tabdir, "constants"))
