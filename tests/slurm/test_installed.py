"""jobs/submit and jobs/sweep.sbatch find their files from where they lie,
without a cluster: laid out as `meson install` puts them (PREFIX/bin/
dposweep-submit, PREFIX/bin/dposweep, PREFIX/share/dposweep/sweep.sbatch,
no source tree) and as in the source tree (jobs/ beside build/src/), with
DPOSWEEP unset and no dposweep on the PATH.
"""
import os
import shutil
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "helpers"))

from sweeptest import BIN, plan, sh, spec, status_kv  # noqa: E402,F401  (spec: the fixture)

JOBS = os.path.join(REPO, "jobs")


def place(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy2(src, dst)
    return dst


def link(target, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.symlink(target, dst)
    return dst


@pytest.fixture
def env():
    """No DPOSWEEP, no SLURM job, and a PATH without any dposweep."""
    e = {k: v for k, v in os.environ.items()
         if k != "DPOSWEEP" and not k.startswith(("SLURM_", "DPOSWEEP_"))}
    e["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    assert shutil.which("dposweep", path=e["PATH"]) is None
    return e


@pytest.fixture
def prefix(tmp_path):
    """An installation: the scripts copied, the binary linked in."""
    p = tmp_path / "prefix"
    place(os.path.join(JOBS, "submit"), str(p / "bin" / "dposweep-submit"))
    place(os.path.join(JOBS, "sweep.sbatch"), str(p / "share" / "dposweep" / "sweep.sbatch"))
    link(BIN, str(p / "bin" / "dposweep"))
    return p


def dry_run(submit, spec, out, env, cwd):
    """`submit --dry-run SPEC OUT --time=5`: the sbatch command it would run."""
    r = sh([str(submit), "--dry-run", str(spec), str(out), "--time=5"], check=0, env=env, cwd=cwd)
    assert "dry run, nothing submitted" in r.stderr, r.stderr
    assert f"{plan(spec).total} tasks of {spec}" in r.stderr, r.stderr
    return r.stdout


def test_installed_submit_finds_its_files(prefix, spec, env, tmp_path):
    submit = prefix / "bin" / "dposweep-submit"
    out = tmp_path / "out.h5"
    cmd = dry_run(submit, spec, out, env, tmp_path)
    assert f"DPOSWEEP={prefix}/bin/dposweep " in cmd, cmd
    assert cmd.rstrip().endswith(
        f" sbatch --parsable --comment=dposweep:{out} --time=5 "
        f"{prefix}/share/dposweep/sweep.sbatch {spec} {out}"), cmd
    # Its name in messages and help is the installed one.
    r = sh([str(submit), "--help"], check=0, env=env)
    assert r.stdout.startswith("Submit a dposweep sweep to SLURM"), r.stdout
    r = sh([str(submit), "--bogus"], check=2, env=env)
    assert r.stderr.startswith("dposweep-submit: unknown option --bogus"), r.stderr


def test_installed_submit_through_a_link(prefix, spec, env, tmp_path):
    # A link to the script elsewhere (a modules tree, ~/bin) still finds
    # the installation it points into.
    submit = link(str(prefix / "bin" / "dposweep-submit"), str(tmp_path / "links" / "dposweep-submit"))
    cmd = dry_run(submit, spec, tmp_path / "out.h5", env, tmp_path)
    assert f"DPOSWEEP={prefix}/bin/dposweep " in cmd, cmd
    assert f" {prefix}/share/dposweep/sweep.sbatch " in cmd, cmd


def test_installed_submit_honours_dposweep(prefix, spec, env, tmp_path):
    other = tmp_path / "elsewhere" / "dposweep"
    other.parent.mkdir()
    other.write_text(f'#!/bin/sh\nexec "{BIN}" "$@"\n')
    other.chmod(0o755)
    cmd = dry_run(prefix / "bin" / "dposweep-submit", spec, tmp_path / "out.h5",
                  dict(env, DPOSWEEP=other), tmp_path)
    assert f"DPOSWEEP={other} " in cmd, cmd


def test_installed_submit_without_batch_script(prefix, spec, env, tmp_path):
    os.unlink(prefix / "share" / "dposweep" / "sweep.sbatch")
    r = sh([str(prefix / "bin" / "dposweep-submit"), "--dry-run", str(spec),
            str(tmp_path / "out.h5")], check=2, env=env, cwd=tmp_path)
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert f"{prefix}/share/dposweep/sweep.sbatch" in r.stderr, r.stderr


def test_installed_batch_script_finds_the_binary(prefix, spec, env, tmp_path):
    # Outside SLURM the script runs the sweep once, with the binary of its
    # installation.
    out = tmp_path / "out.h5"
    script = prefix / "share" / "dposweep" / "sweep.sbatch"
    r = sh(["bash", str(script), str(spec), str(out)], check=0, env=env, cwd=tmp_path, timeout=300)
    assert f"binary {prefix}/bin/dposweep\n" in r.stdout, r.stdout
    assert "sweep.sbatch: sweep complete" in r.stdout, r.stdout
    rc, kv = status_kv(out)
    assert rc == 0 and kv["state"] == "complete" and int(kv["done"]) == plan(spec).total, kv


def test_batch_script_believes_the_file(prefix, spec, env, tmp_path):
    # A launcher that ends with a signal's code (mpirun killed by the
    # SIGUSR1 it forwarded, 138) after the sweep completed: the chain ends
    # as complete (exit 0), not as interrupted.  One that ends so before
    # the sweep completed is still an interruption (its own code).
    script = prefix / "share" / "dposweep" / "sweep.sbatch"
    late = tmp_path / "late-launcher"
    late.write_text('#!/bin/sh\n"$@"\nexit 138\n')
    late.chmod(0o755)
    early = tmp_path / "early-launcher"
    early.write_text("#!/bin/sh\nexit 138\n")
    early.chmod(0o755)
    for launcher, rc, needle in [(early, 138, "not under SLURM: run the same command again"),
                                 (late, 0, "sweep.sbatch: sweep complete: ")]:
        out = tmp_path / f"{launcher.name}.h5"
        r = sh(["bash", str(script), str(spec), str(out)], check=rc,
               env=dict(env, DPOSWEEP_LAUNCHER=str(launcher)), cwd=tmp_path, timeout=300)
        assert "run exited with 138" in r.stdout and needle in r.stdout, r.stdout


def test_source_tree_layout(spec, env, tmp_path):
    # A source tree: jobs/ beside build/src/dposweep.
    tree = tmp_path / "tree"
    submit = place(os.path.join(JOBS, "submit"), str(tree / "jobs" / "submit"))
    script = place(os.path.join(JOBS, "sweep.sbatch"), str(tree / "jobs" / "sweep.sbatch"))
    link(BIN, str(tree / "build" / "src" / "dposweep"))
    out = tmp_path / "out.h5"
    cmd = dry_run(submit, spec, out, env, tmp_path)
    assert f"DPOSWEEP={tree}/build/src/dposweep " in cmd, cmd
    assert f" {script} {spec} {out}" in cmd, cmd
    r = sh(["bash", script, str(spec), str(out)], check=0, env=env, cwd=tmp_path, timeout=300)
    assert f"binary {tree}/build/src/dposweep\n" in r.stdout, r.stdout


def test_submit_grows_another_spec_only_when_asked(prefix, spec, env, tmp_path):
    # An output of another spec is refused (the first link would refuse it)
    # unless the links are told to grow it in place: --reuse OUT.
    out = tmp_path / "out.h5"
    other = tmp_path / "other.yaml"
    other.write_text(spec.read_text().replace("master_seed: 4242", "master_seed: 4243"))
    sh([BIN, "run", str(other), "-o", str(out), "-q"], check=0, env=env)
    submit = prefix / "bin" / "dposweep-submit"
    r = sh([str(submit), "--dry-run", str(spec), str(out)], check=2, env=env,
           cwd=tmp_path)
    assert f'grow it with DPOSWEEP_RUN_OPTS="--reuse {out}"' in r.stderr, r.stderr
    for opts in (f"--reuse {out}", f"-q --reuse={out}", "--reuse out.h5"):
        grow = dict(env, DPOSWEEP_RUN_OPTS=opts)
        r = sh([str(submit), "--dry-run", str(spec), str(out)], check=0, env=grow,
               cwd=tmp_path)
        assert "the first link grows it into" in r.stderr, r.stderr
        assert "dry run, nothing submitted" in r.stderr, r.stderr
