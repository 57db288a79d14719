/* grow: a results file built from other results files, for "dposweep run
 * --reuse" (grow a sweep, also in place) and "dposweep merge" (combine
 * files).
 *
 * The new file, of spec `target`, is made whole under a temporary name
 * beside its path (store_create_temp, with the inputs recorded in
 * /sources in the order given).  Then every task of the target that is
 * the same task (task_same) as a *finished* task of an input, done or
 * failed (a diverged task is a deterministic result too), is copied
 * into it: its rows at the target's recorded steps, its final theta,
 * timing, status and origin (/sources slot, study, index), through
 * store_copy_tasks in batches.  spec_map only finds the candidates, for
 * every (target study, input, input study) whose settings agree; every
 * pair is checked with task_same before it is copied.  The caller puts
 * the temporary in place (store_commit) or discards it
 * (store_discard_temp).
 *
 * Pure of MPI: spec, task and store's serial API.  Every function is
 * not collective. */
#ifndef DPOSWEEP_GROW_H
#define DPOSWEEP_GROW_H

#include "dposweep/err.h"
#include "dposweep/spec.h"

#include <signal.h>
#include <stdint.h>

/* How a task that several inputs have finished is taken. */
enum grow_mode {
  /* run --reuse: the first input (in the order given) that has the task
   * finished with rows that match their checksum provides it.  A finished
   * task that fails its checksum is not copied (a later input may
   * provide it, else the run recomputes it); an input of another
   * numerics version provides nothing. */
  GROW_REUSE,
  /* merge: every finished task of every input is in the new file; a task
   * finished in several inputs must agree bit for bit in all of them
   * (status, every metric at the target's recorded steps, final theta),
   * and every finished task of every input must match its checksum; an
   * input of another numerics version is refused. */
  GROW_MERGE
};

/* The input files, open read-only. */
struct grow_inputs;

/* Not collective.  Open paths[0..n) (1 <= n <= STORE_MAX_SOURCES) as
 * results files of this dposweep's format, each with its stored spec.
 * Returns 0, or ERR_INPUT naming the first path that is missing, a
 * directory, not HDF5, truncated, not a dposweep file or of another
 * format version ("old.h5: not an HDF5 file (no HDF5 signature)"), or
 * ERR_RUNTIME.  A file of another numerics version opens. */
int grow_inputs_open(const char *const *paths, int n,
                     struct grow_inputs **out, struct err *e);
void grow_inputs_close(struct grow_inputs **in);

/* Not collective.  The number of inputs; input i's path as given, its
 * stored spec, and the numerics version of its results. */
int grow_inputs_count(const struct grow_inputs *in);
const char *grow_input_path(const struct grow_inputs *in, int i);
const struct spec *grow_input_spec(const struct grow_inputs *in, int i);
int grow_input_numerics(const struct grow_inputs *in, int i);

/* Not collective.  The union of the inputs' stored specs (spec_union):
 * name and master seed the first input's.  Returns 0; ERR_INPUT naming
 * the input whose master seed differs from the first's ("b.h5: master
 * seed 7 differs from a.h5's 4242"), or the study whose settings clash
 * ("study 'a': ..."); ERR_RUNTIME. */
int grow_union(const struct grow_inputs *in, struct spec **out,
               struct err *e);

/* What building took from one input. */
struct grow_tally {
  int64_t provided;     /* tasks copied from it */
  int64_t agreed;       /* merge: tasks it has finished that an earlier
                           input provided, equal bit for bit */
  int64_t bad_checksum; /* reuse: finished tasks it would have provided
                           whose rows fail their checksum: not copied */
  int numerics;         /* its numerics version; reuse takes nothing from
                           an input whose version is not this dposweep's */
};

/* Not collective.  Build the file of spec target for path (which is not
 * touched) under a temporary name, taking tasks from in as mode says;
 * tally[0..count) says what each input gave.  When stop is not NULL and
 * *stop becomes non-zero, it stops between batches (ERR_RUNTIME,
 * "interrupted").  On success sets *tmp_path (malloc'd) to the closed,
 * complete temporary.  Returns 0; ERR_INPUT (merge: an input of another
 * numerics version, a finished task that fails its checksum, "b.h5:
 * study 'a' task 17 (regime=uniform, ..., seed=2): checksum mismatch",
 * or two inputs that disagree on a task, "a.h5 and b.h5 disagree on
 * study 's' task 4 (regime=..., seed=1): traj/value_gap at step 9
 * (0.25 vs 0.25000000000000006)"); ERR_RUNTIME (I/O, memory).  On
 * failure nothing is left behind. */
int grow_build(const char *path, const struct spec *target,
               struct grow_inputs *in, enum grow_mode mode,
               const volatile sig_atomic_t *stop, struct grow_tally *tally,
               char **tmp_path, struct err *e);

#endif
