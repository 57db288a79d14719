"""`meson install` installs exactly the documented layout, under the
prefix, staged by --destdir and by DESTDIR, and what it installs runs from
there (README "Installing")."""

import json
import os
import stat
import subprocess
import sys

import pytest

from conftest import ENV, MAN_PAGES, SOURCE_ROOT, VERSION, meson_install


def expected_layout():
    """Installed path -> 'x' (executable), 'f' (file) or 'l' (symlink)."""
    bindir = ENV["INSTALL_BINDIR"]
    pkgdata = ENV["INSTALL_PKGDATADIR"]
    want = {
        f"{bindir}/dposweep": "x",
        f"{bindir}/dposweep-submit": "x",
        f"{pkgdata}/sweep.sbatch": "x",
    }
    for spec in ENV["EXAMPLE_SPECS"].split():
        want[f"{pkgdata}/{os.path.basename(spec)}"] = "f"
    if ENV["INSTALL_PYTHONDIR"]:
        want[f"{bindir}/dposweep-report"] = "x"
        for f in (SOURCE_ROOT / "analysis").glob("*.py"):
            want[f"{ENV['INSTALL_PYTHONDIR']}/analysis/{f.name}"] = "f"
    for page in MAN_PAGES:
        want[f"{ENV['INSTALL_MANDIR']}/man1/{page}.1"] = "f"
    comp = ENV["INSTALL_BASHCOMPDIR"]
    want[f"{comp}/dposweep"] = "f"
    want[f"{comp}/dposweep-submit"] = "l"
    want[f"{comp}/dposweep-report"] = "l"
    mods = ENV["INSTALL_MODULEFILESDIR"]
    want[f"{mods}/dposweep/{VERSION}"] = "f"
    want[f"{mods}/dposweep/{VERSION}.lua"] = "f"
    return want


def installed_files(root):
    """Every file and link under root, as installed absolute paths."""
    found = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + [d for d in dirs
                             if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            kind = "l" if stat.S_ISLNK(st.st_mode) else \
                "x" if st.st_mode & 0o111 else "f"
            found["/" + os.path.relpath(full, root)] = kind
    return found


def test_destdir_layout(staged):
    """The list of installed files and their kinds, nothing more or less."""
    want = expected_layout()
    got = installed_files(staged.root)
    listing = "\n".join(f"  {k} {p}" for p, k in sorted(got.items()))
    print(f"installed under {staged.root}:\n{listing}")
    assert sorted(set(want) - set(got)) == [], "missing from the install"
    assert sorted(set(got) - set(want)) == [], "installed but not expected"
    assert {p: got[p] for p in want} == want, "wrong kind (x, f, l)"


def test_every_source_file_is_installed():
    """meson lists the specs and analysis modules by name: one added to
    jobs/ or analysis/ without its install line fails here."""
    specs = sorted(f"jobs/{p.name}"
                   for p in (SOURCE_ROOT / "jobs").glob("*.yaml"))
    assert sorted(ENV["EXAMPLE_SPECS"].split()) == specs, \
        "add the new spec to example_specs in meson.build"
    if ENV["INSTALL_PYTHONDIR"]:
        top = (SOURCE_ROOT / "meson.build").read_text()
        for f in (SOURCE_ROOT / "analysis").glob("*.py"):
            assert f"'analysis/{f.name}'" in top, \
                f"add analysis/{f.name} to analysis_sources in meson.build"


def test_destdir_variable(tmp_path, staged):
    """DESTDIR in the environment stages the same tree as --destdir."""
    root = tmp_path / "root"
    meson_install(root, use_env=True)
    assert installed_files(root) == installed_files(staged.root)


def test_installed_files_match_sources(staged):
    """Installed copies are the sources (specs, batch script, submit)."""
    pairs = [("jobs/sweep.sbatch", staged.pkgdatadir / "sweep.sbatch"),
             ("jobs/submit", staged.bindir / "dposweep-submit")]
    pairs += [(s, staged.pkgdatadir / os.path.basename(s))
              for s in ENV["EXAMPLE_SPECS"].split()]
    for src, dst in pairs:
        assert dst.read_bytes() == (SOURCE_ROOT / src).read_bytes(), src


def test_installed_binary_runs(staged):
    out = subprocess.run([staged.bindir / "dposweep", "--version"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"dposweep {VERSION} ")
    plan = subprocess.run([staged.bindir / "dposweep", "plan",
                           staged.pkgdatadir / "paper.yaml"],
                          capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.startswith("tasks: ")
    submit = subprocess.run([staged.bindir / "dposweep-submit", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert submit.returncode == 0, submit.stderr
    assert "--status" in submit.stdout


def test_report_command_uses_installed_package(staged, tmp_path):
    """bin/dposweep-report runs the installed analysis package with the
    configured Python, from any directory, without PYTHONPATH."""
    if not ENV["INSTALL_PYTHONDIR"]:
        pytest.skip("analysis package not installed in this build")
    script = staged.bindir / "dposweep-report"
    assert script.read_text().splitlines()[0] == "#!" + ENV["INSTALL_PYTHON"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONVERBOSE"] = "1"
    proc = subprocess.run([script, "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage: dposweep-report ")
    cli = staged.pythondir / "analysis" / "cli.py"
    assert str(cli) in proc.stderr, "did not import the installed analysis"
    assert str(SOURCE_ROOT / "analysis") not in proc.stderr


def test_python_finds_package_on_pythondir(staged, tmp_path):
    """`python3 -m analysis` works with the install's Python directory on
    PYTHONPATH (what the modulefiles set)."""
    if not ENV["INSTALL_PYTHONDIR"]:
        pytest.skip("analysis package not installed in this build")
    env = dict(os.environ, PYTHONPATH=str(staged.pythondir))
    proc = subprocess.run([ENV["INSTALL_PYTHON"], "-m", "analysis", "--help"],
                          cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "report" in proc.stdout


def test_modulefiles_name_the_prefix(staged):
    for name in (VERSION, VERSION + ".lua"):
        text = (staged.modulefiles / "dposweep" / name).read_text()
        assert "@" not in text.replace("@VERSION", ""), \
            f"{name}: an unsubstituted @VAR@"
        assert f'{ENV["INSTALL_BINDIR"]}' in text
        assert f'{ENV["INSTALL_MANDIR"]}' in text
    tcl = (staged.modulefiles / "dposweep" / VERSION).read_text()
    assert tcl.startswith("#%Module"), "Environment Modules needs the cookie"


def test_other_prefix(tmp_path):
    """A build configured with another prefix and modulefiles directory
    installs there (meson introspect, no compiling)."""
    meson = ENV.get("MESON")
    if not meson:
        pytest.skip("meson not found when the build was configured")
    build = tmp_path / "build-prefix"
    setup = subprocess.run(
        [meson, "setup", str(build), str(SOURCE_ROOT),
         "--prefix=/opt/dposweep-test", "-Dmodulefilesdir=/opt/modulefiles"],
        capture_output=True, text=True, timeout=240)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr
    intro = subprocess.run([meson, "introspect", "--installed", str(build)],
                           capture_output=True, text=True, timeout=60)
    assert intro.returncode == 0, intro.stderr
    dests = set(json.loads(intro.stdout).values())
    # install_symlink targets are not in --installed; the rest is.
    want = {"/opt/dposweep-test/bin/dposweep",
            "/opt/dposweep-test/bin/dposweep-submit",
            "/opt/dposweep-test/share/dposweep/sweep.sbatch",
            "/opt/dposweep-test/share/dposweep/paper.yaml",
            "/opt/dposweep-test/share/bash-completion/completions/dposweep",
            f"/opt/modulefiles/dposweep/{VERSION}",
            f"/opt/modulefiles/dposweep/{VERSION}.lua"}
    assert want <= dests, sorted(dests)
    outside = sorted(d for d in dests
                     if not d.startswith(("/opt/dposweep-test/",
                                          "/opt/modulefiles/")))
    assert outside == [], "installed outside the prefix"
    lua = (build / "packaging" / f"{VERSION}.lua").read_text()
    assert 'prepend_path("PATH", "/opt/dposweep-test/bin")' in lua


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
