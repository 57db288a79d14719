/* Unit tests of the store module in one process (MPI_COMM_WORLD of one
 * rank): a file made, written and read back; its size as predicted; and
 * every way a file given can fail to be a readable dposweep file, each
 * with its exact one-line message and ERR_INPUT.  HDF5 is used directly
 * only to check what the file holds and to damage it. */
#define _XOPEN_SOURCE 700 /* realpath */

#include "dposweep/bandit.h"
#include "dposweep/spec.h"
#include "dposweep/store.h"
#include "dposweep/task.h"

#include "fixtures.h"
#include "unit.h"

#include <check.h>
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static const char spec_text_a[] =
  "name: t\n"
  "master_seed: 7\n"
  "studies:\n"
  "  - name: a\n"
  "    iterations: 10\n"
  "    record_every: 3\n"
  "    scale: theory\n"
  "    eta: theory\n"
  "    rewards: uniform\n"
  "    seeds: 4\n"
  "    grid:\n"
  "      regime: [uniform, mix-p]\n"
  "      arms: [2, 5]\n"
  "      beta: [0.5, 1.0]\n"
  "      sigma: [0.0]\n"
  "  - name: b\n"
  "    iterations: 5\n"
  "    scale: normalized\n"
  "    rewards: explicit\n"
  "    reward_values: [1, 0.5, 0.25]\n"
  "    seeds: 2\n"
  "    grid: {regime: [mix-r], arms: [3], beta: [3], sigma: [0],"
  " eta: [0.05, 1]}\n";

/* The same sweep with another seed: another spec. */
static const char spec_text_other[] =
  "name: t\n"
  "master_seed: 8\n"
  "studies:\n"
  "  - {name: a, iterations: 3, scale: theory, eta: theory, rewards: uniform,"
  " seeds: 2, grid: {regime: [uniform], arms: [2], beta: [1], sigma: [0]}}\n";

static char g_dir[64]; /* a fresh directory for each run of the suite */

static void path_in(char *buf, size_t len, const char *name)
{
  snprintf(buf, len, "%s/%s", g_dir, name);
}

static struct spec *load(const char *text)
{
  struct spec *s = NULL;
  struct err e;
  ck_assert_msg(spec_load_text(text, strlen(text), "t.yaml", &s, &e) == 0,
                "%s", e.msg);
  return s;
}

/* A new results file of text at name in g_dir; its path in path. */
static struct spec *create(const char *text, const char *name, char *path,
                           size_t len)
{
  struct spec *s = load(text);
  struct err e;
  path_in(path, len, name);
  ck_assert_msg(store_create(path, s, &e) == 0, "%s", e.msg);
  return s;
}

static void write_file(const char *path, const void *data, size_t n)
{
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

/* The reader refuses path with exactly msg, as bad input. */
static void assert_refused(const char *path, const char *msg)
{
  struct store_reader *r = NULL;
  struct err e;
  ck_assert_int_eq(store_reader_open(path, &r, &e), ERR_INPUT);
  ck_assert_int_eq(e.code, ERR_INPUT);
  ck_assert_str_eq(e.msg, msg);
  ck_assert_ptr_null(r);
  /* The source location is kept apart from the message. */
  ck_assert_ptr_null(strstr(e.msg, "store.c"));
  ck_assert_msg(strncmp(e.where, "store.c:", 8) == 0, "where: %s", e.where);
}

/* All of dataset dset of the file at path into buf, as type. */
static void read_dataset(const char *path, const char *dset, hid_t type,
                         void *buf)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert_int_ge(f, 0);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  ck_assert_int_ge(d, 0);
  ck_assert_int_ge(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
  ck_assert_int_ge(H5Dclose(d), 0);
  ck_assert_int_ge(H5Fclose(f), 0);
}

static void read_doubles(const char *path, const char *dset, double *buf)
{
  read_dataset(path, dset, H5T_NATIVE_DOUBLE, buf);
}

static void read_ints(const char *path, const char *dset, int64_t *buf)
{
  read_dataset(path, dset, H5T_NATIVE_INT64, buf);
}

START_TEST(test_new_file_reads_back_pending)
{
  char path[256];
  struct spec *s = create(spec_text_a, "new.h5", path, sizeof path);
  struct store_reader *r = NULL;
  struct err e;
  ck_assert_msg(store_reader_open(path, &r, &e) == 0, "%s", e.msg);
  const struct spec *back = store_reader_spec(r);
  ck_assert_str_eq(spec_sha256(back), spec_sha256(s));
  ck_assert_int_eq(spec_nstudies(back), 2);
  for (int i = 0; i < spec_nstudies(s); i++) {
    const struct spec_study *st = spec_study(s, i);
    uint8_t *status = malloc((size_t)st->ntasks);
    ck_assert_int_eq(store_reader_status(r, i, status, &e), 0);
    for (int64_t t = 0; t < st->ntasks; t++)
      ck_assert_int_eq(status[t], TASK_PENDING);
    free(status);
  }
  struct store_run_info runs[1];
  int count = -1;
  ck_assert_int_eq(store_reader_read_runs(r, runs, 1, &count, &e), 0);
  ck_assert_int_eq(count, 0);
  ck_assert_int_eq(store_reader_runs(r, runs, 1), 0);
  store_reader_close(&r);
  ck_assert_ptr_null(r);
  store_reader_close(&r); /* NULL is fine */

  /* The coordinates and record steps are written; results are fill. */
  const struct spec_study *a = spec_study(s, 0);
  int64_t *arms = malloc((size_t)a->ntasks * sizeof *arms);
  double *eta = malloc((size_t)a->ntasks * sizeof *eta);
  int64_t *t = malloc((size_t)a->nrec * sizeof *t);
  double *gap = malloc((size_t)(a->ntasks * a->nrec) * sizeof *gap);
  read_ints(path, "/studies/a/tasks/arms", arms);
  read_doubles(path, "/studies/a/tasks/eta", eta);
  read_ints(path, "/studies/a/traj/t", t);
  read_doubles(path, "/studies/a/traj/value_gap", gap);
  for (int64_t i = 0; i < a->ntasks; i++) {
    struct spec_coords c;
    spec_coords_of(a, i, &c);
    ck_assert_int_eq(arms[i], a->arms[c.pos[SPEC_AXIS_ARMS]]);
    ck_assert(eta[i] == bandit_theory_eta(a->beta[c.pos[SPEC_AXIS_BETA]],
                                          (int)arms[i]));
  }
  for (int64_t i = 0; i < a->nrec; i++)
    ck_assert_int_eq(t[i], bandit_rec_step(i, a->iterations, a->record_every));
  for (int64_t i = 0; i < a->ntasks * a->nrec; i++)
    ck_assert(isnan(gap[i]));
  free(arms);
  free(eta);
  free(t);
  free(gap);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_rows_and_runs_round_trip)
{
  char path[256];
  struct spec *s = create(spec_text_a, "rows.h5", path, sizeof path);
  const struct spec_study *a = spec_study(s, 0);
  struct store *st = NULL;
  struct err e;
  ck_assert_msg(store_open(MPI_COMM_WORLD, path, s, &st, &e) == 0, "%s",
                e.msg);
  int slot = -1;
  const struct store_run_start begin = {
    .start = 1000.0, .ranks = 3, .hosts = "h1,h2", .nodes = "n1,n2",
    .isa = "avx2", .done_before = 0};
  ck_assert_int_eq(store_run_begin(st, &begin, &slot, &e), 0);
  ck_assert_int_eq(slot, 0);

  /* Rows 1, 2 and 5: two runs of consecutive rows. */
  enum { N = 3 };
  const int64_t rows[N] = {1, 2, 5};
  const int64_t nrec = a->nrec, arms = a->max_arms;
  double *traj = malloc((size_t)(BANDIT_NMETRICS * N * nrec) * sizeof *traj);
  double *theta = malloc((size_t)(N * arms) * sizeof *theta);
  for (int64_t i = 0; i < BANDIT_NMETRICS * N * nrec; i++)
    traj[i] = (double)i + 0.5;
  for (int64_t i = 0; i < N * arms; i++)
    theta[i] = -(double)i;
  const uint8_t status[N] = {TASK_DONE, TASK_FAILED, TASK_DONE};
  const int32_t rank[N] = {1, 2, 1};
  const double wall[N] = {0.25, 0.5, 0.75}, finished[N] = {10, 11, 12};
  char reason[N][STORE_REASON_LEN] = {"", "diverged at step 7", ""};
  struct store_rows r = {
    .n = N, .rows = rows,
    .theta = theta, .status = status, .rank = rank, .wall_seconds = wall,
    .finished_at = finished, .reason = reason[0], .run = slot};
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    r.metric[m] = traj + m * N * nrec;
  ck_assert_msg(store_write_rows(st, 0, &r, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(store_flush(st, &e), 0);
  uint8_t *now = malloc((size_t)a->ntasks);
  ck_assert_int_eq(store_read_status(st, 0, now, &e), 0);
  ck_assert_int_eq(now[5], TASK_DONE);
  free(now);
  ck_assert_int_eq(store_run_end(st, slot, 2000.0, 2, &e), 0);
  ck_assert_int_eq(store_close(&st, &e), 0);
  ck_assert_ptr_null(st);

  struct store_reader *rd = NULL;
  ck_assert_msg(store_reader_open(path, &rd, &e) == 0, "%s", e.msg);
  uint8_t *got = malloc((size_t)a->ntasks);
  ck_assert_int_eq(store_reader_status(rd, 0, got, &e), 0);
  for (int64_t i = 0; i < a->ntasks; i++) {
    int want = i == 1 || i == 5 ? TASK_DONE : i == 2 ? TASK_FAILED
                                                     : TASK_PENDING;
    ck_assert_int_eq(got[i], want);
  }
  free(got);
  struct store_run_info runs[2];
  int count = -1;
  ck_assert_int_eq(store_reader_read_runs(rd, runs, 2, &count, &e), 0);
  ck_assert_int_eq(count, 1);
  ck_assert(runs[0].start == 1000.0 && runs[0].end == 2000.0);
  ck_assert_int_eq(runs[0].ranks, 3);
  ck_assert_int_eq(runs[0].done_before, 0);
  ck_assert_int_eq(runs[0].done_after, 2);
  ck_assert_str_eq(runs[0].hosts, "h1,h2");
  ck_assert_str_eq(runs[0].nodes, "n1,n2");
  ck_assert_str_eq(runs[0].isa, "avx2");
  store_reader_close(&rd);

  /* Row k of the file holds entry k of what was written, nothing else. */
  double *back = malloc((size_t)(a->ntasks * nrec) * sizeof *back);
  read_doubles(path, "/studies/a/traj/mean_abs_delta", back);
  for (int k = 0; k < N; k++)
    for (int64_t j = 0; j < nrec; j++)
      ck_assert(back[rows[k] * nrec + j] == traj[(N + k) * nrec + j]);
  ck_assert(isnan(back[0]) && isnan(back[3 * nrec]));
  read_doubles(path, "/studies/a/final/theta", back);
  ck_assert(back[5 * arms + 1] == theta[2 * arms + 1]);
  ck_assert(isnan(back[4 * arms]));
  int64_t ranks[64];
  read_ints(path, "/studies/a/tasks/rank", ranks);
  ck_assert_int_eq(ranks[0], -1);
  ck_assert_int_eq(ranks[2], 2);
  free(back);
  free(traj);
  free(theta);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_run_records_run_out)
{
  char path[256];
  struct spec *s = create(spec_text_other, "runs.h5", path, sizeof path);
  struct store *st = NULL;
  struct err e;
  ck_assert_int_eq(store_open(MPI_COMM_WORLD, path, s, &st, &e), 0);
  int slot = -1;
  struct store_run_start begin = {.ranks = 1, .hosts = "h", .nodes = "h",
                                  .isa = "baseline"};
  for (int i = 0; i < STORE_MAX_RUNS; i++) {
    begin.start = i;
    ck_assert_int_eq(store_run_begin(st, &begin, &slot, &e), 0);
    ck_assert_int_eq(slot, i);
  }
  ck_assert_int_eq(store_run_begin(st, &begin, &slot, &e), ERR_RUNTIME);
  ck_assert_str_eq(e.msg, "all 4096 run records are used");
  ck_assert_int_eq(slot, STORE_MAX_RUNS - 1); /* untouched on failure */
  ck_assert_int_eq(store_run_end(st, -1, 1.0, 0, &e), ERR_RUNTIME);
  ck_assert_str_eq(e.msg, "cannot record the end of this run: no run "
                          "record -1");
  ck_assert_int_eq(store_close(&st, &e), 0);
  struct store_reader *r = NULL;
  ck_assert_int_eq(store_reader_open(path, &r, &e), 0);
  struct store_run_info runs[2];
  ck_assert_int_eq(store_reader_runs(r, runs, 2), STORE_MAX_RUNS);
  ck_assert(runs[1].start == 1.0 && isnan(runs[1].end));
  store_reader_close(&r);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_predicted_size)
{
  /* Raw data exactly, metadata estimated: within 1% of the real size. */
  char path[256];
  struct spec *s = create(spec_text_a, "size.h5", path, sizeof path);
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  double predicted = (double)store_predicted_size(s);
  ck_assert_msg(fabs(predicted - (double)sb.st_size) < 0.01 * sb.st_size,
                "predicted %.0f, file %lld", predicted,
                (long long)sb.st_size);
  int64_t studies = 0;
  for (int i = 0; i < spec_nstudies(s); i++)
    studies += store_study_bytes(spec_study(s, i));
  ck_assert_int_lt(studies, store_predicted_size(s));
  spec_destroy(&s);
}
END_TEST

START_TEST(test_create_where_impossible)
{
  struct spec *s = load(spec_text_a);
  char path[256], msg[512];
  struct err e;
  path_in(path, sizeof path, "no/such/dir/x.h5");
  ck_assert_int_eq(store_create(path, s, &e), ERR_RUNTIME);
  snprintf(msg, sizeof msg, "cannot create %s: No such file or directory",
           path);
  ck_assert_str_eq(e.msg, msg);
  ck_assert_ptr_null(strstr(e.msg, "store.c"));
  /* Nothing left behind, not even the temporary. */
  char dirpath[256];
  path_in(dirpath, sizeof dirpath, "dir.h5");
  ck_assert_int_eq(mkdir(dirpath, 0700), 0);
  ck_assert_int_eq(store_create(dirpath, s, &e), ERR_RUNTIME);
  ck_assert_msg(strncmp(e.msg, "cannot create ", 14) == 0, "%s", e.msg);
  struct stat sb;
  ck_assert_int_eq(stat(dirpath, &sb), 0);
  ck_assert(S_ISDIR(sb.st_mode));
  spec_destroy(&s);
}
END_TEST

START_TEST(test_refuses_what_is_not_ours)
{
  char path[256], msg[512];
  path_in(path, sizeof path, "missing.h5");
  snprintf(msg, sizeof msg, "%s: no such file", path);
  assert_refused(path, msg);

  path_in(path, sizeof path, "empty.h5");
  write_file(path, "", 0);
  snprintf(msg, sizeof msg, "%s: not an HDF5 file (empty)", path);
  assert_refused(path, msg);

  path_in(path, sizeof path, "text.h5");
  write_file(path, "results: none\n", 14);
  snprintf(msg, sizeof msg, "%s: not an HDF5 file (no HDF5 signature)", path);
  assert_refused(path, msg);

  snprintf(msg, sizeof msg, "%s: is a directory, not a results file", g_dir);
  assert_refused(g_dir, msg);

  path_in(path, sizeof path, "foreign.h5");
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ck_assert_int_ge(f, 0);
  ck_assert_int_ge(H5Fclose(f), 0);
  snprintf(msg, sizeof msg,
           "%s: an HDF5 file, but not a dposweep results file", path);
  assert_refused(path, msg);
}
END_TEST

/* Damage a good file: change an attribute of / (NULL value: delete it). */
static void set_root_attr(const char *path, const char *name, hid_t type,
                          const void *value)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  ck_assert_int_ge(f, 0);
  if (value) {
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(H5Awrite(a, type, value), 0);
    ck_assert_int_ge(H5Aclose(a), 0);
  } else {
    ck_assert_int_ge(H5Adelete(f, name), 0);
  }
  ck_assert_int_ge(H5Fclose(f), 0);
}

START_TEST(test_refuses_damaged_or_other_version)
{
  char path[256], msg[512];
  struct spec *s = create(spec_text_a, "v1.h5", path, sizeof path);
  const int32_t one = 1;
  set_root_attr(path, "dposweep_format", H5T_NATIVE_INT32, &one);
  snprintf(msg, sizeof msg,
           "%s: a dposweep file of format version 1; this dposweep reads "
           "version 2", path);
  assert_refused(path, msg);
  spec_destroy(&s);

  s = create(spec_text_a, "nonumerics.h5", path, sizeof path);
  set_root_attr(path, "numerics", 0, NULL);
  snprintf(msg, sizeof msg,
           "%s: a dposweep file without its numerics version (damaged?)",
           path);
  assert_refused(path, msg);
  spec_destroy(&s);

  s = create(spec_text_a, "nospec.h5", path, sizeof path);
  set_root_attr(path, "spec_canonical", 0, NULL);
  snprintf(msg, sizeof msg, "%s: the stored spec is missing (damaged?)", path);
  assert_refused(path, msg);
  spec_destroy(&s);

  s = create(spec_text_a, "badhash.h5", path, sizeof path);
  hid_t t = H5Tcopy(H5T_C_S1);
  ck_assert_int_ge(H5Tset_size(t, 64), 0);
  char zeros[65];
  memset(zeros, '0', 64);
  zeros[64] = '\0';
  set_root_attr(path, "spec_sha256", t, zeros);
  ck_assert_int_ge(H5Tclose(t), 0);
  snprintf(msg, sizeof msg,
           "%s: the stored spec does not match its hash (damaged?)", path);
  assert_refused(path, msg);
  spec_destroy(&s);

  s = create(spec_text_a, "half.h5", path, sizeof path);
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_int_eq(truncate(path, sb.st_size / 2), 0);
  struct store_reader *r = NULL;
  struct err e;
  ck_assert_int_eq(store_reader_open(path, &r, &e), ERR_INPUT);
  snprintf(msg, sizeof msg, "%s: cannot open as HDF5 (damaged or truncated?): ",
           path);
  ck_assert_msg(strncmp(e.msg, msg, strlen(msg)) == 0, "%s", e.msg);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_probe)
{
  char path[256], msg[512];
  struct spec *s = create(spec_text_a, "probe.h5", path, sizeof path);
  struct spec *other = load(spec_text_other);
  struct err what;
  ck_assert_int_eq(store_probe(path, spec_sha256(s), &what), STORE_SAME_SPEC);
  ck_assert_int_eq(what.code, ERR_OK);
  snprintf(msg, sizeof msg, "%s holds this spec", path);
  ck_assert_str_eq(what.msg, msg);

  ck_assert_int_eq(store_probe(path, spec_sha256(other), &what),
                   STORE_OTHER_SPEC);
  ck_assert_int_eq(what.code, ERR_INPUT);
  snprintf(msg, sizeof msg,
           "%s holds another spec (sha256 %.12s..., this spec %.12s...)",
           path, spec_sha256(s), spec_sha256(other));
  ck_assert_str_eq(what.msg, msg);

  path_in(path, sizeof path, "nothing.h5");
  ck_assert_int_eq(store_probe(path, spec_sha256(s), &what), STORE_MISSING);
  ck_assert_int_eq(what.code, ERR_OK);
  ck_assert_str_eq(what.msg, "");

  path_in(path, sizeof path, "junk.h5");
  write_file(path, "junk", 4);
  ck_assert_int_eq(store_probe(path, spec_sha256(s), &what), STORE_NOT_HDF5);
  ck_assert_int_eq(what.code, ERR_INPUT);

  path_in(path, sizeof path, "theirs.h5");
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ck_assert_int_ge(f, 0);
  ck_assert_int_ge(H5Fclose(f), 0);
  ck_assert_int_eq(store_probe(path, spec_sha256(s), &what),
                   STORE_NOT_DPOSWEEP);
  ck_assert_int_eq(what.code, ERR_INPUT);
  spec_destroy(&other);
  spec_destroy(&s);
}
END_TEST

/* ---- format 2: numerics, metrics, checksums, provenance, building ---- */

static void read_dset(const char *path, const char *dset, hid_t memtype,
                      void *buf)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert_int_ge(f, 0);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  ck_assert_msg(d >= 0, "no dataset %s", dset);
  ck_assert_int_ge(H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf),
                   0);
  ck_assert_int_ge(H5Dclose(d), 0);
  ck_assert_int_ge(H5Fclose(f), 0);
}

/* Change one double of a dataset in place (tampering). */
static void poke_double(const char *path, const char *dset, hsize_t row,
                        hsize_t col, int rank, double value)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  ck_assert_int_ge(f, 0);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  ck_assert_int_ge(d, 0);
  hid_t fs = H5Dget_space(d);
  hsize_t start[2] = {row, col}, count[2] = {1, 1};
  ck_assert_int_ge(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL,
                                       count, NULL), 0);
  hid_t ms = H5Screate_simple(rank, count, NULL);
  ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT,
                            &value), 0);
  H5Sclose(ms);
  H5Sclose(fs);
  ck_assert_int_ge(H5Dclose(d), 0);
  ck_assert_int_ge(H5Fclose(f), 0);
}

static double peek_double(const char *path, const char *dset, hsize_t row,
                          hsize_t col, int rank)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  hid_t fs = H5Dget_space(d);
  hsize_t start[2] = {row, col}, count[2] = {1, 1};
  double v = 0;
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t ms = H5Screate_simple(rank, count, NULL);
  ck_assert_int_ge(H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &v),
                   0);
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(d);
  H5Fclose(f);
  return v;
}

static void set_status_byte(const char *path, const char *dset, hsize_t row,
                            uint8_t value)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  hid_t fs = H5Dget_space(d);
  hsize_t count = 1;
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, &row, NULL, &count, NULL);
  hid_t ms = H5Screate_simple(1, &count, NULL);
  ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, &value),
                   0);
  H5Sclose(ms);
  H5Sclose(fs);
  ck_assert_int_ge(H5Dclose(d), 0);
  ck_assert_int_ge(H5Fclose(f), 0);
}

/* Known rows for tasks rows[0..n) of study st: metric m of task row at
 * record j is row * 1000 + m * 100 + j + 0.25; theta[a] = -(row + a / 2)
 * for the task's arms, NaN padded (as the sweep writes it); status
 * done, but FAILED for rows in `failed`. */
struct known {
  int64_t n;
  int64_t *rows;
  double *metric[BANDIT_NMETRICS], *theta, *wall, *finished;
  uint8_t *status;
  int32_t *rank;
  char *reason;
};

static void known_fill(struct known *k, const struct spec_study *st,
                       const int64_t *rows, int64_t n, int64_t failed)
{
  k->n = n;
  k->rows = malloc((size_t)n * sizeof *k->rows);
  memcpy(k->rows, rows, (size_t)n * sizeof *rows);
  for (int m = 0; m < BANDIT_NMETRICS; m++) {
    k->metric[m] = malloc((size_t)(n * st->nrec) * sizeof(double));
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < st->nrec; j++)
        k->metric[m][i * st->nrec + j] =
          (double)rows[i] * 1000 + m * 100 + (double)j + 0.25;
  }
  k->theta = malloc((size_t)(n * st->max_arms) * sizeof(double));
  k->wall = malloc((size_t)n * sizeof(double));
  k->finished = malloc((size_t)n * sizeof(double));
  k->status = malloc((size_t)n);
  k->rank = malloc((size_t)n * sizeof(int32_t));
  k->reason = calloc((size_t)n, STORE_REASON_LEN);
  for (int64_t i = 0; i < n; i++) {
    struct spec_coords c;
    spec_coords_of(st, rows[i], &c);
    int arms = st->arms[c.pos[SPEC_AXIS_ARMS]];
    for (int a = 0; a < st->max_arms; a++)
      k->theta[i * st->max_arms + a] =
        a < arms ? -((double)rows[i] + a / 2.0) : NAN;
    k->wall[i] = 0.5 + (double)i;
    k->finished[i] = 1.7e9 + (double)i;
    k->status[i] = rows[i] == failed ? TASK_FAILED : TASK_DONE;
    k->rank[i] = (int32_t)(1 + i % 3);
    if (rows[i] == failed)
      snprintf(k->reason + i * STORE_REASON_LEN, STORE_REASON_LEN,
               "diverged at step 3");
  }
}

static void known_free(struct known *k)
{
  free(k->rows);
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    free(k->metric[m]);
  free(k->theta);
  free(k->wall);
  free(k->finished);
  free(k->status);
  free(k->rank);
  free(k->reason);
}

static struct store_rows known_rows(const struct known *k, int32_t run)
{
  struct store_rows r = {
    .n = k->n, .rows = k->rows, .theta = k->theta, .status = k->status,
    .rank = k->rank, .wall_seconds = k->wall, .finished_at = k->finished,
    .reason = k->reason, .run = run};
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    r.metric[m] = k->metric[m];
  return r;
}

/* Write known rows of study i of the file at path, serially. */
static void write_known(const char *path, const struct spec *s, int study,
                        const struct known *k, int32_t run)
{
  struct store *st = NULL;
  struct err e;
  ck_assert_msg(store_open_serial(path, s, &st, &e) == 0, "%s", e.msg);
  struct store_rows r = known_rows(k, run);
  ck_assert_msg(store_write_rows(st, study, &r, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(store_close(&st, &e), 0);
}

/* All of study 0..ntasks of a reader in one batch. */
static struct store_batch *read_all(struct store_reader *r, int study)
{
  const struct spec_study *st = spec_study(store_reader_spec(r), study);
  int64_t *all = malloc((size_t)st->ntasks * sizeof *all);
  for (int64_t i = 0; i < st->ntasks; i++)
    all[i] = i;
  struct store_batch *b = NULL;
  struct err e;
  ck_assert_msg(store_reader_read_batch(r, study, all, st->ntasks, &b, &e)
                == 0, "%s", e.msg);
  free(all);
  return b;
}

START_TEST(test_metric_table_names_the_datasets)
{
  ck_assert_str_eq(bandit_metric_name(BANDIT_MAX_ABS_DELTA), "max_abs_delta");
  ck_assert_str_eq(bandit_metric_name(BANDIT_MEAN_ABS_DELTA),
                   "mean_abs_delta");
  ck_assert_str_eq(bandit_metric_name(BANDIT_VALUE_GAP), "value_gap");
  ck_assert_ptr_null(bandit_metric_name(BANDIT_NMETRICS));
  ck_assert_ptr_null(bandit_metric_name((enum bandit_metric)-1));
  char path[256];
  struct spec *s = create(spec_text_a, "metrics.h5", path, sizeof path);
  const struct spec_study *a = spec_study(s, 0);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert_int_ge(f, 0);
  for (int m = 0; m < BANDIT_NMETRICS; m++) {
    char name[128];
    snprintf(name, sizeof name, "/studies/a/traj/%s",
             bandit_metric_name((enum bandit_metric)m));
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "%s", name);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2];
    ck_assert_int_eq(H5Sget_simple_extent_dims(sp, dims, NULL), 2);
    ck_assert_int_eq(dims[0], a->ntasks);
    ck_assert_int_eq(dims[1], a->nrec);
    H5Sclose(sp);
    H5Dclose(d);
  }
  H5Fclose(f);
  spec_destroy(&s);
}
END_TEST

/* A text attribute of a group of the file at path, into buf. */
static void read_text_attr(const char *path, const char *group,
                           const char *name, char *buf, size_t len)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
  hid_t a = H5Aopen(g, name, H5P_DEFAULT);
  ck_assert_msg(a >= 0, "no attribute %s", name);
  hid_t t = H5Aget_type(a);
  ck_assert_uint_lt(H5Tget_size(t), len);
  memset(buf, 0, len);
  ck_assert_int_ge(H5Aread(a, t, buf), 0);
  H5Tclose(t);
  H5Aclose(a);
  H5Gclose(g);
  H5Fclose(f);
}

static void read_double_attr(const char *path, const char *group,
                             const char *name, double *buf)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
  hid_t a = H5Aopen(g, name, H5P_DEFAULT);
  ck_assert_msg(a >= 0, "no attribute %s", name);
  ck_assert_int_ge(H5Aread(a, H5T_NATIVE_DOUBLE, buf), 0);
  H5Aclose(a);
  H5Gclose(g);
  H5Fclose(f);
}

START_TEST(test_ref_spread_seed_list_and_ref_logits_stored)
{
  static const char text[] =
    "name: refs\n"
    "master_seed: 5\n"
    "studies:\n"
    "  - name: spread\n"
    "    iterations: 3\n"
    "    scale: theory\n"
    "    eta: theory\n"
    "    rewards: uniform\n"
    "    seeds: [7, 3]\n"
    "    grid:\n"
    "      regime: [uniform, mix-p]\n"
    "      arms: [2, 3]\n"
    "      beta: [1]\n"
    "      sigma: [0]\n"
    "      ref_spread: [0, 1.5]\n"
    "  - name: logits\n"
    "    iterations: 3\n"
    "    scale: theory\n"
    "    eta: theory\n"
    "    rewards: uniform\n"
    "    seeds: 1\n"
    "    ref_logits: [0.5, -1, 2]\n"
    "    grid: {regime: [hybrid], arms: [3], beta: [1], sigma: [0]}\n";
  char path[256], order[256];
  struct spec *s = create(text, "refs.h5", path, sizeof path);
  const struct spec_study *st = spec_study(s, 0);
  double spread[64], axis[2], logits[3];
  int64_t seed[64];
  ck_assert_int_le(st->ntasks, 64);
  read_doubles(path, "/studies/spread/tasks/ref_spread", spread);
  read_ints(path, "/studies/spread/tasks/seed", seed);
  for (int64_t i = 0; i < st->ntasks; i++) {
    struct spec_coords c;
    spec_coords_of(st, i, &c);
    ck_assert(spread[i] == st->ref_spread[c.pos[SPEC_AXIS_REF_SPREAD]]);
    ck_assert_int_eq(seed[i], (int64_t)spec_seed(st, c.pos[SPEC_AXIS_SEED]));
  }
  ck_assert_int_eq(seed[0], 7);
  ck_assert_int_eq(seed[1], 3);
  read_double_attr(path, "/studies/spread", "axis_ref_spread", axis);
  ck_assert(axis[0] == 0.0 && axis[1] == 1.5);
  read_text_attr(path, "/studies/spread", "index_order", order, sizeof order);
  ck_assert_str_eq(order, "regime,arms,beta,sigma,samples,eta,ref_spread,seed "
                          "(seed fastest)");
  read_double_attr(path, "/studies/logits", "ref_logits", logits);
  ck_assert(logits[0] == 0.5 && logits[1] == -1.0 && logits[2] == 2.0);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_new_datasets_of_a_fresh_file)
{
  char path[256];
  struct spec *s = create(spec_text_a, "fresh2.h5", path, sizeof path);
  const struct spec_study *a = spec_study(s, 0);
  int32_t i32[64];
  int64_t i64[64];
  uint32_t u32[64];
  ck_assert_int_le(a->ntasks, 64);
  read_dset(path, "/studies/a/tasks/run", H5T_NATIVE_INT32, i32);
  for (int64_t i = 0; i < a->ntasks; i++)
    ck_assert_int_eq(i32[i], -1);
  read_dset(path, "/studies/a/tasks/origin_source", H5T_NATIVE_INT32, i32);
  for (int64_t i = 0; i < a->ntasks; i++)
    ck_assert_int_eq(i32[i], -1);
  read_dset(path, "/studies/a/tasks/origin_index", H5T_NATIVE_INT64, i64);
  for (int64_t i = 0; i < a->ntasks; i++)
    ck_assert_int_eq(i64[i], -1);
  read_dset(path, "/studies/a/tasks/checksum", H5T_NATIVE_UINT32, u32);
  for (int64_t i = 0; i < a->ntasks; i++)
    ck_assert_uint_eq(u32[i], 0);
  int32_t numerics = 0;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t at = H5Aopen(f, "numerics", H5P_DEFAULT);
  ck_assert_int_ge(H5Aread(at, H5T_NATIVE_INT32, &numerics), 0);
  H5Aclose(at);
  H5Fclose(f);
  ck_assert_int_eq(numerics, BANDIT_NUMERICS_VERSION);

  struct store_reader *r = NULL;
  struct err e;
  ck_assert_int_eq(store_reader_open(path, &r, &e), 0);
  ck_assert_int_eq(store_reader_numerics(r), BANDIT_NUMERICS_VERSION);
  struct store_source src[2];
  int count = -1;
  ck_assert_int_eq(store_reader_sources(r, src, 2, &count, &e), 0);
  ck_assert_int_eq(count, 0);
  struct store_source me;
  store_reader_describe(r, &me);
  char *abs = realpath(path, NULL);
  ck_assert_str_eq(me.path, abs);
  free(abs);
  ck_assert_str_eq(me.spec_sha256, spec_sha256(s));
  ck_assert_int_eq(me.numerics, BANDIT_NUMERICS_VERSION);
  ck_assert_int_gt(strlen(me.dposweep_version), 0);
  ck_assert_int_gt(strlen(me.git_revision), 0);
  /* A fresh file's tasks read back unfinished, rows NaN. */
  struct store_batch *b = read_all(r, 1);
  for (int64_t i = 0; i < b->n; i++) {
    ck_assert_int_eq(b->check[i], STORE_CHECK_UNFINISHED);
    ck_assert(isnan(b->metric[BANDIT_VALUE_GAP][i * b->nrec]));
    ck_assert_int_eq(b->origin_source[i], -1);
  }
  store_batch_destroy(&b);
  ck_assert_ptr_null(b);
  store_reader_close(&r);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_checksum_is_crc32_of_rows_then_theta)
{
  /* The definition, independently: CRC-32 of the little-endian bytes of
   * every metric's records in order, then theta. */
  enum { NREC = 3, ARMS = 4 };
  double rows[BANDIT_NMETRICS][NREC], theta[ARMS] = {1.5, -2, NAN, NAN};
  const double *metric[BANDIT_NMETRICS];
  uLong crc = crc32(0L, Z_NULL, 0);
  for (int m = 0; m < BANDIT_NMETRICS; m++) {
    for (int j = 0; j < NREC; j++)
      rows[m][j] = m * 10.0 + j / 3.0;
    metric[m] = rows[m];
    for (int j = 0; j < NREC; j++) {
      unsigned char le[8];
      uint64_t bits;
      memcpy(&bits, &rows[m][j], 8);
      for (int k = 0; k < 8; k++)
        le[k] = (unsigned char)(bits >> (8 * k));
      crc = crc32(crc, le, 8);
    }
  }
  for (int a = 0; a < ARMS; a++) {
    unsigned char le[8];
    uint64_t bits;
    memcpy(&bits, &theta[a], 8);
    for (int k = 0; k < 8; k++)
      le[k] = (unsigned char)(bits >> (8 * k));
    crc = crc32(crc, le, 8);
  }
  ck_assert_uint_eq(store_checksum(metric, NREC, theta, ARMS), (uint32_t)crc);
  /* One ulp anywhere changes it. */
  rows[BANDIT_VALUE_GAP][1] = nextafter(rows[BANDIT_VALUE_GAP][1], 1e9);
  ck_assert_uint_ne(store_checksum(metric, NREC, theta, ARMS), (uint32_t)crc);
}
END_TEST

START_TEST(test_written_checksum_and_provenance)
{
  char path[256];
  struct spec *s = create(spec_text_a, "sum.h5", path, sizeof path);
  const struct spec_study *a = spec_study(s, 0);
  const int64_t rows[] = {0, 3, 4, 9};
  struct known k;
  known_fill(&k, a, rows, 4, 4);
  write_known(path, s, 0, &k, 7);
  uint32_t *sums = malloc((size_t)a->ntasks * sizeof *sums);
  read_dset(path, "/studies/a/tasks/checksum", H5T_NATIVE_UINT32, sums);
  for (int i = 0; i < 4; i++) {
    const double *metric[BANDIT_NMETRICS];
    for (int m = 0; m < BANDIT_NMETRICS; m++)
      metric[m] = k.metric[m] + i * a->nrec;
    ck_assert_uint_eq(sums[rows[i]],
                      store_checksum(metric, a->nrec,
                                     k.theta + i * a->max_arms, a->max_arms));
  }
  ck_assert_uint_eq(sums[1], 0);
  free(sums);

  struct store_reader *r = NULL;
  struct err e;
  ck_assert_int_eq(store_reader_open(path, &r, &e), 0);
  struct store_batch *b = NULL;
  const int64_t want[] = {1, 3, 4};
  ck_assert_int_eq(store_reader_read_batch(r, 0, want, 3, &b, &e), 0);
  ck_assert_int_eq(b->n, 3);
  ck_assert_int_eq(b->check[0], STORE_CHECK_UNFINISHED);
  ck_assert_int_eq(b->check[1], STORE_CHECK_OK);
  ck_assert_int_eq(b->check[2], STORE_CHECK_OK);
  ck_assert_int_eq(b->status[1], TASK_DONE);
  ck_assert_int_eq(b->status[2], TASK_FAILED);
  ck_assert_str_eq(b->reason + 2 * STORE_REASON_LEN, "diverged at step 3");
  ck_assert_int_eq(b->run[1], 7);
  ck_assert_int_eq(b->run[0], -1);
  ck_assert_int_eq(b->origin_source[1], -1);
  ck_assert_int_eq(b->origin_index[1], -1);
  ck_assert_str_eq(b->origin_study + STORE_STUDY_LEN, "");
  ck_assert_int_eq(b->rank[2], k.rank[2]);
  ck_assert(b->wall_seconds[2] == k.wall[2]);
  ck_assert(b->finished_at[1] == k.finished[1]);
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    for (int64_t j = 0; j < a->nrec; j++)
      ck_assert(b->metric[m][1 * a->nrec + j] == k.metric[m][a->nrec + j]);
  ck_assert(memcmp(b->theta + 2 * a->max_arms, k.theta + 2 * a->max_arms,
                   (size_t)a->max_arms * sizeof(double)) == 0);
  store_batch_destroy(&b);
  /* Bad indices are refused, not read. */
  const int64_t unsorted[] = {3, 1};
  ck_assert_int_eq(store_reader_read_batch(r, 0, unsorted, 2, &b, &e),
                   ERR_INPUT);
  ck_assert_ptr_null(b);
  const int64_t beyond[] = {a->ntasks};
  ck_assert_int_eq(store_reader_read_batch(r, 0, beyond, 1, &b, &e),
                   ERR_INPUT);
  store_reader_close(&r);
  known_free(&k);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_tampering_fails_the_check)
{
  char path[256];
  struct spec *s = create(spec_text_a, "tamper.h5", path, sizeof path);
  const struct spec_study *a = spec_study(s, 0);
  const int64_t rows[] = {2, 3, 4, 5};
  struct known k;
  known_fill(&k, a, rows, 4, -1);
  write_known(path, s, 0, &k, 0);
  /* A trajectory value one ulp off, a final theta changed, a status byte
   * set on a task never written. */
  double v = peek_double(path, "/studies/a/traj/value_gap", 3, 1, 2);
  poke_double(path, "/studies/a/traj/value_gap", 3, 1, 2, nextafter(v, 1e9));
  v = peek_double(path, "/studies/a/final/theta", 4, 0, 2);
  poke_double(path, "/studies/a/final/theta", 4, 0, 2, v + 1.0);
  set_status_byte(path, "/studies/a/tasks/status", 7, TASK_DONE);

  struct store_reader *r = NULL;
  struct err e;
  ck_assert_int_eq(store_reader_open(path, &r, &e), 0);
  struct store_batch *b = read_all(r, 0);
  for (int64_t i = 0; i < b->n; i++) {
    int want = i == 2 || i == 5 ? STORE_CHECK_OK
             : i == 3 || i == 4 ? STORE_CHECK_MISMATCH
             : i == 7           ? STORE_CHECK_NO_ROWS
                                : STORE_CHECK_UNFINISHED;
    ck_assert_msg(b->check[i] == want, "task %lld: %s", (long long)i,
                  store_check_text((enum store_check)b->check[i]));
  }
  ck_assert_str_eq(store_check_text(STORE_CHECK_MISMATCH),
                   "checksum mismatch");
  ck_assert_str_eq(store_check_text(STORE_CHECK_NO_ROWS),
                   "marked finished without rows");
  store_batch_destroy(&b);
  store_reader_close(&r);
  known_free(&k);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_numerics_mismatch_probe)
{
  char path[256], msg[512];
  struct spec *s = create(spec_text_a, "numerics.h5", path, sizeof path);
  struct spec *other = load(spec_text_other);
  const int32_t next = BANDIT_NUMERICS_VERSION + 1;
  set_root_attr(path, "numerics", H5T_NATIVE_INT32, &next);
  struct err what;
  ck_assert_int_eq(store_probe(path, spec_sha256(s), &what),
                   STORE_OTHER_NUMERICS);
  ck_assert_int_eq(what.code, ERR_INPUT);
  snprintf(msg, sizeof msg,
           "%s holds results of numerics version %d; this dposweep computes "
           "version %d", path, next, BANDIT_NUMERICS_VERSION);
  ck_assert_str_eq(what.msg, msg);
  /* Another spec is told first: --force replaces it either way. */
  ck_assert_int_eq(store_probe(path, spec_sha256(other), &what),
                   STORE_OTHER_SPEC);
  /* Readers open it and say which version it holds. */
  struct store_reader *r = NULL;
  struct err e;
  ck_assert_msg(store_reader_open(path, &r, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(store_reader_numerics(r), next);
  struct store_source me;
  store_reader_describe(r, &me);
  ck_assert_int_eq(me.numerics, next);
  /* Its tasks never enter a file of this version. */
  char dpath[256], *tmp = NULL;
  path_in(dpath, sizeof dpath, "numerics-copy.h5");
  ck_assert_int_eq(store_create_temp(dpath, s, &me, 1, &tmp, &e), 0);
  struct store *w = NULL;
  ck_assert_int_eq(store_open_serial(tmp, s, &w, &e), 0);
  const int64_t one = 0;
  struct store_copy c = {.n = 1, .from = &one, .to = &one};
  ck_assert_int_eq(store_copy_tasks(w, r, &c, NULL, NULL, &e), ERR_INPUT);
  snprintf(msg, sizeof msg,
           "%s holds results of numerics version %d; this dposweep computes "
           "version %d", me.path, next, BANDIT_NUMERICS_VERSION);
  ck_assert_str_eq(e.msg, msg);
  ck_assert_int_eq(store_close(&w, &e), 0);
  store_discard_temp(tmp);
  free(tmp);
  store_reader_close(&r);
  spec_destroy(&other);
  spec_destroy(&s);
}
END_TEST

static const char spec_src[] =
  "name: src\n"
  "master_seed: 7\n"
  "studies:\n"
  "  - {name: old, iterations: 6, record_every: 1, scale: theory,"
  " eta: theory, rewards: uniform, seeds: 3,"
  " grid: {regime: [uniform, mix-p], arms: [2, 3], beta: [1], sigma: [0]}}\n";

/* The grown spec: regimes reordered, another arms value, every second
 * step recorded; and a study like the source's. */
static const char spec_dst[] =
  "name: dst\n"
  "master_seed: 7\n"
  "studies:\n"
  "  - {name: new, iterations: 6, record_every: 2, scale: theory,"
  " eta: theory, rewards: uniform, seeds: 3,"
  " grid: {regime: [mix-p, uniform], arms: [2, 3, 5], beta: [1],"
  " sigma: [0]}}\n"
  "  - {name: same, iterations: 6, record_every: 1, scale: theory,"
  " eta: theory, rewards: uniform, seeds: 3,"
  " grid: {regime: [uniform, mix-p], arms: [2, 3], beta: [1], sigma: [0]}}\n";

/* Source task i of study old is task map_task(i) of study `new`. */
static int64_t map_task(const struct spec_study *from,
                        const struct spec_study *to, int64_t i)
{
  struct spec_coords c, t = {{0}};
  spec_coords_of(from, i, &c);
  t.pos[SPEC_AXIS_REGIME] = 1 - c.pos[SPEC_AXIS_REGIME];
  t.pos[SPEC_AXIS_ARMS] = c.pos[SPEC_AXIS_ARMS];
  t.pos[SPEC_AXIS_SEED] = c.pos[SPEC_AXIS_SEED];
  return spec_index_of(to, &t);
}

START_TEST(test_copy_between_files_with_a_record_map)
{
  char spath[256], dpath[256], msg[600];
  struct spec *src = create(spec_src, "source.h5", spath, sizeof spath);
  struct spec *dst = load(spec_dst);
  const struct spec_study *old = spec_study(src, 0), *nw = spec_study(dst, 0);
  /* Every source task done but 4 (pending); 7 failed. */
  int64_t rows[12], n = 0;
  for (int64_t i = 0; i < old->ntasks; i++)
    if (i != 4)
      rows[n++] = i;
  struct known k;
  known_fill(&k, old, rows, n, 7);
  write_known(spath, src, 0, &k, 2);

  struct store_reader *r = NULL;
  struct err e;
  ck_assert_int_eq(store_reader_open(spath, &r, &e), 0);
  struct store_source sources[2];
  store_reader_describe(r, &sources[1]);
  snprintf(sources[0].path, sizeof sources[0].path, "/elsewhere/x.h5");
  snprintf(sources[0].spec_sha256, 65, "%064d", 0);
  snprintf(sources[0].dposweep_version, STORE_VERSION_LEN, "0.0.9");
  snprintf(sources[0].git_revision, STORE_VERSION_LEN, "abc");
  sources[0].numerics = 1;
  path_in(dpath, sizeof dpath, "built.h5");
  char *tmp = NULL;
  ck_assert_msg(store_create_temp(dpath, dst, sources, 2, &tmp, &e) == 0,
                "%s", e.msg);
  struct store *w = NULL;
  ck_assert_msg(store_open_serial(tmp, dst, &w, &e) == 0, "%s", e.msg);

  /* All twelve pairs, in reverse order, into `new` with the map. */
  int64_t from[12], to[12], map[4];
  uint8_t outcome[12];
  for (int64_t i = 0; i < 12; i++) {
    from[i] = 11 - i;
    to[i] = map_task(old, nw, from[i]);
  }
  ck_assert_int_eq(task_records_within(old->iterations, nw->record_every,
                                       old->record_every, map), 1);
  for (int j = 0; j < 4; j++)
    ck_assert_int_eq(map[j], 2 * j);
  struct store_copy c = {.study = 0, .source_study = 0, .source = 1, .n = 12,
                         .from = from, .to = to, .rec_map = map};
  int64_t copied = -1;
  ck_assert_msg(store_copy_tasks(w, r, &c, outcome, &copied, &e) == 0, "%s",
                e.msg);
  ck_assert_int_eq(copied, 11);
  for (int64_t i = 0; i < 12; i++)
    ck_assert_int_eq(outcome[i], from[i] == 4 ? STORE_CHECK_UNFINISHED
                                              : STORE_CHECK_OK);

  /* Into `same` (same records, same max_arms): without an outcome array,
   * the pending task fails the copy and names itself. */
  struct store_copy same = {.study = 1, .source_study = 0, .source = 1,
                            .n = 12, .from = from, .to = from};
  ck_assert_int_eq(store_copy_tasks(w, r, &same, NULL, NULL, &e), ERR_INPUT);
  char *abs = realpath(spath, NULL);
  snprintf(msg, sizeof msg, "%s: study 'old' task 4: not finished", abs);
  ck_assert_str_eq(e.msg, msg);
  same.from = same.to = rows;
  same.n = n;
  ck_assert_msg(store_copy_tasks(w, r, &same, NULL, &copied, &e) == 0, "%s",
                e.msg);
  ck_assert_int_eq(copied, 11);
  /* A pair twice is refused. */
  const int64_t twice[] = {1, 1};
  struct store_copy dup = {.study = 1, .source_study = 0, .source = 1,
                           .n = 2, .from = twice, .to = rows};
  ck_assert_int_eq(store_copy_tasks(w, r, &dup, NULL, NULL, &e), ERR_INPUT);
  ck_assert_int_eq(store_close(&w, &e), 0);
  ck_assert_msg(store_commit(tmp, dpath, &e) == 0, "%s", e.msg);
  free(tmp);

  struct store_reader *back = NULL;
  ck_assert_msg(store_reader_open(dpath, &back, &e) == 0, "%s", e.msg);
  struct store_source got[4];
  int count = -1;
  ck_assert_int_eq(store_reader_sources(back, got, 4, &count, &e), 0);
  ck_assert_int_eq(count, 2);
  ck_assert_str_eq(got[0].path, "/elsewhere/x.h5");
  ck_assert_str_eq(got[0].dposweep_version, "0.0.9");
  ck_assert_str_eq(got[0].git_revision, "abc");
  ck_assert_int_eq(got[0].numerics, 1);
  ck_assert_str_eq(got[1].path, abs);
  ck_assert_str_eq(got[1].spec_sha256, spec_sha256(src));
  ck_assert_int_eq(got[1].numerics, BANDIT_NUMERICS_VERSION);

  struct store_batch *sb = read_all(r, 0), *nb = read_all(back, 0),
                     *mb = read_all(back, 1);
  int64_t seen = 0;
  for (int64_t i = 0; i < 12; i++) {
    int64_t t = map_task(old, nw, i);
    if (i == 4) {
      ck_assert_int_eq(nb->check[t], STORE_CHECK_UNFINISHED);
      continue;
    }
    seen++;
    ck_assert_int_eq(nb->check[t], STORE_CHECK_OK);
    ck_assert_int_eq(nb->status[t], sb->status[i]);
    ck_assert_int_eq(nb->run[t], -1);
    ck_assert_int_eq(nb->rank[t], sb->rank[i]);
    ck_assert(nb->wall_seconds[t] == sb->wall_seconds[i]);
    ck_assert(nb->finished_at[t] == sb->finished_at[i]);
    ck_assert_str_eq(nb->reason + t * STORE_REASON_LEN,
                     sb->reason + i * STORE_REASON_LEN);
    ck_assert_int_eq(nb->origin_source[t], 1);
    ck_assert_str_eq(nb->origin_study + t * STORE_STUDY_LEN, "old");
    ck_assert_int_eq(nb->origin_index[t], i);
    for (int m = 0; m < BANDIT_NMETRICS; m++)
      for (int j = 0; j < 4; j++)
        ck_assert(nb->metric[m][t * 4 + j] ==
                  sb->metric[m][i * old->nrec + 2 * j]);
    for (int a = 0; a < nw->max_arms; a++) {
      double want = a < old->max_arms ? sb->theta[i * old->max_arms + a] : NAN;
      ck_assert(memcmp(&nb->theta[t * nw->max_arms + a], &want, 8) == 0);
    }
    /* Every record and max_arms alike: the source's checksum. */
    ck_assert_int_eq(mb->check[i], STORE_CHECK_OK);
    ck_assert_uint_eq(mb->checksum[i], sb->checksum[i]);
    ck_assert_int_eq(mb->origin_index[i], i);
  }
  ck_assert_int_eq(seen, 11);
  /* Tasks of `new` no source had stay pending. */
  int64_t pending = 0;
  for (int64_t t = 0; t < nb->n; t++)
    pending += nb->check[t] == STORE_CHECK_UNFINISHED;
  ck_assert_int_eq(pending, nw->ntasks - 11);
  free(abs);
  store_batch_destroy(&sb);
  store_batch_destroy(&nb);
  store_batch_destroy(&mb);
  store_reader_close(&back);
  store_reader_close(&r);
  known_free(&k);
  spec_destroy(&src);
  spec_destroy(&dst);
}
END_TEST

static double seconds_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

START_TEST(test_scattered_rows_in_one_batch)
{
  /* 16,384 rows no two adjacent: 16,384 hyperslabs in one selection.
   * OR-ed one by one (HDF5 1.10) that takes minutes per dataset; built
   * as a tree, well under a second. */
  static const char text[] =
    "name: many\n"
    "master_seed: 1\n"
    "studies:\n"
    "  - {name: s, iterations: 1, scale: theory, eta: theory,"
    " rewards: uniform, seeds: 32768,"
    " grid: {regime: [uniform], arms: [2], beta: [1], sigma: [0]}}\n";
  char path[256];
  struct spec *s = create(text, "scattered.h5", path, sizeof path);
  const struct spec_study *st = spec_study(s, 0);
  enum { N = 16384 };
  int64_t *rows = malloc(N * sizeof *rows);
  for (int64_t i = 0; i < N; i++)
    rows[i] = 2 * i + 1;
  struct known k;
  known_fill(&k, st, rows, N, -1);
  double t0 = seconds_now();
  write_known(path, s, 0, &k, 0);
  struct store_reader *r = NULL;
  struct err e;
  ck_assert_int_eq(store_reader_open(path, &r, &e), 0);
  struct store_batch *b = NULL;
  ck_assert_int_eq(store_reader_read_batch(r, 0, rows, N, &b, &e), 0);
  double took = seconds_now() - t0;
  for (int64_t i = 0; i < N; i++) {
    ck_assert_int_eq(b->check[i], STORE_CHECK_OK);
    ck_assert(b->metric[BANDIT_MEAN_ABS_DELTA][i * st->nrec + 1] ==
              k.metric[BANDIT_MEAN_ABS_DELTA][i * st->nrec + 1]);
  }
  ck_assert_msg(took < 60.0, "scattered write and read took %.1f s", took);
  store_batch_destroy(&b);
  store_reader_close(&r);
  known_free(&k);
  free(rows);
  spec_destroy(&s);
}
END_TEST

/* The bytes of a file, malloc'd, and their count. */
static char *slurp(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  long len = ftell(f);
  ck_assert_int_ge(len, 0);
  rewind(f);
  char *buf = malloc((size_t)len + 1);
  ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return buf;
}

static bool exists(const char *path)
{
  struct stat sb;
  return stat(path, &sb) == 0;
}

START_TEST(test_temp_and_commit_leave_the_old_file_until_commit)
{
  char path[256], other_tmp[600], dead_tmp[600], live_tmp[600];
  struct spec *old = create(spec_text_a, "grown.h5", path, sizeof path);
  struct spec *nw = load(spec_text_other);
  size_t n0, n1;
  char *before = slurp(path, &n0);
  char *tmp = NULL;
  struct err e, what;
  ck_assert_msg(store_create_temp(path, nw, NULL, 0, &tmp, &e) == 0, "%s",
                e.msg);
  /* "<path>.tmp.<host>.<pid>" */
  char pid[32];
  snprintf(pid, sizeof pid, ".%ld", (long)getpid());
  ck_assert(strncmp(tmp, path, strlen(path)) == 0);
  ck_assert(strncmp(tmp + strlen(path), ".tmp.", 5) == 0);
  ck_assert_str_eq(tmp + strlen(tmp) - strlen(pid), pid);
  ck_assert(exists(tmp));
  /* Filled, closed, not committed: path is the old file, byte for byte. */
  const int64_t rows[] = {1};
  struct known k;
  known_fill(&k, spec_study(nw, 0), rows, 1, -1);
  write_known(tmp, nw, 0, &k, -1);
  char *during = slurp(path, &n1);
  ck_assert_uint_eq(n0, n1);
  ck_assert(memcmp(before, during, n0) == 0);
  ck_assert_int_eq(store_probe(path, spec_sha256(old), &what),
                   STORE_SAME_SPEC);
  free(during);

  /* An interrupted attempt's leftovers: this host's dead process's is
   * removed by the next attempt, a live one's and another host's kept
   * (unless the owner says all). */
  const char *host = tmp + strlen(path) + 5;
  int hostlen = (int)(strlen(host) - strlen(pid));
  pid_t child = fork();
  if (child == 0)
    _exit(0);
  ck_assert_int_eq(waitpid(child, NULL, 0), child);
  snprintf(dead_tmp, sizeof dead_tmp, "%s.tmp.%.*s.%ld", path, hostlen, host,
           (long)child);
  snprintf(live_tmp, sizeof live_tmp, "%s.tmp.%.*s.%ld", path, hostlen, host,
           (long)getppid());
  snprintf(other_tmp, sizeof other_tmp, "%s.tmp.elsewhere.%ld", path,
           (long)child);
  write_file(dead_tmp, "x", 1);
  write_file(live_tmp, "x", 1);
  write_file(other_tmp, "x", 1);
  char *tmp2 = NULL;
  ck_assert_int_eq(store_create_temp(path, nw, NULL, 0, &tmp2, &e), 0);
  ck_assert_str_eq(tmp2, tmp); /* the same process: the same name */
  free(tmp2);
  ck_assert(!exists(dead_tmp));
  ck_assert(exists(live_tmp) && exists(other_tmp) && exists(tmp));

  ck_assert_msg(store_commit(tmp, path, &e) == 0, "%s", e.msg);
  ck_assert(!exists(tmp));
  ck_assert_int_eq(store_probe(path, spec_sha256(nw), &what),
                   STORE_SAME_SPEC);
  ck_assert_int_eq(store_remove_stale_temps(path, 1, &e), 2);
  ck_assert(!exists(live_tmp) && !exists(other_tmp) && exists(path));

  /* A temporary discarded leaves nothing. */
  ck_assert_int_eq(store_create_temp(path, old, NULL, 0, &tmp2, &e), 0);
  store_discard_temp(tmp2);
  ck_assert(!exists(tmp2));
  free(tmp2);
  /* Too many sources: refused before anything is made. */
  static struct store_source many[STORE_MAX_SOURCES + 1];
  ck_assert_int_eq(store_create_temp(path, old, many, STORE_MAX_SOURCES + 1,
                                     &tmp2, &e), ERR_INPUT);
  ck_assert_int_eq(store_probe(path, spec_sha256(nw), &what),
                   STORE_SAME_SPEC);
  known_free(&k);
  free(before);
  free(tmp);
  spec_destroy(&old);
  spec_destroy(&nw);
}
END_TEST

static Suite *store_suite(void)
{
  TCase *tc;
  Suite *s = unit_suite("store", 120, &tc);
  tcase_add_test(tc, test_new_file_reads_back_pending);
  tcase_add_test(tc, test_rows_and_runs_round_trip);
  tcase_add_test(tc, test_run_records_run_out);
  tcase_add_test(tc, test_predicted_size);
  tcase_add_test(tc, test_create_where_impossible);
  tcase_add_test(tc, test_refuses_what_is_not_ours);
  tcase_add_test(tc, test_refuses_damaged_or_other_version);
  tcase_add_test(tc, test_probe);
  tcase_add_test(tc, test_metric_table_names_the_datasets);
  tcase_add_test(tc, test_ref_spread_seed_list_and_ref_logits_stored);
  tcase_add_test(tc, test_new_datasets_of_a_fresh_file);
  tcase_add_test(tc, test_checksum_is_crc32_of_rows_then_theta);
  tcase_add_test(tc, test_written_checksum_and_provenance);
  tcase_add_test(tc, test_tampering_fails_the_check);
  tcase_add_test(tc, test_numerics_mismatch_probe);
  tcase_add_test(tc, test_copy_between_files_with_a_record_map);
  tcase_add_test(tc, test_temp_and_commit_leave_the_old_file_until_commit);
  tcase_add_test(tc, test_scattered_rows_in_one_batch);
  return s;
}

/* Not UNIT_MAIN: the parallel store needs MPI (a singleton here). */
int main(void)
{
  /* No "store.c" can appear in it: messages are checked for that. */
  if (!unit_temp_dir(g_dir, sizeof g_dir, "store-test")) {
    perror("mkdtemp");
    return EXIT_FAILURE;
  }
  if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
    return EXIT_FAILURE;
  int rc = unit_run(store_suite());
  MPI_Finalize();
  if (unit_remove_tree(g_dir) != 0)
    fprintf(stderr, "test_store: cannot remove %s\n", g_dir);
  return rc;
}
