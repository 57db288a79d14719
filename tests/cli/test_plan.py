"""`dposweep plan` as its help text promises: the human header and the
script format (--format=kv) say the same, --list prints every task's
coordinates as values (the seed's value, ref_spread before seed), a seeds
list and a ref_spread axis enumerate in index order, and a plan of 10^7
tasks stays small.

Run: meson test -C build plan (pytest; $DPOSWEEP is the binary,
tests/helpers on PYTHONPATH).
"""
import csv
import io
import re
import shutil
import subprocess

import pytest

from sweeptest import BIN, SPEC, run

GROWN = """\
name: grown
master_seed: 11
studies:
  - name: a
    iterations: 4
    scale: theory
    eta: theory
    rewards: uniform
    seeds: [7, 3]
    grid:
      regime: [uniform, mix-r]
      arms: [3]
      beta: [1.0]
      sigma: [0.0]
      ref_spread: [0, 0.5]
  - name: b
    iterations: 6
    scale: normalized
    eta: 0.5
    rewards: explicit
    reward_values: [0.1, 0.9]
    ref_logits: [1, -1]
    seeds: 2
    grid:
      regime: [hybrid]
      arms: [2]
      beta: [2]
      sigma: [0]
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def grown(tmp_path):
    path = tmp_path / "grown.yaml"
    path.write_text(GROWN)
    return path


def kv(path, *extra):
    out = run(["plan", str(path), "--format=kv", *extra], check=0).stdout
    head = out.split("\n\n", 1)[0]
    return [tuple(line.split("=", 1)) for line in head.splitlines()]


def test_kv_keys_in_order_and_agreeing_with_the_text(spec):
    pairs = kv(spec)
    keys = [k for k, _ in pairs]
    studies = ["exact", "noisy", "sampled"]
    assert keys == (["tasks", "spec_name", "sha256", "master_seed", "studies",
                     "relative_cost", "output_bytes"]
                    + [f"study.{s}.{k}" for s in studies
                       for k in ("tasks", "relative_cost", "output_bytes")])
    values = dict(pairs)
    text = run(["plan", str(spec)], check=0).stdout
    head = dict(re.findall(r"^([a-z0-9_ ]+): (\S+)$", text.split("\n\n")[0], re.M))
    assert values["tasks"] == head["tasks"]
    assert values["spec_name"] == head["spec"] == "mpi-test"
    assert values["sha256"] == head["sha256"]
    assert values["master_seed"] == head["master_seed"] == "4242"
    assert values["studies"] == head["studies"] == "3"
    assert values["output_bytes"] == head["output bytes"]
    assert float(values["relative_cost"]) == pytest.approx(float(head["relative cost"]), rel=1e-5)
    assert sum(int(values[f"study.{s}.tasks"]) for s in studies) == int(values["tasks"])
    assert sum(float(values[f"study.{s}.relative_cost"]) for s in studies) == \
        pytest.approx(float(values["relative_cost"]))
    # --format=text is the default.
    assert run(["plan", str(spec), "--format", "text"], check=0).stdout == text


def test_kv_with_list(spec):
    out = run(["plan", str(spec), "--format=kv", "--list"], check=0).stdout
    head, table = out.split("\n\n", 1)
    assert head.startswith("tasks=86\n")
    assert len(table.splitlines()) == 1 + 86


def test_list_prints_values_in_index_order(grown):
    out = run(["plan", str(grown), "--list"], check=0).stdout
    table = out.split("\n\n")[-1]
    rows = list(csv.DictReader(io.StringIO(table)))
    assert list(rows[0]) == ["study", "index", "regime", "arms", "beta", "sigma",
                             "samples", "eta", "ref_spread", "seed"]
    a = [(r["regime"], r["ref_spread"], r["seed"]) for r in rows if r["study"] == "a"]
    # seed fastest (its listed values), then ref_spread, then regime.
    assert a == [("uniform", "0", "7"), ("uniform", "0", "3"),
                 ("uniform", "0.5", "7"), ("uniform", "0.5", "3"),
                 ("mix-r", "0", "7"), ("mix-r", "0", "3"),
                 ("mix-r", "0.5", "7"), ("mix-r", "0.5", "3")]
    assert [int(r["index"]) for r in rows if r["study"] == "a"] == list(range(8))
    b = [(r["eta"], r["ref_spread"], r["seed"]) for r in rows if r["study"] == "b"]
    assert b == [("0.5", "0", "0"), ("0.5", "0", "1")]
    assert "axis order: regime, arms, beta, sigma, samples, eta, ref_spread, seed" in out
    assert "axes: regime 2, arms 1, beta 1, sigma 1, samples 1, eta 1, ref_spread 2, seed 2" in out


def test_seeds_listed_as_0_to_n_are_seeds_n(tmp_path, spec):
    listed = tmp_path / "listed.yaml"
    listed.write_text(SPEC.replace("seeds: 3", "seeds: [0, 1, 2]"))
    assert dict(kv(listed))["sha256"] == dict(kv(spec))["sha256"]


@pytest.mark.parametrize("args,word", [
    (["--format=yaml"], "unknown format 'yaml'"),
    (["--format"], "needs a value"),
])
def test_bad_format(spec, args, word):
    p = run(["plan", str(spec)] + args, check=2)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dposweep plan: ") and word in lines[0], p.stderr
    assert p.stdout == ""


def test_ten_million_tasks_plan_small(tmp_path):
    # seeds: N allocates no seeds: 10^7 tasks plan in about 11 MB of
    # resident memory, most of it the libraries.  GNU time measures it (a
    # child forked from Python would count Python's pages too).
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    if not gnu_time:
        pytest.skip("GNU time not installed (apt-get install time)")
    big = tmp_path / "big.yaml"
    big.write_text(SPEC.replace("seeds: 3", "seeds: 833333", 1))
    report = tmp_path / "rss"
    p = subprocess.run([gnu_time, "-f", "%M", "-o", str(report), BIN, "plan",
                        str(big), "--format=kv"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "study.exact.tasks=9999996\n" in p.stdout
    assert int(report.read_text().split()[-1]) < 24 * 1024  # KiB
