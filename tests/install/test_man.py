"""The installed man pages: groff finds nothing to warn about (`man
--warnings -l`), each is a real page with the standard sections, whatis
can parse its NAME line, every command has one, and every flag of a
command's --help is documented in its page."""

import os
import re
import subprocess

import pytest

from conftest import (ENV, MAN_PAGES, SOURCE_ROOT, VERSION, commands_of_dposweep,
                      find_tool, help_text, long_flags)

SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
            "FILES", "EXAMPLES"]

if not MAN_PAGES:
    pytest.skip("man pages not built: -Dman=disabled, or scdoc missing"
                " (apt-get install scdoc)", allow_module_level=True)
if not find_tool("man"):
    pytest.skip("man not installed (apt-get install man-db)",
                allow_module_level=True)

MAN_ENV = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat",
               PAGER="cat")


def render(path):
    """(text without overstrike, stderr) of `man --warnings -l path`."""
    proc = subprocess.run(["man", "--warnings", "-l", str(path)],
                          env=MAN_ENV, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return re.sub(".\b", "", proc.stdout), proc.stderr


def unbroken(text):
    """text with words that groff broke across lines joined again."""
    return re.sub("([\u2010-])\n\\s*", lambda m: "" if m.group(1) != "-"
                  else "-", text)


@pytest.mark.parametrize("page", MAN_PAGES)
def test_page_has_no_warnings_and_all_sections(staged, page):
    path = staged.mandir / "man1" / f"{page}.1"
    text, warnings = render(path)
    assert warnings == "", f"{page}(1): groff warnings:\n{warnings}"
    headings = re.findall(r"^([A-Z][A-Z ]+)$", text, re.M)
    missing = [s for s in SECTIONS if s not in headings]
    assert missing == [], f"{page}(1) lacks {missing}"
    order = [h for h in headings if h in SECTIONS]
    assert order == SECTIONS, f"{page}(1): sections out of order: {order}"
    assert f"dposweep {VERSION}" in text, "the footer names the version"
    assert re.findall(r"@[A-Z_]+@", path.read_text()) == [], \
        "an unsubstituted @VAR@"
    assert "../" not in text, "a path that leaves the installed tree"


@pytest.mark.parametrize("page", MAN_PAGES)
def test_whatis_parses_name_line(staged, page):
    if not find_tool("lexgrog"):
        pytest.skip("lexgrog (man-db) not installed")
    path = staged.mandir / "man1" / f"{page}.1"
    proc = subprocess.run(["lexgrog", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f'"{page} - ' in proc.stdout


def test_every_command_has_a_page():
    for cmd in commands_of_dposweep():
        assert f"dposweep-{cmd}" in MAN_PAGES, \
            f"`dposweep {cmd}` has no man page: add man/dposweep-{cmd}.1.scd" \
            " and its line in man/meson.build"
    for page in ("dposweep", "dposweep-submit", "dposweep-report"):
        assert page in MAN_PAGES


def page_and_help():
    """(page, help command) of every command."""
    pairs = [(f"dposweep-{c}", [ENV["DPOSWEEP"], c])
             for c in commands_of_dposweep()]
    pairs.append(("dposweep", [ENV["DPOSWEEP"]]))
    pairs.append(("dposweep-submit", [str(SOURCE_ROOT / "jobs" / "submit")]))
    if ENV["INSTALL_PYTHONDIR"]:
        pairs.append(("dposweep-report", [ENV["INSTALL_PYTHON"], "-c",
                      "import sys; sys.path.insert(0, sys.argv.pop(1));"
                      " from analysis.cli import report_main;"
                      " sys.exit(report_main())", str(SOURCE_ROOT)]))
    return pairs


@pytest.mark.parametrize("page,cmd", page_and_help(),
                         ids=[p for p, _ in page_and_help()])
def test_page_documents_every_flag(staged, page, cmd):
    if page not in MAN_PAGES:
        pytest.fail(f"no man page {page}")
    flags = long_flags(help_text(*cmd))
    text = unbroken(render(staged.mandir / "man1" / f"{page}.1")[0])
    where = "page"
    if page != "dposweep-submit":  # its help also names sbatch/run flags
        where = "OPTIONS"
        text = text.split("\nOPTIONS\n", 1)[1].split("\nEXIT STATUS\n")[0]
    missing = sorted(f for f in flags if f not in text)
    assert missing == [], f"{page}(1): its {where} lacks {missing}"


def test_man_finds_pages_by_manpath(staged):
    """`man dposweep-run` through MANPATH, as the modulefiles set it."""
    env = dict(MAN_ENV, MANPATH=str(staged.mandir))
    proc = subprocess.run(["man", "-w", "dposweep-run"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(staged.mandir / "man1" /
                                      "dposweep-run.1")
