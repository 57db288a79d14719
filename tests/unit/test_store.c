/* Unit tests of the store module in one process (MPI_COMM_WORLD of one
 * rank): a file made, written and read back; its size as predicted; and
 * every way a file given can fail to be a readable dposweep file, each
 * with its exact one-line message and ERR_INPUT.  HDF5 is used directly
 * only to check what the file holds and to damage it. */
#define _XOPEN_SOURCE 700 /* nftw */

#include "dposweep/bandit.h"
#include "dposweep/spec.h"
#include "dposweep/store.h"

#include "unit.h"

#include <check.h>
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void read_doubles(const char *path, const char *dset, double *buf)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert_int_ge(f, 0);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  ck_assert_int_ge(d, 0);
  ck_assert_int_ge(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
                           H5P_DEFAULT, buf), 0);
  ck_assert_int_ge(H5Dclose(d), 0);
  ck_assert_int_ge(H5Fclose(f), 0);
}

static void read_ints(const char *path, const char *dset, int64_t *buf)
{
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert_int_ge(f, 0);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  ck_assert_int_ge(d, 0);
  ck_assert_int_ge(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                           H5P_DEFAULT, buf), 0);
  ck_assert_int_ge(H5Dclose(d), 0);
  ck_assert_int_ge(H5Fclose(f), 0);
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
  ck_assert_int_eq(store_run_begin(st, 1000.0, 3, "n1,n2", 0, &slot, &e), 0);
  ck_assert_int_eq(slot, 0);

  /* Rows 1, 2 and 5: two runs of consecutive rows. */
  enum { N = 3 };
  const int64_t rows[N] = {1, 2, 5};
  const int64_t nrec = a->nrec, arms = a->max_arms;
  double *traj = malloc((size_t)(3 * N * nrec) * sizeof *traj);
  double *theta = malloc((size_t)(N * arms) * sizeof *theta);
  for (int64_t i = 0; i < 3 * N * nrec; i++)
    traj[i] = (double)i + 0.5;
  for (int64_t i = 0; i < N * arms; i++)
    theta[i] = -(double)i;
  const uint8_t status[N] = {TASK_DONE, TASK_FAILED, TASK_DONE};
  const int32_t rank[N] = {1, 2, 1};
  const double wall[N] = {0.25, 0.5, 0.75}, finished[N] = {10, 11, 12};
  char reason[N][STORE_REASON_LEN] = {"", "diverged at step 7", ""};
  const struct store_rows r = {
    .n = N, .rows = rows, .max_abs_delta = traj,
    .mean_abs_delta = traj + N * nrec, .value_gap = traj + 2 * N * nrec,
    .theta = theta, .status = status, .rank = rank, .wall_seconds = wall,
    .finished_at = finished, .reason = reason[0]};
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
  ck_assert_str_eq(runs[0].hosts, "n1,n2");
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
  for (int i = 0; i < STORE_MAX_RUNS; i++) {
    ck_assert_int_eq(store_run_begin(st, i, 1, "h", 0, &slot, &e), 0);
    ck_assert_int_eq(slot, i);
  }
  ck_assert_int_eq(store_run_begin(st, 1.0, 1, "h", 0, &slot, &e),
                   ERR_RUNTIME);
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
  struct spec *s = create(spec_text_a, "v2.h5", path, sizeof path);
  const int32_t two = 2;
  set_root_attr(path, "dposweep_format", H5T_NATIVE_INT32, &two);
  snprintf(msg, sizeof msg,
           "%s: a dposweep file of format version 2; this dposweep reads "
           "version 1", path);
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

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

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
  return s;
}

/* Not UNIT_MAIN: the parallel store needs MPI (a singleton here). */
int main(void)
{
  snprintf(g_dir, sizeof g_dir, "/tmp/test_store.XXXXXX");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return EXIT_FAILURE;
  }
  if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
    return EXIT_FAILURE;
  int rc = unit_run(store_suite());
  MPI_Finalize();
  if (nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    fprintf(stderr, "test_store: cannot remove %s\n", g_dir);
  return rc;
}
