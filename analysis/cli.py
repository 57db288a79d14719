"""Command line: `python3 -m analysis report|export ...` and the
`dposweep-report` command.

Exit codes: 0 done, 1 report written but the theory check failed (a task
or a gaussian group above its bound), 2 bad
arguments or not a dposweep results file, 3 the output could not be
written.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .layout import NotResultsFile, open_file, read_layout, study_names
from .loaders import export_csv
from .report import make_report

# The metrics every dposweep results file has; --metric also accepts any
# other dataset under traj/ that the file has.
METRICS = ("max_abs_delta", "mean_abs_delta", "value_gap")
EPILOG = ("exit codes: 0 report written, 1 report written but a task"
          " (or a group, for the gaussian theorem) violates a theorem's"
          " bound, 2 bad arguments or not a dposweep results file, 3 the"
          " report could not be written")
EXPORT_EPILOG = ("exit codes: 0 written, 2 bad arguments or not a dposweep"
                 " results file, 3 a file could not be written")


def positive_float(text: str) -> float:
    """argparse type: a float > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def add_report_args(parser: argparse.ArgumentParser) -> None:
    """The arguments of the report command."""
    parser.add_argument("results", metavar="OUT.h5",
                        help="results file written by `dposweep run`")
    parser.add_argument("-o", "--output", metavar="DIR", default="report",
                        help="directory for the report (default: report)")
    parser.add_argument("--metric", default="max_abs_delta", metavar="M",
                        help="metric of the convergence figures and tables:"
                             f" {', '.join(METRICS)} or another dataset"
                             " under traj/ (default: max_abs_delta)")
    parser.add_argument("--threshold", type=positive_float, default=1e-6,
                        metavar="X",
                        help="tables give the first step with metric below"
                             " this (default: 1e-6)")


def file_metrics(path: str) -> set[str]:
    """The metrics of a results file's studies (none if it is not one)."""
    try:
        with open_file(path) as handle:
            return {m for name in study_names(handle)
                    for m in read_layout(handle, name).metrics}
    except (NotResultsFile, KeyError):
        return set()


def run_report(args: argparse.Namespace, prog: str,
               parser: argparse.ArgumentParser) -> int:
    """Write the report; print its summary; return the exit code (the
    parser reports a bad --metric, exit 2)."""
    if args.metric not in METRICS and args.metric not in file_metrics(
            args.results):
        parser.error(f"argument --metric: no metric {args.metric!r} in"
                     f" {args.results} (choose from {', '.join(METRICS)})")
    try:
        report = make_report(args.results, args.output, args.metric,
                             args.threshold)
    except NotResultsFile as err:
        print(f"{prog}: error: {args.results}: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"{prog}: error: report failed: {err}", file=sys.stderr)
        return 3
    print(f"{'PARTIAL' if report.results.partial else 'tasks'}:"
          f" {report.status_line()}")
    for line in report.check.lines():
        print(line)
    for violation in report.check.violations:
        print(f"theory check: VIOLATION: {violation}")
    for note in report.notes:
        print(f"note: {note}")
    print(f"report: {report.index} ({report.nfigures} figures,"
          f" {report.ntables} tables)")
    return 0 if report.check.passed else 1


def add_export_args(parser: argparse.ArgumentParser) -> None:
    """The arguments of the export command."""
    parser.add_argument("results", metavar="OUT.h5",
                        help="results file written by `dposweep run`")
    parser.add_argument("-o", "--output", metavar="DIR", required=True,
                        help="directory for the CSV files, one per study")
    parser.add_argument("--study", action="append", metavar="NAME",
                        help="export this study only (repeatable)")


def run_export(args: argparse.Namespace, prog: str) -> int:
    """Write the CSV files; print one line per file; return the exit code."""
    try:
        written = export_csv(args.results, args.output, args.study)
    except NotResultsFile as err:
        print(f"{prog}: error: {args.results}: {err}", file=sys.stderr)
        return 2
    except KeyError as err:
        print(f"{prog}: error: {args.results}: {err.args[0]}",
              file=sys.stderr)
        return 2
    except OSError as err:
        print(f"{prog}: error: export failed: {err}", file=sys.stderr)
        return 3
    for path, lines in written:
        print(f"export: {path} ({lines} rows)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 -m analysis COMMAND ...`."""
    prog = "python3 -m analysis"
    parser = argparse.ArgumentParser(
        prog=prog, description="Figures, tables and CSV files from dposweep"
                               " results.", epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report", help="figures, tables, theory check and index.html",
        epilog=EPILOG)
    add_report_args(report)
    export = commands.add_parser(
        "export", help="one long-format CSV per study (coordinates, t,"
                       " metrics)", epilog=EXPORT_EPILOG)
    add_export_args(export)
    args = parser.parse_args(argv)
    if args.command == "export":
        return run_export(args, prog)
    return run_report(args, prog, report)


def report_main(argv: Sequence[str] | None = None) -> int:
    """`dposweep-report OUT.h5 -o DIR ...`."""
    parser = argparse.ArgumentParser(
        prog="dposweep-report",
        description="Figures, tables, theory check and index.html"
                    " from a dposweep results file.", epilog=EPILOG)
    add_report_args(parser)
    return run_report(parser.parse_args(argv), parser.prog, parser)
