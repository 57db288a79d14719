#!/usr/bin/python3
"""SLURM tests: jobs/submit and jobs/sweep.sbatch on a real cluster of one
node, or of two nodes on this one machine.

    DPOSWEEP=build/src/dposweep test_slurm.py chain|signal|failure|two-nodes|node-down

(meson sets DPOSWEEP; without it, build/src/dposweep of this repository.)

Each case starts its own cluster (tests/slurm/cluster.sh) in a temporary
folder and stops it at the end, also on failure.

  chain    a sweep with about 150 s of work for one worker, submitted by
           jobs/submit with --time=1 --signal=B:USR1@5: every link but the
           last is cut (early SIGUSR1, drain), the chain continues and
           completes, and every row (all studies, traj, final, tasks) equals
           that of the same spec run without interruption beside it.
  signal   `scancel --batch --signal=USR1` on a running link (submitted
           with plain sbatch) drains it; the next link completes the sweep.
  failure  a spec that plan rejects is refused by jobs/submit; an output in
           a missing directory (exit 3) and an output of another spec (exit
           2) each fail once, with a message in the log, and no successor;
           jobs/submit --cancel and a plain scancel end a chain.

On two nodes (n1 and n2, two slurmd of one machine: cluster.sh --nodes 2;
Open MPI with OMPI_MCA_btl=self,tcp, since the nodes share a host name):

  two-nodes  a sweep submitted with --nodes=2 --ntasks-per-node=2 runs its
             ranks on both nodes (the log names them); mid-run the ranks of
             n2 are SIGKILLed: the link ends abnormally having lost no done
             task, the next link resumes, and the sweep equals a one-rank
             run bit for bit.
  node-down  mid-run node n2 fails (its slurmd, step daemons and ranks
             SIGKILLed): the next link asks for what the cluster can give
             and completes the sweep on n1 alone, bit-identical to a
             one-rank run.

Exit 77 (skip) without slurm-wlm or when not root (the cluster's daemons
and jobs run as root).
"""

import glob
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "helpers"))

import h5py  # noqa: E402

from sweeptest import (BIN, QUICK, QUICK_GRID, ROOT_MPI_ENV, SLOW, SLOW_GRID,  # noqa: E402
                       assert_complete_and_equal, mpirun, plan, sh, spec_yaml, start,
                       status_counts, wait_for)

CLUSTER = os.path.join(HERE, 'cluster.sh')
SUBMIT = os.path.join(REPO, 'jobs', 'submit')
SBATCH_SCRIPT = os.path.join(REPO, 'jobs', 'sweep.sbatch')

TERMINAL = {'COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'NODE_FAIL',
            'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE'}

def slurm_spec(name, seeds):
    """The spec slurm-NAME: the expensive study ("sampled", the shared slow
    study at 3000 steps: ~0.1 s per task per core here) with `seeds`; the
    cheap one adds a second study (a second set of /studies/*/traj rows) at
    little cost."""
    return spec_yaml('slurm-' + name, [
        ('sampled', dict(SLOW, iterations=3000, seeds=seeds), SLOW_GRID),
        ('exact', dict(QUICK, iterations=60, record_every=1, seeds=4),
         dict(QUICK_GRID, arms=[2, 20], beta=[0.1, 1.0]))], master_seed=20250101)


# Seeds of the expensive study in the calibration runs.
CALIBRATION_SEEDS = 12


def log(msg):
    print('[%s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


class Env:
    def __init__(self, nodes=1):
        self.nodes = nodes
        self.dposweep = BIN
        self.tmp = tempfile.mkdtemp(prefix='dposweep-slurm-')
        self.cdir = os.path.join(self.tmp, 'cluster')
        self.work = os.path.join(self.tmp, 'work')
        os.makedirs(self.work)
        self.env = dict(os.environ, **ROOT_MPI_ENV)
        self.env['SLURM_CONF'] = os.path.join(self.cdir, 'slurm.conf')
        self.env['DPOSWEEP'] = self.dposweep
        for k in list(self.env):
            if k.startswith(('SLURM_JOB', 'SLURM_STEP', 'SBATCH_')) or k in (
                    'SLURM_NTASKS', 'SLURM_NODELIST', 'SLURM_TASKS_PER_NODE',
                    'DPOSWEEP_LINK', 'DPOSWEEP_SBATCH_ARGS',
                    'DPOSWEEP_IDLE_LINKS', 'DPOSWEEP_MAX_LINKS',
                    'DPOSWEEP_LAUNCHER'):
                del self.env[k]
        self.env['DPOSWEEP_RUN_OPTS'] = '--progress-interval 2'
        if nodes > 1:
            # The nodes share this machine's host name: Open MPI would take
            # ranks of two nodes for neighbours and use shared memory
            # between them (and rank 0 crashes in MPI_Bcast).
            self.env['OMPI_MCA_btl'] = 'self,tcp'
        self.started = False

    def run(self, args, check_rc=None, timeout=120):
        """Run a command in the work folder with the cluster's environment."""
        return sh(args, check=check_rc, cwd=self.work, env=self.env, timeout=timeout)

    def start(self):
        self.run([CLUSTER, 'start', self.cdir, '--nodes', str(self.nodes)], check_rc=0)
        self.started = True

    def stop(self):
        if self.started:
            p = self.run([CLUSTER, 'stop', self.cdir], timeout=120)
            if p.returncode != 0:
                log('cluster stop: exit %d: %s' % (p.returncode, p.stderr))
            self.started = False

    def dump(self):
        """On failure: every job log and the daemons' logs."""
        for f in sorted(glob.glob(os.path.join(self.work, '*.log'))):
            print('==== %s' % f)
            print(open(f, errors='replace').read())
        p = self.run(['scontrol', 'show', 'job'], timeout=30)
        print('==== scontrol show job\n' + p.stdout + p.stderr)
        for f in sorted(glob.glob(os.path.join(self.cdir, 'log', '*.log'))):
            if os.path.exists(f):
                lines = open(f, errors='replace').read().splitlines()
                print('==== %s (last 40 lines)' % f)
                print('\n'.join(lines[-40:]))

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- helpers ----

    def write_spec(self, name, seeds):
        path = os.path.join(self.work, name + '.yaml')
        with open(path, 'w') as f:
            f.write(slurm_spec(name, seeds))
        return path

    def job_info(self, job):
        p = self.run(['scontrol', '-o', 'show', 'job', str(job)], timeout=30)
        if p.returncode != 0:
            return {}
        return dict(re.findall(r'(\w+)=(\S*)', p.stdout))

    def job_state(self, job):
        return self.job_info(job).get('JobState', '')

    def all_jobs(self):
        p = self.run(['squeue', '-h', '-t', 'all', '-o', '%i'], check_rc=0,
                     timeout=30)
        return sorted(int(x) for x in p.stdout.split())

    def wait_job_end(self, job, timeout):
        """Until the job reaches a terminal state; returns that state."""
        assert wait_for(lambda: self.job_state(job) in TERMINAL, timeout, step=0.5), (
            'job %s not finished after %d s (state %s)' % (job, timeout, self.job_state(job)))
        return self.job_state(job)

    def job_log(self, job):
        path = os.path.join(self.work, 'dposweep-%s.log' % job)
        try:
            return open(path, errors='replace').read()
        except FileNotFoundError:
            return ''

    def wait_progress(self, job, timeout=120):
        """Until the job's log shows a progress line with tasks done
        (DPOSWEEP_RUN_OPTS asks for one every 2 s)."""
        def progress():
            m = re.findall(r'dposweep run: (\d+)/\d+ tasks', self.job_log(job))
            return bool(m) and int(m[-1]) > 0

        assert wait_for(lambda: progress() or self.job_state(job) in TERMINAL, timeout,
                        step=0.5), 'job %s made no progress in %d s' % (job, timeout)
        assert progress(), 'job %s ended early:\n%s' % (job, self.job_log(job))

    def follow_chain(self, first, timeout):
        """Follow a chain from its first job to its end; return
        [(job, state, log)] in order."""
        deadline = time.time() + timeout
        links = []
        job = first
        while True:
            left = deadline - time.time()
            assert left > 0, 'chain not finished after %d s' % timeout
            st = self.wait_job_end(job, left)
            text = self.job_log(job)
            links.append((job, st, text))
            log('job %s ended: %s; %s' % (job, st, last_line(text)))
            m = re.search(r'submitted job (\d+)', text)
            if m:
                job = int(m.group(1))
                continue
            return links

    def reference(self, spec, out):
        """The same spec run without interruption, outside SLURM, in the
        background (2 ranks: one worker, as each link has)."""
        return start(['run', spec, '-o', out, '-q'], ranks=2, cwd=self.work,
                     env=self.env, stderr=subprocess.STDOUT)

    def calibrate(self):
        """Tasks per second of the expensive study with 2 ranks here, while a
        second such run shares the machine (as the reference run will)."""
        spec = self.write_spec('calibrate', CALIBRATION_SEEDS)
        planned = plan(spec)
        outs = [os.path.join(self.work, 'calibrate%d.h5' % i) for i in (1, 2)]
        t0 = time.time()
        procs = [start(['run', spec, '-o', o, '-q'], ranks=2, cwd=self.work, env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for o in outs]
        rcs = [p.wait(timeout=300) for p in procs]
        dt = time.time() - t0
        assert rcs == [0, 0], 'calibration runs: exit %s' % rcs
        for o in outs:
            os.unlink(o)
        # The exact study costs little; ~0.5 s start-up.
        rate = planned.studies['sampled'] / max(dt - 0.5, 0.5)
        log('calibration: %.1f s for 2 x %d tasks side by side, ~%.1f sampled '
            'tasks/s per run' % (dt, planned.total, rate))
        return rate

    def sized_spec(self, name, seconds, lo, hi):
        """NAME.yaml with about `seconds` of work for one worker (seeds
        calibrated here, within [lo, hi]); returns (its path, the path of
        its output NAME.h5, the seeds)."""
        seeds = self.seeds_for(self.calibrate(), seconds, lo, hi)
        return self.write_spec(name, seeds), os.path.join(self.work, name + '.h5'), seeds

    def seeds_for(self, rate, seconds, lo, hi):
        """Seeds of the expensive study for about `seconds` of work for one
        worker at `rate` sampled tasks per second, within [lo, hi]."""
        per_seed = plan(self.write_spec('one-seed', 1)).studies['sampled']
        return max(lo, min(hi, math.ceil(rate * seconds / per_seed)))


def finish_reference(ref):
    """Wait for the reference run (killed if it hangs); assert it succeeded."""
    if ref.poll() is None:
        try:
            ref.wait(timeout=300)
        except subprocess.TimeoutExpired:
            ref.kill()
            ref.wait()
    out = ref.stdout.read()
    assert ref.returncode == 0, 'reference run: exit %s\n%s' % (ref.returncode, out)


def last_line(text):
    lines = [l for l in text.splitlines() if l.startswith('sweep.sbatch:')]
    return lines[-1] if lines else '(empty log)'


def job_id(parsable):
    """The job id from `sbatch --parsable` ("ID" or "ID;CLUSTER")."""
    return int(parsable.strip().split(';')[0])


def assert_drained_link(job, st, text, what):
    """A link cut by SIGUSR1: it drained, submitted its successor and
    ended cleanly (drained before the limit, so SLURM saw exit 0)."""
    for needle in ('sweep.sbatch: signal received: SIGUSR1',
                   'dposweep run: signal received',
                   'dposweep run: interrupted:',
                   'sweep.sbatch: sweep incomplete: submitted job'):
        assert needle in text, 'job %s (%s): log lacks %r' % (job, what, needle)
    assert st == 'COMPLETED', 'job %s (%s) ended %s' % (job, what, st)


def assert_last_link(job, st, text):
    """A resumed link that completed the sweep."""
    assert 'dposweep run: resuming' in text, 'job %s did not resume' % job
    assert 'sweep.sbatch: sweep complete' in text, 'last job %s: log lacks "sweep complete"' % job
    assert st == 'COMPLETED', 'last job %s ended %s' % (job, st)


# ---- the cases ----

def case_chain(e):
    # About 150 s of compute for one worker (some three minutes of 1-minute
    # allocations): the warning comes 25-55 s into each link (SLURM checks
    # limits every 30 s), so three to six links.
    spec, out, seeds = e.sized_spec('chain', 150, 100, 5000)
    ref_out = os.path.join(e.work, 'reference.h5')
    log('chain: %d tasks (%d seeds per sampled regime)' % (plan(spec).total, seeds))

    ref = e.reference(spec, ref_out)
    try:
        p = e.run([SUBMIT, spec, out, '--time=1', '--signal=B:USR1@5',
                   '--ntasks=2'], check_rc=0)
        first = int(p.stdout.strip())
        log('chain: first job %d' % first)
        links = e.follow_chain(first, timeout=420)
    finally:
        finish_reference(ref)

    assert len(links) >= 2, 'the chain was never cut (%d link)' % len(links)
    for i, (job, st, text) in enumerate(links):
        assert ('sweep.sbatch: link %d of at most' % (i + 1)) in text, (
            'job %s: not link %d' % (job, i + 1))
        if i < len(links) - 1:
            assert_drained_link(job, st, text, 'cut link %d' % (i + 1))
        if i > 0:
            assert 'dposweep run: resuming' in text, 'job %s did not resume' % job
    assert_last_link(*links[-1])
    log('chain: %d links, %d cut' % (len(links), len(links) - 1))

    n = assert_complete_and_equal(ref_out, out)
    log('chain: %d rows equal to the uninterrupted run' % n)

    p = e.run([SUBMIT, '--status', out], check_rc=0)
    assert 'complete' in p.stdout, 'jobs/submit --status: %s' % p.stdout
    # Submitting a complete sweep again submits nothing.
    before = e.all_jobs()
    p = e.run([SUBMIT, spec, out, '--time=1'], check_rc=0)
    assert p.stdout.strip() == '' and 'already complete' in p.stderr, (
        'resubmitting a complete sweep: %r %r' % (p.stdout, p.stderr))
    assert e.all_jobs() == before, 'a job was submitted for a complete sweep'


def case_signal(e):
    # ~40 s of work: long enough to signal the first link mid-way.
    spec, out, _ = e.sized_spec('signal', 40, 40, 2000)
    ref_out = os.path.join(e.work, 'reference.h5')
    ref = e.reference(spec, ref_out)
    try:
        # Plain sbatch (no jobs/submit): the successor must inherit the
        # time limit and task count from the running job.
        p = e.run(['sbatch', '--parsable', '--time=5', '--ntasks=2',
                   SBATCH_SCRIPT, spec, out], check_rc=0)
        first = job_id(p.stdout)
        log('signal: job %d' % first)
        e.wait_progress(first)
        e.run(['scancel', '--batch', '--signal=USR1', str(first)], check_rc=0)
        log('signal: sent SIGUSR1 to the batch shell of job %d' % first)
        links = e.follow_chain(first, timeout=300)
    finally:
        finish_reference(ref)
    assert len(links) == 2, 'expected 2 links, got %d' % len(links)
    assert_drained_link(*links[0], 'signalled link')
    job2, st2, text2 = links[1]
    assert 'sweep.sbatch: link 2 of at most' in text2, 'job %s is not link 2' % job2
    assert_last_link(*links[1])
    info = e.job_info(job2)
    assert info.get('TimeLimit') == '00:05:00' and info.get('NumTasks') == '2', (
        'successor lost the options: TimeLimit=%s NumTasks=%s'
        % (info.get('TimeLimit'), info.get('NumTasks')))
    n = assert_complete_and_equal(ref_out, out)
    log('signal: %d rows equal to the uninterrupted run' % n)


def assert_chain_ended(e, job, before, needles):
    """The link's log holds every needle, the link submitted no successor,
    and it is the only job added to `before`."""
    text = e.job_log(job)
    for needle in needles:
        assert needle in text, 'job %d: log lacks %r:\n%s' % (job, needle, text)
    assert 'submitted job' not in text, 'job %d submitted a successor' % job
    assert e.all_jobs() == sorted(before + [job]), 'unexpected jobs: %s' % e.all_jobs()


def assert_link_failed(e, job, before, code, needles):
    """The link failed with dposweep's exit code and ended the chain."""
    st = e.wait_job_end(job, 60)
    info = e.job_info(job)
    log('failure: job %d %s exit %s' % (job, st, info.get('ExitCode')))
    assert st == 'FAILED' and info.get('ExitCode') == '%d:0' % code, (
        'job %d: %s exit %s' % (job, st, info.get('ExitCode')))
    assert_chain_ended(e, job, before, ['sweep.sbatch: chain stopped'] + needles)


def case_failure(e):
    small = e.write_spec('small', 2)
    other = e.write_spec('other', 3)
    bad = os.path.join(e.work, 'bad.yaml')
    with open(small) as f:
        text = f.read()
    with open(bad, 'w') as f:
        f.write(text.replace('beta: [3.0]', 'beta: [high]'))

    # 1. A spec that plan rejects: refused before anything is submitted.
    before = e.all_jobs()
    p = e.run([SUBMIT, bad, os.path.join(e.work, 'bad.h5')], check_rc=2)
    assert 'beta' in p.stderr and 'nothing submitted' in p.stderr, (
        'submit of a bad spec: %r' % p.stderr)
    assert p.stdout.strip() == '', 'submit printed a job id for a bad spec'
    assert e.all_jobs() == before, 'a job was submitted for a bad spec'
    log('failure: bad spec refused: %s' % p.stderr.strip().splitlines()[0])

    # 2. An output in a directory that does not exist (creating it fails
    # even as root): one job, exit 3, a message, no successor.
    out = os.path.join(e.work, 'no-such-dir', 'out.h5')
    p = e.run([SUBMIT, small, out, '--time=2', '--ntasks=2'], check_rc=0)
    assert 'does not exist' in p.stderr, 'no warning about the missing directory'
    assert_link_failed(e, int(p.stdout.strip()), before, 3, ['cannot create'])
    assert not os.path.exists(os.path.dirname(out)), 'the missing directory appeared'

    # 3. An output holding another spec: jobs/submit refuses it; a link
    # submitted anyway (plain sbatch) exits 2, leaves the file alone and
    # submits nothing.
    out = os.path.join(e.work, 'other.h5')
    e.run(mpirun(1) + [e.dposweep, 'run', other, '-o', out, '-q'], check_rc=0)
    mtime = os.stat(out).st_mtime_ns
    before = e.all_jobs()
    p = e.run([SUBMIT, small, out], check_rc=2)
    assert 'another spec' in p.stderr, 'submit onto another spec: %r' % p.stderr
    assert e.all_jobs() == before, 'a job was submitted onto another spec'
    p = e.run(['sbatch', '--parsable', '--time=2', '--ntasks=2',
               SBATCH_SCRIPT, small, out], check_rc=0)
    assert_link_failed(e, job_id(p.stdout), before, 2, [])
    assert os.stat(out).st_mtime_ns == mtime, 'the other spec\'s file was modified'

    # 4. jobs/submit --cancel drains the running link (SIGUSR1, like the
    # time limit's warning) and ends the chain: no successor.
    spec = e.write_spec('cancel', 400)
    out = os.path.join(e.work, 'cancel.h5')
    before = e.all_jobs()
    p = e.run([SUBMIT, spec, out, '--time=5', '--ntasks=2'], check_rc=0)
    job = int(p.stdout.strip())
    e.wait_progress(job)
    p = e.run([SUBMIT, '--status', out], check_rc=1)
    assert 'RUNNING' in p.stdout and str(job) in p.stdout, (
        'jobs/submit --status does not list the running job:\n' + p.stdout)
    e.run([SUBMIT, '--cancel', out], check_rc=0)
    log('failure: jobs/submit --cancel: job %d %s' % (job, e.wait_job_end(job, 90)))
    assert_chain_ended(e, job, before, [
        'sweep.sbatch: signal received: SIGUSR1', 'dposweep run: interrupted:',
        'sweep.sbatch: chain stopped: stopped by jobs/submit --cancel'])
    p = e.run([SUBMIT, '--status', out], check_rc=1)
    assert 'no job of the chain' in p.stdout, '--status after the cancel:\n' + p.stdout

    # 5. A plain scancel (SIGTERM, Reason=None) also ends the chain.
    before = e.all_jobs()
    p = e.run([SUBMIT, spec, out, '--time=5', '--ntasks=2'], check_rc=0)
    job = int(p.stdout.strip())
    e.wait_progress(job)
    e.run(['scancel', str(job)], check_rc=0)
    log('failure: scancel: job %d %s' % (job, e.wait_job_end(job, 90)))
    assert_chain_ended(e, job, before, [
        'sweep.sbatch: signal received: SIGTERM',
        'sweep.sbatch: chain stopped: job %d was cancelled' % job])


# ---- two nodes ----

def one_rank_reference(e, spec, out):
    """The spec run by one process outside SLURM (no mpirun), in the
    background."""
    return subprocess.Popen([e.dposweep, 'run', spec, '-o', out, '-q'], cwd=e.work,
                            env=e.env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def node_ranks(e, node):
    """Pids of the dposweep ranks this cluster runs on a node."""
    pids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/comm' % d) as f:
                if f.read().strip() != 'dposweep':
                    continue
            with open('/proc/%s/environ' % d, 'rb') as f:
                env = f.read().split(b'\0')
        except OSError:
            continue
        if (('SLURMD_NODENAME=%s' % node).encode() in env and
                ('SLURM_CONF=%s' % e.env['SLURM_CONF']).encode() in env):
            pids.append(int(d))
    return pids


def start_two_node_chain(e, name):
    """A chain of about 40 s of one worker's work on both nodes (two ranks
    each), beside a one-rank reference run; returns (spec, out, reference
    path, reference process, first job, tasks), once a quarter of the
    tasks is done and the log shows the ranks on both nodes."""
    spec, out, _ = e.sized_spec(name, 40, 60, 3000)
    total = plan(spec).total
    ref_out = os.path.join(e.work, 'reference.h5')
    ref = one_rank_reference(e, spec, ref_out)
    p = e.run([SUBMIT, spec, out, '--nodes=2', '--ntasks-per-node=2', '--time=10'],
              check_rc=0)
    first = int(p.stdout.strip())
    log('%s: job %d, %d tasks' % (name, first, total))
    e.wait_progress(first)
    text = e.job_log(first)
    assert 'dposweep run: 4 ranks on SLURM nodes n1,n2' in text, (
        'job %d: ranks not on both nodes:\n%s' % (first, text))
    assert wait_for(lambda: status_counts(out)[0] >= total // 4
                    or e.job_state(first) in TERMINAL, 120, step=0.2)
    assert e.job_state(first) == 'RUNNING', 'job %d ended before the fault' % first
    return spec, out, ref_out, ref, first, total


def done_after(text):
    """Tasks done after a link, from its log."""
    m = re.search(r'tasks done: \d+ before this link, (\d+) now', text)
    assert m, 'no "tasks done" line:\n' + text
    return int(m.group(1))


def assert_runs_name_nodes(out, nodes):
    """When the results file records the nodes of each run (/runs/nodes),
    the first run names every node."""
    with h5py.File(out, 'r') as f:
        if 'nodes' not in f['runs']:
            return
        first = f['runs/nodes'][0]
        first = first.decode() if isinstance(first, bytes) else str(first)
    for n in nodes:
        assert n in first.split(','), '/runs/nodes[0] = %r lacks %s' % (first, n)


def case_two_nodes(e):
    spec, out, ref_out, ref, first, total = start_two_node_chain(e, 'two-nodes')
    try:
        done_before = status_counts(out)[0]
        victims = node_ranks(e, 'n2')
        assert len(victims) == 2, 'ranks on n2: %s' % victims
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        log('two-nodes: SIGKILLed the ranks of n2 (%s) with %d of %d tasks done'
            % (victims, done_before, total))
        links = e.follow_chain(first, timeout=400)
    finally:
        finish_reference(ref)
    assert len(links) >= 2, 'no successor after the kill'
    job1, _, text1 = links[0]
    assert 'the next link asks for 1-2 node(s), not 2 (this link ended abnormally' in text1, text1
    assert done_after(text1) >= done_before, 'done tasks lost in the kill'
    assert_last_link(*links[-1])
    n = assert_complete_and_equal(ref_out, out)
    assert_runs_name_nodes(out, ['n1', 'n2'])
    log('two-nodes: %d links; %d rows equal to a one-rank run' % (len(links), n))


def case_node_down(e):
    spec, out, ref_out, ref, first, total = start_two_node_chain(e, 'node-down')
    try:
        done_before = status_counts(out)[0]
        e.run([CLUSTER, 'node-down', e.cdir, 'n2'], check_rc=0)
        log('node-down: node n2 failed with %d of %d tasks done' % (done_before, total))
        links = e.follow_chain(first, timeout=400)
    finally:
        finish_reference(ref)
    assert len(links) >= 2, 'no successor after the node failed'
    _, _, text1 = links[0]
    assert 'the next link asks for 1-2 node(s)' in text1, text1
    assert done_after(text1) >= done_before, 'done tasks lost when the node failed'
    for job, _, text in links[1:]:
        assert 'dposweep run: 2 ranks on SLURM nodes n1\n' in text, (
            'job %s did not run on n1 alone:\n%s' % (job, text))
    assert_last_link(*links[-1])
    n = assert_complete_and_equal(ref_out, out)
    log('node-down: %d links; %d rows equal to a one-rank run' % (len(links), n))


# name: (function, nodes of its cluster)
CASES = {'chain': (case_chain, 1), 'signal': (case_signal, 1),
         'failure': (case_failure, 1), 'two-nodes': (case_two_nodes, 2),
         'node-down': (case_node_down, 2)}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print('usage: DPOSWEEP=... test_slurm.py %s' % '|'.join(CASES), file=sys.stderr)
        return 2
    os.environ['PATH'] = os.environ.get('PATH', '') + ':/usr/sbin:/sbin'
    for tool in ('slurmctld', 'slurmd', 'sbatch', 'mpirun'):
        if not shutil.which(tool):
            print('SKIP: %s not found (apt-get install slurm-wlm)' % tool)
            return 77
    if os.geteuid() != 0:
        print('SKIP: the test cluster runs its daemons and jobs as root')
        return 77
    case, nodes = CASES[sys.argv[1]]
    e = Env(nodes)
    ok = False
    try:
        e.start()
        case(e)
        ok = True
        log('%s: passed' % sys.argv[1])
    except Exception as x:  # noqa: BLE001 -- report anything, then stop
        log('FAIL: %s: %s' % (type(x).__name__, x))
        try:
            e.dump()
        except Exception as y:  # noqa: BLE001
            log('dump failed: %s' % y)
    finally:
        e.stop()
        if ok:
            e.cleanup()
        else:
            log('files kept in %s' % e.tmp)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
