"""Bad input, tried systematically: malformed and hostile specs, arguments
and results files.  Every case: exactly one line of ours on stderr, the
documented exit code, and nothing written or changed."""
import hashlib
import os
import shutil

import h5py
import pytest

from sweeptest import SPEC, ours, run, run_spec

GOOD = SPEC


def edit(old, new):
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


# (id, spec text, words the message must contain)
SPECS = [
    ("unclosed-bracket", edit("arms: [3, 8]", "arms: [3, 8"), []),
    ("tab-indent", edit("    iterations: 20", "\titerations: 20"), []),
    ("binary", "\x00\x01\x02garbage", ["NUL"]),
    ("not-a-mapping", "- 1\n- 2\n", []),
    ("scalar-document", "hello\n", []),
    ("beta-word", edit("beta: [0.5, 2.0]", "beta: [0.5, big]"), ["grid.beta[1]", "invalid number"]),
    ("arms-float", edit("arms: [3, 8]", "arms: [3, 8.5]"), ["grid.arms[1]", "invalid integer '8.5'"]),
    ("seeds-float", edit("seeds: 3", "seeds: 2.5"), ["study 'exact'", "seeds", "invalid integer"]),
    ("iterations-hex", edit("iterations: 20", "iterations: 0x14"), ["iterations", "invalid integer"]),
    ("seeds-list-duplicate", edit("seeds: 3", "seeds: [3, 4, 3]"), ["study 'exact'", "seeds[2]", "duplicate"]),
    ("grid-scalar", edit("    grid:\n      regime: [uniform, mix-r, mix-p]\n      arms: [3, 8]\n      beta: [0.5, 2.0]\n      sigma: [0.0]\n",
                         "    grid: 5\n"), ["grid", "expected a mapping"]),
    ("unknown-top", "colour: blue\n" + GOOD, ["unknown key 'colour'"]),
    ("unknown-study", edit("    seeds: 3\n", "    seeds: 3\n    temperature: 1\n"), ["study 'exact'", "unknown key 'temperature'"]),
    ("unknown-grid", edit("      sigma: [0.0]\n", "      sigma: [0.0]\n      gamma: [1]\n"), ["study 'exact'", "unknown key 'gamma'"]),
    ("duplicate-key", edit("    seeds: 3\n", "    seeds: 3\n    seeds: 4\n"), ["duplicate key 'seeds'"]),
    ("duplicate-study", GOOD.replace("name: noisy", "name: exact"), ["duplicate study name"]),
    ("empty-axis", edit("regime: [uniform, mix-r, mix-p]", "regime: []"), ["grid.regime", "empty"]),
    ("huge-axes", edit("seeds: 3", "seeds: 2000000000"), ["2^31"]),
    ("nan-beta", edit("beta: [0.5, 2.0]", "beta: [.nan]"), ["grid.beta"]),
    ("inf-beta", edit("beta: [0.5, 2.0]", "beta: [.inf]"), ["grid.beta"]),
    ("nan-word", edit("beta: [0.5, 2.0]", "beta: [nan]"), ["grid.beta[0]", "finite"]),
    ("overflow-float", edit("beta: [0.5, 2.0]", "beta: [1e999]"), ["grid.beta[0]", "invalid number"]),
    ("trailing-garbage", edit("beta: [0.5, 2.0]", "beta: [0.7- 0.3]"), ["grid.beta[0]", "invalid number '0.7- 0.3'"]),
    ("inf-sigma", edit("sigma: [0.0, 0.05]", "sigma: [inf]"), ["grid.sigma[0]", "finite"]),
    ("zero-arms", edit("arms: [3, 8]", "arms: [0]"), ["grid.arms[0]", "between 2"]),
    ("negative-beta", edit("beta: [0.5, 2.0]", "beta: [-0.5]"), ["grid.beta[0]", "> 0"]),
    ("zero-beta", edit("beta: [0.5, 2.0]", "beta: [0]"), ["grid.beta[0]", "> 0"]),
    ("zero-iterations", edit("iterations: 20", "iterations: 0"), ["iterations", "between 1"]),
    ("negative-record", edit("record_every: 3", "record_every: -1"), ["record_every"]),
    ("zero-seeds", edit("seeds: 3", "seeds: 0"), ["seeds", "between 1"]),
    ("negative-samples", edit("samples: [5, 500]", "samples: [-5]"), ["grid.samples[0]"]),
    ("negative-sigma", edit("sigma: [0.0, 0.05]", "sigma: [-0.05]"), ["grid.sigma[0]"]),
    ("zero-eta", edit("eta: 0.5", "eta: 0"), ["study 'sampled'", "eta"]),
    ("eta-theory-normalized", edit("eta: 0.5", "eta: theory"), ["study 'sampled'", "theory"]),
    ("sigma-and-samples", edit("samples: [5, 500]", "samples: [5, 500]").replace(
        "      sigma: [0.0]\n      samples", "      sigma: [0.1]\n      samples"), ["sigma"]),
    ("overflow-int", edit("arms: [3, 8]", "arms: [99999999999999999999]"), ["grid.arms", "invalid integer"]),
    ("overflow-arms", edit("arms: [3, 8]", "arms: [3000000000]"), ["grid.arms[0]", "between 2"]),
    ("overflow-seed", edit("master_seed: 4242", "master_seed: 18446744073709551616"), ["master_seed"]),
    ("negative-seed", edit("master_seed: 4242", "master_seed: -1"), ["master_seed"]),
    ("long-name", edit("name: exact", "name: " + "x" * 10000), ["name", "1 to 64"]),
    ("long-regime", edit("regime: [uniform, mix-r, mix-p]", "regime: [" + "r" * 5000 + "]"), ["unknown regime"]),
    # libyaml caps simple keys at 1024 characters
    ("long-key", edit("    seeds: 3\n", "    seeds: 3\n    " + "k" * 5000 + ": 1\n"), ["expected ':'"]),
    ("bad-name-chars", edit("name: exact", "name: 'a/b'"), ["name"]),
    ("multiline-value", edit("master_seed: 4242", "master_seed: \"12\\n34\""), ["master_seed"]),
    ("empty", "", ["empty"]),
    ("comment-only", "# nothing\n", []),
    # seeds as a list
    ("seeds-list-empty", edit("seeds: 3", "seeds: []"), ["study 'exact'", "seeds", "empty list"]),
    ("seeds-list-negative", edit("seeds: 3", "seeds: [1, -2]"), ["seeds[1]", "between 0"]),
    ("seeds-list-huge", edit("seeds: 3", "seeds: [18446744073709551615]"), ["seeds[0]", "9223372036854775807"]),
    ("seeds-list-word", edit("seeds: 3", "seeds: [1, two]"), ["seeds[1]", "invalid integer 'two'"]),
    ("seeds-list-nested", edit("seeds: 3", "seeds: [[1]]"), ["study 'exact'", "seeds[0]", "wrong type"]),
    ("seeds-mapping", edit("seeds: 3", "seeds: {n: 3}"), ["study 'exact'", "seeds", "wrong type"]),
    ("seeds-duplicate-key", edit("    seeds: 3\n", "    seeds: [1]\n    seeds: [2]\n"), ["duplicate key 'seeds'"]),
    # numerically equal values are duplicates
    ("zero-and-minus-zero", edit("sigma: [0.0, 0.05]", "sigma: [0.0, -0.0]"), ["study 'noisy'", "grid.sigma[1]", "duplicate"]),
    ("one-and-one-point-oh", edit("beta: [0.5, 2.0]", "beta: [2, 2.0]"), ["grid.beta[1]", "duplicate"]),
    ("eta-equal", edit("eta: [0.5, 1.0]", "eta: [1, 1.0]"), ["grid.eta[1]", "duplicate"]),
    # the reference policy
    ("ref-spread-negative", edit("      sigma: [0.0]\n", "      sigma: [0.0]\n      ref_spread: [-1]\n"),
     ["study 'exact'", "grid.ref_spread[0]", ">= 0"]),
    ("ref-spread-nan", edit("      sigma: [0.0]\n", "      sigma: [0.0]\n      ref_spread: [nan]\n"),
     ["grid.ref_spread[0]", "finite"]),
    ("ref-spread-word", edit("      sigma: [0.0]\n", "      sigma: [0.0]\n      ref_spread: [wide]\n"),
     ["grid.ref_spread[0]", "invalid number 'wide'"]),
    ("ref-spread-zeros", edit("      sigma: [0.0]\n", "      sigma: [0.0]\n      ref_spread: [0, -0.0]\n"),
     ["grid.ref_spread[1]", "duplicate"]),
    ("ref-spread-scalar", edit("      sigma: [0.0]\n", "      sigma: [0.0]\n      ref_spread: 1\n"),
     ["grid.ref_spread", "expected a list"]),
    ("ref-logits-length", edit("    seeds: 3\n", "    seeds: 3\n    ref_logits: [0, 1]\n"),
     ["study 'exact'", "grid.arms[0]", "ref_logits lists 2 values"]),
    ("ref-logits-inf", edit("eta: 0.5\n", "eta: 0.5\n    ref_logits: [0, 1, inf, 2]\n"),
     ["study 'sampled'", "ref_logits[2]", "finite"]),
    ("ref-logits-word", edit("eta: 0.5\n", "eta: 0.5\n    ref_logits: [0, x, 1, 2]\n"),
     ["study 'sampled'", "ref_logits[1]", "invalid number 'x'"]),
    ("ref-logits-empty", edit("eta: 0.5\n", "eta: 0.5\n    ref_logits: []\n"),
     ["study 'sampled'", "ref_logits", "empty"]),
    ("ref-logits-with-spread", edit("eta: 0.5\n", "eta: 0.5\n    ref_logits: [0, 1, 2, 3]\n").replace(
        "      samples: [5, 500]\n", "      samples: [5, 500]\n      ref_spread: [0, 2]\n"),
     ["study 'sampled'", "ref_logits", "grid.ref_spread[1]"]),
]


@pytest.mark.parametrize("case,text,words", SPECS, ids=[c[0] for c in SPECS])
def test_bad_spec(tmp_path, case, text, words):
    spec = tmp_path / "bad.yaml"
    spec.write_bytes(text.encode("utf-8", "surrogateescape"))
    for cmd in (["plan", str(spec)], ["run", str(spec), "-o", str(tmp_path / "out.h5")]):
        r = run(cmd, check=2)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, (case, r.stderr)
        assert lines[0].startswith("dposweep "), lines
        for w in words:
            assert w in lines[0], (case, w, lines[0])
        assert r.stdout == ""
    assert os.listdir(tmp_path) == ["bad.yaml"]  # nothing written


def test_spec_not_a_file(tmp_path):
    for path, word in [(tmp_path, "is a directory"), (tmp_path / "missing.yaml", "No such file"),
                       ("/dev/null", "empty")]:
        for cmd in (["plan", str(path)], ["run", str(path), "-o", str(tmp_path / "o.h5")]):
            r = run(cmd, check=2)
            assert len(r.stderr.strip().splitlines()) == 1 and word in r.stderr, r.stderr
    assert not (tmp_path / "o.h5").exists()


ARGS = [
    (["run", "--bogus"], "unknown option"),
    (["run", "--grace", "soon"], "--grace"),
    (["run", "--grace", "-1"], "--grace"),
    (["run", "--chunk-seconds", "0"], "--chunk-seconds"),
    (["run", "--flush-interval", "nan"], "--flush-interval"),
    (["run", "-o"], "needs a value"),
    (["run", "a.yaml", "b.yaml"], "unexpected argument"),
    (["run", "-o", ""], "empty file name"),
    (["plan", "--bogus"], "unknown option"),
    (["plan", "a.yaml", "b.yaml"], "unexpected argument"),
    (["plan", "--format=yaml"], "unknown format 'yaml'"),
    (["plan", "--format"], "needs a value"),
    (["sim", "--regime", "uniform", "--arms", "3", "--beta", "1", "--iterations", "2",
      "--ref-spread", "-1"], "--ref-spread"),
    (["sim", "--regime", "uniform", "--arms", "3", "--beta", "1", "--iterations", "2",
      "--ref-logits", "0,1"], "--ref-logits"),
    (["sim", "--regime", "uniform", "--arms", "3", "--beta", "1", "--iterations", "2",
      "--ref-logits", "0,1,nan"], "not finite"),
    (["sim", "--regime", "uniform", "--arms", "3", "--beta", "1", "--iterations", "2",
      "--ref-logits", "0,1,2", "--ref-spread", "1"], "not together"),
    (["status"], "needs a results file"),
    (["status", "a.h5", "b.h5"], "one results file"),
    (["frobnicate"], "unknown command"),
    ([], "usage"),
]


@pytest.mark.parametrize("args,word", ARGS, ids=[" ".join(a[0]) or "none" for a in ARGS])
def test_bad_arguments(tmp_path, args, word):
    r = run(args, cwd=tmp_path, check=2)
    # Without a command, the usage line is the message.
    lines = ours(r.stderr) if args else r.stderr.splitlines()[:1]
    assert len(lines) == 1 and word in r.stderr, r.stderr
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    return run_spec(GOOD, d / "spec.yaml", d / "good.h5")


def damaged(kind, good, path):
    if kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "zero-length":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("results: none\n")
    elif kind == "other-version":
        shutil.copy(good, path)
        with h5py.File(path, "r+") as f:
            f.attrs.modify("dposweep_format", 1)
    elif kind == "foreign-hdf5":
        with h5py.File(path, "w") as f:
            f["x"] = [1.0]
    elif kind == "no-spec":
        shutil.copy(good, path)
        with h5py.File(path, "r+") as f:
            del f.attrs["spec_canonical"]
    elif kind == "directory":
        path.mkdir()


@pytest.mark.parametrize("kind,word", [
    ("truncated", "damaged or truncated"),
    ("zero-length", "not an HDF5 file (empty)"),
    ("text", "not an HDF5 file"),
    ("other-version", "format version 1"),
    ("foreign-hdf5", "not a dposweep results file"),
    ("no-spec", "stored spec is missing"),
    ("directory", "is a directory"),
])
def test_bad_results_file(tmp_path, good_file, kind, word):
    spec, good = good_file
    path = tmp_path / "bad.h5"
    damaged(kind, good, path)

    def snapshot():
        return "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()

    before = snapshot()
    r = run(["status", str(path)], check=2)
    assert len(r.stderr.strip().splitlines()) == 1 and word in r.stderr, r.stderr
    for force in ([], ["--force"]):
        r = run(["run", str(spec), "-o", str(path)] + force, check=2)
        assert len(ours(r.stderr)) == 1, r.stderr
        assert snapshot() == before
    assert sorted(os.listdir(tmp_path)) == ["bad.h5"]
