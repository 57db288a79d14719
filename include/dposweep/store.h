/* store: the results file (parallel HDF5), the contract with analysis/.
 *
 *   /                     attrs: spec, spec_canonical, spec_sha256,
 *                         dposweep_version, git_revision, dposweep_format,
 *                         created, name, master_seed, ntasks
 *   /studies/<name>/      attrs: the study's settings and axis values
 *     tasks/regime        int32 [ntasks] (attr names: regime names by value)
 *     tasks/arms, beta, sigma, samples, eta, eta_theory, seed   [ntasks]
 *     tasks/status        uint8 [ntasks]  enum task_status (task.h)
 *     tasks/rank, wall_seconds, finished_at, reason             [ntasks]
 *     traj/t              int64 [nrec]
 *     traj/max_abs_delta, mean_abs_delta, value_gap  double [ntasks, nrec]
 *     final/theta         double [ntasks, max_arms] (NaN padded)
 *   /runs/start, end, ranks, hosts, done_before, done_after    [STORE_MAX_RUNS]
 *
 * Every dataset is created at its final size, contiguous, with early
 * allocation, by one process, before any result is written; afterwards
 * only raw data is written (rows first, then the status byte), so a
 * killed run leaves a readable file.  Only store_ includes hdf5.h. */
#ifndef DPOSWEEP_STORE_H
#define DPOSWEEP_STORE_H

#include "dposweep/spec.h"
#include "dposweep/task.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_FORMAT 1
#define STORE_MAX_RUNS 4096
#define STORE_REASON_LEN 96
#define STORE_HOSTS_LEN 256

/* What store_probe finds at a path. */
enum store_probe_result {
  STORE_MISSING = 0,     /* no such file */
  STORE_SAME_SPEC = 1,   /* a dposweep file of this spec: resume */
  STORE_OTHER_SPEC = 2,  /* a dposweep file of another spec */
  STORE_NOT_DPOSWEEP = 3,/* HDF5 but not ours, or another format version */
  STORE_NOT_HDF5 = 4,    /* exists, not HDF5 (or unreadable) */
};

/* Not collective.  Look at path without changing it and say what is
 * there; `what` describes it in one line (for STORE_OTHER_SPEC the stored
 * hash). */
enum store_probe_result store_probe(const char *path, const char *sha256,
                                    struct err *what);

/* Not collective (one process).  Create the file with every dataset at
 * its final size, under a temporary name renamed into place, so an
 * existing file is replaced only by a complete new one.  Returns 0 or
 * ERR_RUNTIME. */
int store_create(const char *path, const struct spec *s, struct err *e);

/* Bytes the file will take (raw data plus HDF5 metadata, estimated),
 * and the part one study takes. */
int64_t store_predicted_size(const struct spec *s);
int64_t store_study_bytes(const struct spec_study *st);

struct store;

/* Collective over comm.  Open an existing file for parallel writing. */
int store_open(MPI_Comm comm, const char *path, const struct spec *s,
               struct store **out, struct err *e);

/* Collective.  Close (flushes).  Returns 0 or ERR_RUNTIME.  Clears *st. */
int store_close(struct store **st, struct err *e);

/* Collective.  Flush everything written so far to the file system. */
int store_flush(struct store *st, struct err *e);

/* Not collective.  Read the status bytes of a study's tasks. */
int store_read_status(struct store *st, int study, uint8_t *status,
                      struct err *e);

/* One worker's finished tasks of one study, rows ascending.  Per-task
 * arrays have n entries; traj arrays n * nrec; theta n * max_arms;
 * reason n * STORE_REASON_LEN bytes. */
struct store_rows {
  int64_t n;
  const int64_t *rows;
  const double *max_abs_delta, *mean_abs_delta, *value_gap;
  const double *theta;
  const uint8_t *status;
  const int32_t *rank;
  const double *wall_seconds, *finished_at;
  const char *reason;
};

/* Not collective.  Write rows with independent I/O, the status bytes
 * last.  Returns 0 or ERR_RUNTIME. */
int store_write_rows(struct store *st, int study, const struct store_rows *r,
                     struct err *e);

/* Not collective (rank 0).  Record a run: store_run_begin finds a free
 * slot, writes start, ranks, hosts and the tasks done before, and sets
 * *slot.  store_run_end writes end and done after.  Both return 0 or
 * ERR_RUNTIME. */
int store_run_begin(struct store *st, double start, int ranks,
                    const char *hosts, int64_t done_before, int *slot,
                    struct err *e);
int store_run_end(struct store *st, int slot, double end, int64_t done_after,
                  struct err *e);

/* ---- read-only access, serial (status command, tests) ---- */

struct store_reader;

/* Not collective.  Open a results file read-only and parse its stored
 * spec.  Returns 0, or ERR_INPUT with a one-line reason (not HDF5, not a
 * dposweep file, other format version, damaged). */
int store_reader_open(const char *path, struct store_reader **out,
                      struct err *e);
void store_reader_close(struct store_reader **r);
const struct spec *store_reader_spec(const struct store_reader *r);
int store_reader_status(struct store_reader *r, int study, uint8_t *status,
                        struct err *e);
/* A run record. */
struct store_run_info {
  double start, end;
  int ranks;
  int64_t done_before, done_after;
  char hosts[STORE_HOSTS_LEN];
};
/* Not collective.  The runs recorded: fills up to max entries of runs and
 * sets *count to the number recorded (which may exceed max).  Returns 0,
 * or ERR_INPUT when the records cannot be read (damaged). */
int store_reader_read_runs(struct store_reader *r,
                           struct store_run_info *runs, int max, int *count,
                           struct err *e);
/* Not collective.  The same, returning the count, or -1 when the records
 * cannot be read (store_reader_read_runs says why). */
int store_reader_runs(struct store_reader *r, struct store_run_info *runs,
                      int max);

#endif
