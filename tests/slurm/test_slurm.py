#!/usr/bin/python3
"""SLURM tests: jobs/submit and jobs/sweep.sbatch on a real one-node cluster.

    test_slurm.py chain|signal|failure DPOSWEEP

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

Exit 77 (skip) without slurm-wlm or when not root (the cluster's daemons
and jobs run as root).
"""

import glob
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLUSTER = os.path.join(HERE, 'cluster.sh')
SUBMIT = os.path.join(REPO, 'jobs', 'submit')
SBATCH_SCRIPT = os.path.join(REPO, 'jobs', 'sweep.sbatch')

TERMINAL = {'COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'NODE_FAIL',
            'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE'}

# The expensive study: ~0.1 s per task per core here.  The cheap one adds a
# second study (a second set of /studies/*/traj rows) at little cost.
SPEC = """\
name: slurm-{name}
master_seed: 20250101
studies:
  - name: sampled
    iterations: 3000
    record_every: 100
    scale: normalized
    eta: 0.05
    rewards: normal
    seeds: {seeds}
    grid:
      regime: [uniform, mix-p]
      arms: [20]
      beta: [3.0]
      sigma: [0.0]
      samples: [8192]
  - name: exact
    iterations: 60
    record_every: 1
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 4
    grid:
      regime: [uniform, mix-r, mix-p]
      arms: [2, 20]
      beta: [0.1, 1.0]
      sigma: [0.0]
"""


class Failure(Exception):
    pass


def log(msg):
    print('[%s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Env:
    def __init__(self, dposweep):
        self.dposweep = os.path.abspath(dposweep)
        self.tmp = tempfile.mkdtemp(prefix='dposweep-slurm-')
        self.cdir = os.path.join(self.tmp, 'cluster')
        self.work = os.path.join(self.tmp, 'work')
        os.makedirs(self.work)
        self.env = dict(os.environ)
        self.env['SLURM_CONF'] = os.path.join(self.cdir, 'slurm.conf')
        self.env['DPOSWEEP'] = self.dposweep
        self.env['OMPI_ALLOW_RUN_AS_ROOT'] = '1'
        self.env['OMPI_ALLOW_RUN_AS_ROOT_CONFIRM'] = '1'
        for k in list(self.env):
            if k.startswith(('SLURM_JOB', 'SLURM_STEP', 'SBATCH_')) or k in (
                    'SLURM_NTASKS', 'SLURM_NODELIST', 'SLURM_TASKS_PER_NODE',
                    'DPOSWEEP_LINK', 'DPOSWEEP_SBATCH_ARGS',
                    'DPOSWEEP_IDLE_LINKS', 'DPOSWEEP_MAX_LINKS',
                    'DPOSWEEP_LAUNCHER'):
                del self.env[k]
        self.env['DPOSWEEP_RUN_OPTS'] = '--progress-interval 2'
        self.started = False

    def run(self, args, check_rc=None, timeout=120, env=None, **kw):
        e = dict(self.env)
        if env:
            e.update(env)
        p = subprocess.run(args, cwd=self.work, env=e, capture_output=True,
                           text=True, timeout=timeout, **kw)
        if check_rc is not None and p.returncode != check_rc:
            raise Failure('%s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s'
                          % (' '.join(args), p.returncode, check_rc, p.stdout,
                             p.stderr))
        return p

    def start(self):
        self.run([CLUSTER, 'start', self.cdir], check_rc=0)
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
        for name in ('slurmctld.log', 'slurmd.log'):
            f = os.path.join(self.cdir, 'log', name)
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
            f.write(SPEC.format(name=name, seeds=seeds))
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
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.job_state(job)
            if st in TERMINAL:
                return st
            time.sleep(0.5)
        raise Failure('job %s not finished after %d s (state %s)'
                      % (job, timeout, self.job_state(job)))

    def job_log(self, job):
        path = os.path.join(self.work, 'dposweep-%s.log' % job)
        try:
            return open(path, errors='replace').read()
        except FileNotFoundError:
            return ''

    def wait_progress(self, job, timeout=120):
        """Until the job's log shows a progress line with tasks done."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.job_log(job)
            m = re.findall(r'dposweep run: (\d+)/\d+ tasks', text)
            if m and int(m[-1]) > 0:
                return
            check(self.job_state(job) not in TERMINAL,
                  'job %s ended early:\n%s' % (job, text))
            time.sleep(0.5)
        raise Failure('job %s made no progress in %d s' % (job, timeout))

    def follow_chain(self, first, timeout):
        """Follow a chain from its first job to its end; return
        [(job, state, log)] in order."""
        deadline = time.time() + timeout
        links = []
        job = first
        while True:
            left = deadline - time.time()
            check(left > 0, 'chain not finished after %d s' % timeout)
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
        """The same spec run without interruption, outside SLURM."""
        return subprocess.Popen(
            ['mpirun', '-n', '2', '--oversubscribe', self.dposweep, 'run',
             spec, '-o', out, '-q'],
            cwd=self.work, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)

    def calibrate(self):
        """Tasks per second of the expensive study with 2 ranks here, while a
        second such run shares the machine (as the reference run will)."""
        spec = self.write_spec('calibrate', 12)
        outs = [os.path.join(self.work, 'calibrate%d.h5' % i) for i in (1, 2)]
        t0 = time.time()
        procs = [subprocess.Popen(
            ['mpirun', '-n', '2', '--oversubscribe', self.dposweep, 'run',
             spec, '-o', o, '-q'], cwd=self.work, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for o in outs]
        rcs = [p.wait(timeout=300) for p in procs]
        dt = time.time() - t0
        check(rcs == [0, 0], 'calibration runs: exit %s' % rcs)
        for o in outs:
            os.unlink(o)
        # 24 sampled tasks each (the 24 exact ones cost little); ~0.5 s
        # start-up.
        rate = 24 / max(dt - 0.5, 0.5)
        log('calibration: %.1f s for 2 x 48 tasks side by side, ~%.1f sampled '
            'tasks/s per run' % (dt, rate))
        return rate


def last_line(text):
    lines = [l for l in text.splitlines() if l.startswith('sweep.sbatch:')]
    return lines[-1] if lines else '(empty log)'


def compare(ref, got):
    """Every per-task dataset of every study equal; every status byte 1."""
    import h5py
    import numpy as np
    with h5py.File(ref, 'r') as a, h5py.File(got, 'r') as b:
        check(sorted(a['studies']) == sorted(b['studies']),
              'studies differ: %s vs %s' % (list(a['studies']), list(b['studies'])))
        nrows = 0
        for s in a['studies']:
            sa, sb = a['studies'][s], b['studies'][s]
            st = sb['tasks/status'][()]
            check(st.size > 0 and np.all(st == 1),
                  '%s: status bytes not all 1: %s' % (s, np.unique(st, return_counts=True)))
            check(np.all(sa['tasks/status'][()] == 1), '%s: reference incomplete' % s)
            names = ['traj/' + k for k in sa['traj']] + ['final/' + k for k in sa['final']]
            names += ['tasks/' + k for k in ('regime', 'arms', 'beta', 'sigma',
                                              'samples', 'eta', 'seed')
                      if 'tasks/' + k in sa]
            for n in names:
                x, y = sa[n][()], sb[n][()]
                check(x.shape == y.shape, '%s/%s: shape %s vs %s' % (s, n, x.shape, y.shape))
                if x.dtype.kind == 'f':
                    eq = np.array_equal(x, y, equal_nan=True)
                else:
                    eq = np.array_equal(x, y)
                if not eq:
                    rows = sorted({int(i) for i in np.argwhere(
                        ~((x == y) | (np.isnan(x) & np.isnan(y))
                          if x.dtype.kind == 'f' else x == y))[:, 0]})
                    raise Failure('%s/%s differs from the uninterrupted run in rows %s'
                                  % (s, n, rows[:20]))
            # Rows really hold results (not fill values).
            v = sb['traj/value_gap'][()]
            check(np.all(np.isfinite(v)), '%s: non-finite value_gap rows' % s)
            nrows += st.size
    return nrows


# ---- the cases ----

def case_chain(e):
    rate = e.calibrate()
    # About 150 s of compute for one worker (some three minutes of 1-minute
    # allocations): the warning comes 25-55 s into each link (SLURM checks
    # limits every 30 s), so three to six links.
    seeds = max(100, min(5000, math.ceil(rate * 150 / 2)))
    spec = e.write_spec('chain', seeds)
    out = os.path.join(e.work, 'chain.h5')
    ref_out = os.path.join(e.work, 'reference.h5')
    p = e.run([e.dposweep, 'plan', spec], check_rc=0)
    log('chain: %s (%d seeds per sampled regime)' % (p.stdout.splitlines()[0], seeds))

    ref = e.reference(spec, ref_out)
    try:
        p = e.run([SUBMIT, spec, out, '--time=1', '--signal=B:USR1@5',
                   '--ntasks=2'], check_rc=0)
        first = int(p.stdout.strip())
        log('chain: first job %d' % first)
        links = e.follow_chain(first, timeout=420)
    finally:
        if ref.poll() is None:
            try:
                ref.wait(timeout=300)
            except subprocess.TimeoutExpired:
                ref.kill()
                ref.wait()
    refout = ref.stdout.read()
    check(ref.returncode == 0, 'reference run: exit %s\n%s' % (ref.returncode, refout))

    check(len(links) >= 2, 'the chain was never cut (%d link)' % len(links))
    for i, (job, st, text) in enumerate(links):
        check(('sweep.sbatch: link %d of at most' % (i + 1)) in text,
              'job %s: not link %d' % (job, i + 1))
        if i < len(links) - 1:
            for needle in ('sweep.sbatch: signal received: SIGUSR1',
                           'dposweep run: signal received',
                           'dposweep run: interrupted:',
                           'sweep.sbatch: sweep incomplete: submitted job'):
                check(needle in text, 'job %s (cut link %d): log lacks %r'
                      % (job, i + 1, needle))
            # Drained before the limit, so SLURM saw a clean exit.
            check(st == 'COMPLETED', 'job %s (cut link) ended %s' % (job, st))
        else:
            check('sweep.sbatch: sweep complete' in text,
                  'last job %s: log lacks "sweep complete"' % job)
            check(st == 'COMPLETED', 'last job %s ended %s' % (job, st))
        if i > 0:
            check('dposweep run: resuming' in text, 'job %s did not resume' % job)
    log('chain: %d links, %d cut' % (len(links), len(links) - 1))

    n = compare(ref_out, out)
    log('chain: %d rows equal to the uninterrupted run' % n)

    p = e.run([SUBMIT, '--status', out], check_rc=0)
    check('complete' in p.stdout, 'jobs/submit --status: %s' % p.stdout)
    # Submitting a complete sweep again submits nothing.
    before = e.all_jobs()
    p = e.run([SUBMIT, spec, out, '--time=1'], check_rc=0)
    check(p.stdout.strip() == '' and 'already complete' in p.stderr,
          'resubmitting a complete sweep: %r %r' % (p.stdout, p.stderr))
    check(e.all_jobs() == before, 'a job was submitted for a complete sweep')


def case_signal(e):
    rate = e.calibrate()
    # ~40 s of work: long enough to signal the first link mid-way.
    seeds = max(40, min(2000, math.ceil(rate * 40 / 2)))
    spec = e.write_spec('signal', seeds)
    out = os.path.join(e.work, 'signal.h5')
    ref_out = os.path.join(e.work, 'reference.h5')
    ref = e.reference(spec, ref_out)
    try:
        # Plain sbatch (no jobs/submit): the successor must inherit the
        # time limit and task count from the running job.
        p = e.run(['sbatch', '--parsable', '--time=5', '--ntasks=2',
                   SBATCH_SCRIPT, spec, out], check_rc=0)
        first = int(p.stdout.strip().split(';')[0])
        log('signal: job %d' % first)
        e.wait_progress(first)
        e.run(['scancel', '--batch', '--signal=USR1', str(first)], check_rc=0)
        log('signal: sent SIGUSR1 to the batch shell of job %d' % first)
        links = e.follow_chain(first, timeout=300)
    finally:
        if ref.poll() is None:
            try:
                ref.wait(timeout=300)
            except subprocess.TimeoutExpired:
                ref.kill()
                ref.wait()
    check(ref.returncode == 0, 'reference run: exit %s\n%s' % (ref.returncode, ref.stdout.read()))
    check(len(links) == 2, 'expected 2 links, got %d' % len(links))
    job, st, text = links[0]
    for needle in ('sweep.sbatch: signal received: SIGUSR1',
                   'dposweep run: signal received', 'dposweep run: interrupted:',
                   'sweep.sbatch: sweep incomplete: submitted job'):
        check(needle in text, 'job %s: log lacks %r' % (job, needle))
    check(st == 'COMPLETED', 'job %s ended %s' % (job, st))
    job2, st2, text2 = links[1]
    check('sweep.sbatch: link 2 of at most' in text2, 'job %s is not link 2' % job2)
    check('dposweep run: resuming' in text2 and 'sweep.sbatch: sweep complete' in text2,
          'job %s did not resume and complete' % job2)
    check(st2 == 'COMPLETED', 'job %s ended %s' % (job2, st2))
    info = e.job_info(job2)
    check(info.get('TimeLimit') == '00:05:00' and info.get('NumTasks') == '2',
          'successor lost the options: TimeLimit=%s NumTasks=%s'
          % (info.get('TimeLimit'), info.get('NumTasks')))
    n = compare(ref_out, out)
    log('signal: %d rows equal to the uninterrupted run' % n)


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
    check('beta' in p.stderr and 'nothing submitted' in p.stderr,
          'submit of a bad spec: %r' % p.stderr)
    check(p.stdout.strip() == '', 'submit printed a job id for a bad spec')
    check(e.all_jobs() == before, 'a job was submitted for a bad spec')
    log('failure: bad spec refused: %s' % p.stderr.strip().splitlines()[0])

    # 2. An output in a directory that does not exist (creating it fails
    # even as root): one job, exit 3, a message, no successor.
    out = os.path.join(e.work, 'no-such-dir', 'out.h5')
    p = e.run([SUBMIT, small, out, '--time=2', '--ntasks=2'], check_rc=0)
    check('does not exist' in p.stderr, 'no warning about the missing directory')
    job = int(p.stdout.strip())
    t0 = time.time()
    st = e.wait_job_end(job, 60)
    info = e.job_info(job)
    text = e.job_log(job)
    log('failure: unwritable output: job %d %s exit %s after %.0f s'
        % (job, st, info.get('ExitCode'), time.time() - t0))
    check(st == 'FAILED' and info.get('ExitCode') == '3:0',
          'job %d: %s exit %s' % (job, st, info.get('ExitCode')))
    check('cannot create' in text and 'sweep.sbatch: chain stopped' in text,
          'job %d log lacks the message:\n%s' % (job, text))
    check('submitted job' not in text, 'job %d submitted a successor' % job)
    check(e.all_jobs() == sorted(before + [job]),
          'unexpected jobs after the failure: %s' % e.all_jobs())
    check(not os.path.exists(os.path.dirname(out)), 'the missing directory appeared')

    # 3. An output holding another spec: jobs/submit refuses it; a link
    # submitted anyway (plain sbatch) exits 2, leaves the file alone and
    # submits nothing.
    out = os.path.join(e.work, 'other.h5')
    e.run(['mpirun', '-n', '1', e.dposweep, 'run', other, '-o', out, '-q'],
          check_rc=0, timeout=120)
    mtime = os.stat(out).st_mtime_ns
    before = e.all_jobs()
    p = e.run([SUBMIT, small, out], check_rc=2)
    check('another spec' in p.stderr, 'submit onto another spec: %r' % p.stderr)
    check(e.all_jobs() == before, 'a job was submitted onto another spec')
    p = e.run(['sbatch', '--parsable', '--time=2', '--ntasks=2',
               SBATCH_SCRIPT, small, out], check_rc=0)
    job = int(p.stdout.strip().split(';')[0])
    st = e.wait_job_end(job, 60)
    info = e.job_info(job)
    text = e.job_log(job)
    log('failure: output of another spec: job %d %s exit %s' % (job, st, info.get('ExitCode')))
    check(st == 'FAILED' and info.get('ExitCode') == '2:0',
          'job %d: %s exit %s' % (job, st, info.get('ExitCode')))
    check('sweep.sbatch: chain stopped' in text and 'submitted job' not in text,
          'job %d log:\n%s' % (job, text))
    check(e.all_jobs() == sorted(before + [job]),
          'unexpected jobs after the failure: %s' % e.all_jobs())
    check(os.stat(out).st_mtime_ns == mtime, 'the other spec\'s file was modified')

    # 4. jobs/submit --cancel drains the running link (SIGUSR1, like the
    # time limit's warning) and ends the chain: no successor.
    spec = e.write_spec('cancel', 400)
    out = os.path.join(e.work, 'cancel.h5')
    before = e.all_jobs()
    p = e.run([SUBMIT, spec, out, '--time=5', '--ntasks=2'], check_rc=0)
    job = int(p.stdout.strip())
    e.wait_progress(job)
    p = e.run([SUBMIT, '--status', out], check_rc=1)
    check('RUNNING' in p.stdout and str(job) in p.stdout,
          'jobs/submit --status does not list the running job:\n' + p.stdout)
    e.run([SUBMIT, '--cancel', out], check_rc=0)
    st = e.wait_job_end(job, 90)
    text = e.job_log(job)
    log('failure: jobs/submit --cancel: job %d %s' % (job, st))
    for needle in ('sweep.sbatch: signal received: SIGUSR1',
                   'dposweep run: interrupted:',
                   'sweep.sbatch: chain stopped: stopped by jobs/submit --cancel'):
        check(needle in text, 'job %d: log lacks %r:\n%s' % (job, needle, text))
    check('submitted job' not in text, 'job %d submitted a successor' % job)
    check(e.all_jobs() == sorted(before + [job]),
          'unexpected jobs after the cancel: %s' % e.all_jobs())
    p = e.run([SUBMIT, '--status', out], check_rc=1)
    check('no job of the chain' in p.stdout, '--status after the cancel:\n' + p.stdout)

    # 5. A plain scancel (SIGTERM, Reason=None) also ends the chain.
    before = e.all_jobs()
    p = e.run([SUBMIT, spec, out, '--time=5', '--ntasks=2'], check_rc=0)
    job = int(p.stdout.strip())
    e.wait_progress(job)
    e.run(['scancel', str(job)], check_rc=0)
    st = e.wait_job_end(job, 90)
    text = e.job_log(job)
    log('failure: scancel: job %d %s' % (job, st))
    for needle in ('sweep.sbatch: signal received: SIGTERM',
                   'sweep.sbatch: chain stopped: job %d was cancelled' % job):
        check(needle in text, 'job %d: log lacks %r:\n%s' % (job, needle, text))
    check('submitted job' not in text, 'job %d submitted a successor' % job)
    check(e.all_jobs() == sorted(before + [job]),
          'unexpected jobs after the scancel: %s' % e.all_jobs())


CASES = {'chain': case_chain, 'signal': case_signal, 'failure': case_failure}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        print('usage: test_slurm.py %s DPOSWEEP' % '|'.join(CASES), file=sys.stderr)
        return 2
    os.environ['PATH'] = os.environ.get('PATH', '') + ':/usr/sbin:/sbin'
    for tool in ('slurmctld', 'slurmd', 'sbatch', 'mpirun'):
        if not shutil.which(tool):
            print('SKIP: %s not found (apt-get install slurm-wlm)' % tool)
            return 77
    if os.geteuid() != 0:
        print('SKIP: the test cluster runs its daemons and jobs as root')
        return 77
    e = Env(sys.argv[2])
    ok = False
    try:
        e.start()
        CASES[sys.argv[1]](e)
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
