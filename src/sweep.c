/* sweep: the coordinator and the workers of "dposweep run".
 * See include/dposweep/sweep.h. */
#include "dposweep/sweep.h"

#include "dposweep/bandit.h"
#include "dposweep/defaults.h"
#include "dposweep/err.h"
#include "dposweep/spec.h"
#include "dposweep/store.h"
#include "dposweep/text.h"

#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Check an MPI call; on failure report file:line and abort the job (an
 * MPI failure leaves no way to agree on a clean exit). */
#define MPICHECK(call)                                                         \
  do {                                                                         \
    int rc_ = (call);                                                          \
    if (rc_ != MPI_SUCCESS) {                                                  \
      char s_[MPI_MAX_ERROR_STRING];                                           \
      int n_ = 0;                                                              \
      MPI_Error_string(rc_, s_, &n_);                                          \
      fprintf(stderr, "dposweep run: MPI failure at %s:%d: %s: %s\n",          \
              __FILE__, __LINE__, #call, s_);                                  \
      MPI_Abort(MPI_COMM_WORLD, 3);                                            \
    }                                                                          \
  } while (0)

enum { TAG_REQUEST = 1, TAG_WORK = 2, TAG_FLUSH = 3 };

/* A chunk is at most this many tasks and this many bytes of results. */
#define CHUNK_MAX_TASKS 65536
#define CHUNK_MAX_BYTES (64 << 20)
#define CHUNK_MAX_RUNS 1024

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

static void install_signals(double grace)
{
  g_grace = (sig_atomic_t)(grace < 0 ? 0 : (grace > 1e6 ? 1e6 : ceil(grace)));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  /* Past a file-size limit (ulimit -f) a write should fail with EFBIG and
   * be reported, not kill the rank. */
  signal(SIGXFSZ, SIG_IGN);
}

/* ---- time ---- */

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

/* ---- the job's shared state ---- */

/* What a worker reports with each request: the chunk it just finished. */
struct report {
  int64_t done;      /* tasks finished (status done or failed) */
  int64_t failed;    /* of which diverged */
  int64_t abandoned; /* tasks of the chunk not run (signal) */
  double compute;    /* seconds spent computing them */
  double cost;       /* their relative cost */
  int32_t io_error;  /* 1: writing failed; message in what */
  char what[240];
};

/* A cost class: the tasks of one study with one (arms, samples), which
 * all cost the same.  Its tasks are blocks of n_eta*seeds contiguous
 * indices, one block per (regime, beta, sigma). */
struct cost_class {
  int study, arms_i, samples_i;
  double cost;
  int64_t nblocks, block_len;
};

struct job {
  int rank, size;
  const struct sweep_options *o;
  struct spec *spec;
  struct store *store;
  /* rank 0: per study status; 3 marks "handed out" */
  uint8_t **status;
  struct cost_class *classes;
  int nclasses, cls;
  int64_t block, off;
  int64_t total, done_before, handed, pending_at_start;
  double pending_cost, cost_handed;
  /* progress and statistics (rank 0) */
  int64_t done_run, failed_run, abandoned_run;
  double compute_run, cost_done, t_start, last_progress;
  int tty, progress_len;
  /* worker buffers */
  double *traj, *theta, *wall, *finished;
  int64_t *rows;
  uint8_t *tstatus;
  int32_t *trank;
  char *reason;
  size_t cap_tasks, cap_traj, cap_theta;
};

static void say(const struct job *j, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

static void say(const struct job *j, const char *fmt, ...)
{
  if (j->rank != 0)
    return;
  if (j->tty && j->progress_len)
    fputc('\n', stderr);
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  text_one_line(msg); /* paths and spec values are the user's */
  fprintf(stderr, "dposweep run: %s\n", msg);
}

static int cmp_class(const void *pa, const void *pb)
{
  const struct cost_class *a = pa, *b = pb;
  if (a->cost != b->cost)
    return a->cost > b->cost ? -1 : 1; /* largest first */
  if (a->study != b->study)
    return a->study - b->study;
  if (a->arms_i != b->arms_i)
    return a->arms_i - b->arms_i;
  return a->samples_i - b->samples_i;
}

static int plan_classes(struct job *j)
{
  int n = 0;
  for (int s = 0; s < spec_nstudies(j->spec); s++) {
    const struct spec_study *st = spec_study(j->spec, s);
    n += (int)(st->len[SPEC_AXIS_ARMS] * st->len[SPEC_AXIS_SAMPLES]);
  }
  if (!(j->classes = calloc((size_t)n, sizeof *j->classes)))
    return -1;
  j->nclasses = 0;
  for (int s = 0; s < spec_nstudies(j->spec); s++) {
    const struct spec_study *st = spec_study(j->spec, s);
    for (int a = 0; a < st->len[SPEC_AXIS_ARMS]; a++)
      for (int m = 0; m < st->len[SPEC_AXIS_SAMPLES]; m++) {
        struct cost_class *c = &j->classes[j->nclasses++];
        struct spec_coords at = {{0}};
        at.pos[SPEC_AXIS_ARMS] = a;
        at.pos[SPEC_AXIS_SAMPLES] = m;
        c->study = s;
        c->arms_i = a;
        c->samples_i = m;
        c->cost = spec_task_cost(st, &at);
        c->nblocks = st->len[SPEC_AXIS_REGIME] * st->len[SPEC_AXIS_BETA] *
                     st->len[SPEC_AXIS_SIGMA];
        c->block_len = st->len[SPEC_AXIS_ETA] * st->len[SPEC_AXIS_SEED];
      }
  }
  qsort(j->classes, (size_t)j->nclasses, sizeof *j->classes, cmp_class);
  return 0;
}

/* First index of block b of class c. */
static int64_t block_start(const struct job *j, const struct cost_class *c,
                           int64_t b)
{
  const struct spec_study *st = spec_study(j->spec, c->study);
  struct spec_coords at = {{0}};
  at.pos[SPEC_AXIS_SIGMA] = b % st->len[SPEC_AXIS_SIGMA];
  at.pos[SPEC_AXIS_BETA] = (b / st->len[SPEC_AXIS_SIGMA]) % st->len[SPEC_AXIS_BETA];
  at.pos[SPEC_AXIS_REGIME] =
    b / (st->len[SPEC_AXIS_SIGMA] * st->len[SPEC_AXIS_BETA]);
  at.pos[SPEC_AXIS_ARMS] = c->arms_i;
  at.pos[SPEC_AXIS_SAMPLES] = c->samples_i;
  return spec_index_of(st, &at);
}

static int cmp_run(const void *pa, const void *pb)
{
  const int64_t *a = pa, *b = pb;
  if (a[0] != b[0])
    return a[0] < b[0] ? -1 : 1;
  return a[1] < b[1] ? -1 : (a[1] > b[1]);
}

/* Take pending tasks in cost order until the chunk reaches target cost,
 * as runs (study, start, count) sorted by study and start.  Returns the
 * number of runs (0: nothing left). */
static int next_chunk(struct job *j, double target_cost, int64_t *runs,
                      int64_t *ntasks)
{
  int nr = 0;
  int64_t nt = 0;
  double cost = 0.0, bytes = 0.0;
  while (j->cls < j->nclasses) {
    const struct cost_class *c = &j->classes[j->cls];
    const struct spec_study *st = spec_study(j->spec, c->study);
    const double task_bytes = 8.0 * (3.0 * (double)st->nrec + st->max_arms) + 128;
    if (j->block >= c->nblocks) {
      j->cls++;
      j->block = j->off = 0;
      continue;
    }
    if (j->off >= c->block_len) {
      j->block++;
      j->off = 0;
      continue;
    }
    /* Stop before the chunk outgrows its limits (but take at least one). */
    if (nt > 0 && (cost >= target_cost || nt >= CHUNK_MAX_TASKS ||
                   bytes + task_bytes > CHUNK_MAX_BYTES))
      break;
    int64_t idx = block_start(j, c, j->block) + j->off;
    j->off++;
    if (j->status[c->study][idx] != TASK_PENDING)
      continue;
    j->status[c->study][idx] = TASK_HANDED;
    if (nr > 0 && runs[3 * (nr - 1)] == c->study &&
        runs[3 * (nr - 1) + 1] + runs[3 * (nr - 1) + 2] == idx) {
      runs[3 * (nr - 1) + 2]++;
    } else {
      if (nr == CHUNK_MAX_RUNS) {
        j->status[c->study][idx] = TASK_PENDING;
        j->off--;
        break;
      }
      runs[3 * nr] = c->study;
      runs[3 * nr + 1] = idx;
      runs[3 * nr + 2] = 1;
      nr++;
    }
    nt++;
    cost += c->cost;
    bytes += task_bytes;
  }
  qsort(runs, (size_t)nr, 3 * sizeof *runs, cmp_run);
  j->handed += nt;
  j->cost_handed += cost;
  *ntasks = nt;
  return nr;
}

/* Target cost of the next chunk: guided self-scheduling on the measured
 * seconds per unit of cost.  Chunks of about chunk_seconds keep dispatch
 * overhead small; near the end they shrink so ranks finish together. */
static double target_cost(const struct job *j, int workers)
{
  if (j->cost_done <= 0.0 || j->compute_run <= 0.0) {
    /* No measurement yet: small first chunks. */
    double left = j->pending_cost - j->cost_handed;
    return fmax(left / (64.0 * workers), 1.0);
  }
  double spc = j->compute_run / j->cost_done;
  double left_s = (j->pending_cost - j->cost_handed) * spc;
  double want = fmin(j->o->chunk_seconds, left_s / (4.0 * workers));
  want = fmax(want, fmin(0.02, j->o->chunk_seconds));
  return want / spc;
}

/* ---- progress ---- */

static void progress(struct job *j, int final)
{
  if (j->rank != 0 || j->o->quiet)
    return;
  double now = now_mono();
  double every = j->tty ? 0.5 : j->o->progress_interval;
  if (!final && now - j->last_progress < every)
    return;
  j->last_progress = now;
  double el = now - j->t_start;
  int64_t done = j->done_before + j->done_run;
  double rate = el > 0 ? (double)j->done_run / el : 0.0;
  /* ETA from the cost still to do at the measured cost rate. */
  double eta = NAN;
  if (j->cost_done > 0 && el > 0)
    eta = (j->pending_cost - j->cost_done) / (j->cost_done / el);
  char e1[32], e2[32];
  fmt_duration(el, e1, sizeof e1);
  fmt_duration(eta, e2, sizeof e2);
  char line[256];
  int n = snprintf(line, sizeof line,
                   "%lld/%lld tasks (%.1f%%), %.1f tasks/s, elapsed %s, ETA %s",
                   (long long)done, (long long)j->total,
                   j->total ? 100.0 * (double)done / (double)j->total : 100.0,
                   rate, e1, done >= j->total ? "0:00" : e2);
  if (j->failed_run)
    n += snprintf(line + n, sizeof line - (size_t)n, ", %lld failed",
                  (long long)j->failed_run);
  if (j->tty) {
    fprintf(stderr, "\r%s\033[K", line);
    j->progress_len = n;
    if (final) {
      fputc('\n', stderr);
      j->progress_len = 0;
    }
  } else {
    fprintf(stderr, "dposweep run: %s\n", line);
  }
  fflush(stderr);
}

/* ---- the worker side: run a chunk and write it ---- */

static int ensure_buffers(struct job *j, size_t ntasks, size_t nrec,
                          size_t max_arms)
{
  if (ntasks > j->cap_tasks) {
    size_t n = ntasks;
    double *w = realloc(j->wall, n * sizeof *w);
    if (w)
      j->wall = w;
    double *f = realloc(j->finished, n * sizeof *f);
    if (f)
      j->finished = f;
    int64_t *r = realloc(j->rows, n * sizeof *r);
    if (r)
      j->rows = r;
    uint8_t *s = realloc(j->tstatus, n);
    if (s)
      j->tstatus = s;
    int32_t *k = realloc(j->trank, n * sizeof *k);
    if (k)
      j->trank = k;
    char *re = realloc(j->reason, n * STORE_REASON_LEN);
    if (re)
      j->reason = re;
    if (!w || !f || !r || !s || !k || !re)
      return -1;
    j->cap_tasks = n;
  }
  if (ntasks * nrec * 3 > j->cap_traj) {
    double *t = realloc(j->traj, ntasks * nrec * 3 * sizeof *t);
    if (!t)
      return -1;
    j->traj = t;
    j->cap_traj = ntasks * nrec * 3;
  }
  if (ntasks * max_arms > j->cap_theta) {
    double *t = realloc(j->theta, ntasks * max_arms * sizeof *t);
    if (!t)
      return -1;
    j->theta = t;
    j->cap_theta = ntasks * max_arms;
  }
  return 0;
}

/* Run the tasks rows[0..n) of one study and write them. */
static int run_group(struct job *j, int study, int64_t n, struct report *rep)
{
  const struct spec_study *st = spec_study(j->spec, study);
  const size_t nrec = (size_t)st->nrec, ma = (size_t)st->max_arms;
  double *maxd = j->traj, *meand = j->traj + n * nrec,
         *gap = j->traj + 2 * n * nrec;
  int64_t ran = 0;
  for (int64_t i = 0; i < n; i++) {
    if (g_abandon)
      break;
    struct bandit_params p;
    spec_task_params(j->spec, study, j->rows[i], &p);
    struct bandit *b = NULL;
    double t0 = now_mono();
    if (bandit_create(&p, &b) != 0) {
      rep->io_error = 1;
      snprintf(rep->what, sizeof rep->what,
               "rank %d: out of memory for a task of %d arms", j->rank, p.arms);
      break;
    }
    bandit_set_stop(b, &g_abandon);
    double *th = j->theta + (size_t)i * ma;
    for (size_t y = (size_t)p.arms; y < ma; y++)
      th[y] = NAN;
    struct bandit_trace tr = {maxd + (size_t)i * nrec, meand + (size_t)i * nrec,
                              gap + (size_t)i * nrec, th};
    int oc = bandit_run(b, &tr);
    double t1 = now_mono();
    char *why = j->reason + (size_t)i * STORE_REASON_LEN;
    memset(why, 0, STORE_REASON_LEN);
    if (oc == BANDIT_STOPPED) {
      bandit_destroy(&b);
      break;
    }
    if (oc == BANDIT_DIVERGED) {
      snprintf(why, STORE_REASON_LEN, "%s", bandit_failure(b));
      rep->failed++;
    }
    bandit_destroy(&b);
    j->tstatus[i] = oc == BANDIT_OK ? TASK_DONE : TASK_FAILED;
    j->trank[i] = j->rank;
    j->wall[i] = t1 - t0;
    j->finished[i] = now_wall();
    rep->compute += t1 - t0;
    rep->cost += bandit_cost(&p);
    ran++;
  }
  rep->abandoned += n - ran;
  if (ran == 0)
    return 0;
  /* The buffers were laid out for n rows; a shorter write needs them
   * compacted to ran rows. */
  if (ran < n) {
    memmove(meand - (n - ran) * nrec, meand, (size_t)ran * nrec * sizeof *meand);
    meand -= (n - ran) * nrec;
    memmove(meand + ran * nrec, gap, (size_t)ran * nrec * sizeof *gap);
    gap = meand + ran * nrec;
  }
  struct store_rows r = {
    .n = ran,
    .rows = j->rows,
    .max_abs_delta = maxd,
    .mean_abs_delta = meand,
    .value_gap = gap,
    .theta = j->theta,
    .status = j->tstatus,
    .rank = j->trank,
    .wall_seconds = j->wall,
    .finished_at = j->finished,
    .reason = j->reason,
  };
  struct err e;
  if (store_write_rows(j->store, study, &r, &e) != 0) {
    rep->io_error = 1;
    snprintf(rep->what, sizeof rep->what, "rank %d: cannot write results to %s: %s",
             j->rank, j->o->output, e.msg);
    return -1;
  }
  rep->done += ran;
  return 0;
}

/* Run a chunk: runs sorted by (study, start), grouped per study. */
static void run_chunk(struct job *j, const int64_t *runs, int nruns,
                      struct report *rep)
{
  memset(rep, 0, sizeof *rep);
  for (int r = 0; r < nruns;) {
    int study = (int)runs[3 * r];
    int64_t n = 0;
    int e = r;
    while (e < nruns && runs[3 * e] == study)
      n += runs[3 * e + 2], e++;
    const struct spec_study *st = spec_study(j->spec, study);
    if (rep->io_error || g_abandon ||
        ensure_buffers(j, (size_t)n, (size_t)st->nrec, (size_t)st->max_arms)) {
      if (!rep->io_error && !g_abandon) {
        rep->io_error = 1;
        snprintf(rep->what, sizeof rep->what, "rank %d: out of memory",
                 j->rank);
      }
      rep->abandoned += n;
      r = e;
      continue;
    }
    int64_t k = 0;
    for (int q = r; q < e; q++)
      for (int64_t i = 0; i < runs[3 * q + 2]; i++)
        j->rows[k++] = runs[3 * q + 1] + i;
    run_group(j, study, n, rep);
    r = e;
  }
}

/* ---- the coordinator ---- */

static void account(struct job *j, const struct report *rep)
{
  j->done_run += rep->done;
  j->failed_run += rep->failed;
  j->abandoned_run += rep->abandoned;
  j->compute_run += rep->compute;
  j->cost_done += rep->cost;
}

/* Returns 1 if the run stopped early because of a failure. */
static int coordinate(struct job *j, int *io_failed)
{
  const int workers = j->size - 1;
  int active = workers, stopped_any = 0;
  int flush_pending = 0, flushed = 0, draining = 0;
  double next_flush = now_mono() + j->o->flush_interval;
  double nap = 0.0, last_msg = now_mono();
  int64_t *runs = malloc(3 * CHUNK_MAX_RUNS * sizeof *runs);
  if (!runs) {
    say(j, "out of memory");
    MPI_Abort(MPI_COMM_WORLD, ERR_EXIT_RUNTIME);
  }
  while (active > 0) {
    if (g_signals && !draining) {
      draining = 1;
      say(j, "signal received: finishing the tasks in flight (a second "
             "signal, or %g s, abandons them)",
          j->o->grace);
    }
    if (!flush_pending && !stopped_any && now_mono() >= next_flush) {
      flush_pending = 1;
      flushed = 0;
    }
    int flag = 0;
    MPI_Status ms;
    MPICHECK(MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQUEST, MPI_COMM_WORLD, &flag, &ms));
    if (!flag) {
      /* Never block in MPI_Recv: Open MPI's blocking receive busy-polls a
       * core that a worker could use.  Right after a message more usually
       * follow, so yield for 200 us; then sleep, backing off to 1 ms
       * (1000 cheap wake-ups a second while the workers compute). */
      double idle = now_mono() - last_msg;
      if (idle < 200e-6) {
        sched_yield();
      } else {
        nap = nap <= 0.0 ? 50e-6 : fmin(nap * 2.0, 1e-3);
        sleep_seconds(nap);
      }
      progress(j, 0);
      continue;
    }
    nap = 0.0;
    last_msg = now_mono();
    struct report rep;
    MPICHECK(MPI_Recv(&rep, sizeof rep, MPI_BYTE, ms.MPI_SOURCE, TAG_REQUEST,
                      MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    account(j, &rep);
    if (rep.io_error) {
      if (!*io_failed)
        say(j, "%s", rep.what);
      *io_failed = 1;
      draining = 1;
    }
    if (flush_pending) {
      /* Everyone flushes together; nobody has been stopped, so all ranks
       * reach the collective. */
      MPICHECK(MPI_Send(NULL, 0, MPI_INT64_T, ms.MPI_SOURCE, TAG_FLUSH,
                        MPI_COMM_WORLD));
      if (++flushed == workers) {
        struct err e;
        if (store_flush(j->store, &e) != 0 && !*io_failed) {
          say(j, "cannot flush the results file");
          *io_failed = 1;
          draining = 1;
        }
        flush_pending = 0;
        next_flush = now_mono() + j->o->flush_interval;
      }
      continue;
    }
    int64_t nt = 0;
    int nr = draining ? 0 : next_chunk(j, target_cost(j, workers), runs, &nt);
    MPICHECK(MPI_Send(runs, 3 * nr, MPI_INT64_T, ms.MPI_SOURCE, TAG_WORK,
                      MPI_COMM_WORLD));
    if (nr == 0) {
      active--;
      stopped_any = 1;
    }
    progress(j, 0);
  }
  free(runs);
  return draining;
}

static void work(struct job *j)
{
  struct report rep;
  memset(&rep, 0, sizeof rep);
  int64_t *runs = malloc(3 * CHUNK_MAX_RUNS * sizeof *runs);
  if (!runs) {
    fprintf(stderr, "dposweep run: rank %d: out of memory\n", j->rank);
    MPI_Abort(MPI_COMM_WORLD, ERR_EXIT_RUNTIME);
  }
  for (;;) {
    MPICHECK(MPI_Send(&rep, sizeof rep, MPI_BYTE, 0, TAG_REQUEST,
                      MPI_COMM_WORLD));
    MPI_Status ms;
    MPICHECK(MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &ms));
    int count = 0;
    MPICHECK(MPI_Get_count(&ms, MPI_INT64_T, &count));
    MPICHECK(MPI_Recv(runs, 3 * CHUNK_MAX_RUNS, MPI_INT64_T, 0, ms.MPI_TAG,
                      MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    memset(&rep, 0, sizeof rep);
    if (ms.MPI_TAG == TAG_FLUSH) {
      struct err e;
      if (store_flush(j->store, &e) != 0) {
        rep.io_error = 1;
        snprintf(rep.what, sizeof rep.what, "rank %d: cannot flush", j->rank);
      }
      continue;
    }
    if (count == 0)
      break;
    run_chunk(j, runs, count / 3, &rep);
  }
  free(runs);
}

/* One process does everything. */
static int run_alone(struct job *j, int *io_failed)
{
  int64_t *runs = malloc(3 * CHUNK_MAX_RUNS * sizeof *runs);
  int drained = 0;
  double next_flush = now_mono() + j->o->flush_interval;
  if (!runs) {
    say(j, "out of memory");
    *io_failed = 1;
    return 1;
  }
  for (;;) {
    if (g_signals) {
      drained = 1;
      say(j, "signal received: stopping");
      break;
    }
    int64_t nt;
    int nr = next_chunk(j, target_cost(j, 1), runs, &nt);
    if (nr == 0)
      break;
    struct report rep;
    run_chunk(j, runs, nr, &rep);
    account(j, &rep);
    if (rep.io_error) {
      say(j, "%s", rep.what);
      *io_failed = 1;
      break;
    }
    if (rep.abandoned)
      drained = 1;
    if (now_mono() >= next_flush) {
      struct err e;
      if (store_flush(j->store, &e) != 0) {
        say(j, "cannot flush the results file");
        *io_failed = 1;
        break;
      }
      next_flush = now_mono() + j->o->flush_interval;
    }
    progress(j, 0);
  }
  free(runs);
  return drained || *io_failed;
}

/* ---- setup ---- */

static char *read_spec_text(const char *path, size_t *len, char *err,
                            size_t errlen)
{
  /* spec_load_file does the checks and messages; here we only need the
   * text to broadcast.  Load once to validate, keep the text. */
  struct spec *s = NULL;
  struct err e;
  if (spec_load_file(path, &s, &e) != 0) {
    snprintf(err, errlen, "%s", e.msg);
    return NULL;
  }
  char *t = strdup(spec_text(s));
  *len = t ? strlen(t) : 0;
  if (!t)
    snprintf(err, errlen, "out of memory");
  spec_destroy(&s);
  return t;
}

static void hosts_of_job(const struct job *j, char *out, size_t len)
{
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int n = 0;
  MPI_Get_processor_name(name, &n);
  char *all = j->rank == 0 ? calloc((size_t)j->size, MPI_MAX_PROCESSOR_NAME)
                           : NULL;
  MPICHECK(MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all,
                      MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, MPI_COMM_WORLD));
  out[0] = '\0';
  if (j->rank != 0 || !all)
    return;
  size_t used = 0;
  for (int r = 0; r < j->size; r++) {
    const char *h = all + (size_t)r * MPI_MAX_PROCESSOR_NAME;
    int seen = 0;
    for (int q = 0; q < r && !seen; q++)
      seen = strcmp(h, all + (size_t)q * MPI_MAX_PROCESSOR_NAME) == 0;
    if (seen)
      continue;
    int w = snprintf(out + used, len - used, "%s%s", used ? "," : "", h);
    if (w < 0 || (size_t)w >= len - used)
      break;
    used += (size_t)w;
  }
  free(all);
}

/* Rank 0 decides what to do with the output; returns an exit code or -1
 * to go on. */
static int prepare_output(struct job *j)
{
  struct err what;
  int found = store_probe(j->o->output, spec_sha256(j->spec), &what);
  const char *msg = what.msg;
  switch (found) {
  case STORE_MISSING:
    break;
  case STORE_SAME_SPEC:
    if (!j->o->force) {
      /* MPI-IO's own message for this is "invalid access mode". */
      if (access(j->o->output, W_OK) != 0) {
        say(j, "cannot open %s for writing: %s", j->o->output, strerror(errno));
        return ERR_EXIT_RUNTIME;
      }
      return -1; /* resume */
    }
    say(j, "--force: starting %s over", j->o->output);
    break;
  case STORE_OTHER_SPEC:
    if (!j->o->force) {
      say(j, "%s; refusing to touch it (use another -o, or --force to start "
             "over)",
          msg);
      return ERR_EXIT_USAGE;
    }
    say(j, "--force: replacing %s (it held another spec)", j->o->output);
    break;
  default:
    /* Never replace what is not ours, even with --force. */
    say(j, "%s; refusing to touch it", msg);
    return ERR_EXIT_USAGE;
  }
  struct err e;
  if (store_create(j->o->output, j->spec, &e) != 0) {
    say(j, "%s", e.msg);
    return ERR_EXIT_RUNTIME;
  }
  return -1;
}

static int load_pending(struct job *j, char *err, size_t len)
{
  int n = spec_nstudies(j->spec);
  if (!(j->status = calloc((size_t)n, sizeof *j->status)))
    goto oom;
  for (int s = 0; s < n; s++) {
    const struct spec_study *st = spec_study(j->spec, s);
    if (!(j->status[s] = malloc((size_t)st->ntasks)))
      goto oom;
    struct err e;
    if (store_read_status(j->store, s, j->status[s], &e) != 0) {
      snprintf(err, len, "%s", e.msg);
      return -1;
    }
    for (int64_t i = 0; i < st->ntasks; i++) {
      if (j->status[s][i] == TASK_PENDING) {
        struct spec_coords c;
        spec_coords_of(st, i, &c);
        j->pending_cost += spec_task_cost(st, &c);
        j->pending_at_start++;
      } else if (j->status[s][i] != TASK_DONE &&
                 j->status[s][i] != TASK_FAILED) {
        j->status[s][i] = TASK_PENDING; /* unknown byte: redo */
        j->pending_at_start++;
      }
    }
  }
  j->done_before = j->total - j->pending_at_start;
  return 0;
oom:
  snprintf(err, len, "out of memory for the task list");
  return -1;
}

static void job_free(struct job *j)
{
  if (j->status)
    for (int s = 0; s < spec_nstudies(j->spec); s++)
      free(j->status[s]);
  free(j->status);
  free(j->classes);
  free(j->traj);
  free(j->theta);
  free(j->wall);
  free(j->finished);
  free(j->rows);
  free(j->tstatus);
  free(j->trank);
  free(j->reason);
  spec_destroy(&j->spec);
}

/* Agree on an exit code decided by rank 0. */
static int bcast_code(int code)
{
  MPICHECK(MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD));
  return code;
}

int sweep_main(const struct sweep_options *o, const char *usage_error)
{
  struct job j;
  memset(&j, 0, sizeof j);
  j.o = o;
  int code = ERR_EXIT_OK;
  /* Handlers before MPI_Init, so a signal during start-up is a drain
   * request too, not the default action; and again after, in case the MPI
   * library installed its own. */
  install_signals(o->grace);
  MPICHECK(MPI_Init(NULL, NULL));
  install_signals(o->grace);
  MPICHECK(MPI_Comm_rank(MPI_COMM_WORLD, &j.rank));
  MPICHECK(MPI_Comm_size(MPI_COMM_WORLD, &j.size));
  j.tty = j.rank == 0 && isatty(STDERR_FILENO);
  if (usage_error) {
    say(&j, "%s", usage_error);
    code = ERR_EXIT_USAGE;
    goto finalize;
  }

  /* The spec: rank 0 reads and checks it, everyone parses the same text. */
  char err[1024] = "";
  char *text = NULL;
  long long tlen = 0;
  if (j.rank == 0) {
    size_t n = 0;
    if (o->spec_path)
      text = read_spec_text(o->spec_path, &n, err, sizeof err);
    else if ((text = strdup(spec_default_text())))
      n = strlen(text);
    if (!text)
      say(&j, "%s", err[0] ? err : "out of memory");
    tlen = text ? (long long)n : -1;
  }
  MPICHECK(MPI_Bcast(&tlen, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD));
  if (tlen < 0) {
    code = ERR_EXIT_USAGE;
    goto finalize;
  }
  if (j.rank != 0 && !(text = malloc((size_t)tlen + 1)))
    MPI_Abort(MPI_COMM_WORLD, ERR_EXIT_RUNTIME);
  MPICHECK(MPI_Bcast(text, (int)tlen, MPI_CHAR, 0, MPI_COMM_WORLD));
  text[tlen] = '\0';
  struct err pe;
  int parsed = spec_load_text(text, (size_t)tlen,
                              o->spec_path ? o->spec_path : "(default spec)",
                              &j.spec, &pe);
  snprintf(err, sizeof err, "%s", pe.msg);
  free(text);
  if (bcast_code(parsed) != 0) {
    say(&j, "%s", err);
    code = ERR_EXIT_USAGE;
    goto finalize;
  }
  j.total = spec_ntasks(j.spec);

  code = bcast_code(j.rank == 0 ? prepare_output(&j) : 0);
  if (code >= 0)
    goto finalize;
  code = ERR_EXIT_OK;

  /* Everyone opens the file; any failure is everyone's. */
  struct err oe;
  int opened = store_open(MPI_COMM_WORLD, o->output, j.spec, &j.store, &oe) == 0;
  snprintf(err, sizeof err, "%s", oe.msg);
  int all_opened = 0;
  MPICHECK(MPI_Allreduce(&opened, &all_opened, 1, MPI_INT, MPI_MIN,
                         MPI_COMM_WORLD));
  if (!all_opened) {
    say(&j, "%s", opened ? "a rank cannot open the results file" : err);
    if (opened)
      store_close(&j.store, &oe);
    code = ERR_EXIT_RUNTIME;
    goto finalize;
  }

  char hosts[STORE_HOSTS_LEN];
  hosts_of_job(&j, hosts, sizeof hosts);
  int slot = -1, ok = 1;
  if (j.rank == 0) {
    if (load_pending(&j, err, sizeof err) != 0 || plan_classes(&j) != 0) {
      say(&j, "%s", err[0] ? err : "out of memory");
      ok = 0;
    } else {
      if (j.done_before > 0)
        say(&j, "resuming %s: %lld of %lld tasks already done, %lld to run",
            o->output, (long long)j.done_before, (long long)j.total,
            (long long)j.pending_at_start);
      else
        say(&j, "%s: %lld tasks in %d studies on %d rank%s (%s)", o->output,
            (long long)j.total, spec_nstudies(j.spec), j.size,
            j.size > 1 ? "s" : "", hosts);
      struct err re;
      if (store_run_begin(j.store, now_wall(), j.size, hosts, j.done_before,
                          &slot, &re) != 0)
        say(&j, "warning: cannot record this run in the file: %s", re.msg);
    }
  }
  if (!bcast_code(ok)) {
    store_close(&j.store, &oe);
    code = ERR_EXIT_RUNTIME;
    goto finalize;
  }

  j.t_start = j.last_progress = now_mono();
  double cpu0 = cpu_seconds();
  int io_failed = 0, stopped = 0;
  if (j.size == 1)
    stopped = run_alone(&j, &io_failed);
  else if (j.rank == 0)
    stopped = coordinate(&j, &io_failed);
  else
    work(&j);
  double wall = now_mono() - j.t_start, cpu = cpu_seconds() - cpu0;
  if (o->stats) {
    /* Peak memory of the coordinator and of the largest worker. */
    double mine = peak_rss_mb(), workers_mb = 0.0;
    double send = j.rank == 0 && j.size > 1 ? 0.0 : mine;
    MPICHECK(MPI_Reduce(&send, &workers_mb, 1, MPI_DOUBLE, MPI_MAX, 0,
                        MPI_COMM_WORLD));
    int w = j.size > 1 ? j.size - 1 : 1;
    say(&j, "stats: wall %.3f s, rank 0 cpu %.3f s (%.2f%% of wall), %lld "
            "tasks in %.3f s of compute, efficiency %.3f over %d worker%s, "
            "peak memory rank 0 %.1f MB, workers %.1f MB",
        wall, cpu, wall > 0 ? 100.0 * cpu / wall : 0.0, (long long)j.done_run,
        j.compute_run, wall > 0 ? j.compute_run / (w * wall) : 0.0, w,
        w == 1 ? "" : "s", mine, workers_mb);
  }

  if (j.rank == 0) {
    progress(&j, 1);
    struct err re;
    if (slot >= 0)
      store_run_end(j.store, slot, now_wall(), j.done_before + j.done_run, &re);
  }
  int closed = store_close(&j.store, &oe) == 0;
  int all_closed = 0;
  MPICHECK(MPI_Allreduce(&closed, &all_closed, 1, MPI_INT, MPI_MIN,
                         MPI_COMM_WORLD));
  if (j.rank == 0) {
    int64_t done = j.done_before + j.done_run;
    int64_t left = j.total - done;
    if (io_failed || !all_closed) {
      if (!all_closed)
        say(&j, "closing %s failed", o->output);
      say(&j, "stopped by an error: %lld of %lld tasks done, %lld remain; "
              "what was flushed is kept",
          (long long)done, (long long)j.total, (long long)left);
      code = ERR_EXIT_RUNTIME;
    } else if (stopped || left > 0) {
      say(&j, "interrupted: %lld of %lld tasks done, %lld remain; run the "
              "same command again to continue",
          (long long)done, (long long)j.total, (long long)left);
      code = ERR_EXIT_INCOMPLETE;
    } else {
      say(&j, "complete: %lld tasks (%lld failed) in %s", (long long)j.total,
          (long long)j.failed_run, o->output);
      code = ERR_EXIT_OK;
    }
  }
  code = bcast_code(code);
finalize:
  job_free(&j);
  MPI_Finalize();
  return code;
}
