"""The engine's instruction-set path (DPOSWEEP_ISA): chosen once per
process, named by `dposweep --version`, refused with one line when unknown,
and giving bit-identical results on every path this machine supports.

Run: meson test -C build isa (pytest; $DPOSWEEP is the binary,
tests/helpers on PYTHONPATH).
"""
import os
import re

import pytest

from sweeptest import run

PATHS = ("baseline", "avx2", "avx512")
SIM = ["sim", "--regime", "mix-p", "--arms", "37", "--beta", "2",
       "--iterations", "40", "--scale", "normalized", "--eta", "0.5",
       "--rewards", "normal", "--seed", "3"]


def supported():
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    have = {"baseline": True, "avx2": " avx2 " in flags,
            "avx512": all(f" {f} " in flags for f in ("avx2", "avx512f", "avx512vl", "avx512dq"))}
    return [p for p in PATHS if have[p]]


def with_isa(isa, args):
    return run(args, env=dict(os.environ, DPOSWEEP_ISA=isa))


@pytest.mark.parametrize("isa", supported())
def test_version_names_the_path(isa):
    out = with_isa(isa, ["--version"])
    assert out.returncode == 0
    assert re.search(rf"engine path {isa}\b", out.stdout), out.stdout
    assert re.search(r"numerics \d+", out.stdout), out.stdout


@pytest.mark.parametrize("args", [SIM, SIM[:-2] + ["--seed", "4", "--samples",
                                                     "5000"]])
def test_every_path_gives_the_same_bits(args):
    outputs = {isa: with_isa(isa, args) for isa in supported()}
    for isa, out in outputs.items():
        assert out.returncode == 0, (isa, out.stderr)
    texts = {out.stdout for out in outputs.values()}
    assert len(texts) == 1, "the paths disagree"


@pytest.mark.parametrize("bad", ["sse9", "AVX2", "avx512 ", "x"])
def test_unknown_path_is_one_line_exit_2(bad):
    out = with_isa(bad, SIM)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dposweep: DPOSWEEP_ISA: ")
