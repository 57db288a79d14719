"""Importing the package sets no global state: a notebook's matplotlib
backend stays as the user chose it and pyplot is not imported, even
after a report was made in the same process."""

import subprocess
import sys
import textwrap

from conftest import ROOT

CHECK = textwrap.dedent("""\
    import pkgutil, sys
    import matplotlib
    {choose}
    before = dict.__getitem__(matplotlib.rcParams, "backend")
    import analysis
    for module in pkgutil.iter_modules(analysis.__path__):
        __import__("analysis." + module.name)
    {work}
    assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
    after = dict.__getitem__(matplotlib.rcParams, "backend")
    assert after is before or after == before, (before, after)
    print("backend", after)
""")


def check(choose="", work="", env=None):
    """Run CHECK in a fresh interpreter; return its stdout."""
    code = CHECK.format(choose=choose, work=work)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                          capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_leaves_the_backend_alone():
    check()


def test_import_keeps_a_chosen_backend():
    assert check(choose='matplotlib.use("svg")') == "backend svg\n"


def test_report_in_process_keeps_the_backend(interrupted_file, tmp_path):
    work = (f"from analysis.report import make_report\n"
            f"make_report({str(interrupted_file)!r}, {str(tmp_path)!r})")
    assert check(choose='matplotlib.use("svg")',
                 work=work) == "backend svg\n"
    assert (tmp_path / "index.html").exists()
    assert (tmp_path / "figures" / "grid-max_abs_delta.png").exists()
