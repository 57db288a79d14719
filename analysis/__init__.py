"""Analysis of dposweep results files: convergence figures, the paper's
figure, summary tables, a check of the theorems' bounds and an index page.

Run `python3 -m analysis report OUT.h5 -o DIR` (see docs/analysis.md).
Modules: results (read a file), stats (summaries over seeds), theory
(bounds and check), figures, tables, index (HTML), report (all of it),
cli (command line).
"""
