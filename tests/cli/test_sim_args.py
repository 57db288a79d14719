"""`dposweep sim` as its help text promises: bad input gets exit code 2
and one line on stderr that names the flag (nothing on stdout); good input
gets the documented CSV.

Run: meson test -C build sim-args (pytest; $DPOSWEEP is the binary,
tests/helpers on PYTHONPATH).
"""
import re

import pytest

from sweeptest import run

OK = ["--regime", "uniform", "--arms", "3", "--beta", "1", "--iterations", "2"]


def with_(**kw):
    """OK arguments with some flags replaced (None removes the flag)."""
    args = dict(zip(OK[0::2], OK[1::2]))
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        if v is None:
            args.pop(flag, None)
        else:
            args[flag] = v
    out = []
    for k, v in args.items():
        out += [k, v]
    return out


# (arguments, the flag the message must name, a word it must contain)
BAD = [
    (with_(regime="foo"), "--regime", "foo"),
    (with_(regime=None), "--regime", "required"),
    (with_(arms="1"), "--arms", "between 2"),
    (with_(arms="0"), "--arms", "between 2"),
    (with_(arms="-3"), "--arms", "between 2"),
    (with_(arms="x"), "--arms", "not an integer"),
    (with_(arms=None), "--arms", "required"),
    (with_(beta="0"), "--beta", "> 0"),
    (with_(beta="-1"), "--beta", "> 0"),
    (with_(beta="nan"), "--beta", "finite"),
    (with_(beta="inf"), "--beta", "finite"),
    (with_(beta="high"), "--beta", "not a number"),
    (with_(sigma="-0.1"), "--sigma", ">= 0"),
    (with_(sigma="nan"), "--sigma", "finite"),
    (with_(samples="-1"), "--samples", "between 0"),
    (with_(sigma="0.1", samples="5"), "--samples", "sigma"),
    (with_(iterations="0"), "--iterations", "between 1"),
    (with_(iterations="-5"), "--iterations", "between 1"),
    (with_(eta="0"), "--eta", "> 0"),
    (with_(eta="-2"), "--eta", "> 0"),
    (with_(eta="fast"), "--eta", "not a number"),
    (with_(eta="theory", scale="normalized"), "--eta", "theory"),
    (with_(scale="normalized"), "--eta", "required"),
    (with_(scale="weird"), "--scale", "weird"),
    (with_(arms=None, rewards="0.1,abc,0.3"), "--rewards", "abc"),
    (with_(arms=None, rewards="0.1,nan"), "--rewards", "not finite"),
    (with_(arms=None, rewards="0.1,inf"), "--rewards", "not finite"),
    (with_(arms=None, rewards="0.1,-inf,3"), "--rewards", "not finite"),
    (with_(arms=None, rewards="0.1,,0.3"), "--rewards", "not a number"),
    (with_(arms=None, rewards="0.5"), "--rewards", "between 2"),
    (with_(arms="4", rewards="0.1,0.2,0.3"), "--arms", "--rewards"),
    (with_(arms=None, rewards="0,800"), "--rewards", "700"),
    (with_(seed="-1"), "--seed", "integer"),
    (with_(master_seed="x"), "--master-seed", "integer"),
    (with_(every="0"), "--every", "between 1"),
    (with_(ref_spread="-1"), "--ref-spread", ">= 0"),
    (with_(ref_spread="nan"), "--ref-spread", "finite"),
    (with_(ref_spread="inf"), "--ref-spread", "finite"),
    (with_(ref_spread="wide"), "--ref-spread", "not a number"),
    (with_(ref_logits="0,abc,1"), "--ref-logits", "abc"),
    (with_(ref_logits="0,nan,1"), "--ref-logits", "not finite"),
    (with_(ref_logits="0,-inf,1"), "--ref-logits", "not finite"),
    (with_(ref_logits="0,,1"), "--ref-logits", "not a number"),
    (with_(ref_logits=""), "--ref-logits", "not a number"),
    (with_(ref_logits="0,1"), "--ref-logits", "--arms is 3"),
    (with_(ref_logits="0,1,2,3"), "--ref-logits", "lists 4 values"),
    (with_(arms=None, rewards="0.1,0.2", ref_logits="0,1,2"), "--ref-logits", "--rewards lists 2"),
    (with_(ref_logits="0,1,2", ref_spread="1"), "--ref-logits", "--ref-spread"),
    (with_(ref_logits="0,1,2", ref_spread="0"), "--ref-logits", "not together"),
    (OK + ["--bogus"], "--bogus", "unknown option"),
    (OK + ["extra"], "extra", "unexpected"),
    (OK[:-1], "--iterations", "needs a value"),
]


@pytest.mark.parametrize("args,flag,word", BAD,
                         ids=[f"{i}:{flag}:{word}" for i, (_, flag, word) in enumerate(BAD)])
def test_bad_input_is_one_line_naming_the_flag(args, flag, word):
    p = run(["sim"] + args)
    err = p.stderr.strip()
    assert p.returncode == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"dposweep sim: {flag}:"), err
    assert word in err, err
    assert p.stdout == ""


def test_csv_has_a_header_and_one_row_per_step():
    p = run(["sim"] + with_(iterations="5"), check=0)
    lines = p.stdout.splitlines()
    assert lines[0].startswith("t,max_abs_delta,mean_abs_delta,value_gap")
    assert len(lines) == 7  # the header and t = 0 .. 5
    first = lines[1].split(",")
    assert first[0] == "0"
    # printf's %.17g: 17 significant digits, trailing zeros dropped, so
    # every value reads back to the same double.
    for v in first[1:] + lines[-1].split(",")[1:]:
        assert "%.17g" % float(v) == v


def test_every_with_explicit_rewards_and_no_arms():
    p = run(["sim", "--regime", "mix-r", "--beta", "0.5", "--iterations", "10",
             "--every", "4", "--rewards", "0.1,0.7,0.3"], check=0)
    # Every 4th step and the last one.
    assert [l.split(",")[0] for l in p.stdout.splitlines()[1:]] == ["0", "4", "8", "10"]


def test_reference_flags_take_good_values():
    # A spread of 0 (or -0.0) is the uniform reference: the task as without
    # the flag, bit for bit.
    plain = run(["sim"] + with_(iterations="4"), check=0).stdout
    for zero in ("0", "-0.0", "0e5"):
        assert run(["sim"] + with_(iterations="4", ref_spread=zero), check=0).stdout == plain
    run(["sim"] + with_(ref_spread="2.5"), check=0)
    run(["sim"] + with_(ref_logits="0.5,-1,2"), check=0)
    run(["sim"] + with_(arms=None, rewards="0.1,0.7", ref_logits="1,0"), check=0)


HELP_FLAGS = ["--regime", "--arms", "--beta", "--sigma", "--samples",
              "--iterations", "--eta", "--scale", "--rewards", "--ref-spread",
              "--ref-logits", "--seed", "--master-seed", "--every", "--help"]


@pytest.mark.parametrize("flag", HELP_FLAGS)
def test_help_documents_every_flag(flag):
    p = run(["sim", "--help"], check=0)
    assert flag in p.stdout


def test_help_points_to_the_projects_own_documents():
    p = run(["sim", "--help"], check=0)
    assert "docs/model.md" in p.stdout
    # Every document the help names is one of the project's own.
    assert all(d.startswith("docs/") for d in re.findall(r"[\w./-]+\.md", p.stdout))
