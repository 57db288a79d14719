/* sched: the scheduling policy of "dposweep run".  See
 * include/dposweep/sched.h. */
#include "dposweep/sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A cost class: the tasks of one study at one (arms, samples) position.
 * They all cost the same; ntasks is the product of the other axes. */
struct sched_class {
  int study;
  int64_t arms_pos, samples_pos;
  double cost;
  int64_t ntasks;
};

struct sched {
  const struct spec *spec;
  double chunk_seconds;
  int workers;
  uint8_t **status;     /* per study, one enum task_status byte per task */
  double *study_pending_cost;
  int64_t *study_pending;
  struct sched_class *classes; /* largest cost first */
  int nclasses;
  /* The cursor: the next candidate task is `at` in class `next_class`;
   * at_fresh: `at` is the class's first task, not yet set up. */
  int next_class;
  int at_fresh;
  struct spec_coords at;
  /* Accounting; costs are spec_task_cost units throughout. */
  int64_t total, pending_at_start, handed;
  double pending_cost, cost_handed;
  struct sched_report run; /* the sum of the reports */
};

static int cmp_class(const void *pa, const void *pb)
{
  const struct sched_class *a = pa, *b = pb;
  if (a->cost != b->cost)
    return a->cost > b->cost ? -1 : 1; /* largest first */
  if (a->study != b->study)
    return a->study - b->study;
  if (a->arms_pos != b->arms_pos)
    return a->arms_pos < b->arms_pos ? -1 : 1;
  return (a->samples_pos > b->samples_pos) - (a->samples_pos < b->samples_pos);
}

/* A class fixes arms and samples; the task order within it runs over the
 * other axes, the last fastest, so that consecutive tasks have
 * consecutive indices and chunks come out as few runs. */
static int in_class_axis(enum spec_axis a)
{
  return a != SPEC_AXIS_ARMS && a != SPEC_AXIS_SAMPLES;
}

static int plan_classes(struct sched *s)
{
  int n = 0;
  for (int i = 0; i < spec_nstudies(s->spec); i++) {
    const struct spec_study *st = spec_study(s->spec, i);
    n += (int)(st->len[SPEC_AXIS_ARMS] * st->len[SPEC_AXIS_SAMPLES]);
  }
  if (!(s->classes = calloc((size_t)n + 1, sizeof *s->classes)))
    return -1;
  for (int i = 0; i < spec_nstudies(s->spec); i++) {
    const struct spec_study *st = spec_study(s->spec, i);
    int64_t per_class = 1;
    for (int a = 0; a < SPEC_NAXES; a++)
      if (in_class_axis((enum spec_axis)a))
        per_class *= st->len[a];
    for (int64_t k = 0; k < st->len[SPEC_AXIS_ARMS]; k++)
      for (int64_t m = 0; m < st->len[SPEC_AXIS_SAMPLES]; m++) {
        struct sched_class *c = &s->classes[s->nclasses++];
        struct spec_coords at = {{0}};
        at.pos[SPEC_AXIS_ARMS] = k;
        at.pos[SPEC_AXIS_SAMPLES] = m;
        c->study = i;
        c->arms_pos = k;
        c->samples_pos = m;
        c->cost = spec_task_cost(st, &at);
        c->ntasks = per_class;
      }
  }
  if (s->nclasses > 1)
    qsort(s->classes, (size_t)s->nclasses, sizeof *s->classes, cmp_class);
  return 0;
}

int sched_create(const struct spec *spec, double chunk_seconds, int workers,
                 struct sched **out, struct err *e)
{
  if (workers < 1 || !(chunk_seconds > 0))
    return err_set(e, ERR_INPUT, "a schedule needs a worker and a chunk time");
  int rc = ERR_RUNTIME;
  struct sched *s = calloc(1, sizeof *s);
  if (!s)
    goto out;
  const int n = spec_nstudies(spec);
  s->spec = spec;
  s->chunk_seconds = chunk_seconds;
  s->workers = workers;
  s->at_fresh = 1;
  s->status = calloc((size_t)n + 1, sizeof *s->status);
  s->study_pending_cost = calloc((size_t)n + 1, sizeof *s->study_pending_cost);
  s->study_pending = calloc((size_t)n + 1, sizeof *s->study_pending);
  if (!s->status || !s->study_pending_cost || !s->study_pending)
    goto out;
  for (int i = 0; i < n; i++) {
    const struct spec_study *st = spec_study(spec, i);
    /* calloc: every byte TASK_PENDING, a new file's state. */
    if (!(s->status[i] = calloc((size_t)st->ntasks + 1, 1)))
      goto out;
    s->study_pending[i] = st->ntasks;
    s->study_pending_cost[i] = spec_study_cost(st);
    s->total += st->ntasks;
    s->pending_at_start += st->ntasks;
    s->pending_cost += s->study_pending_cost[i];
  }
  if (plan_classes(s) != 0)
    goto out;
  *out = s;
  s = NULL;
  rc = 0;
out:
  if (rc != 0)
    err_set(e, rc, "out of memory for the task list");
  sched_destroy(&s);
  return rc;
}

void sched_destroy(struct sched **sp)
{
  struct sched *s = sp ? *sp : NULL;
  if (!s)
    return;
  if (s->status)
    for (int i = 0; i < spec_nstudies(s->spec); i++)
      free(s->status[i]);
  free(s->status);
  free(s->study_pending_cost);
  free(s->study_pending);
  free(s->classes);
  free(s);
  *sp = NULL;
}

int sched_load_status(struct sched *s, int study, const uint8_t *status,
                      struct err *e)
{
  if (study < 0 || study >= spec_nstudies(s->spec))
    return err_set(e, ERR_INPUT, "no study %d in the spec", study);
  if (s->handed > 0)
    return err_set(e, ERR_INPUT, "task status loaded after tasks were handed out");
  const struct spec_study *st = spec_study(s->spec, study);
  uint8_t *mine = s->status[study];
  int64_t pending = 0;
  double cost = 0.0;
  for (int64_t i = 0; i < st->ntasks; i++) {
    mine[i] = status[i];
    if (mine[i] == TASK_DONE || mine[i] == TASK_FAILED)
      continue;
    mine[i] = TASK_PENDING; /* also an unknown byte: run it again */
    struct spec_coords c;
    spec_coords_of(st, i, &c);
    cost += spec_task_cost(st, &c);
    pending++;
  }
  s->pending_at_start += pending - s->study_pending[study];
  s->study_pending[study] = pending;
  s->study_pending_cost[study] = cost;
  /* Summed afresh in study order, so the total does not depend on the
   * order studies were loaded in. */
  s->pending_cost = 0.0;
  for (int i = 0; i < spec_nstudies(s->spec); i++)
    s->pending_cost += s->study_pending_cost[i];
  return 0;
}

double sched_target_cost(const struct sched *s)
{
  const double left = s->pending_cost - s->cost_handed;
  if (s->run.cost <= 0.0 || s->run.compute <= 0.0)
    return fmax(left / (64.0 * s->workers), 1.0); /* no measurement yet */
  const double spc = s->run.compute / s->run.cost; /* seconds per cost */
  const double left_s = left * spc;
  double want = fmin(s->chunk_seconds, left_s / (4.0 * s->workers));
  want = fmax(want, fmin(0.02, s->chunk_seconds));
  return want / spc;
}

/* Move the cursor to the next task of its class, the last axis fastest;
 * returns 0 once the class is exhausted. */
static int advance(struct sched *s, const struct spec_study *st)
{
  for (int a = SPEC_NAXES - 1; a >= 0; a--) {
    if (!in_class_axis((enum spec_axis)a))
      continue;
    if (++s->at.pos[a] < st->len[a])
      return 1;
    s->at.pos[a] = 0;
  }
  return 0;
}

/* The class of the cursor's next candidate, moving past exhausted and
 * empty classes; NULL when none is left. */
static const struct sched_class *cursor_class(struct sched *s)
{
  while (s->next_class < s->nclasses) {
    const struct sched_class *c = &s->classes[s->next_class];
    if (!s->at_fresh)
      return c;
    if (c->ntasks > 0) {
      memset(&s->at, 0, sizeof s->at);
      s->at.pos[SPEC_AXIS_ARMS] = c->arms_pos;
      s->at.pos[SPEC_AXIS_SAMPLES] = c->samples_pos;
      s->at_fresh = 0;
      return c;
    }
    s->next_class++;
  }
  return NULL;
}

static void step_cursor(struct sched *s, const struct spec_study *st)
{
  if (!advance(s, st)) {
    s->next_class++;
    s->at_fresh = 1;
  }
}

/* The result bytes one task of st takes in a worker's buffers. */
static double task_bytes(const struct spec_study *st)
{
  return 8.0 * (BANDIT_NMETRICS * (double)st->nrec + st->max_arms) + 128;
}

static int cmp_run(const void *pa, const void *pb)
{
  const struct sched_run *a = pa, *b = pb;
  if (a->study != b->study)
    return a->study < b->study ? -1 : 1;
  return (a->start > b->start) - (a->start < b->start);
}

int sched_next_chunk(struct sched *s, struct sched_run *runs, int64_t *ntasks,
                     double *cost)
{
  const double target = sched_target_cost(s);
  int nr = 0;
  int64_t nt = 0;
  double sum = 0.0, bytes = 0.0;
  const struct sched_class *c;
  while ((c = cursor_class(s)) != NULL) {
    const struct spec_study *st = spec_study(s->spec, c->study);
    const double tb = task_bytes(st);
    /* Stop before the chunk outgrows its limits (but take one task). */
    if (nt > 0 && (sum >= target || nt >= SCHED_MAX_TASKS ||
                   bytes + tb > SCHED_MAX_BYTES))
      break;
    const int64_t idx = spec_index_of(st, &s->at);
    uint8_t *status = &s->status[c->study][idx];
    if (*status != TASK_PENDING) {
      step_cursor(s, st);
      continue;
    }
    struct sched_run *last = nr > 0 ? &runs[nr - 1] : NULL;
    if (last && last->study == c->study && last->start + last->count == idx) {
      last->count++;
    } else {
      if (nr == SCHED_MAX_RUNS)
        break; /* the cursor stays: this task starts the next chunk */
      runs[nr++] = (struct sched_run){c->study, idx, 1};
    }
    *status = TASK_HANDED;
    step_cursor(s, st);
    nt++;
    sum += c->cost;
    bytes += tb;
  }
  if (nr > 1)
    qsort(runs, (size_t)nr, sizeof *runs, cmp_run);
  s->handed += nt;
  s->cost_handed += sum;
  if (ntasks)
    *ntasks = nt;
  if (cost)
    *cost = sum;
  return nr;
}

void sched_report(struct sched *s, const struct sched_report *r)
{
  s->run.finished += r->finished;
  s->run.failed += r->failed;
  s->run.abandoned += r->abandoned;
  s->run.compute += r->compute;
  s->run.cost += r->cost;
}

enum task_status sched_task_status(const struct sched *s, int study,
                                   int64_t index)
{
  return (enum task_status)s->status[study][index];
}

void sched_progress(const struct sched *s, struct sched_progress *p)
{
  p->total = s->total;
  p->done_before = s->total - s->pending_at_start;
  p->pending_at_start = s->pending_at_start;
  p->handed = s->handed;
  p->finished = s->run.finished;
  p->failed = s->run.failed;
  p->abandoned = s->run.abandoned;
  p->compute = s->run.compute;
  p->cost_done = s->run.cost;
  /* The two sums add the same costs in different orders: say 0, not a
   * rounding residue, once every task is finished. */
  p->remaining_cost = s->run.finished >= s->pending_at_start
                        ? 0.0
                        : fmax(s->pending_cost - s->run.cost, 0.0);
}

double sched_eta_seconds(const struct sched *s, double elapsed)
{
  struct sched_progress p;
  sched_progress(s, &p);
  if (p.finished >= p.pending_at_start)
    return 0.0;
  if (p.cost_done <= 0.0 || elapsed <= 0.0)
    return NAN;
  return p.remaining_cost / (p.cost_done / elapsed);
}
