/* sweep: the coordinator and the workers of "dposweep run": the MPI
 * protocol and the job's life.  Which tasks go into a chunk is sched's
 * business (include/dposweep/sched.h); see include/dposweep/sweep.h. */
#include "dposweep/sweep.h"

#include "dposweep/bandit.h"
#include "dposweep/defaults.h"
#include "dposweep/err.h"
#include "dposweep/grow.h"
#include "dposweep/lock.h"
#include "dposweep/sched.h"
#include "dposweep/sig.h"
#include "dposweep/spec.h"
#include "dposweep/store.h"
#include "dposweep/text.h"
#include "mpi_check.h"

#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the MPI protocol ----
 *
 * Point to point, during the execution (tags below):
 *
 *   tag          payload                     from -> to   when
 *   TAG_REQUEST  struct report, as bytes     worker -> 0  at start (empty)
 *                                                         and after each
 *                                                         chunk or flush
 *   TAG_WORK     struct sched_run[0..1024],  0 -> worker  the answer to a
 *                as int64 triples (study,                 request: a chunk;
 *                start, count)                            none: stop
 *   TAG_FLUSH    nothing                     0 -> worker  the answer to a
 *                                                         request when a
 *                                                         flush is due: call
 *                                                         store_flush, then
 *                                                         request again
 *
 * A worker is answered once per request and stops at an empty TAG_WORK.
 * Rank 0 flushes too once it has sent TAG_FLUSH to every worker; it stops
 * starting flushes once it has stopped a worker, which would miss the
 * collective.  Rank 0 never blocks in a receive (see coordinate).
 *
 * Collective, in this order on every rank:
 *
 *   load_spec    Bcast text length (-1: rank 0 could not read it), Bcast
 *                text, Bcast whether rank 0 parsed it
 *   open_output  Bcast rank 0's verdict on the output (0 or an exit code;
 *                rank 0 owns the output's lock from here to the end),
 *                store_open, Allreduce MIN "opened"
 *   record_run   Gather host names to 0, Gather SLURM node names to 0,
 *                Bcast "rank 0 is ready" and the run's /runs slot
 *   (execute)    collective store_flush on TAG_FLUSH as above
 *   report_end   Reduce MAX peak memory (--stats only), store_close,
 *                Allreduce MIN "closed", Bcast the exit code
 */
enum { TAG_REQUEST = 1, TAG_WORK = 2, TAG_FLUSH = 3 };

/* TAG_REQUEST's payload: the chunk a worker just finished. */
struct report {
  struct sched_report work;
  int32_t io_error; /* 1: writing failed (or memory); message in what */
  char what[240];
};

/* TAG_WORK travels as int64 triples. */
_Static_assert(sizeof(struct sched_run) == 3 * sizeof(int64_t),
               "struct sched_run is three int64 values");

/* ---- signals ---- */

/* The handler only sets flags: the first signal g_signals (stop handing
 * out work), a second one or the grace alarm g_abandon, which the engine
 * checks between steps.  A "second" signal within 2 s of the first is the
 * same request delivered twice (srun, or mpirun and a batch shell both
 * passing it on) and is ignored.  alarm() and clock_gettime() are
 * async-signal-safe. */
static volatile sig_atomic_t g_signals = 0;
static volatile sig_atomic_t g_abandon = 0;
static volatile sig_atomic_t g_grace = DPOSWEEP_DEFAULT_GRACE;
static volatile sig_atomic_t g_first_signal_s = 0;

static sig_atomic_t monotonic_seconds(void)
{
  struct timespec ts;
  /* CLOCK_MONOTONIC always exists on the systems we build for. */
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (sig_atomic_t)ts.tv_sec;
}

static void on_signal(int sig)
{
  if (sig == SIGALRM) {
    g_abandon = 1;
    return;
  }
  if (g_signals == 0) {
    g_signals = 1;
    g_first_signal_s = monotonic_seconds();
    if (g_grace > 0)
      alarm((unsigned)g_grace);
    else
      g_abandon = 1;
  } else if (monotonic_seconds() - g_first_signal_s >= 2) {
    g_abandon = 1;
  }
}

/* Set by the lock's lease thread (rank 0) when this run has lost the
 * ownership of its output (lock.h): the coordinator drains, and the run
 * ends with exit 3. */
static atomic_int g_lost = 0;

static void on_lock_lost(void *arg)
{
  (void)arg;
  atomic_store(&g_lost, 1);
}

/* Not collective.  SIGTERM, SIGINT, SIGUSR1 request a drain, SIGALRM ends
 * the grace; SIGXFSZ is ignored: past a file-size limit (ulimit -f) a
 * write should fail with EFBIG and be reported, not kill the rank. */
static int install_signals(double grace, struct err *e)
{
  static const int drain[] = {SIGTERM, SIGINT, SIGUSR1, SIGALRM};
  g_grace = (sig_atomic_t)(grace < 0 ? 0 : (grace > 1e6 ? 1e6 : ceil(grace)));
  if (sig_catch(drain, sizeof drain / sizeof drain[0], on_signal, e) != 0)
    return ERR_RUNTIME;
  if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
    return err_set(e, ERR_RUNTIME, "cannot ignore SIGXFSZ: %s", strerror(errno));
  return 0;
}

/* ---- time ---- */

/* clock_gettime on these clocks and getrusage(RUSAGE_SELF) cannot fail
 * with valid arguments; an interrupted nanosleep only naps shorter. */
static double now_mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_wall(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_seconds(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
         (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static double peak_rss_mb(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

static void sleep_seconds(double s)
{
  struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
  nanosleep(&ts, NULL);
}

static void fmt_duration(double s, char *buf, size_t len)
{
  if (!isfinite(s) || s < 0) {
    snprintf(buf, len, "?");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* ---- the run's state ---- */

/* What every rank holds for the whole run. */
struct run {
  int rank, size;
  const struct sweep_options *o;
  struct spec *spec;
  struct store *store;
  int32_t run_slot; /* this run's row in /runs (rank 0's), -1: none */
  int tty;          /* rank 0: stderr is a terminal */
  int progress_len; /* rank 0: a progress line is open on the terminal */
  /* The ranks' agreement: stop is set when they agreed to end before the
   * execution, code is the exit code they agreed on. */
  bool stop;
  int code;
  /* Rank 0: the output's lock (lock.h) and the file it opened (device
   * and inode), checked before the run reports its end. */
  struct lock *lock;
  struct stat output_id;
};

/* Rank 0: the schedule, and what the progress lines and the end say. */
struct coordinator {
  struct run *run;
  struct sched *sched;
  struct sched_run runs[SCHED_MAX_RUNS];
  int slot;                  /* the run's row in /runs, -1: not recorded */
  double t_start, last_progress;
  bool drained, io_failed;   /* how the execution ended */
  double wall, cpu;          /* its wall and CPU seconds */
};

/* A worker (every rank but 0, or the only rank): the chunk it runs and
 * its result buffers, grown to the largest chunk so far. */
struct worker {
  struct run *run;
  struct sched_run runs[SCHED_MAX_RUNS];
  double *traj, *theta, *wall, *finished_at;
  int64_t *rows;
  uint8_t *status;
  int32_t *rank_of;
  char *reason;
  size_t cap_tasks, cap_traj, cap_theta;
};

static void say(struct run *r, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

/* Rank 0 alone prints, one line, after an open progress line. */
static void say(struct run *r, const char *fmt, ...)
{
  if (r->rank != 0)
    return;
  if (r->tty && r->progress_len)
    fputc('\n', stderr);
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  text_one_line(msg); /* paths and spec values are the user's */
  fprintf(stderr, "dposweep run: %s\n", msg);
}

static void say_err(struct run *r, const struct err *e)
{
  if (r->rank != 0)
    return;
  if (r->tty && r->progress_len)
    fputc('\n', stderr);
  err_print(e, "dposweep run");
}

static void stop_with(struct run *r, int code)
{
  r->stop = true;
  r->code = code;
}

/* ---- progress ---- */

static void progress(struct coordinator *c, bool final)
{
  struct run *r = c->run;
  if (r->rank != 0 || r->o->quiet)
    return;
  double now = now_mono();
  double every = r->tty ? 0.5 : r->o->progress_interval;
  if (!final && now - c->last_progress < every)
    return;
  c->last_progress = now;
  struct sched_progress p;
  sched_progress(c->sched, &p);
  double el = now - c->t_start;
  int64_t done = p.done_before + p.finished;
  double rate = el > 0 ? (double)p.finished / el : 0.0;
  char e1[32], e2[32];
  fmt_duration(el, e1, sizeof e1);
  fmt_duration(sched_eta_seconds(c->sched, el), e2, sizeof e2);
  char line[256];
  int n = snprintf(line, sizeof line,
                   "%lld/%lld tasks (%.1f%%), %.1f tasks/s, elapsed %s, ETA %s",
                   (long long)done, (long long)p.total,
                   p.total ? 100.0 * (double)done / (double)p.total : 100.0,
                   rate, e1, e2);
  if (p.failed)
    n += snprintf(line + n, sizeof line - (size_t)n, ", %lld failed",
                  (long long)p.failed);
  if (r->tty) {
    fprintf(stderr, "\r%s\033[K", line);
    r->progress_len = n;
    if (final) {
      fputc('\n', stderr);
      r->progress_len = 0;
    }
  } else {
    fprintf(stderr, "dposweep run: %s\n", line);
  }
  fflush(stderr);
}

/* ---- the worker side: run a chunk and write it ---- */

/* p grown to n elements of size bytes; on failure p itself (still valid,
 * still owned) and *ok cleared. */
static void *grown(void *p, size_t n, size_t size, bool *ok)
{
  void *q = realloc(p, n * size);
  if (!q) {
    *ok = false;
    return p;
  }
  return q;
}

/* Buffers for ntasks tasks of nrec records and max_arms arms.  Returns 0
 * or ERR_RUNTIME (out of memory; what was grown stays owned). */
static int ensure_buffers(struct worker *w, size_t ntasks, size_t nrec,
                          size_t max_arms)
{
  bool ok = true;
  if (ntasks > w->cap_tasks) {
    w->wall = grown(w->wall, ntasks, sizeof *w->wall, &ok);
    w->finished_at = grown(w->finished_at, ntasks, sizeof *w->finished_at, &ok);
    w->rows = grown(w->rows, ntasks, sizeof *w->rows, &ok);
    w->status = grown(w->status, ntasks, sizeof *w->status, &ok);
    w->rank_of = grown(w->rank_of, ntasks, sizeof *w->rank_of, &ok);
    w->reason = grown(w->reason, ntasks, STORE_REASON_LEN, &ok);
    if (!ok)
      return ERR_RUNTIME;
    w->cap_tasks = ntasks;
  }
  if (ntasks * nrec * BANDIT_NMETRICS > w->cap_traj) {
    w->traj = grown(w->traj, ntasks * nrec * BANDIT_NMETRICS, sizeof *w->traj,
                    &ok);
    if (!ok)
      return ERR_RUNTIME;
    w->cap_traj = ntasks * nrec * BANDIT_NMETRICS;
  }
  if (ntasks * max_arms > w->cap_theta) {
    w->theta = grown(w->theta, ntasks * max_arms, sizeof *w->theta, &ok);
    if (!ok)
      return ERR_RUNTIME;
    w->cap_theta = ntasks * max_arms;
  }
  return 0;
}

static void worker_free(struct worker *w)
{
  free(w->traj);
  free(w->theta);
  free(w->wall);
  free(w->finished_at);
  free(w->rows);
  free(w->status);
  free(w->rank_of);
  free(w->reason);
}

/* Run task i of the group (row w->rows[i] of study) into slot i of the
 * buffers.  Returns false when it did not finish (a drain, or no memory:
 * then rep says so). */
static bool run_task(struct worker *w, int study, int64_t i, int64_t n,
                     struct report *rep)
{
  const struct run *r = w->run;
  const struct spec_study *st = spec_study(r->spec, study);
  const size_t nrec = (size_t)st->nrec, max_arms = (size_t)st->max_arms;
  struct bandit_params p;
  spec_task_params(r->spec, study, w->rows[i], &p);
  struct bandit *b = NULL;
  double t0 = now_mono();
  if (bandit_create(&p, &b) != 0) {
    rep->io_error = 1;
    snprintf(rep->what, sizeof rep->what,
             "rank %d: out of memory for a task of %d arms", r->rank, p.arms);
    return false;
  }
  bandit_set_stop(b, &g_abandon);
  double *theta = w->theta + (size_t)i * max_arms;
  for (size_t y = (size_t)p.arms; y < max_arms; y++)
    theta[y] = NAN;
  double *traj = w->traj + (size_t)i * nrec;
  const size_t plane = (size_t)n * nrec; /* n rows per metric */
  struct bandit_trace tr = {.theta = theta};
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    tr.metric[m] = traj + (size_t)m * plane;
  int outcome = bandit_run(b, &tr);
  double t1 = now_mono();
  char *why = w->reason + (size_t)i * STORE_REASON_LEN;
  memset(why, 0, STORE_REASON_LEN);
  if (outcome == BANDIT_STOPPED) {
    bandit_destroy(&b);
    return false;
  }
  if (outcome == BANDIT_DIVERGED) {
    snprintf(why, STORE_REASON_LEN, "%s", bandit_failure(b));
    rep->work.failed++;
  }
  bandit_destroy(&b);
  struct spec_coords at;
  spec_coords_of(st, w->rows[i], &at);
  w->status[i] = outcome == BANDIT_OK ? TASK_DONE : TASK_FAILED;
  w->rank_of[i] = r->rank;
  w->wall[i] = t1 - t0;
  w->finished_at[i] = now_wall();
  rep->work.compute += t1 - t0;
  rep->work.cost += spec_task_cost(st, &at); /* sched's accounting */
  return true;
}

/* Run the tasks rows[0..n) of one study and write those that finished. */
static void run_group(struct worker *w, int study, int64_t n,
                      struct report *rep)
{
  const struct run *r = w->run;
  const size_t nrec = (size_t)spec_study(r->spec, study)->nrec;
  int64_t ran = 0;
  for (; ran < n && !g_abandon; ran++)
    if (!run_task(w, study, ran, n, rep))
      break;
  rep->work.abandoned += n - ran;
  if (ran == 0)
    return;
  struct store_rows rows = {
    .n = ran,
    .rows = w->rows,
    .theta = w->theta,
    .status = w->status,
    .rank = w->rank_of,
    .wall_seconds = w->wall,
    .finished_at = w->finished_at,
    .reason = w->reason,
    .run = r->run_slot,
  };
  /* The buffers hold one plane of n rows per metric; a shorter write
   * needs the planes compacted to ran rows (memmove: they overlap). */
  for (int m = 0; m < BANDIT_NMETRICS; m++) {
    double *plane = w->traj + (size_t)m * (size_t)ran * nrec;
    if (ran < n)
      memmove(plane, w->traj + (size_t)m * (size_t)n * nrec,
              (size_t)ran * nrec * sizeof *plane);
    rows.metric[m] = plane;
  }
  struct err e;
  if (store_write_rows(r->store, study, &rows, &e) != 0) {
    rep->io_error = 1;
    snprintf(rep->what, sizeof rep->what, "rank %d: cannot write results to %s: %s",
             r->rank, r->o->output, e.msg);
    return;
  }
  rep->work.finished += ran;
}

/* Run a chunk: runs sorted by (study, start), grouped per study.  After a
 * failure or in a drain the rest of the chunk is abandoned. */
static void run_chunk(struct worker *w, int nruns, struct report *rep)
{
  memset(rep, 0, sizeof *rep);
  for (int q = 0; q < nruns;) {
    const int study = (int)w->runs[q].study;
    int64_t n = 0;
    int end = q;
    while (end < nruns && w->runs[end].study == study)
      n += w->runs[end++].count;
    const struct spec_study *st = spec_study(w->run->spec, study);
    if (rep->io_error || g_abandon) {
      rep->work.abandoned += n;
      q = end;
      continue;
    }
    if (ensure_buffers(w, (size_t)n, (size_t)st->nrec, (size_t)st->max_arms)) {
      rep->io_error = 1;
      snprintf(rep->what, sizeof rep->what, "rank %d: out of memory",
               w->run->rank);
      rep->work.abandoned += n;
      q = end;
      continue;
    }
    int64_t k = 0;
    for (; q < end; q++)
      for (int64_t i = 0; i < w->runs[q].count; i++)
        w->rows[k++] = w->runs[q].start + i;
    run_group(w, study, n, rep);
  }
}

/* Collective (with coordinate): ask for work until told to stop. */
static int work(struct worker *w, struct err *e)
{
  int rc = ERR_RUNTIME;
  struct report rep;
  memset(&rep, 0, sizeof rep);
  for (;;) {
    MPI_CHECK(e, out, MPI_Send(&rep, sizeof rep, MPI_BYTE, 0, TAG_REQUEST,
                               MPI_COMM_WORLD));
    MPI_Status ms;
    MPI_CHECK(e, out, MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &ms));
    int count = 0;
    MPI_CHECK(e, out, MPI_Get_count(&ms, MPI_INT64_T, &count));
    MPI_CHECK(e, out, MPI_Recv(w->runs, 3 * SCHED_MAX_RUNS, MPI_INT64_T, 0,
                               ms.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    memset(&rep, 0, sizeof rep);
    if (ms.MPI_TAG == TAG_FLUSH) {
      struct err fe;
      if (store_flush(w->run->store, &fe) != 0) {
        rep.io_error = 1;
        snprintf(rep.what, sizeof rep.what, "rank %d: cannot flush",
                 w->run->rank);
      }
      continue;
    }
    if (count == 0)
      break;
    run_chunk(w, count / 3, &rep);
  }
  rc = 0;
out:
  return rc;
}

/* ---- the coordinator ---- */

/* The coordinator's loop state. */
struct dispatch {
  int workers, active;     /* workers, and those not yet told to stop */
  bool stopped_any;        /* then no more flushes: it would miss them */
  bool flush_pending;      /* answer requests with TAG_FLUSH */
  int flushed;             /* workers told to flush so far */
  bool draining;           /* hand out no more work */
  double next_flush, nap, last_msg;
};

/* Account a worker's report; an I/O failure starts a drain. */
static void take_report(struct coordinator *c, struct dispatch *d,
                        const struct report *rep)
{
  sched_report(c->sched, &rep->work);
  if (rep->io_error) {
    if (!c->io_failed)
      say(c->run, "%s", rep->what);
    c->io_failed = true;
    d->draining = true;
  }
}

/* Answer the request of worker `to`: a flush, a chunk, or stop. */
static int answer(struct coordinator *c, struct dispatch *d, int to,
                  struct err *e)
{
  int rc = ERR_RUNTIME;
  if (d->flush_pending) {
    /* Everyone flushes together; nobody has been stopped, so all ranks
     * reach the collective. */
    MPI_CHECK(e, out, MPI_Send(NULL, 0, MPI_INT64_T, to, TAG_FLUSH,
                               MPI_COMM_WORLD));
    if (++d->flushed == d->workers) {
      struct err fe;
      if (store_flush(c->run->store, &fe) != 0 && !c->io_failed) {
        say(c->run, "cannot flush the results file");
        c->io_failed = true;
        d->draining = true;
      }
      d->flush_pending = false;
      d->next_flush = now_mono() + c->run->o->flush_interval;
    }
    return 0;
  }
  int nr = d->draining ? 0 : sched_next_chunk(c->sched, c->runs, NULL, NULL);
  MPI_CHECK(e, out, MPI_Send(c->runs, 3 * nr, MPI_INT64_T, to, TAG_WORK,
                             MPI_COMM_WORLD));
  if (nr == 0) {
    d->active--;
    d->stopped_any = true;
  }
  progress(c, false);
  rc = 0;
out:
  return rc;
}

/* Nothing to receive: never block in MPI_Recv, Open MPI's blocking
 * receive busy-polls a core that a worker could use.  Right after a
 * message more usually follow, so yield for 200 us; then sleep, backing
 * off to 1 ms (1000 cheap wake-ups a second while the workers compute). */
static void idle(struct coordinator *c, struct dispatch *d)
{
  if (now_mono() - d->last_msg < 200e-6) {
    sched_yield(); /* cannot fail on Linux */
  } else {
    d->nap = d->nap <= 0.0 ? 50e-6 : fmin(d->nap * 2.0, 1e-3);
    sleep_seconds(d->nap);
  }
  progress(c, false);
}

/* Rank 0 of several.  Collective (with work): serve requests until every
 * worker is stopped. */
static int coordinate(struct coordinator *c, struct err *e)
{
  int rc = ERR_RUNTIME;
  const struct sweep_options *o = c->run->o;
  struct dispatch d = {.workers = c->run->size - 1,
                       .active = c->run->size - 1,
                       .next_flush = now_mono() + o->flush_interval,
                       .last_msg = now_mono()};
  while (d.active > 0) {
    if (atomic_load(&g_lost) && !d.draining) {
      d.draining = true;
      say(c->run, "lost the ownership of %s: finishing the tasks in flight",
          o->output);
    }
    if (g_signals && !d.draining) {
      d.draining = true;
      say(c->run, "signal received: finishing the tasks in flight (a second "
                  "signal, or %g s, abandons them)",
          o->grace);
    }
    if (!d.flush_pending && !d.stopped_any && now_mono() >= d.next_flush) {
      d.flush_pending = true;
      d.flushed = 0;
    }
    int flag = 0;
    MPI_Status ms;
    MPI_CHECK(e, out, MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQUEST, MPI_COMM_WORLD,
                                 &flag, &ms));
    if (!flag) {
      idle(c, &d);
      continue;
    }
    d.nap = 0.0;
    d.last_msg = now_mono();
    struct report rep;
    MPI_CHECK(e, out, MPI_Recv(&rep, sizeof rep, MPI_BYTE, ms.MPI_SOURCE,
                               TAG_REQUEST, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    take_report(c, &d, &rep);
    if (answer(c, &d, ms.MPI_SOURCE, e) != 0)
      goto out;
  }
  c->drained = d.draining;
  rc = 0;
out:
  return rc;
}

/* One process does everything.  Not collective. */
static void run_alone(struct coordinator *c, struct worker *w)
{
  struct run *r = c->run;
  double next_flush = now_mono() + r->o->flush_interval;
  for (;;) {
    if (atomic_load(&g_lost)) {
      c->drained = true;
      say(r, "lost the ownership of %s: stopping", r->o->output);
      break;
    }
    if (g_signals) {
      c->drained = true;
      say(r, "signal received: stopping");
      break;
    }
    int nr = sched_next_chunk(c->sched, w->runs, NULL, NULL);
    if (nr == 0)
      break;
    struct report rep;
    run_chunk(w, nr, &rep);
    sched_report(c->sched, &rep.work);
    if (rep.io_error) {
      say(r, "%s", rep.what);
      c->io_failed = true;
      break;
    }
    if (rep.work.abandoned)
      c->drained = true;
    if (now_mono() >= next_flush) {
      struct err fe;
      if (store_flush(r->store, &fe) != 0) {
        say(r, "cannot flush the results file");
        c->io_failed = true;
        break;
      }
      next_flush = now_mono() + r->o->flush_interval;
    }
    progress(c, false);
  }
}

/* ---- the steps of a run ----
 *
 * Each step returns 0 when the ranks agree how to go on (r->stop set when
 * they agreed to end here with exit code r->code), or a negative err_code
 * with e filled when this rank failed alone (MPI, memory) and cannot tell
 * the others: sweep_main then aborts the job. */

/* Not collective (rank 0): the spec's text, checked by loading it. */
static int read_spec_text(const struct sweep_options *o, char **text,
                          struct err *e)
{
  char *t = NULL;
  if (!o->spec_path) {
    t = strdup(spec_default_text());
  } else {
    struct spec *s = NULL;
    int rc = spec_load_file(o->spec_path, &s, e);
    if (rc != 0)
      return rc;
    t = strdup(spec_text(s));
    spec_destroy(&s);
  }
  if (!t)
    return err_set(e, ERR_RUNTIME, "out of memory");
  *text = t;
  return 0;
}

/* Collective.  Rank 0 reads and checks the spec, everyone parses the
 * same text. */
static int load_spec(struct run *r, struct err *e)
{
  int rc = ERR_RUNTIME;
  char *text = NULL;
  long long len = 0;
  if (r->rank == 0) {
    struct err re;
    if (read_spec_text(r->o, &text, &re) != 0)
      say_err(r, &re);
    len = text ? (long long)strlen(text) : -1;
  }
  MPI_CHECK(e, out, MPI_Bcast(&len, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD));
  if (len < 0) {
    stop_with(r, ERR_EXIT_USAGE);
    rc = 0;
    goto out;
  }
  if (r->rank != 0 && !(text = malloc((size_t)len + 1))) {
    rc = err_set(e, ERR_RUNTIME, "out of memory for the spec");
    goto out;
  }
  MPI_CHECK(e, out, MPI_Bcast(text, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD));
  text[len] = '\0';
  struct err pe;
  const int mine = spec_load_text(
    text, (size_t)len, r->o->spec_path ? r->o->spec_path : "(default spec)",
    &r->spec, &pe);
  int parsed = mine; /* rank 0's result is everyone's */
  MPI_CHECK(e, out, MPI_Bcast(&parsed, 1, MPI_INT, 0, MPI_COMM_WORLD));
  if (parsed != 0) {
    say_err(r, &pe);
    stop_with(r, ERR_EXIT_USAGE);
  } else if (mine != 0) {
    /* The same text failed here only: out of memory. */
    *e = pe;
    rc = mine;
    goto out;
  }
  rc = 0;
out:
  free(text);
  return rc;
}

/* Not collective (rank 0).  A run that goes ahead owns the output (its
 * lock): every temporary of it, from any host, is an interrupted
 * attempt's (store_create_temp).  One that stays (the directory
 * unreadable) is only clutter. */
static void drop_stale_temps(const char *output)
{
  struct err ignored;
  (void)store_remove_stale_temps(output, 1, &ignored);
}

/* Not collective (rank 0).  The --reuse file that is the output itself
 * (the same file by device and inode, whatever its name), or -1. */
static int output_in_reuse(const struct sweep_options *o)
{
  struct stat out, in;
  if (stat(o->output, &out) != 0)
    return -1;
  for (int i = 0; i < o->nreuse; i++)
    if (stat(o->reuse[i], &in) == 0 && in.st_dev == out.st_dev &&
        in.st_ino == out.st_ino)
      return i;
  return -1;
}

/* Not collective (rank 0).  What one --reuse file gave. */
static void say_reused(struct run *r, const char *path,
                       const struct grow_tally *t)
{
  if (t->numerics != BANDIT_NUMERICS_VERSION) {
    say(r, "reused 0 tasks from %s: it holds results of numerics version "
           "%d; this dposweep computes version %d",
        path, t->numerics, BANDIT_NUMERICS_VERSION);
    return;
  }
  say(r, "reused %lld tasks from %s", (long long)t->provided, path);
  if (t->bad_checksum > 0)
    say(r, "%s: %lld tasks fail their checksum and are not reused; "
           "dposweep verify %s names them",
        path, (long long)t->bad_checksum, path);
}

/* Not collective (rank 0).  Build the output from the --reuse files
 * under a temporary name and put it in place once it holds every reused
 * task: until then the output (perhaps one of the inputs) is untouched.
 * Closes the inputs (one may be the output, about to be replaced). */
static int grow_output(struct run *r, struct grow_inputs **in, struct err *e)
{
  const struct sweep_options *o = r->o;
  struct grow_tally *tally = calloc((size_t)o->nreuse, sizeof *tally);
  char *tmp = NULL;
  int rc = tally ? grow_build(o->output, r->spec, *in, GROW_REUSE, NULL,
                              tally, &tmp, e)
                 : err_set(e, ERR_RUNTIME, "out of memory");
  grow_inputs_close(in);
  /* A lock lost while building (a frozen node): the output may be
   * another run's now, and must not be replaced.  A refresh checks the
   * lock file itself; failing to write it while it is ours changes
   * nothing. */
  struct err le;
  if (rc == 0)
    (void)lock_refresh(r->lock, &le);
  if (rc == 0 && (atomic_load(&g_lost) || lock_lost(r->lock, NULL, 0))) {
    rc = err_set(e, ERR_RUNTIME,
                 "lost the ownership of %s while building it: nothing "
                 "changed", o->output);
    store_discard_temp(tmp);
  }
  if (rc == 0 && (rc = store_commit(tmp, o->output, e)) != 0)
    store_discard_temp(tmp);
  for (int i = 0; rc == 0 && i < o->nreuse; i++)
    say_reused(r, o->reuse[i], &tally[i]);
  free(tmp);
  free(tally);
  return rc;
}

/* Not collective (rank 0).  Make a new output: empty, or built from the
 * --reuse files.  in_place: the --reuse file that is the output, holding
 * another spec (grown in place), or -1.  Every input is checked before
 * anything is written. */
static int make_output(struct run *r, int in_place, struct err *e)
{
  const struct sweep_options *o = r->o;
  if (o->nreuse == 0) {
    drop_stale_temps(o->output);
    /* Whatever store_create's reason, not creating the file is a runtime
     * failure (exit 3). */
    return store_create(o->output, r->spec, e) == 0 ? 0 : ERR_RUNTIME;
  }
  struct grow_inputs *in = NULL;
  int rc = grow_inputs_open(o->reuse, o->nreuse, &in, e);
  if (rc != 0)
    return err_prefix(e, "--reuse: ");
  if (in_place >= 0 && !o->force &&
      grow_input_numerics(in, in_place) != BANDIT_NUMERICS_VERSION) {
    rc = err_set(e, ERR_INPUT,
                 "%s holds results of numerics version %d; this dposweep "
                 "computes version %d: growing it would reuse nothing of it "
                 "(--force starts it over)",
                 o->output, grow_input_numerics(in, in_place),
                 BANDIT_NUMERICS_VERSION);
    grow_inputs_close(&in);
    return rc;
  }
  if (in_place >= 0)
    say(r, "growing %s in place: it holds another spec; the tasks this "
           "spec shares with it are kept", o->output);
  drop_stale_temps(o->output);
  return grow_output(r, &in, e);
}

/* Not collective (rank 0).  Resume the output, which holds this spec.
 * The --reuse files are checked like any input, but nothing is taken
 * from them: the file took what it could when it was made. */
static int resume_output(struct run *r, struct err *e)
{
  const struct sweep_options *o = r->o;
  /* MPI-IO's own message for this is "invalid access mode". */
  if (access(o->output, W_OK) != 0)
    return err_set(e, ERR_RUNTIME, "cannot open %s for writing: %s",
                   o->output, strerror(errno));
  if (o->nreuse > 0) {
    struct grow_inputs *in = NULL;
    int rc = grow_inputs_open(o->reuse, o->nreuse, &in, e);
    grow_inputs_close(&in);
    if (rc != 0)
      return err_prefix(e, "--reuse: ");
  }
  for (int i = 0; i < o->nreuse; i++)
    say(r, "reused 0 tasks from %s: %s already holds this spec, so this "
           "run resumes it (it took its reused tasks when it was made)",
        o->reuse[i], o->output);
  drop_stale_temps(o->output);
  return 0;
}

/* Not collective (rank 0).  Make the output ready: resume a file of this
 * spec; grow a file of another spec in place when it is a --reuse file;
 * else create it, from the --reuse files if any (over a dposweep file of
 * another spec or numerics only with --force).  Returns 0, ERR_INPUT
 * when it refuses to touch the file or an input, or ERR_RUNTIME; prints
 * its notes itself. */
static int prepare_output(struct run *r, struct err *e)
{
  const struct sweep_options *o = r->o;
  const int listed = output_in_reuse(o);
  struct err what;
  switch (store_probe(o->output, spec_sha256(r->spec), &what)) {
  case STORE_MISSING:
    return make_output(r, -1, e);
  case STORE_SAME_SPEC:
    if (!o->force)
      return resume_output(r, e);
    say(r, "--force: starting %s over", o->output);
    return make_output(r, -1, e);
  case STORE_OTHER_NUMERICS:
    if (!o->force)
      return err_set(e, ERR_INPUT, "%s (--force starts over)", what.msg);
    say(r, "--force: starting %s over (its results are of another "
           "numerics version)", o->output);
    return make_output(r, -1, e);
  case STORE_OTHER_SPEC:
    if (listed >= 0)
      return make_output(r, listed, e);
    if (!o->force)
      return err_set(e, ERR_INPUT,
                     "%s; refusing to touch it (--reuse %s grows it into "
                     "this spec, keeping the tasks they share; or use "
                     "another -o, or --force to start over)",
                     what.msg, o->output);
    say(r, "--force: replacing %s (it held another spec)", o->output);
    return make_output(r, -1, e);
  default:
    /* Never replace what is not ours, even with --force. */
    return err_set(e, ERR_INPUT, "%s; refusing to touch it", what.msg);
  }
}

/* Not collective (rank 0).  Own the output for the whole run: its lock
 * (lock.h), kept alive by a lease thread.  Returns 0, ERR_INPUT (in use
 * by another process: nothing is touched) or ERR_RUNTIME. */
static int take_output(struct run *r, struct err *e)
{
  const char *out = r->o->output;
  int rc = lock_acquire(out, "run", NULL, &r->lock, e);
  if (rc == ERR_INPUT) {
    char why[ERR_MSG_LEN];
    snprintf(why, sizeof why, "%s", e->msg);
    return err_set(e, ERR_INPUT, "%s; refusing to touch it", why);
  }
  if (rc != 0)
    return err_prefix(e, "cannot %s %s: ",
                      access(out, F_OK) == 0 ? "open" : "create", out);
  if (lock_note(r->lock)[0])
    say(r, "%s", lock_note(r->lock));
  return lock_keep(r->lock, on_lock_lost, NULL, e);
}

/* Not collective (rank 0).  Give the output up; a lock that cannot be
 * removed is taken over by the next run (this process is gone then), so
 * it is only a warning.  Nothing to do without a lock. */
static void release_output(struct run *r)
{
  struct err le;
  if (r->lock && lock_release(&r->lock, &le) != 0 && !atomic_load(&g_lost))
    say(r, "warning: %s", le.msg);
}

/* Not collective (rank 0).  The verdict on the ownership at the end:
 * ERR_EXIT_OK, or ERR_EXIT_RUNTIME (said) when the lock was lost or the
 * output is no longer the file this run opened (replaced or removed by
 * someone else), whose results would then be elsewhere. */
static int ownership_verdict(struct run *r)
{
  char why[ERR_MSG_LEN];
  /* A last refresh checks the lock now, not up to a refresh period ago;
   * failing to write it while it is still ours changes nothing. */
  struct err le;
  if (r->lock && lock_refresh(r->lock, &le) != 0 && !lock_lost(r->lock, NULL, 0))
    say(r, "warning: %s", le.msg);
  if (r->lock && lock_lost(r->lock, why, sizeof why)) {
    say(r, "stopped: this run %s (its lease ran out: was the node frozen?)",
        why);
    return ERR_EXIT_RUNTIME;
  }
  struct stat now;
  bool gone = stat(r->o->output, &now) != 0;
  if (gone || now.st_dev != r->output_id.st_dev ||
      now.st_ino != r->output_id.st_ino) {
    say(r, "%s is no longer the file this run wrote (it was %s during the "
           "run): this run's results are not in it",
        r->o->output, gone ? "removed" : "replaced");
    return ERR_EXIT_RUNTIME;
  }
  return ERR_EXIT_OK;
}

/* Not collective (rank 0).  Own the output, make it ready, and note which
 * file it is.  On failure the output is given up again. */
static int claim_output(struct run *r, struct err *e)
{
  int rc = take_output(r, e);
  if (rc == 0)
    rc = prepare_output(r, e);
  if (rc == 0 && stat(r->o->output, &r->output_id) != 0)
    rc = err_set(e, ERR_RUNTIME, "cannot open %s: %s", r->o->output,
                 strerror(errno));
  if (rc != 0)
    release_output(r);
  return rc;
}

/* Collective.  Rank 0 decides about the output, then everyone opens it;
 * any rank's failure to open is everyone's. */
static int open_output(struct run *r, struct err *e)
{
  int rc = ERR_RUNTIME;
  int verdict = ERR_EXIT_OK; /* rank 0's: go on, or the exit code */
  if (r->rank == 0) {
    struct err pe;
    int prepared = claim_output(r, &pe);
    if (prepared != 0)
      say_err(r, &pe);
    verdict = err_exit_code(prepared);
  }
  MPI_CHECK(e, out, MPI_Bcast(&verdict, 1, MPI_INT, 0, MPI_COMM_WORLD));
  if (verdict != ERR_EXIT_OK) {
    stop_with(r, verdict);
    rc = 0;
    goto out;
  }
  struct err oe;
  int opened = store_open(MPI_COMM_WORLD, r->o->output, r->spec, &r->store,
                          &oe) == 0;
  int all_opened = 0;
  MPI_CHECK(e, out, MPI_Allreduce(&opened, &all_opened, 1, MPI_INT, MPI_MIN,
                                  MPI_COMM_WORLD));
  if (!all_opened) {
    if (opened) {
      say(r, "a rank cannot open the results file");
      struct err ce;
      store_close(&r->store, &ce); /* already failing: adds nothing */
    } else {
      say_err(r, &oe);
    }
    stop_with(r, ERR_EXIT_RUNTIME);
  }
  rc = 0;
out:
  return rc;
}

/* Collective.  The distinct values of every rank's `name` (empty ones
 * left out), comma separated, in out on rank 0 (empty elsewhere). */
static int gather_names(const struct run *r, const char *mine, char *out,
                        size_t len, struct err *e)
{
  int rc = ERR_RUNTIME;
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  char *all = NULL;
  out[0] = '\0';
  snprintf(name, sizeof name, "%s", mine);
  if (r->rank == 0 &&
      !(all = calloc((size_t)r->size, MPI_MAX_PROCESSOR_NAME))) {
    rc = err_set(e, ERR_RUNTIME, "out of memory for the ranks' names");
    goto fail;
  }
  MPI_CHECK(e, fail, MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all,
                                MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0,
                                MPI_COMM_WORLD));
  size_t used = 0;
  for (int q = 0; all && q < r->size; q++) {
    const char *h = all + (size_t)q * MPI_MAX_PROCESSOR_NAME;
    bool seen = false;
    for (int p = 0; p < q && !seen; p++)
      seen = strcmp(h, all + (size_t)p * MPI_MAX_PROCESSOR_NAME) == 0;
    if (seen || !h[0])
      continue;
    int wrote = snprintf(out + used, len - used, "%s%s", used ? "," : "", h);
    if (wrote < 0 || (size_t)wrote >= len - used)
      break;
    used += (size_t)wrote;
  }
  rc = 0;
fail:
  free(all);
  return rc;
}

/* Collective.  The distinct host names of the job, and its distinct SLURM
 * node names (SLURMD_NODENAME: several nodes may share a host name; empty
 * outside SLURM), comma separated, on rank 0. */
static int gather_hosts(const struct run *r, char *hosts, char *nodes,
                        size_t len, struct err *e)
{
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int n = 0;
  MPI_CHECK(e, fail, MPI_Get_processor_name(name, &n));
  const char *node = getenv("SLURMD_NODENAME");
  if (gather_names(r, name, hosts, len, e) != 0)
    return ERR_RUNTIME;
  return gather_names(r, node ? node : "", nodes, len, e);
fail:
  return ERR_RUNTIME;
}

/* Not collective (rank 0).  The schedule over the tasks the file still
 * has pending. */
static int plan_schedule(struct coordinator *c, struct err *e)
{
  const struct run *r = c->run;
  const int nstudies = spec_nstudies(r->spec);
  const int workers = r->size > 1 ? r->size - 1 : 1;
  int rc = sched_create(r->spec, r->o->chunk_seconds, workers, &c->sched, e);
  if (rc != 0)
    return rc;
  /* One study at a time through one buffer: the sched keeps its copy. */
  int64_t most = 0;
  for (int s = 0; s < nstudies; s++)
    most = spec_study(r->spec, s)->ntasks > most ? spec_study(r->spec, s)->ntasks
                                                 : most;
  uint8_t *status = malloc((size_t)most + 1);
  if (!status)
    return err_set(e, ERR_RUNTIME, "out of memory for the task list");
  for (int s = 0; s < nstudies && rc == 0; s++) {
    rc = store_read_status(r->store, s, status, e);
    if (rc == 0)
      rc = sched_load_status(c->sched, s, status, e);
  }
  free(status);
  return rc;
}

/* Not collective (rank 0).  Say what this run does and record it. */
static void announce(struct coordinator *c, const char *hosts,
                     const char *nodes)
{
  struct run *r = c->run;
  struct sched_progress p;
  sched_progress(c->sched, &p);
  if (p.done_before > 0)
    say(r, "resuming %s: %lld of %lld tasks already done, %lld to run",
        r->o->output, (long long)p.done_before, (long long)p.total,
        (long long)p.pending_at_start);
  else
    say(r, "%s: %lld tasks in %d studies on %d rank%s (%s)", r->o->output,
        (long long)p.total, spec_nstudies(r->spec), r->size,
        r->size > 1 ? "s" : "", hosts);
  if (nodes[0])
    say(r, "%d rank%s on SLURM nodes %s", r->size, r->size > 1 ? "s" : "",
        nodes);
  struct err re;
  /* /runs names the nodes: SLURM's names where it runs the job, else the
   * hosts. */
  const struct store_run_start begin = {
    .start = now_wall(), .ranks = r->size, .hosts = hosts,
    .nodes = nodes[0] ? nodes : hosts, .isa = bandit_isa_name(),
    .done_before = p.done_before};
  if (store_run_begin(r->store, &begin, &c->slot, &re) != 0) {
    c->slot = -1;
    say(r, "warning: cannot record this run in the file: %s", re.msg);
  }
}

/* Collective.  Rank 0 plans the schedule and records the run in the
 * file; everyone learns whether it could, and the run's slot (the
 * workers write it with their rows). */
static int record_run(struct run *r, struct coordinator *c, struct err *e)
{
  int rc = ERR_RUNTIME;
  char hosts[STORE_HOSTS_LEN], nodes[STORE_HOSTS_LEN];
  if (gather_hosts(r, hosts, nodes, sizeof hosts, e) != 0)
    goto out;
  int ready_slot[2] = {1, -1};
  if (r->rank == 0) {
    struct err pe;
    if (plan_schedule(c, &pe) != 0) {
      say_err(r, &pe);
      ready_slot[0] = 0;
    } else {
      announce(c, hosts, nodes);
      ready_slot[1] = c->slot;
    }
  }
  MPI_CHECK(e, out, MPI_Bcast(ready_slot, 2, MPI_INT, 0, MPI_COMM_WORLD));
  const int ready = ready_slot[0];
  r->run_slot = ready_slot[1];
  if (!ready) {
    struct err ce;
    store_close(&r->store, &ce); /* already failing: its error adds nothing */
    stop_with(r, ERR_EXIT_RUNTIME);
  }
  rc = 0;
out:
  return rc;
}

/* Collective.  Alone, coordinate, or work. */
static int execute(struct run *r, struct coordinator *c, struct worker *w,
                   struct err *e)
{
  c->t_start = c->last_progress = now_mono();
  double cpu0 = cpu_seconds();
  int rc = 0;
  if (r->size == 1)
    run_alone(c, w);
  else if (r->rank == 0)
    rc = coordinate(c, e);
  else
    rc = work(w, e);
  c->wall = now_mono() - c->t_start;
  c->cpu = cpu_seconds() - cpu0;
  return rc;
}

/* Collective (a reduction).  --stats: wall, CPU, efficiency, memory. */
static int print_stats(struct coordinator *c, struct err *e)
{
  int rc = ERR_RUNTIME;
  struct run *r = c->run;
  /* Peak memory of the coordinator and of the largest worker. */
  double mine = peak_rss_mb(), workers_mb = 0.0;
  double send = r->rank == 0 && r->size > 1 ? 0.0 : mine;
  MPI_CHECK(e, out, MPI_Reduce(&send, &workers_mb, 1, MPI_DOUBLE, MPI_MAX, 0,
                               MPI_COMM_WORLD));
  if (r->rank == 0) {
    struct sched_progress p;
    sched_progress(c->sched, &p);
    int w = r->size > 1 ? r->size - 1 : 1;
    double wall = c->wall, cpu = c->cpu;
    say(r, "stats: wall %.3f s, rank 0 cpu %.3f s (%.2f%% of wall), %lld "
           "tasks in %.3f s of compute, efficiency %.3f over %d worker%s, "
           "peak memory rank 0 %.1f MB, workers %.1f MB",
        wall, cpu, wall > 0 ? 100.0 * cpu / wall : 0.0, (long long)p.finished,
        p.compute, wall > 0 ? p.compute / (w * wall) : 0.0, w,
        w == 1 ? "" : "s", mine, workers_mb);
  }
  rc = 0;
out:
  return rc;
}

/* Not collective (rank 0).  The verdict on the run. */
static int conclude(struct coordinator *c, bool all_closed)
{
  struct run *r = c->run;
  struct sched_progress p;
  sched_progress(c->sched, &p);
  const int64_t done = p.done_before + p.finished, left = p.total - done;
  if (!all_closed)
    say(r, "closing %s failed", r->o->output);
  if (c->io_failed || !all_closed) {
    say(r, "stopped by an error: %lld of %lld tasks done, %lld remain; "
           "what was flushed is kept",
        (long long)done, (long long)p.total, (long long)left);
    return ERR_EXIT_RUNTIME;
  }
  if (c->drained || left > 0) {
    say(r, "interrupted: %lld of %lld tasks done, %lld remain; run the "
           "same command again to continue",
        (long long)done, (long long)p.total, (long long)left);
    return ERR_EXIT_INCOMPLETE;
  }
  say(r, "complete: %lld tasks (%lld failed) in %s", (long long)p.total,
      (long long)p.failed, r->o->output);
  return ERR_EXIT_OK;
}

/* Not collective (rank 0).  The last progress line and the run's end in
 * /runs; a failure there only costs the record, so it is a warning. */
static void record_end(struct coordinator *c)
{
  progress(c, true);
  struct sched_progress p;
  sched_progress(c->sched, &p);
  struct err re;
  if (c->slot >= 0 &&
      store_run_end(c->run->store, c->slot, now_wall(),
                    p.done_before + p.finished, &re) != 0)
    say(c->run, "warning: cannot record the end of this run in the file: %s",
        re.msg);
}

/* Collective.  Statistics, the end of the run in the file, closing it,
 * and the exit code every rank returns. */
static int report_end(struct run *r, struct coordinator *c, struct err *e)
{
  int rc = ERR_RUNTIME;
  if (r->o->stats && print_stats(c, e) != 0)
    goto out;
  if (r->rank == 0)
    record_end(c);
  struct err ce;
  int closed = store_close(&r->store, &ce) == 0;
  int all_closed = 0;
  MPI_CHECK(e, out, MPI_Allreduce(&closed, &all_closed, 1, MPI_INT, MPI_MIN,
                                  MPI_COMM_WORLD));
  int code = ERR_EXIT_OK;
  if (r->rank == 0 && (code = ownership_verdict(r)) == ERR_EXIT_OK)
    code = conclude(c, all_closed);
  MPI_CHECK(e, out, MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD));
  r->code = code;
  rc = 0;
out:
  return rc;
}

/* Collective.  The steps in order; see "the steps of a run". */
static int run_steps(struct run *r, const char *usage_error, struct err *e)
{
  struct coordinator c = {.run = r, .slot = -1};
  struct worker w = {.run = r};
  int rc = 0;
  if (usage_error) {
    say(r, "%s", usage_error);
    stop_with(r, ERR_EXIT_USAGE);
    goto out;
  }
  rc = load_spec(r, e);
  if (rc != 0 || r->stop)
    goto out;
  rc = open_output(r, e);
  if (rc != 0 || r->stop)
    goto out;
  rc = record_run(r, &c, e);
  if (rc != 0 || r->stop)
    goto out;
  rc = execute(r, &c, &w, e);
  if (rc != 0)
    goto out;
  rc = report_end(r, &c, e);
out:
  worker_free(&w);
  sched_destroy(&c.sched);
  return rc;
}

int sweep_main(const struct sweep_options *o, const char *usage_error)
{
  struct run r = {.o = o, .code = ERR_EXIT_OK, .run_slot = -1};
  struct err e;
  err_clear(&e);
  /* Handlers before MPI_Init, so a signal during start-up is a drain
   * request too, not the default action; and again after, in case the MPI
   * library installed its own.  A failure is reported once MPI is up. */
  struct err se;
  int signals_rc = install_signals(o->grace, &se);
  /* Rank 0's lease thread (lock.h) makes no MPI call: FUNNELED. */
  int provided = 0;
  int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) {
    /* No job to abort yet: every process fails on its own. */
    mpi_check_fail(&e, rc, "MPI_Init_thread", __FILE__, __LINE__);
    err_print(&e, "dposweep run");
    return ERR_EXIT_RUNTIME;
  }
  if (signals_rc == 0)
    signals_rc = install_signals(o->grace, &se);
  if (signals_rc != 0) {
    e = se;
    rc = signals_rc;
    goto fatal;
  }
  MPI_CHECK(&e, failed, MPI_Comm_rank(MPI_COMM_WORLD, &r.rank));
  MPI_CHECK(&e, failed, MPI_Comm_size(MPI_COMM_WORLD, &r.size));
  r.tty = r.rank == 0 && isatty(STDERR_FILENO);
  rc = run_steps(&r, usage_error, &e);
  if (rc != 0)
    goto fatal;
  /* Every rank has closed the file (report_end's reduction), or never
   * opened it: the output can go to its next owner. */
  release_output(&r);
  spec_destroy(&r.spec);
  /* Every result is closed and the verdict agreed: a failure to shut MPI
   * down changes neither. */
  MPI_Finalize();
  return r.code;
failed:
  rc = ERR_RUNTIME;
fatal:
  /* This rank failed alone; the others cannot learn of it and would wait
   * for it forever.  Only ending the whole job is safe. */
  err_prefix(&e, "rank %d: ", r.rank);
  err_print(&e, "dposweep run");
  release_output(&r);
  MPI_Abort(MPI_COMM_WORLD, err_exit_code(rc));
  return err_exit_code(rc);
}
