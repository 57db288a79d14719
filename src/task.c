/* task: a task's identity.  See include/dposweep/task.h. */
#include "dposweep/task.h"

#include <stddef.h>

/* struct bandit_params as task_same knows it, field by field.  A field
 * added to bandit_params (or moved) changes its size or an offset below
 * and stops the build here: give the new field its place in task_same
 * (or say there why it does not shape a result, as record_every), then
 * add it here.  A small field slipped into padding changes neither; the
 * unit test test_every_field_counts (tests/unit/test_task.c) reads the
 * declaration in bandit.h and catches that case. */
struct params_as_known {
  enum bandit_regime regime;
  enum bandit_scale scale;
  enum bandit_rewards rewards;
  const double *reward_values;
  int arms;
  double beta;
  double sigma;
  int64_t samples;
  double eta;
  int eta_theory;
  int64_t iterations;
  int64_t record_every;
  uint64_t master_seed;
  uint64_t seed;
  double ref_spread;
  const double *ref_logits;
};

#define KNOWN(f)                                                              \
  _Static_assert(offsetof(struct bandit_params, f) ==                          \
                   offsetof(struct params_as_known, f),                       \
                 "struct bandit_params changed: update task_same")
KNOWN(regime);
KNOWN(scale);
KNOWN(rewards);
KNOWN(reward_values);
KNOWN(arms);
KNOWN(beta);
KNOWN(sigma);
KNOWN(samples);
KNOWN(eta);
KNOWN(eta_theory);
KNOWN(iterations);
KNOWN(record_every);
KNOWN(master_seed);
KNOWN(seed);
KNOWN(ref_spread);
KNOWN(ref_logits);
_Static_assert(sizeof(struct bandit_params) == sizeof(struct params_as_known),
               "struct bandit_params changed: update task_same");
#undef KNOWN

int task_same_values(const double *a, const double *b, int n)
{
  if (!a || !b)
    return a == b;
  for (int i = 0; i < n; i++)
    if (!(a[i] == b[i]))
      return 0;
  return 1;
}

int task_same(const struct bandit_params *a, const struct bandit_params *b)
{
  /* The instance: its stream key and its rewards. */
  if (a->master_seed != b->master_seed || a->seed != b->seed ||
      a->arms != b->arms || a->rewards != b->rewards)
    return 0;
  if (a->rewards == BANDIT_REWARDS_EXPLICIT &&
      !task_same_values(a->reward_values, b->reward_values, a->arms))
    return 0;
  /* The reference policy. */
  if (!(a->ref_spread == b->ref_spread) ||
      !task_same_values(a->ref_logits, b->ref_logits, a->arms))
    return 0;
  /* The dynamics: sampler, scale, estimator, step size, length. */
  if (a->regime != b->regime || a->scale != b->scale ||
      !(a->beta == b->beta) || !(a->sigma == b->sigma) ||
      a->samples != b->samples || a->iterations != b->iterations)
    return 0;
  if (!a->eta_theory != !b->eta_theory)
    return 0;
  /* record_every only chooses which steps are kept. */
  return a->eta_theory || a->eta == b->eta;
}

int task_records_within(int64_t iterations, int64_t every_new,
                        int64_t every_old, int64_t *map)
{
  if (iterations < 1 || every_new < 1 || every_old < 1)
    return 0;
  /* New steps: 0, k, 2k, ... below T, and T; old ones the same with k'.
   * 0 and T are always kept.  When k < T the step k itself needs k' | k,
   * and then every multiple of k is a multiple of k' too. */
  if (every_new < iterations && every_new % every_old != 0)
    return 0;
  const int64_t nnew = bandit_nrec(iterations, every_new);
  for (int64_t i = 0; map && i < nnew; i++)
    map[i] = task_record_in(iterations, every_new, every_old, i);
  return 1;
}

int64_t task_record_in(int64_t iterations, int64_t every_new,
                       int64_t every_old, int64_t i)
{
  /* T is the last old record whether or not k' divides it. */
  int64_t t = bandit_rec_step(i, iterations, every_new);
  return t == iterations ? bandit_nrec(iterations, every_old) - 1
                         : t / every_old;
}
