/* Unit tests of the scheduler: whole sweeps simulated without MPI, with
 * workers that take a fixed number of seconds per unit of cost.  Every
 * pending task is handed out exactly once, the largest cost classes
 * first, in chunks cut to the target the policy promises (sched.h); a
 * drained run leaves exactly the rest to the next one; the progress
 * accounting adds up. */
#include "dposweep/sched.h"

#include "unit.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Simulated seconds per unit of cost, target chunk time, workers. */
#define SPC 1e-5
#define CHUNK_S 0.05
#define WORKERS 3

/* Three studies, eight cost classes (costs 400 to 49000): a has three
 * arms, b two samples sizes, c two arms. */
static const char sweep_text[] =
  "name: sched\n"
  "master_seed: 1\n"
  "studies:\n"
  "  - name: a\n"
  "    iterations: 100\n"
  "    scale: theory\n"
  "    eta: theory\n"
  "    rewards: uniform\n"
  "    seeds: 40\n"
  "    grid:\n"
  "      regime: [uniform, mix-p]\n"
  "      arms: [2, 5, 9]\n"
  "      beta: [0.5, 1.0]\n"
  "      sigma: [0.0, 0.1]\n"
  "  - name: b\n"
  "    iterations: 50\n"
  "    scale: normalized\n"
  "    rewards: normal\n"
  "    seeds: 30\n"
  "    grid:\n"
  "      regime: [mix-r]\n"
  "      arms: [20]\n"
  "      beta: [3]\n"
  "      sigma: [0]\n"
  "      samples: [0, 64]\n"
  "      eta: [0.05, 1]\n"
  "  - name: c\n"
  "    iterations: 1000\n"
  "    scale: theory\n"
  "    eta: theory\n"
  "    rewards: uniform\n"
  "    seeds: 25\n"
  "    grid:\n"
  "      regime: [uniform]\n"
  "      arms: [3, 7]\n"
  "      beta: [1.0]\n"
  "      sigma: [0.0]\n";

static struct spec *load(const char *text)
{
  struct spec *s = NULL;
  struct err e;
  int rc = spec_load_text(text, strlen(text), "sched.yaml", &s, &e);
  ck_assert_msg(rc == 0, "%s", e.msg);
  return s;
}

static double cost_of(const struct spec *sp, int study, int64_t idx)
{
  const struct spec_study *st = spec_study(sp, study);
  struct spec_coords c;
  spec_coords_of(st, idx, &c);
  return spec_task_cost(st, &c);
}

static int stored_done(uint8_t b)
{
  return b == TASK_DONE || b == TASK_FAILED;
}

static int near(double a, double b)
{
  return fabs(a - b) <= 1e-9 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* The results file's status bytes, per study. */
typedef uint8_t (*status_fn)(int study, int64_t index);

static uint8_t all_pending(int study, int64_t index)
{
  (void)study;
  (void)index;
  return TASK_PENDING;
}

/* Some done, some failed, some an unknown byte (to be run again). */
static uint8_t some_done(int study, int64_t index)
{
  const int64_t k = index + study;
  if (k % 7 == 0)
    return TASK_DONE;
  if (k % 11 == 0)
    return TASK_FAILED;
  if (k % 13 == 5)
    return 7;
  return TASK_PENDING;
}

static uint8_t odd_done(int study, int64_t index)
{
  (void)study;
  return index % 2 ? TASK_DONE : TASK_PENDING;
}

static uint8_t **file_new(const struct spec *sp, status_fn f)
{
  int n = spec_nstudies(sp);
  uint8_t **file = calloc((size_t)n, sizeof *file);
  ck_assert_ptr_nonnull(file);
  for (int s = 0; s < n; s++) {
    const struct spec_study *st = spec_study(sp, s);
    file[s] = malloc((size_t)st->ntasks);
    ck_assert_ptr_nonnull(file[s]);
    for (int64_t i = 0; i < st->ntasks; i++)
      file[s][i] = f(s, i);
  }
  return file;
}

static void file_free(const struct spec *sp, uint8_t **file)
{
  for (int s = 0; s < spec_nstudies(sp); s++)
    free(file[s]);
  free(file);
}

/* A sweep and its results file: the status bytes now and at the start. */
struct world {
  struct spec *spec;
  uint8_t **file, **before;
};

static void world_open(struct world *w, const char *text, status_fn f)
{
  w->spec = load(text);
  w->file = file_new(w->spec, f);
  w->before = file_new(w->spec, f);
}

static void world_close(struct world *w)
{
  file_free(w->spec, w->before);
  file_free(w->spec, w->file);
  spec_destroy(&w->spec);
}

/* ---- the simulated run ---- */

struct chunk {
  int nr;
  struct sched_run runs[SCHED_MAX_RUNS];
  int64_t ntasks;
  double cost;
};

struct sim {
  const struct spec *spec;
  struct sched *s;
  uint8_t **file;  /* the sim writes finished tasks here, as workers do */
  int **handed;    /* how often each task was handed out by this sched */
  int workers;
  double chunk_s, spc;
  /* The sim's own accounting, to check the sched's against. */
  int64_t pending;
  double pending_cost, cost_handed, cost_done, compute;
  int64_t finished;
  /* Chunks in flight, oldest first. */
  struct chunk *flight;
  int nflight;
  /* Observations. */
  int nchunks, ntail, nlimited;
  double prev_min_cost, prev_tail_target;
  int exhausted;
};

static void sim_start(struct sim *m, const struct spec *sp, uint8_t **file,
                      int workers, double chunk_s, double spc)
{
  memset(m, 0, sizeof *m);
  m->spec = sp;
  m->file = file;
  m->workers = workers;
  m->chunk_s = chunk_s;
  m->spc = spc;
  m->prev_min_cost = INFINITY;
  m->prev_tail_target = INFINITY;
  struct err e;
  ck_assert_int_eq(sched_create(sp, chunk_s, workers, &m->s, &e), 0);
  const int n = spec_nstudies(sp);
  m->handed = calloc((size_t)n, sizeof *m->handed);
  ck_assert_ptr_nonnull(m->handed);
  for (int s = 0; s < n; s++) {
    const struct spec_study *st = spec_study(sp, s);
    ck_assert_int_eq(sched_load_status(m->s, s, file[s], &e), 0);
    m->handed[s] = calloc((size_t)st->ntasks, sizeof **m->handed);
    ck_assert_ptr_nonnull(m->handed[s]);
    for (int64_t i = 0; i < st->ntasks; i++)
      if (!stored_done(file[s][i])) {
        m->pending++;
        m->pending_cost += cost_of(sp, s, i);
      }
  }
  m->flight = calloc((size_t)workers, sizeof *m->flight);
  ck_assert_ptr_nonnull(m->flight);
  struct sched_progress p;
  sched_progress(m->s, &p);
  ck_assert_int_eq(p.pending_at_start, m->pending);
  ck_assert_int_eq(p.done_before, spec_ntasks(sp) - m->pending);
  ck_assert_int_eq(p.total, spec_ntasks(sp));
  ck_assert(near(p.remaining_cost, m->pending_cost));
}

static void sim_end(struct sim *m)
{
  for (int s = 0; s < spec_nstudies(m->spec); s++)
    free(m->handed[s]);
  free(m->handed);
  free(m->flight);
  sched_destroy(&m->s);
  ck_assert_ptr_null(m->s);
}

/* The policy of sched.h, restated from its description. */
static double expected_target(const struct sim *m)
{
  const double left = m->pending_cost - m->cost_handed;
  if (m->cost_done <= 0.0)
    return fmax(left / (64.0 * m->workers), 1.0);
  const double spc = m->compute / m->cost_done;
  double want = fmin(m->chunk_s, left * spc / (4.0 * m->workers));
  return fmax(want, fmin(0.02, m->chunk_s)) / spc;
}

/* Check one chunk's runs: in range, sorted, only pending tasks never
 * handed before, its count and cost; returns its cheapest task's cost,
 * its dearest in *max_cost and its result bytes in *bytes. */
static double check_runs(struct sim *m, const struct chunk *c,
                         double *max_cost, double *bytes)
{
  int64_t nt = 0;
  double cost = 0.0, min_cost = INFINITY;
  *bytes = 0.0;
  *max_cost = 0.0;
  for (int r = 0; r < c->nr; r++) {
    const struct sched_run *u = &c->runs[r];
    ck_assert(u->study >= 0 && u->study < spec_nstudies(m->spec));
    const struct spec_study *st = spec_study(m->spec, (int)u->study);
    ck_assert(u->count > 0 && u->start >= 0 && u->start + u->count <= st->ntasks);
    if (r > 0) {
      const struct sched_run *p = &c->runs[r - 1];
      ck_assert(p->study < u->study ||
                (p->study == u->study && p->start + p->count <= u->start));
    }
    for (int64_t i = u->start; i < u->start + u->count; i++) {
      const int s = (int)u->study;
      ck_assert_msg(!stored_done(m->file[s][i]), "study %d task %lld is done",
                    s, (long long)i);
      ck_assert_msg(m->handed[s][i] == 0, "study %d task %lld handed twice", s,
                    (long long)i);
      m->handed[s][i]++;
      ck_assert_int_eq(sched_task_status(m->s, s, i), TASK_HANDED);
      const double ci = cost_of(m->spec, s, i);
      cost += ci;
      min_cost = fmin(min_cost, ci);
      *max_cost = fmax(*max_cost, ci);
      nt++;
      *bytes += 8.0 * (BANDIT_NMETRICS * (double)st->nrec + st->max_arms);
    }
  }
  ck_assert_int_eq(nt, c->ntasks);
  ck_assert(near(cost, c->cost));
  return min_cost;
}

/* Hand out the next chunk and check it; 0 when none is left. */
static int sim_hand(struct sim *m)
{
  ck_assert_int_lt(m->nflight, m->workers);
  const double target = sched_target_cost(m->s);
  const double want = expected_target(m);
  ck_assert_msg(fabs(target - want) <= 1e-6 * want, "target %g, policy %g",
                target, want);
  struct chunk *c = &m->flight[m->nflight];
  c->nr = sched_next_chunk(m->s, c->runs, &c->ntasks, &c->cost);
  if (c->nr == 0) {
    ck_assert_int_eq(c->ntasks, 0);
    m->exhausted = 1;
    return 0;
  }
  ck_assert_msg(!m->exhausted, "a chunk after the end");
  ck_assert_int_le(c->nr, SCHED_MAX_RUNS);
  ck_assert_int_le(c->ntasks, SCHED_MAX_TASKS);
  double bytes, max_cost;
  const double min_cost = check_runs(m, c, &max_cost, &bytes);
  ck_assert(bytes <= SCHED_MAX_BYTES);
  /* Largest first: nothing in this chunk costs more than the cheapest
   * task of the chunk before. */
  ck_assert_msg(max_cost <= m->prev_min_cost, "chunk %d is not in cost order",
                m->nchunks);
  m->prev_min_cost = min_cost;
  /* The chunk reaches its target, and without its cheapest task (the
   * last one taken) it would not have: unless a limit cut it, or the
   * tasks ran out. */
  const int limited = c->nr == SCHED_MAX_RUNS || c->ntasks == SCHED_MAX_TASKS ||
                      bytes > SCHED_MAX_BYTES / 2;
  m->nlimited += limited;
  if (!limited)
    ck_assert_msg(c->ntasks == 1 || c->cost - min_cost < target,
                  "chunk %d: cost %g overshoots target %g", m->nchunks,
                  c->cost, target);
  if (c->cost < target && !limited)
    m->exhausted = 1; /* only the last chunk may fall short */
  /* The shrinking tail: a quarter of each worker's share of what is
   * left, falling with every chunk down to the 0.02 s floor. */
  if (m->cost_done > 0.0) {
    const double left_s = (m->pending_cost - m->cost_handed) * m->spc;
    if (left_s / (4.0 * m->workers) < m->chunk_s) {
      if (left_s / (4.0 * m->workers) > 0.02) {
        ck_assert(near(target * m->spc, left_s / (4.0 * m->workers)) ||
                  fabs(target * m->spc - left_s / (4.0 * m->workers)) < 1e-9);
        ck_assert(target < m->prev_tail_target);
        m->prev_tail_target = target;
      }
      m->ntail++;
    } else {
      ck_assert(fabs(target * m->spc - m->chunk_s) < 1e-6 * m->chunk_s);
    }
  }
  m->cost_handed += c->cost;
  m->nchunks++;
  m->nflight++;
  return 1;
}

/* The oldest chunk in flight comes back with its first `finish` tasks
 * (all: -1) finished and the rest abandoned. */
static void sim_report(struct sim *m, int64_t finish)
{
  ck_assert_int_gt(m->nflight, 0);
  struct chunk *c = &m->flight[0];
  struct sched_report r = {0};
  for (int k = 0; k < c->nr; k++) {
    const struct sched_run *u = &c->runs[k];
    for (int64_t i = u->start; i < u->start + u->count; i++) {
      if (finish >= 0 && r.finished >= finish) {
        r.abandoned++;
        continue;
      }
      const int failed = (i + u->study) % 17 == 3;
      m->file[u->study][i] = failed ? TASK_FAILED : TASK_DONE;
      r.failed += failed;
      r.finished++;
      r.cost += cost_of(m->spec, (int)u->study, i);
    }
  }
  r.compute = r.cost * m->spc;
  sched_report(m->s, &r);
  m->finished += r.finished;
  m->cost_done += r.cost;
  m->compute += r.compute;
  memmove(&m->flight[0], &m->flight[1],
          (size_t)(m->nflight - 1) * sizeof *m->flight);
  m->nflight--;
}

/* Keep every worker busy until the tasks run out, reporting the oldest
 * chunk in flight each time. */
static void sim_run_to_end(struct sim *m)
{
  for (;;) {
    while (m->nflight < m->workers && sim_hand(m))
      ;
    if (m->nflight == 0)
      break;
    sim_report(m, -1);
  }
}

/* Every task not done in the file when the sim started was handed out
 * exactly once, and is done now. */
static void check_all_once(const struct sim *m, uint8_t **before)
{
  for (int s = 0; s < spec_nstudies(m->spec); s++) {
    const struct spec_study *st = spec_study(m->spec, s);
    for (int64_t i = 0; i < st->ntasks; i++) {
      const int was_done = stored_done(before[s][i]);
      ck_assert_int_eq(m->handed[s][i], was_done ? 0 : 1);
      ck_assert(stored_done(m->file[s][i]));
      ck_assert_int_eq(sched_task_status(m->s, s, i),
                       was_done ? before[s][i] : TASK_HANDED);
    }
  }
}

static void check_finished(const struct sim *m)
{
  struct sched_progress p;
  sched_progress(m->s, &p);
  ck_assert_int_eq(p.finished, m->pending);
  ck_assert_int_eq(p.handed, m->pending);
  ck_assert_int_eq(p.abandoned, 0);
  ck_assert_double_eq(p.remaining_cost, 0.0);
  ck_assert_double_eq(sched_eta_seconds(m->s, 10.0), 0.0);
}

/* Run a started sim to the end and check that every task pending in
 * `before` ran once and nothing else did. */
static void check_whole_run(struct sim *m, uint8_t **before)
{
  sim_run_to_end(m);
  check_all_once(m, before);
  check_finished(m);
}

/* ---- the tests ---- */

START_TEST(test_every_pending_task_once)
{
  struct world w;
  world_open(&w, sweep_text, some_done);
  struct sim m;
  sim_start(&m, w.spec, w.file, WORKERS, CHUNK_S, SPC);
  ck_assert_int_gt(m.pending, 0);
  ck_assert_int_lt(m.pending, spec_ntasks(w.spec));
  check_whole_run(&m, w.before);
  /* The chunks followed the target, steady and then shrinking. */
  ck_assert_int_gt(m.nchunks, 50);
  ck_assert_int_ge(m.ntail, 5);
  ck_assert_int_eq(m.nlimited, 0);
  struct sched_progress p;
  sched_progress(m.s, &p);
  ck_assert(near(p.cost_done, m.pending_cost));
  ck_assert(near(p.compute, m.pending_cost * SPC));
  sim_end(&m);
  world_close(&w);
}
END_TEST

START_TEST(test_new_file_all_tasks)
{
  struct world w;
  world_open(&w, sweep_text, all_pending);
  struct sim m;
  sim_start(&m, w.spec, w.file, 1, 0.5, SPC);
  ck_assert_int_eq(m.pending, spec_ntasks(w.spec));
  check_whole_run(&m, w.before);
  sim_end(&m);
  world_close(&w);
}
END_TEST

/* The classes come out largest first: the costs in hand-out order are
 * the classes' costs sorted down, and a whole class before the next. */
START_TEST(test_largest_first)
{
  struct spec *sp = load(sweep_text);
  struct sched *s = NULL;
  struct err e;
  ck_assert_int_eq(sched_create(sp, CHUNK_S, 1, &s, &e), 0);
  const double classes[] = {49000, 23200, 20000, 9000, 8100, 2500, 400};
  const int64_t per_class[] = {25, 60, 60, 25, 320, 320, 320};
  int k = 0;
  int64_t in_class = 0;
  struct sched_run *runs = calloc(SCHED_MAX_RUNS, sizeof *runs);
  ck_assert_ptr_nonnull(runs);
  int nr;
  while ((nr = sched_next_chunk(s, runs, NULL, NULL)) > 0) {
    /* Runs are sorted by index, so check the chunk as a multiset: at
     * most two classes, in order. */
    for (int r = 0; r < nr; r++)
      for (int64_t i = runs[r].start; i < runs[r].start + runs[r].count; i++) {
        double c = cost_of(sp, (int)runs[r].study, i);
        ck_assert_msg(c == classes[k] || (k + 1 < 7 && c == classes[k + 1]),
                      "cost %g while handing out class %g", c, classes[k]);
      }
    int64_t nt = 0;
    for (int r = 0; r < nr; r++)
      nt += runs[r].count;
    in_class += nt;
    while (k < 7 && in_class >= per_class[k])
      in_class -= per_class[k++];
    struct sched_report rep = {.finished = nt, .compute = 1e-3, .cost = 1e3};
    sched_report(s, &rep);
  }
  ck_assert_int_eq(k, 7);
  ck_assert_int_eq(in_class, 0);
  free(runs);
  sched_destroy(&s);
  spec_destroy(&sp);
}
END_TEST

/* Three workers, one of which is stopped by a drain half-way through its
 * chunk; the next run, loaded from the file, hands out exactly the rest. */
START_TEST(test_restart_after_drain)
{
  struct world w;
  world_open(&w, sweep_text, some_done);
  const struct spec *sp = w.spec;
  uint8_t **file = w.file;
  struct sim m;
  sim_start(&m, sp, file, WORKERS, CHUNK_S, SPC);
  while (m.cost_handed < 0.5 * m.pending_cost) {
    while (m.nflight < m.workers)
      ck_assert(sim_hand(&m));
    sim_report(&m, -1);
  }
  while (m.nflight < m.workers)
    ck_assert(sim_hand(&m));
  /* The drain: the first worker finishes, the second stops half-way, the
   * third abandons its whole chunk; nothing more is handed out. */
  const int64_t half = m.flight[1].ntasks / 2;
  const int64_t lost = m.flight[1].ntasks - half + m.flight[2].ntasks;
  sim_report(&m, -1);
  sim_report(&m, half);
  sim_report(&m, 0);
  struct sched_progress p;
  sched_progress(m.s, &p);
  ck_assert_int_eq(p.abandoned, lost);
  ck_assert_int_eq(p.handed, p.finished + p.abandoned);
  ck_assert_int_eq(p.finished, m.finished);
  /* What remains is what the file still has pending, abandoned included. */
  double left = 0.0;
  int64_t nleft = 0;
  for (int s = 0; s < spec_nstudies(sp); s++)
    for (int64_t i = 0; i < spec_study(sp, s)->ntasks; i++)
      if (!stored_done(file[s][i])) {
        left += cost_of(sp, s, i);
        nleft++;
      }
  ck_assert_int_eq(nleft, p.pending_at_start - p.finished);
  ck_assert(near(p.remaining_cost, left));
  ck_assert(near(p.remaining_cost + p.cost_done, m.pending_cost));
  ck_assert(isfinite(sched_eta_seconds(m.s, 10.0)));
  ck_assert(near(sched_eta_seconds(m.s, 10.0), left / (p.cost_done / 10.0)));

  /* The next run: a new sched over the file as the drain left it. */
  uint8_t **mid = file_new(sp, all_pending);
  for (int s = 0; s < spec_nstudies(sp); s++)
    memcpy(mid[s], file[s], (size_t)spec_study(sp, s)->ntasks);
  struct sim m2;
  sim_start(&m2, sp, file, WORKERS, CHUNK_S, SPC);
  ck_assert_int_eq(m2.pending, nleft);
  sched_progress(m2.s, &p);
  ck_assert_int_eq(p.done_before, spec_ntasks(sp) - nleft);
  check_whole_run(&m2, mid);
  /* Together the two runs handed out each pending task once. */
  for (int s = 0; s < spec_nstudies(sp); s++)
    for (int64_t i = 0; i < spec_study(sp, s)->ntasks; i++) {
      if (stored_done(w.before[s][i])) {
        ck_assert_int_eq(m.handed[s][i] + m2.handed[s][i], 0);
      } else if (stored_done(mid[s][i])) { /* finished by the first run */
        ck_assert_int_eq(m.handed[s][i], 1);
        ck_assert_int_eq(m2.handed[s][i], 0);
      } else { /* never handed, or abandoned: the second run's */
        ck_assert_int_eq(m2.handed[s][i], 1);
      }
    }
  sim_end(&m2);
  sim_end(&m);
  file_free(sp, mid);
  world_close(&w);
}
END_TEST

/* Remaining cost and ETA follow the reports: the remaining cost is the
 * cost of the tasks not finished, the ETA that cost at the rate of cost
 * finished per elapsed second. */
START_TEST(test_eta_and_remaining_cost)
{
  struct world w;
  world_open(&w, sweep_text, some_done);
  struct sim m;
  sim_start(&m, w.spec, w.file, WORKERS, CHUNK_S, SPC);
  ck_assert(isnan(sched_eta_seconds(m.s, 5.0)));
  for (int round = 0; round < 40; round++) {
    while (m.nflight < m.workers)
      ck_assert(sim_hand(&m));
    sim_report(&m, -1);
    struct sched_progress p;
    sched_progress(m.s, &p);
    ck_assert(near(p.cost_done, m.cost_done));
    ck_assert(near(p.remaining_cost, m.pending_cost - m.cost_done));
    const double elapsed = 1.0 + round;
    ck_assert(near(sched_eta_seconds(m.s, elapsed),
                   (m.pending_cost - m.cost_done) / (m.cost_done / elapsed)));
    ck_assert(isnan(sched_eta_seconds(m.s, 0.0)));
  }
  sim_end(&m);
  world_close(&w);
}
END_TEST

/* ---- the chunk limits ---- */

static const char cheap_text[] =
  "name: cheap\nmaster_seed: 1\nstudies:\n"
  "  - {name: a, iterations: 1, scale: theory, eta: theory, rewards: uniform,"
  " seeds: 100000, grid: {regime: [uniform], arms: [2], beta: [1], sigma: [0]}}\n";

static const char long_text[] =
  "name: long\nmaster_seed: 1\nstudies:\n"
  "  - {name: a, iterations: 200000, scale: theory, eta: theory, rewards: uniform,"
  " seeds: 100, grid: {regime: [uniform], arms: [2], beta: [1], sigma: [0]}}\n";

/* A fast measured rate makes the target huge; the limits cut the chunk. */
static void limits_run(const char *text, status_fn f, int *max_runs,
                       int64_t *max_tasks, double *max_bytes)
{
  struct world w;
  world_open(&w, text, f);
  const struct spec_study *st = spec_study(w.spec, 0);
  struct sim m;
  sim_start(&m, w.spec, w.file, 1, 1e3, 1e-9);
  *max_runs = 0;
  *max_tasks = 0;
  *max_bytes = 0;
  while (sim_hand(&m)) {
    const struct chunk *c = &m.flight[0];
    double bytes = (double)c->ntasks * 8.0 *
                   (BANDIT_NMETRICS * (double)st->nrec + st->max_arms);
    if (m.nchunks > 1) { /* measured: the target is above every limit */
      ck_assert(c->cost < sched_target_cost(m.s) || m.exhausted);
      *max_runs = c->nr > *max_runs ? c->nr : *max_runs;
      *max_tasks = c->ntasks > *max_tasks ? c->ntasks : *max_tasks;
      *max_bytes = fmax(bytes, *max_bytes);
    }
    sim_report(&m, -1);
  }
  check_all_once(&m, w.before);
  check_finished(&m);
  sim_end(&m);
  world_close(&w);
}

START_TEST(test_chunk_limits)
{
  int nr;
  int64_t nt;
  double bytes;
  /* Contiguous cheap tasks: the task limit. */
  limits_run(cheap_text, all_pending, &nr, &nt, &bytes);
  ck_assert_int_eq(nt, SCHED_MAX_TASKS);
  ck_assert_int_eq(nr, 1);
  /* Every other task pending: one run per task, the run limit. */
  limits_run(cheap_text, odd_done, &nr, &nt, &bytes);
  ck_assert_int_eq(nr, SCHED_MAX_RUNS);
  ck_assert_int_eq(nt, SCHED_MAX_RUNS);
  /* 200001 records a task (4.8 MB of results): the byte limit. */
  limits_run(long_text, all_pending, &nr, &nt, &bytes);
  ck_assert(bytes <= SCHED_MAX_BYTES && bytes > SCHED_MAX_BYTES / 2);
  ck_assert_int_lt(nt, 20);
}
END_TEST

START_TEST(test_bad_calls)
{
  struct spec *sp = load(sweep_text);
  struct sched *s = NULL;
  struct err e;
  ck_assert_int_eq(sched_create(sp, CHUNK_S, 0, &s, &e), ERR_INPUT);
  ck_assert_int_eq(sched_create(sp, 0.0, 2, &s, &e), ERR_INPUT);
  ck_assert_ptr_null(s);
  ck_assert_int_eq(sched_create(sp, CHUNK_S, 2, &s, &e), 0);
  uint8_t *status = calloc((size_t)spec_study(sp, 0)->ntasks, 1);
  ck_assert_ptr_nonnull(status);
  ck_assert_int_eq(sched_load_status(s, 3, status, &e), ERR_INPUT);
  struct sched_run runs[SCHED_MAX_RUNS];
  ck_assert_int_gt(sched_next_chunk(s, runs, NULL, NULL), 0);
  /* Loading after handing out would hand tasks out twice. */
  ck_assert_int_eq(sched_load_status(s, 0, status, &e), ERR_INPUT);
  free(status);
  sched_destroy(&s);
  sched_destroy(&s); /* NULL is fine */
  spec_destroy(&sp);
}
END_TEST

static Suite *sched_suite(void)
{
  TCase *tc;
  Suite *s = unit_suite("sched", 120, &tc);
  tcase_add_test(tc, test_every_pending_task_once);
  tcase_add_test(tc, test_new_file_all_tasks);
  tcase_add_test(tc, test_largest_first);
  tcase_add_test(tc, test_restart_after_drain);
  tcase_add_test(tc, test_eta_and_remaining_cost);
  tcase_add_test(tc, test_chunk_limits);
  tcase_add_test(tc, test_bad_calls);
  return s;
}

UNIT_MAIN(sched_suite)
