/* verify: "dposweep verify".  See include/dposweep/verify.h.
 *
 * The steps, on every rank of the job (one rank does all of it alone):
 *
 *   1. Rank 0 opens the file and reads every study's status bytes: the
 *      snapshot.  Only tasks finished in it are checked (a task a run
 *      finishes later is not), and every rank works from it, so the
 *      verdict does not depend on the rank count.  A failure here ends
 *      every rank with rank 0's one line.  The other ranks then open
 *      their own readers and check that they see the same file.
 *   2. Each rank checks the checksums of its part of each study's
 *      finished tasks (verify_slice), in batches of rows read status
 *      first, so a file being written is read safely.
 *   3. The tasks to recompute (verify_choose over the finished tasks in
 *      (study, index) order, or all) are shared by cost (verify_share);
 *      each rank recomputes its own and compares them with the stored
 *      rows.
 *   4. Rank 0 gathers every rank's counts and failures and prints them in
 *      (study, index) order; every rank returns the exit code it
 *      broadcasts.
 *
 * A rank that fails (a read error, no memory) stops working and reports
 * its error in step 4; only a failing MPI call aborts the job.
 *
 * The messages, all on MPI_COMM_WORLD:
 *
 *   MPI_Bcast    0 -> all   the result of step 1 (an exit code), then the
 *                           spec hash and the status bytes, study by study
 *   MPI_Allreduce           whether every rank opened the same file
 *   TAG_PROGRESS r -> 0     int64 {checksums checked, tasks recomputed,
 *                           last}: at most twice a second while rank r
 *                           works, and once with last = 1 at its end;
 *                           rank 0 reads them between its own batches and
 *                           waits for every last one before step 4
 *   MPI_Gather   all -> 0   struct tally
 *   MPI_Gather, MPI_Gatherv  all -> 0   the failures (count, records)
 *   MPI_Bcast    0 -> all   the exit code */
#include "dposweep/verify.h"

#include "dposweep/rng.h"
#include "dposweep/store.h"
#include "dposweep/task.h"
#include "mpi_check.h"

#include <math.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the pure parts ---- */

/* A uniform integer in [0, n), n >= 1, without bias: 64 bits, the values
 * below 2^64 mod n rejected. */
static uint64_t uniform_below(struct rng_pcg32 *g, uint64_t n)
{
  const uint64_t reject = (0 - n) % n;
  for (;;) {
    uint64_t x = (uint64_t)rng_pcg32_next(g) << 32;
    x |= rng_pcg32_next(g);
    if (x >= reject)
      return x % n;
  }
}

void verify_choose(uint64_t seed, int64_t n, int64_t want, int64_t *pos)
{
  /* Knuth's selection sampling (Algorithm S): one pass, no memory beyond
   * the answer, ascending; position i is taken with probability (still
   * wanted) / (still left), which makes every subset equally likely. */
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, seed);
  int64_t k = 0;
  for (int64_t i = 0; k < want && i < n; i++)
    if (uniform_below(&g, (uint64_t)(n - i)) < (uint64_t)(want - k))
      pos[k++] = i;
}

void verify_slice(int64_t n, int nranks, int r, int64_t *lo, int64_t *hi)
{
  /* n * r may pass 2^63 only for n beyond any spec (2^31 tasks). */
  *lo = n * r / nranks;
  *hi = n * (r + 1) / nranks;
}

/* A job of verify_share: its cost and position. */
struct job {
  double cost;
  int64_t pos;
};

static int by_cost_desc(const void *pa, const void *pb)
{
  const struct job *a = pa, *b = pb;
  if (a->cost != b->cost)
    return a->cost < b->cost ? 1 : -1;
  return (a->pos > b->pos) - (a->pos < b->pos);
}

/* A rank's load in verify_share's heap. */
struct load {
  double sum;
  int rank;
};

static bool lighter(const struct load *a, const struct load *b)
{
  return a->sum < b->sum || (a->sum == b->sum && a->rank < b->rank);
}

/* Restore the min-heap h[0..n) after h[0] grew. */
static void sift_down(struct load *h, int n)
{
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && lighter(&h[l], &h[m]))
      m = l;
    if (r < n && lighter(&h[r], &h[m]))
      m = r;
    if (m == i)
      return;
    struct load t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

int verify_share(const double *cost, int64_t n, int nranks, int *owner,
                 struct err *e)
{
  struct job *jobs = malloc((size_t)(n > 0 ? n : 1) * sizeof *jobs);
  struct load *heap = malloc((size_t)nranks * sizeof *heap);
  if (!jobs || !heap) {
    free(jobs);
    free(heap);
    return err_set(e, ERR_RUNTIME, "out of memory");
  }
  for (int64_t i = 0; i < n; i++)
    jobs[i] = (struct job){cost[i], i};
  if (n > 1)
    qsort(jobs, (size_t)n, sizeof *jobs, by_cost_desc);
  /* All loads 0, ranks ascending: already a heap. */
  for (int r = 0; r < nranks; r++)
    heap[r] = (struct load){0.0, r};
  for (int64_t i = 0; i < n; i++) {
    owner[jobs[i].pos] = heap[0].rank;
    heap[0].sum += jobs[i].cost;
    sift_down(heap, nranks);
  }
  free(jobs);
  free(heap);
  return 0;
}

/* "done", or "failed (REASON)" for a failed task. */
static void outcome_text(const struct verify_rows *r, char *buf, size_t len)
{
  if (r->status == TASK_FAILED)
    snprintf(buf, len, "failed (%.*s)",
             (int)strnlen(r->reason ? r->reason : "", r->reason_len),
             r->reason ? r->reason : "");
  else if (r->status == TASK_DONE)
    snprintf(buf, len, "done");
  else
    snprintf(buf, len, "status %d", (int)r->status);
}

static bool same_bits(double a, double b)
{
  return memcmp(&a, &b, sizeof a) == 0;
}

/* The outcomes differ: another status, or failed for another reason (at
 * another step). */
static bool outcome_differs(const struct verify_rows *a,
                            const struct verify_rows *b)
{
  if (a->status != b->status)
    return true;
  if (a->status != TASK_FAILED)
    return false;
  size_t la = strnlen(a->reason, a->reason_len);
  size_t lb = strnlen(b->reason, b->reason_len);
  return la != lb || memcmp(a->reason, b->reason, la) != 0;
}

int verify_compare(const struct spec_study *st, const struct verify_rows *stored,
                   const struct verify_rows *again, char *why, size_t len)
{
  static const char lead[] = "recomputed result differs";
  if (outcome_differs(stored, again)) {
    char a[160], b[160];
    outcome_text(stored, a, sizeof a);
    outcome_text(again, b, sizeof b);
    snprintf(why, len, "%s: stored %s, recomputed %s", lead, a, b);
    return 1;
  }
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    for (int64_t j = 0; j < st->nrec; j++)
      if (!same_bits(stored->metric[m][j], again->metric[m][j])) {
        snprintf(why, len, "%s: %s at step %lld (stored %.17g, recomputed "
                 "%.17g)", lead, bandit_metric_name((enum bandit_metric)m),
                 (long long)bandit_rec_step(j, st->iterations,
                                            st->record_every),
                 stored->metric[m][j], again->metric[m][j]);
        return 1;
      }
  for (int a = 0; a < st->max_arms; a++)
    if (!same_bits(stored->theta[a], again->theta[a])) {
      snprintf(why, len, "%s: final theta[%d] (stored %.17g, recomputed "
               "%.17g)", lead, a, stored->theta[a], again->theta[a]);
      return 1;
    }
  return 0;
}

void verify_result_destroy(struct verify_result *r)
{
  if (!r)
    return;
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    free(r->metric[m]);
  free(r->theta);
  free(r->reason);
  memset(r, 0, sizeof *r);
}

/* r's buffers for a task of st; false when memory runs out. */
static bool result_alloc(struct verify_result *r, const struct spec_study *st)
{
  bool ok = (r->theta = malloc((size_t)st->max_arms * sizeof *r->theta)) &&
            (r->reason = calloc(1, STORE_REASON_LEN));
  for (int m = 0; ok && m < BANDIT_NMETRICS; m++)
    ok = (r->metric[m] = malloc((size_t)st->nrec * sizeof(double)));
  return ok;
}

int verify_recompute(const struct spec *s, int study, int64_t index,
                     struct verify_result *out, struct err *e)
{
  const struct spec_study *st = spec_study(s, study);
  struct verify_result r;
  struct bandit *b = NULL;
  struct bandit_params p;
  int rc = ERR_RUNTIME;
  memset(&r, 0, sizeof r);
  spec_task_params(s, study, index, &p);
  if (!result_alloc(&r, st)) {
    err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  /* The spec was checked when loaded, so only memory can fail here. */
  if (bandit_create(&p, &b) != 0) {
    err_set(e, ERR_RUNTIME, "out of memory for a task of %d arms", p.arms);
    goto out;
  }
  /* As the run pads it (sweep.c): the checksum covers the padding. */
  for (int a = p.arms; a < st->max_arms; a++)
    r.theta[a] = NAN;
  struct bandit_trace tr = {.theta = r.theta};
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    tr.metric[m] = r.metric[m];
  int outcome = bandit_run(b, &tr);
  r.rows.status = outcome == BANDIT_OK ? TASK_DONE : TASK_FAILED;
  if (outcome != BANDIT_OK)
    snprintf(r.reason, STORE_REASON_LEN, "%s", bandit_failure(b));
  r.rows.reason = r.reason;
  r.rows.reason_len = STORE_REASON_LEN;
  r.rows.theta = r.theta;
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    r.rows.metric[m] = r.metric[m];
  *out = r;
  memset(&r, 0, sizeof r);
  rc = 0;
out:
  bandit_destroy(&b);
  verify_result_destroy(&r);
  return rc;
}

/* x with as few digits as give it back exactly. */
static void fmt_num(double x, char *buf, size_t len)
{
  for (int digits = 6; digits <= 17; digits++) {
    snprintf(buf, len, "%.*g", digits, x);
    if (strtod(buf, NULL) == x)
      return;
  }
}

void verify_describe_task(const struct spec *s, int study, int64_t index,
                          char *buf, size_t len)
{
  const struct spec_study *st = spec_study(s, study);
  struct spec_coords c;
  spec_coords_of(st, index, &c);
  const int64_t *pos = c.pos;
  char beta[32], sigma[32], eta[32], spread[32];
  fmt_num(st->beta[pos[SPEC_AXIS_BETA]], beta, sizeof beta);
  fmt_num(st->sigma[pos[SPEC_AXIS_SIGMA]], sigma, sizeof sigma);
  if (st->eta_theory[pos[SPEC_AXIS_ETA]])
    snprintf(eta, sizeof eta, "theory");
  else
    fmt_num(st->eta[pos[SPEC_AXIS_ETA]], eta, sizeof eta);
  fmt_num(st->ref_spread[pos[SPEC_AXIS_REF_SPREAD]], spread, sizeof spread);
  snprintf(buf, len,
           "study '%s' task %lld (regime %s, arms %d, beta %s, sigma %s, "
           "samples %lld, eta %s, ref_spread %s, seed %llu)",
           st->name, (long long)index,
           bandit_regime_name(st->regime[pos[SPEC_AXIS_REGIME]]),
           st->arms[pos[SPEC_AXIS_ARMS]], beta, sigma,
           (long long)st->samples[pos[SPEC_AXIS_SAMPLES]], eta, spread,
           (unsigned long long)spec_seed(st, pos[SPEC_AXIS_SEED]));
}

/* ---- one rank's state ---- */

/* What failed, in the order a task's line lists it. */
enum fail_kind {
  FAIL_STATUS = 0, /* a status byte that is no task_status */
  FAIL_CHECK = 1,  /* checksum mismatch, or marked finished without rows */
  FAIL_AGAIN = 2   /* the recomputed result differs */
};

#define WHAT_LEN 256
/* One failure, as sent to rank 0. */
struct failure {
  int32_t study;
  int32_t kind; /* enum fail_kind */
  int64_t index;
  char what[WHAT_LEN];
};

/* The output lists the first LISTED failing tasks (by study and index)
 * and counts the rest, so a wrecked file gives a readable answer.  Each
 * rank keeps its first 2 LISTED failures (a task has at most two: its
 * checksum and its recomputation), which hold every failure of the first
 * LISTED tasks overall. */
#define LISTED 1000
#define KEPT (2 * LISTED)

struct failures {
  struct failure *v;
  size_t n, cap;
};

/* A rank's counts, gathered by rank 0. */
struct tally {
  int64_t checked;       /* finished tasks whose checksum was checked */
  int64_t mismatch;      /* checksum mismatches */
  int64_t no_rows;       /* marked finished without rows */
  int64_t recomputed;    /* tasks recomputed */
  int64_t differ;        /* recomputed tasks that differ */
  int64_t differ_failed; /* of those, also failing their checksum */
  int32_t code;          /* 0, or this rank's error (enum err_code) */
  char msg[ERR_MSG_LEN];
};

/* The snapshot of step 1: every study's status bytes, and counts. */
struct snapshot {
  int nstudies;
  uint8_t **status;  /* [study][task] */
  int64_t *finished; /* [study]: done or failed */
  int64_t done, failed, pending, bad, nfinished;
};

struct vrun {
  const struct verify_options *o;
  int rank, size;
  struct store_reader *reader;
  const struct spec *spec; /* the reader's */
  struct snapshot snap;
  struct tally t;
  struct failures f;
  int stopped; /* this rank failed: t.code and t.msg say why */
  /* Progress (rank 0 prints it): every rank's counts as last heard. */
  int tty, line_open, lines;
  int64_t (*seen)[2];
  int ended; /* ranks whose last progress message arrived */
  int64_t to_recompute;
  double t_start, last_line, last_sent;
};

/* ---- time and progress ---- */

/* clock_gettime on this clock cannot fail with valid arguments; an
 * interrupted nanosleep only naps shorter. */
static double now_mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void nap(void)
{
  struct timespec ts = {0, 2000000};
  nanosleep(&ts, NULL);
}

static void fmt_duration(double s, char *buf, size_t len)
{
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* Rank 0: the progress line, when one is due (final: the last one, only
 * after earlier ones or to end a live line).  Progress and error output
 * are not checked for write errors: stdout carries the verdict. */
static void progress_line(struct vrun *v, bool final)
{
  double now = now_mono();
  double every = v->tty ? 0.5 : v->o->progress_interval;
  if (v->o->quiet || (!final && now - v->last_line < every) ||
      (final && !v->line_open && v->lines == 0))
    return;
  v->last_line = now;
  int64_t checked = 0, again = 0;
  for (int r = 0; r < v->size; r++) {
    checked += v->seen[r][0];
    again += v->seen[r][1];
  }
  char el[32], line[256];
  fmt_duration(now - v->t_start, el, sizeof el);
  int n = snprintf(line, sizeof line, "checksums %lld/%lld tasks",
                   (long long)checked, (long long)v->snap.nfinished);
  if (v->to_recompute > 0)
    n += snprintf(line + n, sizeof line - (size_t)n,
                  ", recomputed %lld/%lld tasks", (long long)again,
                  (long long)v->to_recompute);
  snprintf(line + n, sizeof line - (size_t)n, ", elapsed %s", el);
  if (v->tty) {
    fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    v->line_open = !final;
  } else {
    fprintf(stderr, "dposweep verify: %s\n", line);
  }
  v->lines++;
  fflush(stderr);
}

enum { TAG_PROGRESS = 1 };

/* Rank 0: take every progress message that has arrived. */
static int take_progress(struct vrun *v, struct err *e)
{
  int rc = ERR_RUNTIME;
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_CHECK(e, out, MPI_Iprobe(MPI_ANY_SOURCE, TAG_PROGRESS, MPI_COMM_WORLD,
                                 &flag, &st));
    if (!flag)
      break;
    int64_t msg[3];
    MPI_CHECK(e, out, MPI_Recv(msg, 3, MPI_INT64_T, st.MPI_SOURCE,
                               TAG_PROGRESS, MPI_COMM_WORLD,
                               MPI_STATUS_IGNORE));
    v->seen[st.MPI_SOURCE][0] = msg[0];
    v->seen[st.MPI_SOURCE][1] = msg[1];
    v->ended += msg[2] != 0;
  }
  rc = 0;
out:
  return rc;
}

/* After a batch or a task: rank 0 takes the others' news and prints a
 * line when due; another rank sends its counts at most twice a second,
 * and always when last. */
static int tick(struct vrun *v, bool last, struct err *e)
{
  int rc = ERR_RUNTIME;
  if (v->rank == 0) {
    v->seen[0][0] = v->t.checked;
    v->seen[0][1] = v->t.recomputed;
    if (take_progress(v, e) != 0)
      goto out;
    progress_line(v, false);
  } else if (last || now_mono() - v->last_sent >= 0.5) {
    int64_t msg[3] = {v->t.checked, v->t.recomputed, last};
    MPI_CHECK(e, out, MPI_Send(msg, 3, MPI_INT64_T, 0, TAG_PROGRESS,
                               MPI_COMM_WORLD));
    v->last_sent = now_mono();
  }
  rc = 0;
out:
  return rc;
}

/* This rank's work ends with an error: it is reported at the end. */
static void stop_rank(struct vrun *v, const struct err *e)
{
  if (v->stopped)
    return;
  v->stopped = 1;
  v->t.code = e->code;
  snprintf(v->t.msg, sizeof v->t.msg, "%s", e->msg);
}

/* ---- failures ---- */

static int by_task(const void *pa, const void *pb)
{
  const struct failure *a = pa, *b = pb;
  if (a->study != b->study)
    return (a->study > b->study) - (a->study < b->study);
  if (a->index != b->index)
    return (a->index > b->index) - (a->index < b->index);
  return (a->kind > b->kind) - (a->kind < b->kind);
}

/* Keep the first KEPT failures in (study, index, kind) order. */
static void keep_first(struct failures *f)
{
  if (f->n > 1)
    qsort(f->v, f->n, sizeof *f->v, by_task);
  if (f->n > KEPT)
    f->n = KEPT;
}

/* Record a failure.  Returns 0 or ERR_RUNTIME (out of memory). */
static int add_failure(struct vrun *v, int study, int64_t index,
                       enum fail_kind kind, const char *what, struct err *e)
{
  struct failures *f = &v->f;
  if (f->n == f->cap && f->cap >= 2 * KEPT)
    keep_first(f); /* makes room: n is now at most KEPT */
  if (f->n == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 64;
    struct failure *grown = realloc(f->v, cap * sizeof *grown);
    if (!grown)
      return err_set(e, ERR_RUNTIME, "out of memory");
    f->v = grown;
    f->cap = cap;
  }
  struct failure *x = &f->v[f->n++];
  memset(x, 0, sizeof *x);
  x->study = study;
  x->kind = kind;
  x->index = index;
  snprintf(x->what, sizeof x->what, "%s", what);
  return 0;
}

/* ---- step 1: the file and its snapshot ---- */

static void snapshot_free(struct snapshot *s)
{
  for (int i = 0; s->status && i < s->nstudies; i++)
    free(s->status[i]);
  free(s->status);
  free(s->finished);
  memset(s, 0, sizeof *s);
}

/* The snapshot's arrays for the reader's spec.  ERR_RUNTIME: memory. */
static int snapshot_alloc(struct vrun *v, struct err *e)
{
  struct snapshot *s = &v->snap;
  s->nstudies = spec_nstudies(v->spec);
  s->status = calloc((size_t)s->nstudies, sizeof *s->status);
  s->finished = calloc((size_t)s->nstudies, sizeof *s->finished);
  bool ok = s->status && s->finished;
  for (int i = 0; ok && i < s->nstudies; i++) {
    int64_t n = spec_study(v->spec, i)->ntasks;
    ok = (s->status[i] = malloc((size_t)(n > 0 ? n : 1)));
  }
  return ok ? 0 : err_set(e, ERR_RUNTIME, "out of memory");
}

/* Count the snapshot (every rank, the same numbers). */
static void snapshot_count(struct vrun *v)
{
  struct snapshot *s = &v->snap;
  for (int i = 0; i < s->nstudies; i++) {
    const int64_t n = spec_study(v->spec, i)->ntasks;
    for (int64_t t = 0; t < n; t++) {
      uint8_t b = s->status[i][t];
      if (b == TASK_DONE || b == TASK_FAILED)
        s->finished[i]++;
      s->done += b == TASK_DONE;
      s->failed += b == TASK_FAILED;
      s->pending += b == TASK_PENDING;
      s->bad += b != TASK_DONE && b != TASK_FAILED && b != TASK_PENDING;
    }
  }
  s->nfinished = s->done + s->failed;
}

/* Rank 0: a status byte that is no task_status is a failure of its
 * task (TASK_HANDED is never stored either). */
static int record_bad_status(struct vrun *v, struct err *e)
{
  for (int i = 0; i < v->snap.nstudies; i++) {
    const int64_t n = spec_study(v->spec, i)->ntasks;
    for (int64_t t = 0; t < n; t++) {
      uint8_t b = v->snap.status[i][t];
      if (b == TASK_PENDING || b == TASK_DONE || b == TASK_FAILED)
        continue;
      char what[64];
      snprintf(what, sizeof what, "invalid status byte %d (0 pending, 1 "
               "done, 2 failed)", (int)b);
      int rc = add_failure(v, i, t, FAIL_STATUS, what, e);
      if (rc)
        return rc;
    }
  }
  return 0;
}

/* Rank 0: open the file, refuse --recompute on another engine's results,
 * read the snapshot.  ERR_INPUT (not a readable dposweep file, or
 * another numerics version) or ERR_RUNTIME, with the file named. */
static int open_first(struct vrun *v, struct err *e)
{
  const struct verify_options *o = v->o;
  int rc = store_reader_open(o->path, &v->reader, e);
  if (rc)
    return rc;
  v->spec = store_reader_spec(v->reader);
  int numerics = store_reader_numerics(v->reader);
  if ((o->recompute_all || o->recompute > 0) &&
      numerics != BANDIT_NUMERICS_VERSION)
    return err_set(e, ERR_INPUT,
                   "%s holds results of numerics version %d; this dposweep "
                   "computes version %d: --recompute cannot compare them "
                   "(verify without it checks the checksums)",
                   o->path, numerics, BANDIT_NUMERICS_VERSION);
  if ((rc = snapshot_alloc(v, e)))
    return rc;
  for (int i = 0; i < v->snap.nstudies; i++)
    if ((rc = store_reader_status(v->reader, i, v->snap.status[i], e))) {
      err_prefix(e, "%s: ", o->path);
      return rc;
    }
  return 0;
}

/* Broadcast n bytes from rank 0 in pieces an int can count. */
static int bcast_bytes(void *buf, int64_t n, struct err *e)
{
  const int64_t piece = (int64_t)1 << 30;
  for (int64_t at = 0; at < n; at += piece) {
    int len = (int)(n - at < piece ? n - at : piece);
    MPI_CHECK(e, fail, MPI_Bcast((char *)buf + at, len, MPI_BYTE, 0,
                                 MPI_COMM_WORLD));
  }
  return 0;
fail:
  return ERR_RUNTIME;
}

/* Another rank: its own reader, on the file rank 0 read (the same spec
 * hash), and the snapshot's arrays.  Any failure is a runtime failure
 * (ERR_RUNTIME): rank 0 has just read the file. */
static int open_other(struct vrun *v, const char *sha, struct err *e)
{
  int rc = store_reader_open(v->o->path, &v->reader, e);
  if (rc == 0) {
    v->spec = store_reader_spec(v->reader);
    if (strcmp(spec_sha256(v->spec), sha) != 0)
      rc = err_set(e, ERR_RUNTIME, "%s was replaced while verify opened it",
                   v->o->path);
  }
  if (rc == 0)
    rc = snapshot_alloc(v, e);
  if (rc != 0)
    e->code = ERR_RUNTIME;
  return rc != 0 ? ERR_RUNTIME : 0;
}

/* Collective.  Step 1.  Sets *code to ERR_EXIT_OK to go on, else to the
 * exit code every rank ends with (rank 0 has printed why; another rank
 * that failed has printed its own line).  Returns 0, or ERR_RUNTIME when
 * an MPI call fails. */
static int open_all(struct vrun *v, int *code, struct err *e)
{
  struct err mine;
  err_clear(&mine);
  int first = 0, ok = 1, all_ok = 0;
  char sha[65] = "";
  *code = ERR_EXIT_OK;
  if (v->rank == 0 && (first = open_first(v, &mine)) != 0)
    err_print(&mine, "dposweep verify");
  MPI_CHECK(e, fail, MPI_Bcast(&first, 1, MPI_INT, 0, MPI_COMM_WORLD));
  if (first != 0) {
    *code = err_exit_code(first);
    return 0;
  }
  if (v->rank == 0)
    snprintf(sha, sizeof sha, "%s", spec_sha256(v->spec));
  MPI_CHECK(e, fail, MPI_Bcast(sha, sizeof sha, MPI_CHAR, 0, MPI_COMM_WORLD));
  if (v->rank != 0 && open_other(v, sha, &mine) != 0) {
    err_prefix(&mine, "rank %d: ", v->rank);
    err_print(&mine, "dposweep verify");
    ok = 0;
  }
  MPI_CHECK(e, fail, MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN,
                                   MPI_COMM_WORLD));
  if (!all_ok) {
    *code = ERR_EXIT_RUNTIME;
    return 0;
  }
  for (int i = 0; i < v->snap.nstudies; i++)
    if (bcast_bytes(v->snap.status[i], spec_study(v->spec, i)->ntasks, e))
      return ERR_RUNTIME;
  snapshot_count(v);
  return 0;
fail:
  return ERR_RUNTIME;
}

/* ---- step 2: checksums ---- */

/* Tasks per batch of rows read: about 32 MiB of rows, 1 to 65536. */
static int64_t batch_tasks(const struct spec_study *st)
{
  const double row = 8.0 * ((double)BANDIT_NMETRICS * (double)st->nrec +
                            (double)st->max_arms) +
                     STORE_REASON_LEN + STORE_STUDY_LEN + 64.0;
  const double n = floor(32.0 * 1024.0 * 1024.0 / row);
  return n < 1.0 ? 1 : n > 65536.0 ? 65536 : (int64_t)n;
}

/* A task finished in the snapshot reads not finished: the file is not
 * the one the snapshot was read from. */
static int replaced(const struct vrun *v, const struct spec_study *st,
                    int64_t index, struct err *e)
{
  return err_set(e, ERR_RUNTIME,
                 "%s: study '%s' task %lld was finished and now reads "
                 "pending: the file was replaced during verify",
                 v->o->path, st->name, (long long)index);
}

/* Task i of b against its checksum, into the tally and the failures. */
static int judge_check(struct vrun *v, int study, const struct store_batch *b,
                       int64_t i, struct err *e)
{
  switch ((enum store_check)b->check[i]) {
  case STORE_CHECK_OK:
    return 0;
  case STORE_CHECK_UNFINISHED:
    return replaced(v, spec_study(v->spec, study), b->index[i], e);
  case STORE_CHECK_NO_ROWS:
    v->t.no_rows++;
    break;
  case STORE_CHECK_MISMATCH:
    v->t.mismatch++;
    break;
  }
  return add_failure(v, study, b->index[i], FAIL_CHECK,
                     store_check_text((enum store_check)b->check[i]), e);
}

/* Read tasks idx[0..n) of study (ascending) and judge their checksums. */
static int check_batch(struct vrun *v, int study, const int64_t *idx,
                       int64_t n, struct err *e)
{
  struct store_batch *b = NULL;
  int rc = store_reader_read_batch(v->reader, study, idx, n, &b, e);
  for (int64_t i = 0; rc == 0 && i < n; i++)
    rc = judge_check(v, study, b, i, e);
  store_batch_destroy(&b);
  if (rc == 0)
    v->t.checked += n;
  return rc;
}

/* This rank's part of one study's finished tasks, batch by batch. */
static int check_study(struct vrun *v, int study, struct err *e)
{
  const struct spec_study *st = spec_study(v->spec, study);
  const uint8_t *status = v->snap.status[study];
  int64_t lo, hi, k = 0, n = 0, cap = batch_tasks(st);
  verify_slice(v->snap.finished[study], v->size, v->rank, &lo, &hi);
  if (lo == hi)
    return 0;
  int64_t *idx = malloc((size_t)cap * sizeof *idx);
  if (!idx)
    return err_set(e, ERR_RUNTIME, "out of memory");
  int rc = 0;
  for (int64_t t = 0; rc == 0 && t < st->ntasks && k < hi; t++) {
    if (status[t] != TASK_DONE && status[t] != TASK_FAILED)
      continue;
    if (k++ < lo)
      continue;
    idx[n++] = t;
    if (n == cap || k == hi) {
      rc = check_batch(v, study, idx, n, e);
      if (rc == 0)
        rc = tick(v, false, e);
      n = 0;
    }
  }
  free(idx);
  return rc;
}

static int check_checksums(struct vrun *v, struct err *e)
{
  for (int i = 0; i < v->snap.nstudies; i++) {
    int rc = check_study(v, i, e);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- step 3: recomputing ---- */

/* A task to recompute. */
struct vtask {
  int32_t study;
  int64_t index;
};

/* The tasks at the ascending positions pos[0..n) of the snapshot's
 * finished tasks in (study, index) order, and their costs. */
static void locate(const struct vrun *v, const int64_t *pos, int64_t n,
                   struct vtask *out, double *cost)
{
  const struct snapshot *s = &v->snap;
  int64_t k = 0, j = 0; /* k: a finished task's position; j: next wanted */
  for (int i = 0; i < s->nstudies && j < n; i++) {
    const struct spec_study *st = spec_study(v->spec, i);
    if (pos[j] >= k + s->finished[i]) { /* none of this study */
      k += s->finished[i];
      continue;
    }
    for (int64_t t = 0; t < st->ntasks && j < n; t++) {
      if (s->status[i][t] != TASK_DONE && s->status[i][t] != TASK_FAILED)
        continue;
      if (k++ != pos[j])
        continue;
      struct spec_coords c;
      spec_coords_of(st, t, &c);
      out[j] = (struct vtask){i, t};
      cost[j++] = spec_task_cost(st, &c);
    }
  }
}

/* Which finished tasks are recomputed (all, or --recompute N of them
 * chosen by --seed: at most all), and this rank's share of them by cost,
 * in (study, index) order, into *mine (malloc'd) and *nmine.  Every rank
 * computes the same choice and shares from the same snapshot. */
static int plan_recompute(struct vrun *v, struct vtask **mine, int64_t *nmine,
                          struct err *e)
{
  const int64_t f = v->snap.nfinished;
  const int64_t want = v->o->recompute_all ? f
                       : v->o->recompute < f ? v->o->recompute : f;
  v->to_recompute = want;
  if (want == 0)
    return 0;
  int rc = ERR_RUNTIME;
  const size_t n = (size_t)want;
  int64_t *pos = malloc(n * sizeof *pos);
  struct vtask *tasks = malloc(n * sizeof *tasks);
  double *cost = malloc(n * sizeof *cost);
  int *owner = malloc(n * sizeof *owner);
  if (!pos || !tasks || !cost || !owner) {
    err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  if (v->o->recompute_all)
    for (int64_t i = 0; i < want; i++)
      pos[i] = i;
  else
    verify_choose(v->o->seed, f, want, pos);
  locate(v, pos, want, tasks, cost);
  if ((rc = verify_share(cost, want, v->size, owner, e)) != 0)
    goto out;
  int64_t k = 0;
  for (int64_t i = 0; i < want; i++)
    if (owner[i] == v->rank)
      tasks[k++] = tasks[i];
  *mine = tasks;
  *nmine = k;
  tasks = NULL;
out:
  free(pos);
  free(tasks);
  free(cost);
  free(owner);
  return rc;
}

/* Task i of batch b as stored. */
static struct verify_rows stored_rows(const struct store_batch *b, int64_t i)
{
  struct verify_rows r = {
    .status = b->status[i],
    .reason = b->reason + (size_t)i * STORE_REASON_LEN,
    .reason_len = STORE_REASON_LEN,
    .theta = b->theta + (size_t)(i * b->max_arms),
  };
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    r.metric[m] = b->metric[m] + (size_t)(i * b->nrec);
  return r;
}

/* Recompute task i of batch b (of study) and compare. */
static int recompute_one(struct vrun *v, int study,
                         const struct store_batch *b, int64_t i,
                         struct err *e)
{
  const struct spec_study *st = spec_study(v->spec, study);
  if (b->check[i] == STORE_CHECK_UNFINISHED)
    return replaced(v, st, b->index[i], e);
  struct verify_result again;
  int rc = verify_recompute(v->spec, study, b->index[i], &again, e);
  if (rc)
    return rc;
  struct verify_rows stored = stored_rows(b, i);
  char why[WHAT_LEN];
  if (verify_compare(st, &stored, &again.rows, why, sizeof why)) {
    v->t.differ++;
    v->t.differ_failed += b->check[i] != STORE_CHECK_OK;
    rc = add_failure(v, study, b->index[i], FAIL_AGAIN, why, e);
  }
  verify_result_destroy(&again);
  v->t.recomputed++;
  return rc;
}

/* Recompute tasks[0..n), all of one study, ascending. */
static int recompute_batch(struct vrun *v, const struct vtask *tasks,
                           int64_t n, struct err *e)
{
  int64_t idx[64];
  const int study = tasks[0].study;
  for (int64_t i = 0; i < n; i++)
    idx[i] = tasks[i].index;
  struct store_batch *b = NULL;
  int rc = store_reader_read_batch(v->reader, study, idx, n, &b, e);
  for (int64_t i = 0; rc == 0 && i < n; i++) {
    rc = recompute_one(v, study, b, i, e);
    if (rc == 0)
      rc = tick(v, false, e);
  }
  store_batch_destroy(&b);
  return rc;
}

/* This rank's tasks, in batches of one study (a batch's rows are read in
 * one pass). */
static int recompute_tasks(struct vrun *v, const struct vtask *mine, int64_t n,
                           struct err *e)
{
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j < n && j - i < 64 && mine[j].study == mine[i].study)
      j++;
    int rc = recompute_batch(v, mine + i, j - i, e);
    if (rc)
      return rc;
    i = j;
  }
  return 0;
}

/* ---- step 4: the verdict ---- */

/* Collective.  Every rank's progress is in: another rank sends its last
 * message, rank 0 waits for all of them (napping, so that it leaves the
 * cores to the ranks still working) and ends its progress line. */
static int finish_progress(struct vrun *v, struct err *e)
{
  if (v->rank != 0)
    return tick(v, true, e);
  while (v->ended < v->size - 1) {
    if (tick(v, false, e) != 0)
      return ERR_RUNTIME;
    if (v->ended < v->size - 1)
      nap();
  }
  v->seen[0][0] = v->t.checked;
  v->seen[0][1] = v->t.recomputed;
  progress_line(v, true);
  return 0;
}

/* What rank 0 gathers. */
struct gathered {
  struct tally *tally; /* [size] */
  struct failures f;   /* every rank's kept failures */
};

static void gathered_free(struct gathered *g)
{
  free(g->tally);
  free(g->f.v);
  memset(g, 0, sizeof *g);
}

/* Collective.  Every rank's tally and kept failures to rank 0.  Returns
 * 0 or ERR_RUNTIME (MPI, or rank 0 out of memory: the job cannot go on). */
static int gather(struct vrun *v, struct gathered *g, struct err *e)
{
  int rc = ERR_RUNTIME, n, *counts = NULL, *displs = NULL;
  MPI_Datatype rec = MPI_DATATYPE_NULL;
  if (v->rank == 0 &&
      (!(g->tally = calloc((size_t)v->size, sizeof *g->tally)) ||
       !(counts = calloc((size_t)v->size, sizeof *counts)) ||
       !(displs = calloc((size_t)v->size, sizeof *displs)))) {
    err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  MPI_CHECK(e, out, MPI_Gather(&v->t, sizeof v->t, MPI_BYTE, g->tally,
                               sizeof v->t, MPI_BYTE, 0, MPI_COMM_WORLD));
  keep_first(&v->f);
  n = (int)v->f.n;
  MPI_CHECK(e, out, MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0,
                               MPI_COMM_WORLD));
  for (int r = 0, at = 0; v->rank == 0 && r < v->size; r++) {
    displs[r] = at;
    at += counts[r]; /* at most KEPT per rank */
    g->f.n = (size_t)at;
  }
  if (v->rank == 0 && !(g->f.v = malloc((g->f.n + 1) * sizeof *g->f.v))) {
    err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  MPI_CHECK(e, out, MPI_Type_contiguous(sizeof(struct failure), MPI_BYTE,
                                        &rec));
  MPI_CHECK(e, out, MPI_Type_commit(&rec));
  MPI_CHECK(e, out, MPI_Gatherv(v->f.v, n, rec, g->f.v, counts, displs, rec,
                                0, MPI_COMM_WORLD));
  rc = 0;
out:
  if (rec != MPI_DATATYPE_NULL)
    MPI_Type_free(&rec); /* a failure leaks one type handle: harmless */
  free(counts);
  free(displs);
  return rc;
}

/* The sum of every rank's tally. */
static struct tally sum_tallies(const struct vrun *v, const struct tally *t)
{
  struct tally s;
  memset(&s, 0, sizeof s);
  for (int r = 0; r < v->size; r++) {
    s.checked += t[r].checked;
    s.mismatch += t[r].mismatch;
    s.no_rows += t[r].no_rows;
    s.recomputed += t[r].recomputed;
    s.differ += t[r].differ;
    s.differ_failed += t[r].differ_failed;
  }
  return s;
}

/* One line per failing task (the first LISTED), what failed joined by
 * "; ", in (study, index) order; returns the number of tasks listed. */
static int64_t print_failures(const struct vrun *v, struct failures *f)
{
  if (f->n > 1)
    qsort(f->v, f->n, sizeof *f->v, by_task);
  int64_t listed = 0;
  for (size_t i = 0; i < f->n && listed < LISTED;) {
    char task[512];
    verify_describe_task(v->spec, f->v[i].study, f->v[i].index, task,
                         sizeof task);
    printf("verify: %s: %s: %s", v->o->path, task, f->v[i].what);
    size_t j = i + 1;
    for (; j < f->n && f->v[j].study == f->v[i].study &&
           f->v[j].index == f->v[i].index;
         j++)
      printf("; %s", f->v[j].what);
    printf("\n");
    listed++;
    i = j;
  }
  return listed;
}

static const char *plural(int64_t n, const char *one, const char *many)
{
  return n == 1 ? one : many;
}

/* Append "N what" to the list in buf (n bytes used of len) when N > 0. */
static size_t list_count(char *buf, size_t n, size_t len, int64_t count,
                         const char *what)
{
  if (count == 0 || n >= len)
    return n;
  int k = snprintf(buf + n, len - n, "%s%lld %s", n ? ", " : "",
                   (long long)count, what);
  return k < 0 ? n : n + (size_t)k;
}

/* The summary line. */
static void print_summary(const struct vrun *v, const struct tally *s,
                          int64_t failing)
{
  const struct snapshot *n = &v->snap;
  printf("verify: %s: ", v->o->path);
  if (failing > 0) {
    char what[256] = "";
    size_t k = 0;
    k = list_count(what, k, sizeof what, s->mismatch,
                   plural(s->mismatch, "checksum mismatch",
                          "checksum mismatches"));
    k = list_count(what, k, sizeof what, s->no_rows,
                   "marked finished without rows");
    k = list_count(what, k, sizeof what, s->differ,
                   plural(s->differ, "differs when recomputed",
                          "differ when recomputed"));
    list_count(what, k, sizeof what, n->bad,
               plural(n->bad, "invalid status byte", "invalid status bytes"));
    printf("%lld %s fail (%s); ", (long long)failing,
           plural(failing, "task", "tasks"), what);
  }
  printf("%lld finished %s checked (%lld done, %lld diverged)",
         (long long)s->checked, plural(s->checked, "task", "tasks"),
         (long long)n->done, (long long)n->failed);
  if (failing == 0)
    printf(", all intact");
  if (v->to_recompute > 0)
    printf(", %lld recomputed%s", (long long)s->recomputed,
           failing == 0 ? " bit for bit" : "");
  printf("; %lld pending (not checked)\n", (long long)n->pending);
}

/* Rank 0: print the verdict and return the exit code. */
static int verdict(struct vrun *v, struct gathered *g)
{
  for (int r = 0; r < v->size; r++)
    if (g->tally[r].code != 0) {
      struct err e;
      err_clear(&e);
      e.code = (enum err_code)g->tally[r].code;
      snprintf(e.msg, sizeof e.msg, "%s", g->tally[r].msg);
      if (v->size > 1 && e.code == ERR_RUNTIME) /* else the file's fault */
        err_prefix(&e, "rank %d: ", r);
      err_print(&e, "dposweep verify");
      return err_exit_code(e.code);
    }
  struct tally s = sum_tallies(v, g->tally);
  const int64_t failing =
    v->snap.bad + s.mismatch + s.no_rows + s.differ - s.differ_failed;
  int64_t listed = print_failures(v, &g->f);
  if (failing > listed)
    printf("verify: %s: ... and %lld more failing tasks, not listed\n",
           v->o->path, (long long)(failing - listed));
  print_summary(v, &s, failing);
  /* Write errors stick to stdout: one check at the end sees them all. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "dposweep verify: cannot write the output\n");
    return ERR_EXIT_RUNTIME;
  }
  return failing > 0 ? ERR_EXIT_INCOMPLETE : ERR_EXIT_OK;
}

/* ---- the whole ---- */

/* Collective.  Steps 2 and 3 on this rank; a failure stops its work and
 * is reported in step 4. */
static void work(struct vrun *v)
{
  struct err mine;
  struct vtask *tasks = NULL;
  int64_t n = 0;
  err_clear(&mine);
  if (v->rank == 0 && record_bad_status(v, &mine) != 0)
    stop_rank(v, &mine);
  if (!v->stopped && plan_recompute(v, &tasks, &n, &mine) != 0)
    stop_rank(v, &mine);
  if (!v->stopped && check_checksums(v, &mine) != 0)
    stop_rank(v, &mine);
  if (!v->stopped && recompute_tasks(v, tasks, n, &mine) != 0)
    stop_rank(v, &mine);
  free(tasks);
}

/* Collective.  The four steps; *code is the exit code.  Returns 0, or
 * ERR_RUNTIME when the job cannot go on (MPI failed). */
static int steps(struct vrun *v, int *code, struct err *e)
{
  struct gathered g;
  memset(&g, 0, sizeof g);
  int rc = ERR_RUNTIME;
  v->tty = v->rank == 0 && isatty(STDERR_FILENO);
  v->t_start = v->last_line = now_mono();
  if (v->rank == 0 && !(v->seen = calloc((size_t)v->size, sizeof *v->seen))) {
    err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  if (open_all(v, code, e) != 0)
    goto out;
  if (*code == ERR_EXIT_OK) {
    work(v);
    if (finish_progress(v, e) != 0 || gather(v, &g, e) != 0)
      goto out;
    if (v->rank == 0)
      *code = verdict(v, &g);
    MPI_CHECK(e, out, MPI_Bcast(code, 1, MPI_INT, 0, MPI_COMM_WORLD));
  }
  rc = 0;
out:
  gathered_free(&g);
  return rc;
}

static void vrun_free(struct vrun *v)
{
  store_reader_close(&v->reader);
  snapshot_free(&v->snap);
  free(v->f.v);
  free(v->seen);
  v->f.v = NULL;
  v->seen = NULL;
}

int verify_main(const struct verify_options *o, const char *usage_error)
{
  struct vrun v;
  struct err e;
  int code = ERR_EXIT_OK;
  memset(&v, 0, sizeof v);
  v.o = o;
  err_clear(&e);
  int rc = MPI_Init(NULL, NULL);
  if (rc != MPI_SUCCESS) {
    /* No job to abort yet: every process fails on its own. */
    mpi_check_fail(&e, rc, "MPI_Init", __FILE__, __LINE__);
    err_print(&e, "dposweep verify");
    return ERR_EXIT_RUNTIME;
  }
  MPI_CHECK(&e, fatal, MPI_Comm_rank(MPI_COMM_WORLD, &v.rank));
  MPI_CHECK(&e, fatal, MPI_Comm_size(MPI_COMM_WORLD, &v.size));
  if (usage_error) {
    /* Every rank parsed the same arguments: rank 0 speaks for all. */
    if (v.rank == 0)
      fprintf(stderr, "dposweep verify: %s\n", usage_error);
    code = ERR_EXIT_USAGE;
  } else if (steps(&v, &code, &e) != 0) {
    goto fatal;
  }
  vrun_free(&v);
  /* The verdict is printed and agreed: a failure to shut MPI down
   * changes nothing. */
  MPI_Finalize();
  return code;
fatal:
  /* The ranks no longer agree on anything: only ending the job is safe. */
  err_prefix(&e, "rank %d: ", v.rank);
  err_print(&e, "dposweep verify");
  vrun_free(&v);
  MPI_Abort(MPI_COMM_WORLD, ERR_EXIT_RUNTIME);
  return ERR_EXIT_RUNTIME;
}
