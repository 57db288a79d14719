"""Command line: `python3 -m analysis report OUT.h5 -o DIR` and the
`dposweep-report` wrapper.

Exit codes: 0 report written, 1 report written but the theory check
failed, 2 bad arguments or not a dposweep results file, 3 the report could
not be written.
"""

import argparse
import sys

from .report import make_report
from .results import METRICS, NotResultsFile


def positive_float(text):
    """argparse type: a float > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def add_report_args(parser):
    """The arguments of the report command."""
    parser.add_argument("results", metavar="OUT.h5",
                        help="results file written by `dposweep run`")
    parser.add_argument("-o", "--output", metavar="DIR", default="report",
                        help="directory for the report (default: report)")
    parser.add_argument("--metric", choices=METRICS, default="max_abs_delta",
                        help="metric of the convergence figures and tables"
                             " (default: max_abs_delta)")
    parser.add_argument("--threshold", type=positive_float, default=1e-6,
                        metavar="X",
                        help="tables give the first step with metric below"
                             " this (default: 1e-6)")


def run_report(args, prog):
    """Write the report; print its summary; return the exit code."""
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


EPILOG = ("exit codes: 0 report written, 1 report written but a task"
          " violates a theorem's bound, 2 bad arguments or not a dposweep"
          " results file, 3 the report could not be written")


def main(argv=None):
    """`python3 -m analysis COMMAND ...`."""
    prog = "python3 -m analysis"
    parser = argparse.ArgumentParser(
        prog=prog, description="Figures and tables from dposweep results.",
        epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True)
    add_report_args(commands.add_parser(
        "report", help="figures, tables, theory check and index.html",
        epilog=EPILOG))
    return run_report(parser.parse_args(argv), prog)


def report_main(argv=None):
    """`dposweep-report OUT.h5 -o DIR ...`."""
    parser = argparse.ArgumentParser(
        prog="dposweep-report",
        description="Figures, tables, theory check and index.html"
                    " from a dposweep results file.", epilog=EPILOG)
    add_report_args(parser)
    return run_report(parser.parse_args(argv), parser.prog)
