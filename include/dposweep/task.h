/* task: what every module agrees a task's state is.  A task is (study,
 * index) in a sweep (spec.h says how the index maps to values); its state
 * is one byte, stored per task in the results file (tasks/status) and
 * mirrored by the scheduler in memory.
 *
 * Not collective (declarations only). */
#ifndef DPOSWEEP_TASK_H
#define DPOSWEEP_TASK_H

enum task_status {
  TASK_PENDING = 0, /* not computed (or its write did not finish): run it */
  TASK_DONE = 1,    /* rows written, then this byte: the result is final */
  TASK_FAILED = 2,  /* diverged; rows up to the divergence, reason kept */
  /* In memory only, never stored: handed to a worker, not yet reported.
   * A file never holds it, so a killed run's tasks read back pending. */
  TASK_HANDED = 3
};

#endif
