/* store: the results file (parallel HDF5), the contract with analysis/.
 *
 *   /                     attrs: spec, spec_canonical, spec_sha256,
 *                         dposweep_version, git_revision, dposweep_format,
 *                         numerics, created, name, master_seed, ntasks
 *   /studies/<name>/      attrs: the study's settings and axis values
 *     tasks/regime        int32 [ntasks] (attr names: regime names by value)
 *     tasks/arms, beta, sigma, samples, eta, eta_theory, ref_spread,
 *           seed                                              [ntasks]
 *     tasks/status        uint8 [ntasks]  enum task_status (task.h)
 *     tasks/rank, wall_seconds, finished_at, reason             [ntasks]
 *     tasks/run           int32  the /runs slot that computed it, -1 none
 *     tasks/checksum      uint32 store_checksum of its rows
 *     tasks/origin_source int32  -1 computed here, else its /sources slot
 *     tasks/origin_study, origin_index   where in that source it was
 *     traj/t              int64 [nrec]
 *     traj/<metric>       double [ntasks, nrec], one per enum bandit_metric
 *     final/theta         double [ntasks, max_arms] (NaN padded)
 *   /runs/start, end, ranks, hosts, nodes, isa, done_before, done_after
 *                         [STORE_MAX_RUNS]
 *   /sources/path, spec_sha256, dposweep_version, git_revision, numerics
 *                         [STORE_MAX_SOURCES], filled at creation
 *
 * Every dataset is created at its final size, contiguous, with early
 * allocation, by one process, before any result is written; afterwards
 * only raw data is written (a task's rows and checksum first, then its
 * status byte), so a killed run leaves a readable file, and a reader
 * that reads a task's status before its rows trusts only rows of tasks
 * marked finished.  docs/design.md (section 7) argues why this survives
 * any crash, and what it does not cover.  Only store_ includes hdf5.h. */
#ifndef DPOSWEEP_STORE_H
#define DPOSWEEP_STORE_H

#include "dposweep/bandit.h"
#include "dposweep/spec.h"
#include "dposweep/task.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_FORMAT 2
#define STORE_MAX_RUNS 4096
#define STORE_MAX_SOURCES 256
#define STORE_REASON_LEN 96
#define STORE_HOSTS_LEN 256    /* runs/hosts and runs/nodes */
#define STORE_ISA_LEN 32       /* runs/isa */
#define STORE_PATH_LEN 1024    /* sources/path */
#define STORE_VERSION_LEN 64   /* sources/dposweep_version, git_revision */
#define STORE_STUDY_LEN (SPEC_MAX_NAME + 1) /* tasks/origin_study */

/* What store_probe finds at a path. */
enum store_probe_result {
  STORE_MISSING = 0,        /* no such file */
  STORE_SAME_SPEC = 1,      /* a dposweep file of this spec: resume */
  STORE_OTHER_SPEC = 2,     /* a dposweep file of another spec */
  STORE_NOT_DPOSWEEP = 3,   /* HDF5 but not ours, or another format version */
  STORE_NOT_HDF5 = 4,       /* exists, not HDF5 (or unreadable) */
  STORE_OTHER_NUMERICS = 5, /* this spec, results of another numerics
                             * version (BANDIT_NUMERICS_VERSION) */
};

/* Not collective.  Look at path without changing it and say what is
 * there; `what` describes it in one line (for STORE_OTHER_SPEC the stored
 * hash, for STORE_OTHER_NUMERICS both versions: "OUT.h5 holds results of
 * numerics version 1; this dposweep computes version 2"). */
enum store_probe_result store_probe(const char *path, const char *sha256,
                                    struct err *what);

/* ---- creation ---- */

/* A file whose tasks a new file copies (run --reuse, merge), as recorded
 * in the new file's /sources.  store_reader_describe fills one. */
struct store_source {
  char path[STORE_PATH_LEN];
  char spec_sha256[65];
  char dposweep_version[STORE_VERSION_LEN];
  char git_revision[STORE_VERSION_LEN];
  int32_t numerics;
};

/* Not collective (one process).  Create a complete file of spec s (every
 * dataset at its final size, every task pending, /sources holding
 * sources[0..nsources)) under a temporary name beside path, and set
 * *tmp_path (malloc'd; the caller frees it) to that name:
 * "<path>.tmp.<host>.<pid>", so each process making a file for path has
 * its own.  path itself is not touched.  First removes the temporaries
 * of path that this host's dead processes left behind
 * (store_remove_stale_temps with all 0).  Returns 0, ERR_INPUT (more
 * than STORE_MAX_SOURCES sources, or a field too long) or ERR_RUNTIME;
 * on failure nothing is left behind. */
int store_create_temp(const char *path, const struct spec *s,
                      const struct store_source *sources, int nsources,
                      char **tmp_path, struct err *e);

/* Not collective.  Put a finished temporary file in place: fsync it,
 * rename it over path, fsync the directory.  Until the rename path is
 * untouched; after it path is the new file.  The temporary must be
 * closed (no store or reader open on it).  Returns 0 or ERR_RUNTIME
 * ("cannot create PATH: ..."); on failure the temporary is kept (the
 * caller removes it with store_discard_temp). */
int store_commit(const char *tmp_path, const char *path, struct err *e);

/* Not collective.  Remove a temporary that will not be committed.  A
 * failure leaves a file whose name says what it is: not an error. */
void store_discard_temp(const char *tmp_path);

/* Not collective.  Remove the temporaries of path ("<path>.tmp.*") that
 * interrupted attempts left: with all 0 only those of this host whose
 * process is gone; with all non-zero every one (only for a caller that
 * owns path, i.e. holds its lock: another host's live attempt would
 * lose its file).  Returns the number removed, or ERR_RUNTIME when the
 * directory cannot be read. */
int store_remove_stale_temps(const char *path, int all, struct err *e);

/* Not collective (one process).  store_create_temp with no sources, then
 * store_commit: an existing file is replaced only by a complete new one.
 * Returns 0 or ERR_RUNTIME. */
int store_create(const char *path, const struct spec *s, struct err *e);

/* Bytes the file will take (raw data exactly, HDF5 metadata estimated),
 * and the part one study takes.  Not collective. */
int64_t store_predicted_size(const struct spec *s);
int64_t store_study_bytes(const struct spec_study *st);

/* ---- checksums ---- */

/* Not collective.  The checksum of a task's rows, as stored in
 * tasks/checksum: zlib's CRC-32 over the little-endian IEEE-754 bytes of
 * every recorded value of every metric in enum bandit_metric order
 * (metric[m][0..nrec)), then of its final theta as stored (max_arms
 * values, NaN padding included). */
uint32_t store_checksum(const double *const metric[BANDIT_NMETRICS],
                        int64_t nrec, const double *theta, int64_t max_arms);

/* ---- writing: parallel (run) or serial (building a file) ---- */

struct store;

/* Collective over comm.  Open an existing file for parallel writing. */
int store_open(MPI_Comm comm, const char *path, const struct spec *s,
               struct store **out, struct err *e);

/* Not collective (one process, no MPI-IO).  Open a file of spec s for
 * serial writing: the temporary of store_create_temp, filled with
 * store_copy_tasks (and store_write_rows) before store_commit. */
int store_open_serial(const char *path, const struct spec *s,
                      struct store **out, struct err *e);

/* Close (flushes).  Collective when opened with store_open, not
 * collective when opened with store_open_serial.  Returns 0 or
 * ERR_RUNTIME.  Clears *st. */
int store_close(struct store **st, struct err *e);

/* Collective (not collective when serial).  Flush everything written so
 * far to the file system. */
int store_flush(struct store *st, struct err *e);

/* Not collective.  Read the status bytes of a study's tasks. */
int store_read_status(struct store *st, int study, uint8_t *status,
                      struct err *e);

/* One batch of finished tasks of one study, rows ascending and distinct.
 * Per-task arrays have n entries; metric[m] n * nrec (task i's records
 * at i * nrec); theta n * max_arms; reason n * STORE_REASON_LEN bytes.
 * run is the /runs slot of the run that computed them (-1: none, and for
 * copies).  origin_source NULL: computed in this file (the file keeps
 * origin -1); else per task the /sources slot, origin_study n *
 * STORE_STUDY_LEN bytes and origin_index, where the rows came from. */
struct store_rows {
  int64_t n;
  const int64_t *rows;
  const double *metric[BANDIT_NMETRICS];
  const double *theta;
  const uint8_t *status;
  const int32_t *rank;
  const double *wall_seconds, *finished_at;
  const char *reason;
  int32_t run;
  const int32_t *origin_source;
  const char *origin_study;
  const int64_t *origin_index;
};

/* Not collective.  Write rows with independent I/O: the rows, their
 * checksums (store_checksum, computed here), the rest, and the status
 * bytes last.  Returns 0 or ERR_RUNTIME. */
int store_write_rows(struct store *st, int study, const struct store_rows *r,
                     struct err *e);

/* What a run records when it begins. */
struct store_run_start {
  double start;        /* seconds since the epoch */
  int ranks;
  const char *hosts;   /* distinct host names, comma separated */
  const char *nodes;   /* distinct SLURMD_NODENAME values (else host names) */
  const char *isa;     /* the engine's instruction set */
  int64_t done_before; /* tasks finished before it */
};

/* Not collective (rank 0).  Record a run: store_run_begin finds a free
 * slot, writes what begin says (start last: it marks the slot used) and
 * sets *slot.  store_run_end writes end and done after.  Both return 0
 * or ERR_RUNTIME. */
int store_run_begin(struct store *st, const struct store_run_start *begin,
                    int *slot, struct err *e);
int store_run_end(struct store *st, int slot, double end, int64_t done_after,
                  struct err *e);

/* ---- reading, serial (status, verify, reuse, merge, tests) ----
 *
 * A reader works while another process writes the file (a run in
 * progress): it reads a task's status before its rows, trusts the rows
 * of finished tasks only, and caches no raw data between reads. */

struct store_reader;

/* Not collective.  Open a results file read-only and parse its stored
 * spec.  Returns 0, or ERR_INPUT with a one-line reason (not HDF5, not a
 * dposweep file, other format version, damaged).  A file of another
 * numerics version opens (store_reader_numerics says which). */
int store_reader_open(const char *path, struct store_reader **out,
                      struct err *e);
void store_reader_close(struct store_reader **r);
const struct spec *store_reader_spec(const struct store_reader *r);
/* The numerics version whose results the file holds. */
int store_reader_numerics(const struct store_reader *r);
/* This file as a source of another (its absolute path where it can be
 * resolved, else the path it was opened by). */
void store_reader_describe(const struct store_reader *r,
                           struct store_source *out);
/* Not collective.  The sources recorded at creation: fills up to max
 * entries and sets *count to the number recorded.  Returns 0, or
 * ERR_INPUT when they cannot be read (damaged). */
int store_reader_sources(struct store_reader *r, struct store_source *out,
                         int max, int *count, struct err *e);
int store_reader_status(struct store_reader *r, int study, uint8_t *status,
                        struct err *e);
/* Not collective.  The tasks/origin_source of a study's tasks (-1:
 * computed in this file, else the /sources slot it was copied from).
 * Returns 0, or ERR_INPUT when it cannot be read (damaged). */
int store_reader_origins(struct store_reader *r, int study,
                         int32_t *origin_source, struct err *e);

/* A run record. */
struct store_run_info {
  double start, end;
  int ranks;
  int64_t done_before, done_after;
  char hosts[STORE_HOSTS_LEN];
  char nodes[STORE_HOSTS_LEN];
  char isa[STORE_ISA_LEN];
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

/* What reading a task's rows found. */
enum store_check {
  STORE_CHECK_OK = 0,       /* finished, rows match their checksum */
  STORE_CHECK_UNFINISHED,   /* pending: no rows to trust (set to NaN) */
  STORE_CHECK_NO_ROWS,      /* marked finished, no rows or checksum */
  STORE_CHECK_MISMATCH,     /* finished, rows differ from the checksum */
};
/* "ok", "not finished", "marked finished without rows", "checksum
 * mismatch". */
const char *store_check_text(enum store_check c);

/* A batch of one study's tasks as read, in the order of index.  Arrays
 * as in struct store_rows (nrec and max_arms are the study's).  Rows of
 * tasks not finished are NaN, their checksum 0. */
struct store_batch {
  int64_t n, nrec, max_arms;
  int64_t *index;
  uint8_t *status;
  uint8_t *check;      /* enum store_check */
  uint32_t *checksum;  /* as stored */
  double *metric[BANDIT_NMETRICS];
  double *theta;
  int32_t *rank, *run, *origin_source;
  double *wall_seconds, *finished_at;
  char *reason;        /* n * STORE_REASON_LEN */
  char *origin_study;  /* n * STORE_STUDY_LEN */
  int64_t *origin_index;
};

/* Not collective.  Read tasks index[0..n) of study (ascending, distinct)
 * in one pass per dataset (status first), and check each finished
 * task's checksum.  *out is allocated (store_batch_destroy).  Returns 0,
 * ERR_INPUT (bad indices; a damaged file or one without this dposweep's
 * metrics) or ERR_RUNTIME. */
int store_reader_read_batch(struct store_reader *r, int study,
                            const int64_t *index, int64_t n,
                            struct store_batch **out, struct err *e);
void store_batch_destroy(struct store_batch **b);

/* ---- building a file from others (run --reuse, merge) ---- */

/* Tasks to copy from one study of a source file into one study of the
 * file being built: task from[i] of the source is task to[i] here (any
 * order; each distinct).  rec_map: NULL when both studies record the
 * same steps, else for each record of the target study the source's
 * record index (task_records_within's map, task.h). */
struct store_copy {
  int study;           /* in the target's spec */
  int source_study;    /* in the source's spec (store_reader_spec) */
  int source;          /* the source's slot in the target's /sources */
  int64_t n;
  const int64_t *from, *to;
  const int64_t *rec_map;
};

/* Not collective.  Copy the tasks of c from src into dst (opened with
 * store_open_serial): every metric row (the records of rec_map),
 * final theta, status, wall_seconds, finished_at, reason and rank, with
 * run -1 and origin (c->source, the source study's name, from[i]), and a
 * checksum recomputed over what is written (equal to the source's when
 * every record is copied and both studies have the same max_arms).
 * Reads and writes in batches of many tasks.  Only tasks whose rows
 * read back STORE_CHECK_OK are copied: with outcome non-NULL, outcome[i]
 * (n entries, the order of c) says what was found for pair i and the
 * others are skipped; with outcome NULL the first one not OK fails the
 * copy with ERR_INPUT ("SOURCE: study 'a' task 17: checksum mismatch").
 * Sets *copied (may be NULL) to the number copied.  Returns 0, ERR_INPUT
 * (also for a source of another numerics version: nothing is copied) or
 * ERR_RUNTIME; after a failure dst holds part of the copy and should be
 * discarded. */
int store_copy_tasks(struct store *dst, struct store_reader *src,
                     const struct store_copy *c, uint8_t *outcome,
                     int64_t *copied, struct err *e);

#endif
