"""Fixtures of the installation tests (issue 15).

tests/install/meson.build passes the build's install paths in INSTALL_*;
`staged` runs `meson install --destdir` into a temporary root, and
`relocated` rewrites the staged modulefiles so that they point into that
root (what a packager's staging would be, were the prefix the root).
A test module whose tests are all skipped makes meson report SKIP (77).
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV = os.environ
SOURCE_ROOT = Path(ENV["MESON_SOURCE_ROOT"])
BUILD_ROOT = Path(ENV["MESON_BUILD_ROOT"])
VERSION = ENV["DPOSWEEP_VERSION"]
PREFIX = ENV["INSTALL_PREFIX"]
MAN_PAGES = ENV.get("MAN_PAGES", "").split()


@dataclass
class Staged:
    """An install staged under `root`: `path(INSTALLED)` is where an
    installed absolute path lies in the staging tree."""
    root: Path

    def path(self, installed):
        return self.root / os.path.relpath(installed, "/")

    @property
    def bindir(self):
        return self.path(ENV["INSTALL_BINDIR"])

    @property
    def mandir(self):
        return self.path(ENV["INSTALL_MANDIR"])

    @property
    def pkgdatadir(self):
        return self.path(ENV["INSTALL_PKGDATADIR"])

    @property
    def pythondir(self):
        return self.path(ENV["INSTALL_PYTHONDIR"]) \
            if ENV["INSTALL_PYTHONDIR"] else None

    @property
    def modulefiles(self):
        return self.path(ENV["INSTALL_MODULEFILESDIR"])

    @property
    def bashcompdir(self):
        return self.path(ENV["INSTALL_BASHCOMPDIR"])


def meson_install(destdir, use_env=False):
    """`meson install` of this build into destdir (the --destdir flag, or
    the DESTDIR variable with use_env)."""
    meson = ENV.get("MESON")
    if not meson:
        pytest.skip("meson not found when the build was configured")
    cmd = [meson, "install", "-C", str(BUILD_ROOT), "--no-rebuild",
           "--quiet"]
    env = dict(ENV)
    if use_env:
        env["DESTDIR"] = str(destdir)
    else:
        cmd += ["--destdir", str(destdir)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, \
        f"meson install failed ({proc.returncode}):\n" \
        f"{proc.stdout}{proc.stderr}"


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("destdir")
    meson_install(root)
    return Staged(root)


@pytest.fixture(scope="module")
def relocated(staged):
    """The staged modulefiles, copied into modulefiles/ with the prefix
    replaced by the staged one; returns that directory."""
    src = staged.modulefiles / "dposweep"
    dst = staged.root.parent / (staged.root.name + "-modulefiles")
    (dst / "dposweep").mkdir(parents=True, exist_ok=True)
    staged_prefix = str(staged.path(PREFIX))
    for f in src.iterdir():
        text = f.read_text()
        assert PREFIX in text, f"{f.name} does not name the prefix {PREFIX}"
        if PREFIX != "/":
            text = text.replace(PREFIX, staged_prefix)
        (dst / "dposweep" / f.name).write_text(text)
    return dst


def find_tool(*names):
    """The first of names on the PATH, or None."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def help_text(*cmd):
    """The --help text of the command line cmd (exit 0)."""
    proc = subprocess.run(list(cmd) + ["--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def long_flags(text):
    """The long flags (--name) a text mentions."""
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z]", text))


def commands_of_dposweep():
    """The commands listed by `dposweep --help` (after 'commands:')."""
    text = help_text(ENV["DPOSWEEP"])
    block = text.split("commands:", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^  ([a-z]+) ", block, re.M)]


def pytest_sessionfinish(session, exitstatus):
    """meson reads exit code 77 as SKIP: use it when nothing ran but skips."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    # (5: a module skipped as a whole collects no test)
    if reporter is None or exitstatus not in (0, 5):
        return
    stats = reporter.stats
    ran = sum(len(stats.get(k, [])) for k in ("passed", "failed", "error"))
    if ran == 0 and stats.get("skipped"):
        session.exitstatus = 77
