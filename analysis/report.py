"""Build a report directory from a results file.

    DIR/index.html               figures, tables, theory check, metadata
    DIR/figures/<study>-<metric>[-<page>].pdf|png   convergence grids
    DIR/figures/paper-figure.pdf|png               the authors' two panels
    DIR/tables/<study>.csv|tex                      summary per group, regime
"""

import os
from dataclasses import dataclass, field

from . import figures, tables, theory
from .index import write_index
from .results import (STATUS_DONE, STATUS_FAILED, STATUS_PENDING,
                      open_results)


@dataclass
class Report:
    """What a report contains; `studies` holds (study, figures, rows)."""

    results: object
    metric: str
    threshold: float
    outdir: str
    studies: list = field(default_factory=list)
    paper: str = None
    notes: list = field(default_factory=list)
    check: theory.TheoryCheck = None

    @property
    def index(self):
        """Path of the index page."""
        return os.path.join(self.outdir, "index.html")

    @property
    def nfigures(self):
        """Number of figures written (each as PDF and PNG)."""
        return sum(len(f) for _, f, _ in self.studies) + bool(self.paper)

    @property
    def ntables(self):
        """Number of tables written (each as CSV and LaTeX)."""
        return sum(1 for _, _, rows in self.studies if rows)

    def status_line(self):
        """Done/total, with the pending and failed counts."""
        res = self.results
        return (f"{res.count(STATUS_DONE)}/{res.ntasks} tasks done"
                f" ({res.count(STATUS_PENDING)} pending,"
                f" {res.count(STATUS_FAILED)} failed)")


def make_report(path, outdir, metric="max_abs_delta", threshold=1e-6):
    """Write the report of results file `path` into `outdir`.

    Raises results.NotResultsFile when `path` is not a results file.
    """
    results = open_results(path)
    try:
        report = Report(results, metric, threshold, outdir)
        figdir = os.path.join(outdir, "figures")
        tabdir = os.path.join(outdir, "tables")
        os.makedirs(figdir, exist_ok=True)
        os.makedirs(tabdir, exist_ok=True)
        for study in results.studies:
            if not study.index.size:
                report.notes.append(f"study {study.name}: no task done yet")
                report.studies.append((study, [], []))
                continue
            names = figures.convergence_figures(study, metric, figdir)
            rows = tables.summary_rows(study, metric, threshold)
            base = os.path.join(tabdir, study.name)
            tables.write_csv(rows, base + ".csv")
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
