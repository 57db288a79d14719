/* grow: a results file built from others (run --reuse, merge).  See
 * include/dposweep/grow.h.
 *
 * The target is filled one study at a time.  For each of its studies,
 * every input in the order given and every study of that input whose
 * settings agree (spec_map) contribute one pass: the target's tasks that
 * the input study has finished are collected (each pair checked with
 * task_same), those no earlier pass provided are copied (store_copy_tasks,
 * in chunks), and in merge mode those an earlier pass provided are
 * compared with the provider's rows, read again in batches from both
 * files.  Who provided each task (input, study, index) is kept per target
 * study, 16 bytes a task. */
#include "dposweep/grow.h"

#include "dposweep/bandit.h"
#include "dposweep/store.h"
#include "dposweep/task.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the inputs ---- */

struct input {
  char *path; /* as given: the user's name for it in messages */
  struct store_reader *r;
  uint8_t **status; /* per study, read when a pass first needs it */
};

struct grow_inputs {
  int n;
  struct input *in;
};

static int out_of_memory(struct err *e)
{
  return err_set(e, ERR_RUNTIME, "out of memory");
}

void grow_inputs_close(struct grow_inputs **gp)
{
  if (!gp || !*gp)
    return;
  struct grow_inputs *g = *gp;
  for (int i = 0; i < g->n; i++) {
    struct input *p = &g->in[i];
    for (int s = 0; p->status && s < spec_nstudies(store_reader_spec(p->r));
         s++)
      free(p->status[s]);
    free(p->status);
    store_reader_close(&p->r);
    free(p->path);
  }
  free(g->in);
  free(g);
  *gp = NULL;
}

/* Open input p at path: the reader (whose messages name the path) and
 * room for its studies' status bytes. */
static int input_open(struct input *p, const char *path, struct err *e)
{
  if (!(p->path = strdup(path)))
    return out_of_memory(e);
  int rc = store_reader_open(path, &p->r, e);
  if (rc != 0)
    return rc;
  int n = spec_nstudies(store_reader_spec(p->r));
  if (!(p->status = calloc((size_t)n, sizeof *p->status)))
    return out_of_memory(e);
  return 0;
}

int grow_inputs_open(const char *const *paths, int n,
                     struct grow_inputs **out, struct err *e)
{
  err_clear(e);
  if (n < 1 || n > STORE_MAX_SOURCES)
    return err_set(e, ERR_INPUT, "%d input files (1 to %d)", n,
                   STORE_MAX_SOURCES);
  int rc = 0;
  struct grow_inputs *g = calloc(1, sizeof *g);
  if (!g || !(g->in = calloc((size_t)n, sizeof *g->in))) {
    free(g);
    return out_of_memory(e);
  }
  /* Each opened input counts, so that closing frees what was opened. */
  for (int i = 0; i < n && rc == 0; i++) {
    g->n = i + 1;
    rc = input_open(&g->in[i], paths[i], e);
  }
  if (rc == 0) {
    *out = g;
    g = NULL;
  }
  grow_inputs_close(&g);
  return rc;
}

int grow_inputs_count(const struct grow_inputs *in)
{
  return in->n;
}

const char *grow_input_path(const struct grow_inputs *in, int i)
{
  return in->in[i].path;
}

const struct spec *grow_input_spec(const struct grow_inputs *in, int i)
{
  return store_reader_spec(in->in[i].r);
}

int grow_input_numerics(const struct grow_inputs *in, int i)
{
  return store_reader_numerics(in->in[i].r);
}

/* The status bytes of study s of input p, read once. */
static int input_status(struct input *p, int s, const uint8_t **out,
                        struct err *e)
{
  if (!p->status[s]) {
    const struct spec_study *st = spec_study(store_reader_spec(p->r), s);
    uint8_t *bytes = malloc((size_t)st->ntasks + 1);
    if (!bytes)
      return out_of_memory(e);
    int rc = store_reader_status(p->r, s, bytes, e);
    if (rc != 0) {
      free(bytes);
      return err_prefix(e, "%s: ", p->path);
    }
    p->status[s] = bytes;
  }
  *out = p->status[s];
  return 0;
}

int grow_union(const struct grow_inputs *in, struct spec **out,
               struct err *e)
{
  err_clear(e);
  const struct spec **specs = malloc((size_t)in->n * sizeof *specs);
  if (!specs)
    return out_of_memory(e);
  int rc = 0;
  const uint64_t seed0 = spec_master_seed(grow_input_spec(in, 0));
  for (int i = 0; i < in->n && rc == 0; i++) {
    specs[i] = grow_input_spec(in, i);
    /* spec_union refuses it too, but by number; the user knows files. */
    if (spec_master_seed(specs[i]) != seed0)
      rc = err_set(e, ERR_INPUT,
                   "%s: master seed %llu differs from %s's %llu (files of "
                   "two master seeds share no task)",
                   in->in[i].path,
                   (unsigned long long)spec_master_seed(specs[i]),
                   in->in[0].path, (unsigned long long)seed0);
  }
  if (rc == 0)
    rc = spec_union(specs, in->n, out, e);
  free(specs);
  return rc;
}

/* ---- describing a task ---- */

/* "regime=mix-p, arms=20, beta=3, sigma=0, samples=0, eta=10,
 * ref_spread=0, seed=4": the values of task index of st. */
static void task_text(const struct spec_study *st, int64_t index, char *buf,
                      size_t len)
{
  struct spec_coords c;
  spec_coords_of(st, index, &c);
  const int64_t *p = c.pos;
  char eta[32];
  if (st->eta_theory[p[SPEC_AXIS_ETA]])
    snprintf(eta, sizeof eta, "theory");
  else
    snprintf(eta, sizeof eta, "%.15g", st->eta[p[SPEC_AXIS_ETA]]);
  snprintf(buf, len,
           "regime=%s, arms=%d, beta=%.15g, sigma=%.15g, samples=%lld, "
           "eta=%s, ref_spread=%.15g, seed=%llu",
           bandit_regime_name(st->regime[p[SPEC_AXIS_REGIME]]),
           st->arms[p[SPEC_AXIS_ARMS]], st->beta[p[SPEC_AXIS_BETA]],
           st->sigma[p[SPEC_AXIS_SIGMA]],
           (long long)st->samples[p[SPEC_AXIS_SAMPLES]], eta,
           st->ref_spread[p[SPEC_AXIS_REF_SPREAD]],
           (unsigned long long)spec_seed(st, p[SPEC_AXIS_SEED]));
}

/* ---- building ---- */

/* A task finished in two inputs: target index, its index in the input
 * of the pass, and who provided it. */
struct twice {
  int64_t to, from, prov_index;
  int32_t prov_input, prov_study;
};

struct build {
  const struct spec *target;
  struct grow_inputs *in;
  enum grow_mode mode;
  const volatile sig_atomic_t *stop;
  struct grow_tally *tally;
  struct store *dst;
  /* The target study being filled, and who provided each of its tasks
   * (prov_input -1: nobody yet). */
  int ts;
  const struct spec_study *st;
  int32_t *prov_input, *prov_study;
  int64_t *prov_index;
  /* One pass (an input's study): its record map into the target study,
   * the pairs to copy and, in merge mode, the tasks to compare. */
  int64_t *rec_map;
  int64_t *from, *to, ncopy;
  uint8_t *outcome;
  struct twice *twice;
  int64_t ntwice;
};

/* Pairs per store_copy_tasks call (and per comparison batch): the stop
 * flag is looked at between them. */
#define GROW_CHUNK ((int64_t)1 << 18)
#define GROW_COMPARE_BYTES ((int64_t)32 << 20)

static bool stopped(const struct build *b)
{
  return b->stop && *b->stop;
}

static void study_free(struct build *b)
{
  free(b->prov_input);
  free(b->prov_study);
  free(b->prov_index);
  free(b->rec_map);
  free(b->from);
  free(b->to);
  free(b->outcome);
  free(b->twice);
  b->prov_input = b->prov_study = NULL;
  b->prov_index = b->rec_map = b->from = b->to = NULL;
  b->outcome = NULL;
  b->twice = NULL;
}

static int study_alloc(struct build *b, int ts, struct err *e)
{
  b->ts = ts;
  b->st = spec_study(b->target, ts);
  size_t n = (size_t)b->st->ntasks + 1;
  bool ok = (b->prov_input = malloc(n * sizeof *b->prov_input)) &&
            (b->prov_study = malloc(n * sizeof *b->prov_study)) &&
            (b->prov_index = malloc(n * sizeof *b->prov_index)) &&
            (b->rec_map = malloc((size_t)b->st->nrec * sizeof *b->rec_map)) &&
            (b->from = malloc(n * sizeof *b->from)) &&
            (b->to = malloc(n * sizeof *b->to)) &&
            (b->outcome = malloc(n));
  if (ok && b->mode == GROW_MERGE)
    ok = (b->twice = malloc(n * sizeof *b->twice)) != NULL;
  if (!ok)
    return out_of_memory(e);
  for (size_t t = 0; t < n; t++)
    b->prov_input[t] = -1;
  return 0;
}

/* Whether target task t and task f of study s of input i are the same
 * task: the identity module decides, the map only proposed them. */
static bool same_task(const struct build *b, int i, int s, int64_t t,
                      int64_t f)
{
  struct bandit_params p, q;
  spec_task_params(b->target, b->ts, t, &p);
  spec_task_params(grow_input_spec(b->in, i), s, f, &q);
  return task_same(&p, &q);
}

/* The pass's candidates: target tasks that study s of input i has
 * finished, to copy (nobody provided them yet) or to compare (merge). */
static int collect(struct build *b, const struct spec_map *m, int i, int s,
                   const uint8_t *status, struct err *e)
{
  b->ncopy = b->ntwice = 0;
  for (int64_t t = 0; t < b->st->ntasks; t++) {
    const bool taken = b->prov_input[t] >= 0;
    if (taken && b->mode == GROW_REUSE)
      continue;
    const int64_t f = spec_map_index(m, t);
    if (f < 0 || (status[f] != TASK_DONE && status[f] != TASK_FAILED))
      continue;
    if (!same_task(b, i, s, t, f))
      return err_set(e, ERR_RUNTIME,
                     "internal error: the spec map pairs study '%s' task "
                     "%lld with %s study '%s' task %lld, which is another "
                     "task",
                     b->st->name, (long long)t, b->in->in[i].path,
                     spec_study(grow_input_spec(b->in, i), s)->name,
                     (long long)f);
    if (!taken) {
      b->from[b->ncopy] = f;
      b->to[b->ncopy++] = t;
    } else {
      b->twice[b->ntwice++] = (struct twice){
        t, f, b->prov_index[t], b->prov_input[t], b->prov_study[t]};
    }
  }
  return 0;
}

/* Merge: a finished task of input i (study s, index f; target task t)
 * whose rows read back as `what`. */
static int bad_rows(const struct build *b, int i, int s, int64_t f,
                    int64_t t, uint8_t what, struct err *e)
{
  char coords[512];
  task_text(b->st, t, coords, sizeof coords);
  return err_set(e, ERR_INPUT,
                 "%s: study '%s' task %lld (%s): %s; refusing to merge it "
                 "(dposweep verify %s names every such task)",
                 b->in->in[i].path,
                 spec_study(grow_input_spec(b->in, i), s)->name,
                 (long long)f, coords,
                 store_check_text((enum store_check)what),
                 b->in->in[i].path);
}

/* Copy the pass's pairs, in chunks; record who provided what. */
static int copy_pass(struct build *b, int i, int s, struct err *e)
{
  for (int64_t at = 0; at < b->ncopy; at += GROW_CHUNK) {
    if (stopped(b))
      return err_set(e, ERR_RUNTIME, "interrupted");
    const int64_t n = b->ncopy - at < GROW_CHUNK ? b->ncopy - at : GROW_CHUNK;
    const struct store_copy c = {.study = b->ts, .source_study = s,
                                 .source = i, .n = n, .from = b->from + at,
                                 .to = b->to + at, .rec_map = b->rec_map};
    int64_t copied = 0;
    int rc = store_copy_tasks(b->dst, b->in->in[i].r, &c, b->outcome + at,
                              &copied, e);
    if (rc != 0)
      return rc;
    b->tally[i].provided += copied;
  }
  for (int64_t k = 0; k < b->ncopy; k++) {
    const int64_t t = b->to[k];
    switch (b->outcome[k]) {
    case STORE_CHECK_OK:
      b->prov_input[t] = i;
      b->prov_study[t] = s;
      b->prov_index[t] = b->from[k];
      break;
    case STORE_CHECK_UNFINISHED:
      break; /* not finished after all: nothing to take */
    default:
      if (b->mode == GROW_MERGE)
        return bad_rows(b, i, s, b->from[k], t, b->outcome[k], e);
      b->tally[i].bad_checksum++;
    }
  }
  return 0;
}

/* ---- merge: comparing a task two inputs have finished ---- */

static int by_provider(const void *pa, const void *pb)
{
  const struct twice *a = pa, *b = pb;
  if (a->prov_input != b->prov_input)
    return a->prov_input < b->prov_input ? -1 : 1;
  if (a->prov_study != b->prov_study)
    return a->prov_study < b->prov_study ? -1 : 1;
  return (a->from > b->from) - (a->from < b->from);
}

/* A key and its place, to read one side's rows in ascending order. */
struct placed {
  int64_t key, at;
};

static int by_key(const void *pa, const void *pb)
{
  const struct placed *a = pa, *b = pb;
  return (a->key > b->key) - (a->key < b->key);
}

/* Where two copies of one task differ first, as "traj/value_gap at step
 * 9 (x vs y)"; "" when they agree bit for bit.  Rows at the target's
 * records (through each side's record map), theta over the task's arms. */
static void first_difference(const struct build *b, int64_t t,
                             const struct store_batch *x, int64_t kx,
                             const int64_t *rx, const struct store_batch *y,
                             int64_t ky, const int64_t *ry, char *buf,
                             size_t len)
{
  buf[0] = '\0';
  if (x->status[kx] != y->status[ky]) {
    snprintf(buf, len, "tasks/status (%s vs %s)",
             x->status[kx] == TASK_DONE ? "done" : "failed",
             y->status[ky] == TASK_DONE ? "done" : "failed");
    return;
  }
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    for (int64_t r = 0; r < b->st->nrec; r++) {
      const double *u = &x->metric[m][kx * x->nrec + rx[r]];
      const double *v = &y->metric[m][ky * y->nrec + ry[r]];
      if (memcmp(u, v, sizeof *u) != 0) {
        snprintf(buf, len, "traj/%s at step %lld (%.17g vs %.17g)",
                 bandit_metric_name((enum bandit_metric)m),
                 (long long)bandit_rec_step(r, b->st->iterations,
                                            b->st->record_every),
                 *u, *v);
        return;
      }
    }
  struct bandit_params p;
  spec_task_params(b->target, b->ts, t, &p);
  for (int a = 0; a < p.arms; a++) {
    const double *u = &x->theta[kx * x->max_arms + a];
    const double *v = &y->theta[ky * y->max_arms + a];
    if (memcmp(u, v, sizeof *u) != 0) {
      snprintf(buf, len, "final/theta[%d] (%.17g vs %.17g)", a, *u, *v);
      return;
    }
  }
}

/* One comparison batch: the tasks tw[0..n) (one provider study, by
 * ascending index in the pass's input), read from both files. */
struct side {
  int input, study;
  const int64_t *rec;
};

static int compare_batch(struct build *b, const struct side *mine,
                         const struct side *prov, const struct twice *tw,
                         int64_t n, struct err *e)
{
  struct store_batch *x = NULL, *y = NULL;
  int64_t *ix = malloc((size_t)n * sizeof *ix);
  int64_t *iy = malloc((size_t)n * sizeof *iy);
  struct placed *py = malloc((size_t)n * sizeof *py);
  int64_t *where = malloc((size_t)n * sizeof *where);
  int rc = ERR_RUNTIME;
  if (!ix || !iy || !py || !where) {
    out_of_memory(e);
    goto out;
  }
  for (int64_t k = 0; k < n; k++) {
    ix[k] = tw[k].from;
    py[k] = (struct placed){tw[k].prov_index, k};
  }
  if (n > 1)
    qsort(py, (size_t)n, sizeof *py, by_key);
  for (int64_t j = 0; j < n; j++) {
    iy[j] = py[j].key;
    where[py[j].at] = j;
  }
  struct input *in = b->in->in;
  if ((rc = store_reader_read_batch(in[mine->input].r, mine->study, ix, n,
                                    &x, e)) != 0 ||
      (rc = store_reader_read_batch(in[prov->input].r, prov->study, iy, n,
                                    &y, e)) != 0)
    goto out;
  for (int64_t k = 0; k < n && rc == 0; k++) {
    const int64_t t = tw[k].to, j = where[k];
    if (x->check[k] != STORE_CHECK_OK) {
      rc = bad_rows(b, mine->input, mine->study, ix[k], t, x->check[k], e);
    } else if (y->check[j] != STORE_CHECK_OK) {
      rc = bad_rows(b, prov->input, prov->study, iy[j], t, y->check[j], e);
    } else {
      char diff[256], coords[512];
      first_difference(b, t, y, j, prov->rec, x, k, mine->rec, diff,
                       sizeof diff);
      if (diff[0]) {
        task_text(b->st, t, coords, sizeof coords);
        rc = err_set(e, ERR_INPUT,
                     "%s and %s disagree on study '%s' task %lld (%s): %s",
                     in[prov->input].path, in[mine->input].path, b->st->name,
                     (long long)t, coords, diff);
      } else {
        b->tally[mine->input].agreed++;
      }
    }
  }
out:
  store_batch_destroy(&x);
  store_batch_destroy(&y);
  free(ix);
  free(iy);
  free(py);
  free(where);
  return rc;
}

/* Compare tw[0..n), all provided by one study of one input, with the
 * pass's input (study s of input i). */
static int compare_group(struct build *b, int i, int s,
                         const struct twice *tw, int64_t n, struct err *e)
{
  const struct spec_study *ps =
    spec_study(grow_input_spec(b->in, tw[0].prov_input), tw[0].prov_study);
  int64_t *prov_rec = malloc((size_t)b->st->nrec * sizeof *prov_rec);
  if (!prov_rec)
    return out_of_memory(e);
  int rc = 0;
  if (!task_records_within(b->st->iterations, b->st->record_every,
                           ps->record_every, prov_rec))
    rc = err_set(e, ERR_RUNTIME,
                 "internal error: study '%s' records steps that its provider "
                 "'%s' did not", b->st->name, ps->name);
  const struct side mine = {i, s, b->rec_map};
  const struct side prov = {tw[0].prov_input, tw[0].prov_study, prov_rec};
  const struct spec_study *ms = spec_study(grow_input_spec(b->in, i), s);
  const int64_t wide = ms->nrec > ps->nrec ? ms->nrec : ps->nrec;
  const int64_t arms = ms->max_arms > ps->max_arms ? ms->max_arms
                                                   : ps->max_arms;
  int64_t cap = GROW_COMPARE_BYTES /
                (2 * (8 * (BANDIT_NMETRICS * wide + arms) + 256));
  cap = cap < 1 ? 1 : cap;
  for (int64_t at = 0; rc == 0 && at < n; at += cap) {
    if (stopped(b))
      rc = err_set(e, ERR_RUNTIME, "interrupted");
    else
      rc = compare_batch(b, &mine, &prov, tw + at,
                         n - at < cap ? n - at : cap, e);
  }
  free(prov_rec);
  return rc;
}

/* Merge: every task of the pass that an earlier pass provided. */
static int compare_pass(struct build *b, int i, int s, struct err *e)
{
  if (b->ntwice > 1)
    qsort(b->twice, (size_t)b->ntwice, sizeof *b->twice, by_provider);
  int rc = 0;
  for (int64_t g = 0; rc == 0 && g < b->ntwice;) {
    int64_t end = g + 1;
    while (end < b->ntwice &&
           b->twice[end].prov_input == b->twice[g].prov_input &&
           b->twice[end].prov_study == b->twice[g].prov_study)
      end++;
    rc = compare_group(b, i, s, b->twice + g, end - g, e);
    g = end;
  }
  return rc;
}

/* ---- the passes ---- */

/* One pass: what study s of input i has for the target study. */
static int fill_from(struct build *b, int i, int s, struct err *e)
{
  const struct spec *src = grow_input_spec(b->in, i);
  struct spec_map *m = NULL;
  int rc = spec_map_create(b->target, b->ts, src, s, &m, e);
  if (rc != 0)
    return rc;
  if (spec_map_mismatch(m))
    goto out; /* settings differ: no task of it is one of ours */
  const uint8_t *status = NULL;
  if ((rc = input_status(&b->in->in[i], s, &status, e)) != 0)
    goto out;
  if (!task_records_within(b->st->iterations, b->st->record_every,
                           spec_study(src, s)->record_every, b->rec_map)) {
    rc = err_set(e, ERR_RUNTIME,
                 "internal error: the spec map accepts study '%s' of %s, "
                 "which lacks steps study '%s' records",
                 spec_study(src, s)->name, b->in->in[i].path, b->st->name);
    goto out;
  }
  if ((rc = collect(b, m, i, s, status, e)) != 0)
    goto out;
  if (b->ncopy > 0 && (rc = copy_pass(b, i, s, e)) != 0)
    goto out;
  if (b->ntwice > 0)
    rc = compare_pass(b, i, s, e);
out:
  spec_map_destroy(&m);
  return rc;
}

/* Fill target study ts from every input that may have its tasks. */
static int fill_study(struct build *b, int ts, struct err *e)
{
  int rc = study_alloc(b, ts, e);
  for (int i = 0; rc == 0 && i < b->in->n; i++) {
    if (b->tally[i].numerics != BANDIT_NUMERICS_VERSION)
      continue; /* reuse: another engine's results are not ours to copy */
    const int ns = spec_nstudies(grow_input_spec(b->in, i));
    for (int s = 0; rc == 0 && s < ns; s++)
      rc = fill_from(b, i, s, e);
  }
  study_free(b);
  return rc;
}

/* The inputs as sources of the new file; tally cleared.  Merge refuses
 * an input of another numerics version. */
static int describe_inputs(struct build *b, struct store_source *src,
                           struct err *e)
{
  for (int i = 0; i < b->in->n; i++) {
    store_reader_describe(b->in->in[i].r, &src[i]);
    b->tally[i] = (struct grow_tally){.numerics = src[i].numerics};
    if (b->mode == GROW_MERGE && src[i].numerics != BANDIT_NUMERICS_VERSION)
      return err_set(e, ERR_INPUT,
                     "%s holds results of numerics version %d; this "
                     "dposweep computes version %d: its results cannot be "
                     "merged with this dposweep",
                     b->in->in[i].path, (int)src[i].numerics,
                     BANDIT_NUMERICS_VERSION);
  }
  return 0;
}

int grow_build(const char *path, const struct spec *target,
               struct grow_inputs *in, enum grow_mode mode,
               const volatile sig_atomic_t *stop, struct grow_tally *tally,
               char **tmp_path, struct err *e)
{
  err_clear(e);
  struct build b = {.target = target, .in = in, .mode = mode, .stop = stop,
                    .tally = tally};
  char *tmp = NULL;
  struct store_source *src = calloc((size_t)in->n, sizeof *src);
  int rc = src ? describe_inputs(&b, src, e) : out_of_memory(e);
  if (rc != 0)
    goto out;
  if ((rc = store_create_temp(path, target, src, in->n, &tmp, e)) != 0)
    goto out;
  if ((rc = store_open_serial(tmp, target, &b.dst, e)) != 0)
    goto out;
  for (int ts = 0; rc == 0 && ts < spec_nstudies(target); ts++)
    rc = fill_study(&b, ts, e);
  struct err ce;
  if (store_close(&b.dst, &ce) != 0 && rc == 0) {
    *e = ce;
    rc = ce.code;
  }
out:
  if (rc != 0 && tmp) {
    store_discard_temp(tmp);
    free(tmp);
    tmp = NULL;
  }
  if (rc == 0)
    *tmp_path = tmp;
  free(src);
  return rc;
}
