/* spec_map: where the tasks of one study are in another.  See
 * include/dposweep/spec.h ("finding the tasks of one study in another").
 *
 * The map agrees with task_same by construction: the study-level values
 * it requires equal are exactly the values of bandit_params that do not
 * come from an axis (master seed, scale, rewards and their values,
 * ref_logits, iterations), and the axes are matched value by value with
 * the same numeric equality; record_every, which task_same ignores, is
 * the recorded-steps check.  The unit test test_map_is_task_same checks
 * both directions on random specs. */
#include "dposweep/spec.h"
#include "dposweep/task.h"

#include "spec_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct spec_map {
  const struct spec_study *to, *from;
  int compatible;
  char mismatch[256];
  /* Axes other than seed: pos[a][i], the position in from of to's value
   * i, or -1. */
  int64_t *pos[SPEC_NAXES];
  /* from's listed seeds, sorted; NULL when from has seeds 0 .. N-1. */
  struct spec_placed *from_seeds;
};

int spec_settings_differ(const struct spec_study *a,
                         const struct spec_study *b, int with_records,
                         char *why, size_t len)
{
  if (a->iterations != b->iterations)
    snprintf(why, len, "iterations differ (%lld vs %lld)",
             (long long)a->iterations, (long long)b->iterations);
  else if (with_records && a->record_every != b->record_every)
    snprintf(why, len, "record_every differs (%lld vs %lld)",
             (long long)a->record_every, (long long)b->record_every);
  else if (a->scale != b->scale)
    snprintf(why, len, "scale differs (%s vs %s)",
             bandit_scale_name(a->scale), bandit_scale_name(b->scale));
  else if (a->rewards != b->rewards)
    snprintf(why, len, "rewards differ (%s vs %s)",
             bandit_rewards_name(a->rewards), bandit_rewards_name(b->rewards));
  else if (a->rewards == BANDIT_REWARDS_EXPLICIT &&
           (a->max_arms != b->max_arms ||
            !task_same_values(a->reward_values, b->reward_values,
                              a->max_arms)))
    snprintf(why, len, "reward_values differ");
  else if ((a->ref_logits && b->ref_logits && a->max_arms != b->max_arms) ||
           !task_same_values(a->ref_logits, b->ref_logits, a->max_arms))
    snprintf(why, len, "ref_logits differ");
  else
    return 0;
  return 1;
}

/* Whether to's tasks can be in from at all; if not, why, in m. */
static int compatible(struct spec_map *m, uint64_t to_seed,
                      uint64_t from_seed)
{
  const struct spec_study *to = m->to, *from = m->from;
  char why[200];
  if (to_seed != from_seed)
    snprintf(m->mismatch, sizeof m->mismatch,
             "master_seed differs (%llu vs %llu)",
             (unsigned long long)to_seed, (unsigned long long)from_seed);
  else if (spec_settings_differ(to, from, 0, why, sizeof why))
    snprintf(m->mismatch, sizeof m->mismatch, "%s", why);
  else if (!task_records_within(to->iterations, to->record_every,
                                from->record_every, NULL))
    snprintf(m->mismatch, sizeof m->mismatch,
             "record_every %lld keeps steps that record_every %lld did not",
             (long long)to->record_every, (long long)from->record_every);
  else
    return 1;
  return 0;
}

/* pos[a] for every axis but seed: each of to's values looked up among
 * from's, sorted; from's seeds sorted too when it lists them. */
static int build_positions(struct spec_map *m, struct err *e)
{
  for (int a = 0; a < SPEC_NAXES; a++) {
    struct spec_placed *sorted = NULL;
    if (a == SPEC_AXIS_SEED) {
      if (m->from->seed_list)
        return spec_axis_sorted(m->from, SPEC_AXIS_SEED, &m->from_seeds, e);
      continue;
    }
    int rc = spec_axis_sorted(m->from, (enum spec_axis)a, &sorted, e);
    if (rc)
      return rc;
    const int64_t n = m->to->len[a];
    if (!(m->pos[a] = malloc((size_t)n * sizeof *m->pos[a]))) {
      free(sorted);
      return err_set(e, ERR_RUNTIME, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
      struct spec_value v = spec_axis_value(m->to, (enum spec_axis)a, i);
      m->pos[a][i] = spec_sorted_find(sorted, m->from->len[a], &v);
    }
    free(sorted);
  }
  return 0;
}

int spec_map_create(const struct spec *to, int to_study,
                    const struct spec *from, int from_study,
                    struct spec_map **out, struct err *e)
{
  struct spec_map *m = calloc(1, sizeof *m);
  int rc = 0;
  if (!m)
    return err_set(e, ERR_RUNTIME, "out of memory");
  m->to = spec_study(to, to_study);
  m->from = spec_study(from, from_study);
  m->compatible =
    compatible(m, spec_master_seed(to), spec_master_seed(from));
  if (m->compatible && (rc = build_positions(m, e)))
    goto out;
  *out = m;
  m = NULL;
out:
  spec_map_destroy(&m);
  return rc;
}

void spec_map_destroy(struct spec_map **mp)
{
  if (!mp || !*mp)
    return;
  struct spec_map *m = *mp;
  for (int a = 0; a < SPEC_NAXES; a++)
    free(m->pos[a]);
  free(m->from_seeds);
  free(m);
  *mp = NULL;
}

const char *spec_map_mismatch(const struct spec_map *m)
{
  return m->compatible ? NULL : m->mismatch;
}

int64_t spec_map_pos(const struct spec_map *m, enum spec_axis a,
                     int64_t to_pos)
{
  if (!m->compatible || a < 0 || a >= SPEC_NAXES || to_pos < 0 ||
      to_pos >= m->to->len[a])
    return -1;
  if (a != SPEC_AXIS_SEED)
    return m->pos[a][to_pos];
  /* Seeds are looked up as asked: to may have 10^8 of them. */
  struct spec_value v = spec_axis_value(m->to, a, to_pos);
  if (m->from_seeds)
    return spec_sorted_find(m->from_seeds, m->from->len[a], &v);
  return v.seed < (uint64_t)m->from->len[a] ? (int64_t)v.seed : -1;
}

int64_t spec_map_index(const struct spec_map *m, int64_t to_index)
{
  struct spec_coords c;
  if (!m->compatible || to_index < 0 || to_index >= m->to->ntasks)
    return -1;
  spec_coords_of(m->to, to_index, &c);
  for (int a = 0; a < SPEC_NAXES; a++)
    if ((c.pos[a] = spec_map_pos(m, (enum spec_axis)a, c.pos[a])) < 0)
      return -1;
  return spec_index_of(m->from, &c);
}

int64_t spec_map_record(const struct spec_map *m, int64_t to_rec)
{
  if (!m->compatible || to_rec < 0 || to_rec >= m->to->nrec)
    return -1;
  return task_record_in(m->to->iterations, m->to->record_every,
                        m->from->record_every, to_rec);
}
