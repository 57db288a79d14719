"""The installed bash completion offers every command and long flag that
the --help texts document (so a new command or flag without its
completion fails here), completes flag values and file names, and is
found by bash-completion's on-demand loader under each command's name."""

import os
import re
import shlex
import subprocess

import pytest

from conftest import (ENV, SOURCE_ROOT, commands_of_dposweep, help_text,
                      long_flags)


def complete(staged, words, cwd=None):
    """What the completion offers for the command line `words` (the last
    one is the word being completed)."""
    script = (f"source {shlex.quote(str(staged.bashcompdir / 'dposweep'))}\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n"
              f"COMP_LINE={shlex.quote(' '.join(words))}\n"
              f"COMP_POINT=${{#COMP_LINE}}\n"
              f"fn=$(complete -p {shlex.quote(words[0])} |"
              " sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p')\n"
              '"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}"'
              ' "${COMP_WORDS[COMP_CWORD-1]}"\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", script],
                          cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    return set(proc.stdout.split("\n")) - {""}


def test_commands(staged):
    offered = complete(staged, ["dposweep", ""])
    for cmd in commands_of_dposweep():
        assert cmd in offered, \
            f"completion/dposweep.bash does not offer `dposweep {cmd}`"
    assert {"--version", "--help"} <= offered
    assert complete(staged, ["dposweep", "s"]) == {"sim", "status"}


def test_every_flag_of_every_command(staged):
    for cmd in commands_of_dposweep():
        flags = long_flags(help_text(ENV["DPOSWEEP"], cmd))
        offered = complete(staged, ["dposweep", cmd, "--"])
        missing = sorted(f for f in flags
                         if not any(o == f or o.startswith(f + "=")
                                    for o in offered))
        assert missing == [], f"dposweep {cmd}: not completed: {missing}"


def test_submit_and_report_flags(staged):
    submit = long_flags(help_text(str(SOURCE_ROOT / "jobs" / "submit")))
    offered = complete(staged, ["dposweep-submit", "--"])
    for flag in ("--status", "--cancel"):
        assert flag in submit, f"jobs/submit --help no longer has {flag}"
    assert {"--status", "--cancel", "--help"} <= offered
    if not ENV["INSTALL_PYTHONDIR"]:
        pytest.skip("dposweep-report not installed in this build")
    report = long_flags(help_text(str(staged.bindir / "dposweep-report")))
    offered = complete(staged, ["dposweep-report", "--"])
    assert report - offered == set()


def test_values(staged):
    text = help_text(ENV["DPOSWEEP"], "sim")
    regimes = re.search(r"--regime R\s+sampler:(.*?)\(required\)", text,
                        re.S).group(1)
    regimes = set(re.findall(r"[a-z][a-z-]*", regimes))
    assert complete(staged, ["dposweep", "sim", "--regime", ""]) == regimes
    assert complete(staged, ["dposweep", "sim", "--scale", ""]) == \
        {"theory", "normalized"}
    assert complete(staged, ["dposweep", "sim", "--regime", "mix-p", "--a"]) \
        == {"--arms"}
    assert complete(staged, ["dposweep", "status", "--format=k"]) == \
        {"--format=kv"}
    assert complete(staged, ["dposweep-report", "x.h5", "--metric", "v"]) \
        == {"value_gap"}
    # A number is the user's to type.
    assert complete(staged, ["dposweep", "sim", "--arms", ""]) == set()


def test_file_names(staged, tmp_path):
    for name in ("a.yaml", "b.yml", "c.h5", "d.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    assert complete(staged, ["dposweep", "run", ""], cwd=tmp_path) == \
        {"a.yaml", "b.yml", "sub"}
    assert complete(staged, ["dposweep", "run", "a.yaml", "-o", ""],
                    cwd=tmp_path) == {"c.h5", "sub"}
    assert complete(staged, ["dposweep", "status", ""], cwd=tmp_path) == \
        {"c.h5", "sub"}
    assert complete(staged, ["dposweep-submit", "a.yaml", ""],
                    cwd=tmp_path) == {"c.h5", "sub"}
    assert "--time=" in complete(staged, ["dposweep-submit", "a.yaml",
                                          "c.h5", "--t"], cwd=tmp_path)


def test_bash_completion_loads_it_by_name(staged, tmp_path):
    """bash-completion finds the file through XDG_DATA_DIRS (what the
    modulefiles set) for each of the three commands."""
    loader = ENV.get("BASH_COMPLETION",
                     "/usr/share/bash-completion/bash_completion")
    if not os.path.exists(loader):
        pytest.skip("bash-completion not installed (optional; "
                    "apt-get install bash-completion)")
    share = staged.path(ENV["INSTALL_DATADIR"])
    for cmd in ("dposweep", "dposweep-submit", "dposweep-report"):
        script = (f"source {loader}\n"
                  f"__load_completion {cmd} && complete -p {cmd}\n")
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", script],
                              env={"PATH": "/usr/bin:/bin",
                                   "HOME": str(tmp_path),
                                   "XDG_DATA_DIRS": f"{share}:/usr/share"},
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert f" {cmd}" in proc.stdout and "-F _dposweep" in proc.stdout
