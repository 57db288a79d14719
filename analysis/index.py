"""The report's index page, DIR/index.html."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any, Sequence

from . import samplers, theory
from .results import STATUS_DONE, STATUS_FAILED, Study, label
from .tables import CONSTANT_COLUMNS, Row, columns

if TYPE_CHECKING:  # report imports this module
    from .report import Report

STYLE = (
    "body{font-family:sans-serif;max-width:1400px;margin:1em auto;"
    "padding:0 1em}\n"
    "img{max-width:100%;border:1px solid #ddd}\n"
    "table{border-collapse:collapse;font-size:90%;margin:.5em 0 1.5em}\n"
    "th,td{border-bottom:1px solid #ddd;padding:2px 8px;text-align:right}\n"
    "th:first-child,td:first-child{text-align:left}\n"
    ".partial{background:#fde2c4;border:2px solid #e08a00;padding:.5em 1em;"
    "font-weight:bold}\n"
    ".fail{color:#b00000;font-weight:bold}")


def cell(value: Any) -> str:
    """Format a table statistic for HTML: short floats, text as is."""
    if isinstance(value, float):
        if math.isinf(value):
            return "never" if value > 0 else "-inf"
        return f"{value:.3g}"
    return html.escape(str(value))


def html_table(rows: Sequence[Row], study: Study) -> str:
    """An HTML table of summary rows (without the constant columns):
    coordinates in full, statistics short."""
    shown = [c for c in columns(study) if c not in ("study", "metric",
                                                     "threshold")]
    coordinates = set(study.group_axes)

    def td(row: Row, column: str) -> str:
        """One cell."""
        value = row[column]
        text = html.escape(label(value)) if column in coordinates \
            else cell(value)
        return f"<td>{text}</td>"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown)
    body = "\n".join("<tr>" + "".join(td(r, c) for c in shown) + "</tr>"
                     for r in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def write_index(path: str, report: Report) -> None:
    """Write the index page of a Report (see report.py)."""
    res = report.results
    e = html.escape
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
             f"<title>dposweep report: {e(res.name)}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>dposweep report: {e(res.name)}</h1>"]
    if res.partial:
        parts.append(f"<p class='partial'>PARTIAL: {report.status_line()}"
                     " &mdash; only done tasks are shown.</p>")
    parts.append(
        f"<p>file: <code>{e(res.path)}</code><br>"
        f"spec: {e(res.name)}, sha256 <code>{e(res.sha256)}</code><br>"
        f"tasks: {report.status_line()}<br>"
        + (f"numerics version: {res.numerics}<br>"
           if res.numerics is not None else "") +
        f"metric: {e(report.metric)}, threshold {report.threshold:g}</p>")
    parts.append("<h2>Theory check</h2><ul>" + "".join(
        f"<li>{e(line)}</li>" for line in report.check.lines()) + "</ul>")
    if report.check.violations:
        parts.append("<p class='fail'>Violations:</p><ul>" + "".join(
            f"<li>{e(str(v))}</li>" for v in report.check.violations) +
            "</ul>")
    if report.check.gaussian:
        parts.append(gaussian_html(report.check.gaussian))
    if report.constants:
        parts.append(constants_html(report.constants))
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(
            f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    if report.paper:
        parts.append(figure_html("The paper's figure", report.paper))
    for study, figures, rows in report.studies:
        parts.append(f"<h2>Study {e(study.name)}</h2>"
                     f"<p>{study.count(STATUS_DONE)}/{study.ntasks} tasks"
                     f" done, {study.count(STATUS_FAILED)} failed</p>")
        parts += [figure_html(None, name) for name in figures]
        if rows:
            parts.append(
                f"<p>tables: <a href='tables/{e(study.name)}.csv'>CSV</a>,"
                f" <a href='tables/{e(study.name)}.tex'>LaTeX</a></p>")
            parts.append(html_table(rows, study))
        if study.name in report.samplers:
            parts.append(samplers_html(study, *report.samplers[study.name]))
    parts.append(f"<details><summary>spec</summary><pre>{e(res.spec)}"
                 "</pre></details></body></html>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def figure_html(title: str | None, name: str) -> str:
    """An <img> of figures/name.png linking to its PDF."""
    name = html.escape(name)
    heading = f"<h2>{html.escape(title)}</h2>" if title else ""
    return (f"{heading}<p><a href='figures/{name}.pdf'>"
            f"<img src='figures/{name}.png' alt='{name}'></a></p>")


def gaussian_html(groups: Sequence[theory.GaussianGroup]) -> str:
    """The empirical-DPO theorem's groups: rms at the step against 14
    sigma."""
    head = ("<tr><th>study</th><th>group</th><th>seeds</th><th>step</th>"
            "<th>rms max|&delta;|</th><th>14 &sigma;</th><th></th></tr>")
    body = []
    for g in groups:
        outcome = ("not recorded, skipped" if not g.recorded else
                   "ok" if g.passed else "<span class='fail'>VIOLATION"
                   "</span>")
        body.append(f"<tr><td>{html.escape(g.study)}</td>"
                    f"<td>{html.escape(g.group)}</td><td>{g.seeds}</td>"
                    f"<td>{g.step}</td>"
                    f"<td>{cell(g.rms) if g.recorded else '--'}</td>"
                    f"<td>{cell(g.limit)}</td><td>{outcome}</td></tr>")
    return ("<p>Empirical DPO (gaussian estimator, mix-r): root mean square"
            " over seeds of max_abs_delta at step ceil(log2(1/&sigma;)),"
            " per group:</p>"
            f"<table>\n{head}\n" + "\n".join(body) + "\n</table>")


def constants_html(rows: Sequence[Row]) -> str:
    """The constants table: measured one-step factors and proven
    constants."""
    def td(row: Row, column: str) -> str:
        """One cell: the measured factor short, the rest in full."""
        value = row[column]
        if column in ("measured", "ratio"):
            return "--" if math.isnan(value) else cell(value)
        return html.escape(label(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in CONSTANT_COLUMNS)
    body = "\n".join("<tr>" + "".join(f"<td>{td(r, c)}</td>"
                                       for c in CONSTANT_COLUMNS) + "</tr>"
                      for r in rows)
    return ("<h2>How tight are the theorems</h2>"
            "<p>Per regime, the largest one-step factor of max|&delta;|"
            " measured over the tasks of the exact theorems' setting"
            " (uniform: m(t+1)/m(t); the others: m(t+1)/m(t)<sup>2</sup>;"
            " steps t, t+1 both recorded and before round-off), next to"
            " the proven constant, with the task where it occurs."
            " tables: <a href='tables/constants.csv'>CSV</a>,"
            " <a href='tables/constants.tex'>LaTeX</a></p>"
            f"<table>\n<tr>{head}</tr>\n{body}\n</table>")


def samplers_html(study: Study, names: Sequence[str],
                  rows: Sequence[Row]) -> str:
    """A study's samplers figure and table (median [Q1, Q3] per step)."""
    e = html.escape
    axes = samplers.shown_axes(study)
    steps = [rows[0][f"t_{k}"] for k in (1, 2, 3)] if rows else []
    head = ("<tr><th>algorithm</th>" +
            "".join(f"<th>{e(a)}</th>" for a in axes) + "<th>seeds</th>" +
            "".join(f"<th>reward t={s}</th><th>win rate t={s}</th>"
                    for s in steps) + "</tr>")
    body = []
    for r in rows:
        cells = [r["algorithm"]] + [label(r[a]) for a in axes] + \
            [str(r["seeds"])]
        for k in (1, 2, 3):
            cells += [samplers.cell_text(r, m, k) for m in samplers.METRICS]
        body.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) +
                    "</tr>")
    name = e(study.name)
    return (f"<h3>{name}: the samplers compared</h3>" +
            "".join(figure_html(None, n) for n in names) +
            "<p>Vanilla DPO = reference, On-policy DPO = on-policy, Hybrid"
            " GSHF = hybrid, DPO-Mix-P = mix-p; expected reward and win"
            " rate against the reference (Bradley-Terry), median [Q1, Q3]"
            " over seeds. tables:"
            f" <a href='tables/{name}-samplers.csv'>CSV</a>,"
            f" <a href='tables/{name}-samplers.tex'>LaTeX</a></p>"
            f"<table>\n{head}\n" + "\n".join(body) + "\n</table>")
