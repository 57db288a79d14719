/* sweep: "dposweep run" as one MPI job.  Rank 0 coordinates: it hands
 * out chunks of pending tasks on request, cut by the scheduling policy
 * (sched.h: largest cost first, chunks of about chunk_seconds, shrinking
 * at the end); the other ranks run them with the engine and write their
 * rows straight into the shared file.  With one rank, that rank does
 * both.  The messages between the ranks are listed at the top of sweep.c.
 * Only sweep_ and store_ include mpi.h. */
#ifndef DPOSWEEP_SWEEP_H
#define DPOSWEEP_SWEEP_H

struct sweep_options {
  const char *spec_path;   /* NULL: the embedded default sweep */
  const char *output;      /* results file */
  int force;               /* start over even if output holds this spec */
  const char *const *reuse;/* --reuse files, in the order given: their
                              finished tasks of this spec are copied into
                              a new output (include/dposweep/grow.h) */
  int nreuse;
  double grace;            /* seconds after the first signal before
                              in-flight tasks are abandoned */
  double flush_interval;   /* seconds between collective flushes */
  double progress_interval;/* seconds between progress lines (not a tty) */
  double chunk_seconds;    /* target compute time of one chunk */
  int quiet;               /* no progress lines */
  int stats;               /* print wall, CPU, efficiency, memory at the end */
};

/* Collective over all processes of the job: initializes and finalizes
 * MPI, runs the sweep, and returns the exit code (the same on every
 * rank): 0 complete, 1 interrupted by a signal, 2 input error (bad spec,
 * output holds another spec or is not a dposweep file, a bad --reuse
 * file), 3 runtime
 * failure (I/O).  usage_error, if not NULL, is printed by rank 0 alone
 * and the call returns 2 without running anything. */
int sweep_main(const struct sweep_options *o, const char *usage_error);

#endif
