"""Analysis of dposweep results files.

For notebooks and scripts (see docs/analysis.md):

    import analysis
    tasks = analysis.load("paper.h5")        # pandas.DataFrame, row per task
    delta = analysis.trajectories("paper.h5", "theory-exact",
                                  "max_abs_delta")  # xarray.DataArray
    delta.sel(regime="mix-r", arms=5).median("seed")

`python3 -m analysis report OUT.h5 -o DIR` writes figures, tables, a check
of the theorems' bounds, the measured constants, the talk's sampler
comparison and an index page; `python3 -m analysis export OUT.h5 -o DIR`
one long CSV per study.

Modules: loaders (load, trajectories, export_csv), layout (the file
layout, block reads), results (the report's view of a file), stats
(quantiles and summaries over seeds), theory (bounds, checks, one-step
factors), samplers (the talk's comparison), figures, tables, index (HTML),
report (all of it), cli (command line).  Importing
the package or any module sets no global state: no matplotlib backend is
chosen and pyplot is never imported.
"""

from .layout import STATUS_NAMES, NotResultsFile
from .loaders import export_csv, load, studies, trajectories

__all__ = ["NotResultsFile", "STATUS_NAMES", "export_csv", "load",
           "studies", "trajectories"]
