"""The modulefiles, loaded by the module systems HPC sites use:

- Lmod (Debian `lmod`) with the Lua modulefile, and Lmod with the Tcl one
  alone (Lmod reads Tcl modulefiles through tclsh);
- Environment Modules with the Tcl modulefile: its modulecmd.tcl, run by
  tclsh.  Debian's `environment-modules` conflicts with `lmod`, so where
  it is not installed the test fetches the package with `apt-get download`
  and unpacks it with `dpkg-deb -x` into the build folder (once); without
  it (no network, no apt) that case is skipped with a message.
  $MODULECMD_TCL names another modulecmd.tcl.

In each: `module load dposweep` in a clean bash, then `dposweep
--version`, `man dposweep`, `dposweep-report --help`, `python3 -m
analysis` and the completion's directory work; `module unload dposweep`
gives back the environment as it was (apart from the module system's own
bookkeeping), for MANPATH unset, set, and set with an empty element.
"""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD_ROOT, ENV, MAN_PAGES, VERSION, find_tool

LMOD_INIT = "/usr/share/lmod/lmod/init/bash"

# Variables the module systems keep for themselves.
BOOKKEEPING = ("_ModuleTable", "__LMOD", "LMOD_", "_LMFILES_",
               "LOADEDMODULES", "__MODULES_", "MODULES_", "MODULESHOME",
               "BASH_FUNC_")
# Where man would look by default: MANPATH with an empty element keeps it.
MANPATH_CASES = {"unset": None, "set": "/usr/share/man",
                 "empty-element": "/usr/share/man:"}


def modulecmd_tcl():
    """Path of Environment Modules' modulecmd.tcl, or a skip reason."""
    if ENV.get("MODULECMD_TCL"):
        return ENV["MODULECMD_TCL"], None
    for path in ("/usr/lib/x86_64-linux-gnu/modulecmd.tcl",
                 "/usr/lib/modulecmd.tcl",
                 "/usr/share/modules/libexec/modulecmd.tcl"):
        if os.path.exists(path):
            return path, None
    cache = BUILD_ROOT / "tests" / "install" / "environment-modules"
    found = sorted(cache.glob("root/usr/lib/*/modulecmd.tcl"))
    if found:
        return str(found[0]), None
    if not (find_tool("apt-get") and find_tool("dpkg-deb")):
        return None, "no apt-get/dpkg-deb to fetch environment-modules"
    tmp = cache.with_name("environment-modules.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        got = subprocess.run(["apt-get", "download", "environment-modules"],
                             cwd=tmp, capture_output=True, text=True,
                             timeout=180)
    except subprocess.TimeoutExpired:
        return None, "apt-get download environment-modules timed out"
    debs = list(tmp.glob("environment-modules_*.deb"))
    if got.returncode != 0 or not debs:
        return None, ("apt-get download environment-modules failed: "
                      + (got.stderr.strip().splitlines() or ["?"])[-1])
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tmp / "root")],
                   check=True, timeout=120)
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)  # atomic: a parallel run sees all of it or none
    found = sorted(cache.glob("root/usr/lib/*/modulecmd.tcl"))
    if not found:
        return None, "environment-modules has no modulecmd.tcl"
    return str(found[0]), None


def module_setup(system, modulepath):
    """bash lines that define `module` for system and set MODULEPATH."""
    if system == "lmod":
        if not os.path.exists(LMOD_INIT):
            pytest.skip("Lmod not installed (apt-get install lmod)")
        return (f"source {LMOD_INIT}\n"
                f"export MODULEPATH={shlex.quote(str(modulepath))}\n")
    tclsh = find_tool("tclsh")
    if not tclsh:
        pytest.skip("tclsh not installed (apt-get install tcl)")
    cmd, why = modulecmd_tcl()
    if cmd is None:
        pytest.skip(f"Environment Modules unavailable: {why}")
    return (f'module() {{ eval "$({tclsh} {shlex.quote(cmd)} bash "$@")"; }}\n'
            f"export MODULEPATH={shlex.quote(str(modulepath))}\n")


SCRIPT = r"""
set -u
env -0 > "$OUT/before.env"
module load dposweep || { echo "load failed"; exit 10; }
env -0 > "$OUT/loaded.env"
command -v dposweep > "$OUT/which"
dposweep --version > "$OUT/version" 2>&1
echo $? > "$OUT/version.rc"
man -w dposweep > "$OUT/manw" 2>&1
MANPAGER=cat MANWIDTH=80 man dposweep > "$OUT/man" 2>/dev/null
manpath > "$OUT/manpath" 2>/dev/null
dposweep-report --help > "$OUT/report" 2>&1
echo $? > "$OUT/report.rc"
(cd / && /usr/bin/python3 -c 'import analysis; print(analysis.__file__)') \
    > "$OUT/pyfile" 2>&1
module whatis dposweep > "$OUT/whatis" 2>&1
module unload dposweep || { echo "unload failed"; exit 11; }
env -0 > "$OUT/after.env"
"""


def read_env(path):
    pairs = (item.split("=", 1) for item in
             path.read_bytes().decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs
            if k != "_" and not k.startswith(BOOKKEEPING)}


def manpath_meaning(value):
    """What man makes of MANPATH: its directories, and whether an empty
    element adds the default path (Lmod writes a trailing ':' as '::')."""
    if value is None:
        return None
    parts = value.split(":")
    return ([p for p in parts if p], "" in parts)


def run_module(system, modulepath, tmp_path, manpath):
    out = tmp_path / f"{system}-{manpath}"
    out.mkdir()
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "OUT": str(out),
           "LANG": "C.UTF-8", "TERM": "dumb"}
    if MANPATH_CASES[manpath] is not None:
        env["MANPATH"] = MANPATH_CASES[manpath]
    script = module_setup(system, modulepath) + SCRIPT
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", script],
                          env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def check_loaded(out, staged):
    bindir = staged.bindir
    loaded = read_env(out / "loaded.env")
    assert (out / "which").read_text().strip() == str(bindir / "dposweep")
    assert (out / "version.rc").read_text().strip() == "0", \
        (out / "version").read_text()
    assert (out / "version").read_text().startswith(f"dposweep {VERSION} ")
    if MAN_PAGES:
        assert (out / "manw").read_text().strip() == \
            str(staged.mandir / "man1" / "dposweep.1")
        assert "SYNOPSIS" in (out / "man").read_text()
    # The system's pages stay reachable.
    searched = (out / "manpath").read_text().strip().split(":")
    assert "/usr/share/man" in searched, \
        f"MANPATH={loaded.get('MANPATH')} hides the system's man pages"
    assert str(staged.path(ENV["INSTALL_DATADIR"])) in \
        loaded["XDG_DATA_DIRS"].split(":")
    if ENV["INSTALL_PYTHONDIR"]:
        assert (out / "report.rc").read_text().strip() == "0", \
            (out / "report").read_text()
        assert (out / "report").read_text().startswith(
            "usage: dposweep-report")
        assert (out / "pyfile").read_text().strip() == \
            str(staged.pythondir / "analysis" / "__init__.py")
    assert VERSION in (out / "whatis").read_text()


def check_restored(out):
    before = read_env(out / "before.env")
    after = read_env(out / "after.env")
    mb = manpath_meaning(before.pop("MANPATH", None))
    ma = manpath_meaning(after.pop("MANPATH", None))
    assert ma == mb, "module unload changed MANPATH"
    changed = {k for k in set(before) | set(after)
               if before.get(k) != after.get(k)}
    assert changed == set(), \
        {k: (before.get(k), after.get(k)) for k in changed}


@pytest.mark.parametrize("manpath", MANPATH_CASES)
@pytest.mark.parametrize("system,flavour", [("lmod", "lua"),
                                            ("lmod", "tcl"),
                                            ("environment-modules", "tcl")])
def test_load_use_unload(staged, relocated, tmp_path, system, flavour,
                         manpath):
    modulepath = relocated
    if flavour == "tcl" and system == "lmod":
        # Only the Tcl file, so that Lmod cannot prefer the .lua one.
        modulepath = tmp_path / "tcl-only"
        (modulepath / "dposweep").mkdir(parents=True)
        shutil.copy(relocated / "dposweep" / VERSION,
                    modulepath / "dposweep" / VERSION)
    out = run_module(system, modulepath, tmp_path, manpath)
    check_loaded(out, staged)
    check_restored(out)


def test_lmod_prefers_lua(relocated, tmp_path):
    """With both files in one directory Lmod loads the Lua one."""
    script = module_setup("lmod", relocated) + \
        'module load dposweep && echo "$_LMFILES_"'
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", script],
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(Path(relocated) / "dposweep" /
                                      f"{VERSION}.lua")
