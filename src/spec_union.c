/* spec_union: the union of specs.  See include/dposweep/spec.h ("the
 * union of specs").
 *
 * The union is built as canonical text and loaded like any spec, so it
 * passes every check a spec passes (a union grid that pairs sigma > 0
 * with samples > 0, say, is refused like a spec that does) and its
 * canonical text, loaded again, gives the same hash. */
#include "dposweep/spec.h"

#include "spec_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value of an axis: position pos of the axis in study st. */
struct value_ref {
  const struct spec_study *st;
  int64_t pos;
};

/* One study of the union: the first study merged into it (its name and
 * settings), the last input that added a study (one input's studies
 * never merge with each other), and the union of the axes so far. */
struct group {
  const struct spec_study *first;
  int input;
  struct value_ref *vals[SPEC_NAXES]; /* every axis but seed */
  int64_t n[SPEC_NAXES], cap[SPEC_NAXES];
  int64_t seed_range; /* seeds 0 .. seed_range - 1 are in */
  uint64_t *seeds;    /* listed seeds, in any order, repeats allowed */
  int64_t nseeds, seeds_cap;
};

struct union_state {
  struct group *groups;
  int n, cap;
};

/* Make room for one more entry in *p (*n used, *cap allocated). */
static int grow(void **p, int64_t n, int64_t *cap, size_t size,
                struct err *e)
{
  if (n < *cap)
    return 0;
  int64_t want = *cap ? 2 * *cap : 8;
  void *q = realloc(*p, (size_t)want * size);
  if (!q)
    return err_set(e, ERR_RUNTIME, "out of memory");
  *p = q;
  *cap = want;
  return 0;
}

/* Whether g's axis a has the value at pos of st already (numerically).
 * A linear scan: axes other than seed are short. */
static int has_value(const struct group *g, enum spec_axis a,
                     const struct spec_study *st, int64_t pos)
{
  struct spec_value v = spec_axis_value(st, a, pos);
  for (int64_t k = 0; k < g->n[a]; k++) {
    struct spec_value w = spec_axis_value(g->vals[a][k].st, a,
                                          g->vals[a][k].pos);
    if (spec_value_cmp(&v, &w) == 0)
      return 1;
  }
  return 0;
}

/* Add st's values to g's axes, new values at the end of each. */
static int join(struct group *g, const struct spec_study *st, int input,
                struct err *e)
{
  int rc;
  g->input = input;
  for (int a = 0; a < SPEC_NAXES; a++) {
    if (a == SPEC_AXIS_SEED)
      continue;
    for (int64_t pos = 0; pos < st->len[a]; pos++) {
      if (has_value(g, (enum spec_axis)a, st, pos))
        continue;
      if ((rc = grow((void **)&g->vals[a], g->n[a], &g->cap[a],
                     sizeof *g->vals[a], e)))
        return rc;
      g->vals[a][g->n[a]++] = (struct value_ref){st, pos};
    }
  }
  if (!st->seed_list) {
    if (st->len[SPEC_AXIS_SEED] > g->seed_range)
      g->seed_range = st->len[SPEC_AXIS_SEED];
    return 0;
  }
  for (int64_t pos = 0; pos < st->len[SPEC_AXIS_SEED]; pos++) {
    if ((rc = grow((void **)&g->seeds, g->nseeds, &g->seeds_cap,
                   sizeof *g->seeds, e)))
      return rc;
    g->seeds[g->nseeds++] = st->seed_list[pos];
  }
  return 0;
}

/* The group st joins from input: one with equal settings (and st's name,
 * when by_name) that input has not added to yet; -1 when none. */
static int find_group(const struct union_state *u,
                      const struct spec_study *st, int input, int by_name)
{
  char why[200];
  for (int i = 0; i < u->n; i++) {
    const struct group *g = &u->groups[i];
    if (g->input == input ||
        spec_settings_differ(g->first, st, 1, why, sizeof why) ||
        (by_name && strcmp(g->first->name, st->name) != 0))
      continue;
    return i;
  }
  return -1;
}

/* st as a study of its own, after the others; its name must be new. */
static int new_group(struct union_state *u, const struct spec_study *st,
                     int input, struct err *e)
{
  char why[200];
  for (int i = 0; i < u->n; i++)
    if (strcmp(u->groups[i].first->name, st->name) == 0) {
      spec_settings_differ(st, u->groups[i].first, 1, why, sizeof why);
      return err_set(e, ERR_INPUT,
                     "study '%s': input %d gives it other settings than an "
                     "earlier input: %s; rename one of them",
                     st->name, input + 1, why);
    }
  int64_t cap = u->cap;
  int rc = grow((void **)&u->groups, u->n, &cap, sizeof *u->groups, e);
  if (rc)
    return rc;
  u->cap = (int)cap;
  struct group *g = &u->groups[u->n++];
  memset(g, 0, sizeof *g);
  g->first = st;
  return join(g, st, input, e);
}

/* Every study of input number `input`: into a group of its name and
 * settings, else into the first group of its settings, else a group of
 * its own.  Name matches go first, so that a study found again under
 * its own name joins itself even when an earlier study has the same
 * settings. */
static int add_input(struct union_state *u, const struct spec *s, int input,
                     struct err *e)
{
  int n = spec_nstudies(s), rc = 0;
  unsigned char *placed = calloc((size_t)n, 1);
  if (!placed)
    return err_set(e, ERR_RUNTIME, "out of memory");
  for (int pass = 0; pass < 2 && rc == 0; pass++)
    for (int i = 0; i < n && rc == 0; i++) {
      const struct spec_study *st = spec_study(s, i);
      if (placed[i])
        continue;
      int gi = find_group(u, st, input, pass == 0);
      if (gi < 0 && pass == 0)
        continue;
      rc = gi < 0 ? new_group(u, st, input, e)
                  : join(&u->groups[gi], st, input, e);
      placed[i] = 1;
    }
  free(placed);
  return rc;
}

/* A group as a study to write: its first study's settings and the union
 * axes, in arrays owned here. */
struct view {
  struct spec_study st;
  enum bandit_regime *regime;
  int *arms;
  double *beta, *sigma, *eta, *ref_spread;
  int64_t *samples;
  unsigned char *eta_theory;
  uint64_t *seeds;
};

static void view_free(struct view *v)
{
  free(v->regime);
  free(v->arms);
  free(v->beta);
  free(v->sigma);
  free(v->eta);
  free(v->ref_spread);
  free(v->samples);
  free(v->eta_theory);
  free(v->seeds);
  memset(v, 0, sizeof *v);
}

static int u64_cmp(const void *x, const void *y)
{
  uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
  return (a > b) - (a < b);
}

/* The union's seeds, ascending: 0 .. seed_range - 1, then the listed
 * seeds above them, once each; a count when that is all 0 .. N-1. */
static int view_seeds(struct group *g, struct view *v, struct err *e)
{
  int64_t range = g->seed_range, extra = 0;
  if (g->nseeds > 1)
    qsort(g->seeds, (size_t)g->nseeds, sizeof *g->seeds, u64_cmp);
  for (int64_t i = 0; i < g->nseeds; i++)
    if (g->seeds[i] >= (uint64_t)range &&
        (extra == 0 || g->seeds[i] != g->seeds[extra - 1]))
      g->seeds[extra++] = g->seeds[i];
  /* Listed seeds that continue the range extend it. */
  int64_t skip = 0;
  while (skip < extra && g->seeds[skip] == (uint64_t)(range + skip))
    skip++;
  range += skip;
  extra -= skip;
  v->st.len[SPEC_AXIS_SEED] = range + extra;
  if (extra == 0)
    return 0; /* seed_list NULL: seeds 0 .. range - 1 */
  if (!(v->seeds = malloc((size_t)(range + extra) * sizeof *v->seeds)))
    return err_set(e, ERR_RUNTIME, "out of memory");
  for (int64_t i = 0; i < range; i++)
    v->seeds[i] = (uint64_t)i;
  memcpy(v->seeds + range, g->seeds + skip, (size_t)extra * sizeof *v->seeds);
  v->st.seed_list = v->seeds;
  return 0;
}

/* Copy the value ref of axis a into position k of v's arrays. */
static void copy_value(struct view *v, enum spec_axis a, int64_t k,
                       const struct value_ref *ref)
{
  const struct spec_study *st = ref->st;
  const int64_t pos = ref->pos;
  switch (a) {
  case SPEC_AXIS_REGIME: v->regime[k] = st->regime[pos]; break;
  case SPEC_AXIS_ARMS: v->arms[k] = st->arms[pos]; break;
  case SPEC_AXIS_BETA: v->beta[k] = st->beta[pos]; break;
  case SPEC_AXIS_SIGMA: v->sigma[k] = st->sigma[pos]; break;
  case SPEC_AXIS_SAMPLES: v->samples[k] = st->samples[pos]; break;
  case SPEC_AXIS_ETA:
    v->eta[k] = st->eta[pos];
    v->eta_theory[k] = st->eta_theory[pos];
    break;
  case SPEC_AXIS_REF_SPREAD: v->ref_spread[k] = st->ref_spread[pos]; break;
  case SPEC_AXIS_SEED:
  case SPEC_NAXES: break;
  }
}

/* g as a study: the first study's name and settings, the union axes. */
static int view_of(struct group *g, struct view *v, struct err *e)
{
  memset(v, 0, sizeof *v);
  v->st = *g->first;
  v->st.seed_list = NULL;
  const int64_t *n = g->n;
  v->regime = malloc((size_t)n[SPEC_AXIS_REGIME] * sizeof *v->regime);
  v->arms = malloc((size_t)n[SPEC_AXIS_ARMS] * sizeof *v->arms);
  v->beta = malloc((size_t)n[SPEC_AXIS_BETA] * sizeof *v->beta);
  v->sigma = malloc((size_t)n[SPEC_AXIS_SIGMA] * sizeof *v->sigma);
  v->samples = malloc((size_t)n[SPEC_AXIS_SAMPLES] * sizeof *v->samples);
  v->eta = malloc((size_t)n[SPEC_AXIS_ETA] * sizeof *v->eta);
  v->eta_theory = malloc((size_t)n[SPEC_AXIS_ETA] * sizeof *v->eta_theory);
  v->ref_spread =
    malloc((size_t)n[SPEC_AXIS_REF_SPREAD] * sizeof *v->ref_spread);
  if (!v->regime || !v->arms || !v->beta || !v->sigma || !v->samples ||
      !v->eta || !v->eta_theory || !v->ref_spread)
    return err_set(e, ERR_RUNTIME, "out of memory");
  for (int a = 0; a < SPEC_NAXES; a++) {
    if (a == SPEC_AXIS_SEED)
      continue;
    v->st.len[a] = n[a];
    for (int64_t k = 0; k < n[a]; k++)
      copy_value(v, (enum spec_axis)a, k, &g->vals[a][k]);
  }
  v->st.regime = v->regime;
  v->st.arms = v->arms;
  v->st.beta = v->beta;
  v->st.sigma = v->sigma;
  v->st.samples = v->samples;
  v->st.eta = v->eta;
  v->st.eta_theory = v->eta_theory;
  v->st.ref_spread = v->ref_spread;
  return view_seeds(g, v, e);
}

/* The union as canonical text (a new string in *out). */
static int union_text(struct union_state *u, const char *name,
                      uint64_t master_seed, char **out, struct err *e)
{
  char *buf = NULL;
  size_t len = 0;
  int rc = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    return err_set(e, ERR_RUNTIME, "out of memory");
  spec_write_head(f, name, master_seed);
  for (int i = 0; i < u->n && rc == 0; i++) {
    struct view v;
    if ((rc = view_of(&u->groups[i], &v, e)) == 0)
      spec_write_study(f, &v.st);
    view_free(&v);
  }
  /* A failed write (no memory) sets the error flag; fclose reports only
   * the final flush. */
  int failed = ferror(f);
  if (fclose(f) != 0 || failed)
    rc = rc ? rc : err_set(e, ERR_RUNTIME, "out of memory");
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}

static void union_free(struct union_state *u)
{
  for (int i = 0; i < u->n; i++) {
    for (int a = 0; a < SPEC_NAXES; a++)
      free(u->groups[i].vals[a]);
    free(u->groups[i].seeds);
  }
  free(u->groups);
}

int spec_union(const struct spec *const *in, int n, struct spec **out,
               struct err *e)
{
  struct union_state u = {.n = 0};
  char *text = NULL;
  int rc = 0;
  err_clear(e);
  if (n < 1)
    return err_set(e, ERR_INPUT, "no specs to merge");
  const uint64_t master_seed = spec_master_seed(in[0]);
  for (int k = 0; k < n && rc == 0; k++) {
    if (spec_master_seed(in[k]) != master_seed)
      rc = err_set(e, ERR_INPUT,
                   "input %d (spec '%s'): master_seed %llu differs from the "
                   "first input's %llu",
                   k + 1, spec_name(in[k]),
                   (unsigned long long)spec_master_seed(in[k]),
                   (unsigned long long)master_seed);
    else
      rc = add_input(&u, in[k], k, e);
  }
  if (rc)
    goto out;
  if ((rc = union_text(&u, spec_name(in[0]), master_seed, &text, e)))
    goto out;
  rc = spec_load_text(text, strlen(text), "the union", out, e);
out:
  free(text);
  union_free(&u);
  return rc;
}
