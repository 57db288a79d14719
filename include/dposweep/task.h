/* task: what every module agrees a task is.
 *
 * A task is (study, index) in a sweep (spec.h says how the index maps to
 * values); its state is one byte, stored per task in the results file
 * (tasks/status) and mirrored by the scheduler in memory.
 *
 * Its identity is its values: two tasks are the same task when every value
 * that shapes their result is equal (task_same), wherever they sit in
 * whichever spec.  This is the one definition; growing a file (--reuse)
 * and merging files decide through it.
 *
 * All functions are not collective (no MPI). */
#ifndef DPOSWEEP_TASK_H
#define DPOSWEEP_TASK_H

#include "dposweep/bandit.h"

#include <stdint.h>

enum task_status {
  TASK_PENDING = 0, /* not computed (or its write did not finish): run it */
  TASK_DONE = 1,    /* rows written, then this byte: the result is final */
  TASK_FAILED = 2,  /* diverged; rows up to the divergence, reason kept */
  /* In memory only, never stored: handed to a worker, not yet reported.
   * A file never holds it, so a killed run's tasks read back pending. */
  TASK_HANDED = 3
};

/* Not collective.  1 when a and b are the same task, else 0: the same
 * master seed, seed, regime, scale, reward distribution (and, for explicit
 * rewards, the same values), arms, beta, sigma, samples, step size (both
 * 'theory', or both numeric and equal: 'theory' never equals a number),
 * iterations, ref_spread and reference logits (both absent, or the same
 * values).  Numbers compare as numbers (0 == -0.0).  record_every does not
 * count: which steps are kept is task_records_within's question.  Both
 * must be valid parameters (bandit_params_check). */
int task_same(const struct bandit_params *a, const struct bandit_params *b);

/* Not collective.  1 when the vectors a and b (n values each, or NULL for
 * none) are the same: both absent, or both given and equal as numbers (0
 * == -0.0); else 0.  An absent and a given one differ, even a given one of
 * zeros: the engine keys its streams on a given vector.  How task_same
 * compares reward_values and ref_logits. */
int task_same_values(const double *a, const double *b, int n);

/* Not collective.  1 when every step recorded by a task of T = iterations
 * steps recorded every every_new is also recorded every every_old (so the
 * new task's rows can be copied from the old one's), else 0.  On 1, when
 * map is not NULL, map[i] (bandit_nrec(iterations, every_new) entries) is
 * the old record index of new record i; on 0 map is untouched.
 * iterations and both periods must be >= 1 (else 0). */
int task_records_within(int64_t iterations, int64_t every_new,
                        int64_t every_old, int64_t *map);

/* Not collective.  When task_records_within(iterations, every_new,
 * every_old, ...) is 1: the old record index of new record i (0 <= i <
 * bandit_nrec(iterations, every_new)), the map's entry i. */
int64_t task_record_in(int64_t iterations, int64_t every_new,
                       int64_t every_old, int64_t i);

#endif
