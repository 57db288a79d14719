/* verify: "dposweep verify", whether a results file still holds the
 * results that were computed.  Every finished task (done or failed) is
 * checked against its checksum (store_checksum: a bit flip, a stray
 * write), every task marked finished must have rows, and on request
 * tasks chosen at random are recomputed with the engine and compared bit
 * for bit with the stored rows (which also catches rows rewritten
 * together with their checksum, and a changed status byte).
 *
 * Under mpirun the finished tasks are split among the ranks, each with
 * its own serial reader: the checksums by equal shares of each study,
 * the recomputation by cost; rank 0 gathers the verdicts and prints them
 * in (study, index) order, the same whatever the rank count.  The
 * messages between the ranks are listed at the top of verify.c.
 *
 * The pure parts (which tasks, who does what, comparing rows) are
 * exposed for the unit tests; they are not collective. */
#ifndef DPOSWEEP_VERIFY_H
#define DPOSWEEP_VERIFY_H

#include "dposweep/bandit.h"
#include "dposweep/err.h"
#include "dposweep/spec.h"

#include <stddef.h>
#include <stdint.h>

struct verify_options {
  const char *path;         /* the results file */
  int recompute_all;        /* --recompute all */
  int64_t recompute;        /* --recompute N (unless recompute_all) */
  uint64_t seed;            /* --seed: which tasks are recomputed */
  double progress_interval; /* seconds between progress lines (not a tty) */
  int quiet;                /* no progress lines */
};

/* Collective over all processes of the job: initializes and finalizes
 * MPI, verifies o->path, prints the verdict (rank 0) and returns the exit
 * code, the same on every rank: 0 every finished task intact, 1 some task
 * failed a check, 2 not a readable dposweep file (or --recompute on a
 * file of another numerics version), 3 runtime failure.  usage_error, if
 * not NULL, is printed by rank 0 alone and the call returns 2. */
int verify_main(const struct verify_options *o, const char *usage_error);

/* ---- the pure parts ---- */

/* Not collective.  Choose want distinct positions out of 0 .. n - 1,
 * uniformly at random, from seed alone (PCG32; the same seed, n and want
 * give the same positions on every machine): pos[0..want) ascending.
 * Requires 0 <= want <= n. */
void verify_choose(uint64_t seed, int64_t n, int64_t want, int64_t *pos);

/* Not collective.  Share n jobs of the given costs among nranks ranks so
 * that their total costs are close (largest cost first, each to the rank
 * with the least so far; ties to the lower job position and the lower
 * rank): owner[i] is job i's rank.  Deterministic: the same costs give
 * the same shares.  Returns 0 or ERR_RUNTIME (out of memory). */
int verify_share(const double *cost, int64_t n, int nranks, int *owner,
                 struct err *e);

/* Not collective.  Rank r's part of n items split into nranks contiguous
 * parts of equal size (to one item): [*lo, *hi). */
void verify_slice(int64_t n, int nranks, int r, int64_t *lo, int64_t *hi);

/* A task's result, as stored or as recomputed: its status (enum
 * task_status: done or failed), the reason of a failed one (at most
 * reason_len bytes, NUL-terminated or not), every metric's nrec values and
 * the final theta's max_arms values (NaN padded). */
struct verify_rows {
  uint8_t status;
  const char *reason;
  size_t reason_len;
  const double *metric[BANDIT_NMETRICS];
  const double *theta;
};

/* Not collective.  Compare a task's stored result with its recomputed
 * one, bit for bit: the outcome (done, or failed with the same reason,
 * i.e. diverged at the same step), every metric at every recorded step of
 * study st, the final theta.  Returns 0 when equal, else 1 and one line
 * in why (len bytes) naming the first difference: "recomputed, it
 * differs: value_gap at step 12: stored 0.125, recomputed
 * 0.12500000000000003". */
int verify_compare(const struct spec_study *st, const struct verify_rows *stored,
                   const struct verify_rows *again, char *why, size_t len);

/* The buffers of one recomputed task of a study (nrec values per metric,
 * max_arms of theta); verify_result_destroy frees them. */
struct verify_result {
  struct verify_rows rows;
  double *metric[BANDIT_NMETRICS];
  double *theta;
  char *reason;
};

/* Not collective.  Recompute task (study, index) of spec s with the
 * engine, as a run computes it, into *out (allocated here, sized for the
 * study; destroy it with verify_result_destroy).  Returns 0 or
 * ERR_RUNTIME (out of memory). */
int verify_recompute(const struct spec *s, int study, int64_t index,
                     struct verify_result *out, struct err *e);
void verify_result_destroy(struct verify_result *r);

/* Not collective.  "study 'a' task 17 (regime mix-p, arms 20, beta 3,
 * sigma 0, samples 0, eta theory, ref_spread 0, seed 5)" into buf (len
 * bytes, cut if shorter). */
void verify_describe_task(const struct spec *s, int study, int64_t index,
                          char *buf, size_t len);

#endif
