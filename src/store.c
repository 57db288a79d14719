/* store: the results file.  See include/dposweep/store.h for the layout
 * and the crash-safety rules it follows. */
#include "dposweep/store.h"

#include "version.h"

#include "dposweep/err.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---- */

/* The most specific text on HDF5's error stack: the system's message
 * ("No space left on device") when there is one, else the innermost
 * description.  HDF5 clears the stack at the next API call (a cleanup
 * H5Sclose, say), so an automatic-error hook saves it the moment a call
 * fails, and h5_reason reports the saved text. */
static char g_h5_why[200];

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
  char *sys = data;
  const char *m = e->desc ? strstr(e->desc, "error message = '") : NULL;
  if (m && !sys[0]) {
    m += strlen("error message = '");
    const char *q = strchr(m, '\'');
    int len = q ? (int)(q - m) : (int)strlen(m);
    snprintf(sys, sizeof g_h5_why, "%.*s", len, m);
  }
  if (n == 0 && e->desc && !g_h5_why[0])
    snprintf(g_h5_why, sizeof g_h5_why, "%s", e->desc);
  return 0;
}

static herr_t save_error(hid_t stack, void *data)
{
  (void)data;
  int saved_errno = errno; /* the failed system call's, e.g. EFBIG */
  char sys[sizeof g_h5_why] = "";
  g_h5_why[0] = '\0';
  H5Ewalk2(stack, H5E_WALK_UPWARD, walk_cb, sys);
  if (sys[0]) {
    snprintf(g_h5_why, sizeof g_h5_why, "%s", sys);
  } else if (saved_errno != 0) {
    /* The MPI-IO driver says only "file write failed"; the system's
     * errno says why. */
    char desc[sizeof g_h5_why];
    snprintf(desc, sizeof desc, "%s", g_h5_why);
    snprintf(g_h5_why, sizeof g_h5_why, "%s: %s", desc, strerror(saved_errno));
  }
  errno = saved_errno;
  return 0;
}

static const char *h5_reason(char *buf, size_t len)
{
  snprintf(buf, len, "%s", g_h5_why[0] ? g_h5_why : "HDF5 error");
  g_h5_why[0] = '\0';
  H5Eclear2(H5E_DEFAULT);
  return buf;
}

static void quiet_hdf5(void)
{
  /* We report errors ourselves, in one line: save, never print. */
  H5Eset_auto2(H5E_DEFAULT, save_error, NULL);
  g_h5_why[0] = '\0';
}

/* Check an HDF5 call: on failure record why (and where, for us), and go
 * to out. */
#define H5TRY(call)                                                            \
  do {                                                                         \
    if ((call) < 0) {                                                          \
      char why_[200];                                                          \
      snprintf(err, len, "%s (store.c:%d)", h5_reason(why_, sizeof why_),      \
               __LINE__);                                                      \
      goto out;                                                                \
    }                                                                          \
  } while (0)

/* ---- the datasets of a study ---- */

enum {
  D_STATUS,
  D_RANK,
  D_WALL,
  D_FINISHED,
  D_REASON,
  D_MAXD,
  D_MEAND,
  D_GAP,
  D_THETA,
  D_COUNT
};

static const char *const dset_path[D_COUNT] = {
  "tasks/status",       "tasks/rank",          "tasks/wall_seconds",
  "tasks/finished_at",  "tasks/reason",        "traj/max_abs_delta",
  "traj/mean_abs_delta", "traj/value_gap",     "final/theta",
};

static hid_t reason_type(void)
{
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t >= 0 && (H5Tset_size(t, STORE_REASON_LEN) < 0 ||
                 H5Tset_strpad(t, H5T_STR_NULLTERM) < 0)) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

static hid_t string_type(size_t n)
{
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t >= 0 && (H5Tset_size(t, n) < 0 ||
                 H5Tset_strpad(t, H5T_STR_NULLTERM) < 0)) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

/* ---- creation (one process, serial driver) ---- */

static int attr_write(hid_t loc, const char *name, hid_t type, hid_t space,
                      const void *buf)
{
  hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0)
    return -1;
  herr_t rc = H5Awrite(a, type, buf);
  H5Aclose(a);
  return rc < 0 ? -1 : 0;
}

static int attr_scalar(hid_t loc, const char *name, hid_t type, const void *v)
{
  hid_t s = H5Screate(H5S_SCALAR);
  if (s < 0)
    return -1;
  int rc = attr_write(loc, name, type, s, v);
  H5Sclose(s);
  return rc;
}

static int attr_str(hid_t loc, const char *name, const char *v)
{
  size_t n = strlen(v);
  hid_t t = string_type(n ? n : 1);
  if (t < 0)
    return -1;
  int rc = attr_scalar(loc, name, t, n ? v : "");
  H5Tclose(t);
  return rc;
}

static int attr_array(hid_t loc, const char *name, hid_t type, hsize_t n,
                      const void *v)
{
  hid_t s = H5Screate_simple(1, &n, NULL);
  if (s < 0)
    return -1;
  int rc = attr_write(loc, name, type, s, v);
  H5Sclose(s);
  return rc;
}

static int attr_str_array(hid_t loc, const char *name, const char *const *v,
                          int n)
{
  size_t w = 1;
  for (int i = 0; i < n; i++)
    w = strlen(v[i]) > w ? strlen(v[i]) : w;
  char *buf = calloc((size_t)n, w);
  hid_t t = string_type(w);
  int rc = -1;
  if (buf && t >= 0) {
    for (int i = 0; i < n; i++)
      memcpy(buf + (size_t)i * w, v[i], strlen(v[i]));
    rc = attr_array(loc, name, t, (hsize_t)n, buf);
  }
  if (t >= 0)
    H5Tclose(t);
  free(buf);
  return rc;
}

/* A dataset at its final size: contiguous, allocated at creation, filled
 * with fill (NULL: zeros). */
static hid_t make_dataset(hid_t loc, const char *name, hid_t type, int rank,
                          const hsize_t *dims, const void *fill)
{
  hid_t space = H5Screate_simple(rank, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  hid_t d = -1;
  if (space < 0 || dcpl < 0 || lcpl < 0)
    goto out;
  if (H5Pset_layout(dcpl, H5D_CONTIGUOUS) < 0 ||
      H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
      H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC) < 0 ||
      (fill && H5Pset_fill_value(dcpl, type, fill) < 0) ||
      H5Pset_create_intermediate_group(lcpl, 1) < 0)
    goto out;
  d = H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT);
out:
  if (space >= 0)
    H5Sclose(space);
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (lcpl >= 0)
    H5Pclose(lcpl);
  return d;
}

/* Attributes over 64 KiB do not fit the default (crash-safe, see
 * store.h) object header format, so long texts become a dataset of the
 * same name under / with the attribute left out. */
#define ATTR_TEXT_MAX 60000

static int put_text(hid_t root, const char *name, const char *text)
{
  size_t n = strlen(text);
  if (n < ATTR_TEXT_MAX)
    return attr_str(root, name, text);
  hsize_t dim = n;
  hid_t d = make_dataset(root, name, H5T_NATIVE_CHAR, 1, &dim, NULL);
  int rc = d >= 0 && H5Dwrite(d, H5T_NATIVE_CHAR, H5S_ALL, H5S_ALL,
                              H5P_DEFAULT, text) >= 0
             ? 0
             : -1;
  if (d >= 0)
    H5Dclose(d);
  return rc;
}

/* A dataset that results will fill later: created, filled, closed. */
static int make_empty(hid_t loc, const char *name, hid_t type, int rank,
                      const hsize_t *dims, const void *fill)
{
  hid_t d = make_dataset(loc, name, type, rank, dims, fill);
  if (d < 0)
    return -1;
  return H5Dclose(d) < 0 ? -1 : 0;
}

static int write_block(hid_t d, hid_t memtype, hsize_t start, hsize_t count,
                       const void *buf)
{
  hid_t fs = H5Dget_space(d);
  hid_t ms = H5Screate_simple(1, &count, NULL);
  int rc = -1;
  if (fs >= 0 && ms >= 0 &&
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
      H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf) >= 0)
    rc = 0;
  if (fs >= 0)
    H5Sclose(fs);
  if (ms >= 0)
    H5Sclose(ms);
  return rc;
}

/* The coordinate datasets, written in blocks so a study of 10^8 tasks
 * needs no 10^8-entry buffer. */
static int write_coords(hid_t g, const struct spec_study *st, char *err,
                        size_t len)
{
  int status = -1;
  const hsize_t n = (hsize_t)st->ntasks;
  const hsize_t block = 1 << 16;
  hid_t d[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  static const char *const names[8] = {
    "tasks/regime", "tasks/arms", "tasks/beta",       "tasks/sigma",
    "tasks/samples", "tasks/eta", "tasks/eta_theory", "tasks/seed"};
  const hid_t types[8] = {H5T_NATIVE_INT32,  H5T_NATIVE_INT32, H5T_NATIVE_DOUBLE,
                          H5T_NATIVE_DOUBLE, H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE,
                          H5T_NATIVE_UINT8,  H5T_NATIVE_INT64};
  int32_t *regime = malloc(block * sizeof *regime);
  int32_t *arms = malloc(block * sizeof *arms);
  double *beta = malloc(block * sizeof *beta);
  double *sigma = malloc(block * sizeof *sigma);
  int64_t *samples = malloc(block * sizeof *samples);
  double *eta = malloc(block * sizeof *eta);
  uint8_t *eta_theory = malloc(block * sizeof *eta_theory);
  int64_t *seed = malloc(block * sizeof *seed);
  const void *bufs[8] = {regime, arms, beta, sigma, samples, eta, eta_theory,
                         seed};
  if (!regime || !arms || !beta || !sigma || !samples || !eta || !eta_theory ||
      !seed) {
    snprintf(err, len, "out of memory");
    goto out;
  }
  for (int i = 0; i < 8; i++)
    H5TRY(d[i] = make_dataset(g, names[i], types[i], 1, &n, NULL));
  for (hsize_t start = 0; start < n; start += block) {
    hsize_t count = n - start < block ? n - start : block;
    for (hsize_t j = 0; j < count; j++) {
      struct spec_coords c;
      spec_coords_of(st, (int64_t)(start + j), &c);
      const int64_t *at = c.pos;
      regime[j] = (int32_t)st->regime[at[SPEC_AXIS_REGIME]];
      arms[j] = st->arms[at[SPEC_AXIS_ARMS]];
      beta[j] = st->beta[at[SPEC_AXIS_BETA]];
      sigma[j] = st->sigma[at[SPEC_AXIS_SIGMA]];
      samples[j] = st->samples[at[SPEC_AXIS_SAMPLES]];
      eta_theory[j] = st->eta_theory[at[SPEC_AXIS_ETA]];
      /* The step actually used, so analysis needs no formula. */
      eta[j] = eta_theory[j] ? bandit_theory_eta(beta[j], arms[j])
                             : st->eta[at[SPEC_AXIS_ETA]];
      seed[j] = at[SPEC_AXIS_SEED];
    }
    for (int i = 0; i < 8; i++)
      H5TRY(write_block(d[i], types[i], start, count, bufs[i]));
  }
  /* Regime codes to names, for readers. */
  const char *rn[BANDIT_NREGIMES];
  for (int i = 0; i < BANDIT_NREGIMES; i++)
    rn[i] = bandit_regime_name((enum bandit_regime)i);
  H5TRY(attr_str_array(d[0], "names", rn, BANDIT_NREGIMES));
  status = 0;
out:
  for (int i = 0; i < 8; i++)
    if (d[i] >= 0)
      H5Dclose(d[i]);
  for (int i = 0; i < 8; i++)
    free((void *)bufs[i]);
  return status;
}

static int create_study(hid_t studies, const struct spec_study *st, char *err,
                        size_t len)
{
  int status = -1;
  hid_t g = -1, d = -1, rt = -1;
  int64_t *t = NULL;
  H5TRY(g = H5Gcreate2(studies, st->name, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT));
  /* Settings and axes as attributes: analysis groups by them. */
  H5TRY(attr_scalar(g, "iterations", H5T_NATIVE_INT64, &st->iterations));
  H5TRY(attr_scalar(g, "record_every", H5T_NATIVE_INT64, &st->record_every));
  H5TRY(attr_scalar(g, "seeds", H5T_NATIVE_INT64, &st->len[SPEC_AXIS_SEED]));
  H5TRY(attr_scalar(g, "ntasks", H5T_NATIVE_INT64, &st->ntasks));
  H5TRY(attr_scalar(g, "nrec", H5T_NATIVE_INT64, &st->nrec));
  H5TRY(attr_scalar(g, "max_arms", H5T_NATIVE_INT32, &st->max_arms));
  H5TRY(attr_str(g, "scale", bandit_scale_name(st->scale)));
  H5TRY(attr_str(g, "rewards", bandit_rewards_name(st->rewards)));
  H5TRY(attr_str(g, "index_order",
                   "regime,arms,beta,sigma,samples,eta,seed (seed fastest)"));
  if (st->rewards == BANDIT_REWARDS_EXPLICIT)
    H5TRY(attr_array(g, "reward_values", H5T_NATIVE_DOUBLE,
                       (hsize_t)st->max_arms, st->reward_values));
  {
    const char *rn[BANDIT_NREGIMES];
    for (int i = 0; i < st->len[SPEC_AXIS_REGIME]; i++)
      rn[i] = bandit_regime_name(st->regime[i]);
    H5TRY(attr_str_array(g, "axis_regime", rn, st->len[SPEC_AXIS_REGIME]));
  }
  H5TRY(attr_array(g, "axis_arms", H5T_NATIVE_INT32, (hsize_t)st->len[SPEC_AXIS_ARMS],
                     st->arms));
  H5TRY(attr_array(g, "axis_beta", H5T_NATIVE_DOUBLE, (hsize_t)st->len[SPEC_AXIS_BETA],
                     st->beta));
  H5TRY(attr_array(g, "axis_sigma", H5T_NATIVE_DOUBLE, (hsize_t)st->len[SPEC_AXIS_SIGMA],
                     st->sigma));
  H5TRY(attr_array(g, "axis_samples", H5T_NATIVE_INT64,
                     (hsize_t)st->len[SPEC_AXIS_SAMPLES], st->samples));
  {
    char **en = calloc((size_t)st->len[SPEC_AXIS_ETA], sizeof *en);
    int ok = en != NULL;
    for (int i = 0; ok && i < st->len[SPEC_AXIS_ETA]; i++) {
      en[i] = malloc(32);
      if (!(ok = en[i] != NULL))
        break;
      if (st->eta_theory[i])
        snprintf(en[i], 32, "theory");
      else
        snprintf(en[i], 32, "%.17g", st->eta[i]);
    }
    int rc = ok ? attr_str_array(g, "axis_eta", (const char *const *)en,
                                 st->len[SPEC_AXIS_ETA])
                : -1;
    for (int i = 0; en && i < st->len[SPEC_AXIS_ETA]; i++)
      free(en[i]);
    free(en);
    H5TRY(rc);
    /* A single eta also reads as the study's eta setting. */
    if (st->len[SPEC_AXIS_ETA] == 1) {
      char one[32];
      if (st->eta_theory[0])
        snprintf(one, sizeof one, "theory");
      else
        snprintf(one, sizeof one, "%.17g", st->eta[0]);
      H5TRY(attr_str(g, "eta", one));
    }
  }

  if (write_coords(g, st, err, len) != 0)
    goto out;

  const hsize_t n = (hsize_t)st->ntasks;
  const hsize_t nrec = (hsize_t)st->nrec;
  const double nan = NAN;
  const uint8_t pending = TASK_PENDING;
  const int32_t norank = -1;
  hsize_t traj_dims[2] = {n, nrec};
  hsize_t theta_dims[2] = {n, (hsize_t)st->max_arms};
  H5TRY(make_empty(g, "tasks/status", H5T_NATIVE_UINT8, 1, &n, &pending));
  H5TRY(make_empty(g, "tasks/rank", H5T_NATIVE_INT32, 1, &n, &norank));
  H5TRY(make_empty(g, "tasks/wall_seconds", H5T_NATIVE_DOUBLE, 1, &n, &nan));
  H5TRY(make_empty(g, "tasks/finished_at", H5T_NATIVE_DOUBLE, 1, &n, &nan));
  H5TRY(rt = reason_type());
  H5TRY(make_empty(g, "tasks/reason", rt, 1, &n, NULL));
  for (int i = D_MAXD; i <= D_GAP; i++)
    H5TRY(make_empty(g, dset_path[i], H5T_NATIVE_DOUBLE, 2, traj_dims, &nan));
  H5TRY(make_empty(g, "final/theta", H5T_NATIVE_DOUBLE, 2, theta_dims, &nan));
  if (!(t = malloc(nrec * sizeof *t))) {
    snprintf(err, len, "out of memory");
    goto out;
  }
  for (hsize_t i = 0; i < nrec; i++)
    t[i] = bandit_rec_step((int64_t)i, st->iterations, st->record_every);
  H5TRY(d = make_dataset(g, "traj/t", H5T_NATIVE_INT64, 1, &nrec, NULL));
  H5TRY(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, t));
  status = 0;
out:
  free(t);
  if (rt >= 0)
    H5Tclose(rt);
  if (d >= 0)
    H5Dclose(d);
  if (g >= 0)
    H5Gclose(g);
  return status;
}

static int create_runs(hid_t root, char *err, size_t len)
{
  int status = -1;
  hid_t ht = -1;
  const hsize_t n = STORE_MAX_RUNS;
  const double nan = NAN;
  const int32_t zero = 0;
  const int64_t minus1 = -1;
  H5TRY(make_empty(root, "runs/start", H5T_NATIVE_DOUBLE, 1, &n, &nan));
  H5TRY(make_empty(root, "runs/end", H5T_NATIVE_DOUBLE, 1, &n, &nan));
  H5TRY(make_empty(root, "runs/ranks", H5T_NATIVE_INT32, 1, &n, &zero));
  H5TRY(make_empty(root, "runs/done_before", H5T_NATIVE_INT64, 1, &n, &minus1));
  H5TRY(make_empty(root, "runs/done_after", H5T_NATIVE_INT64, 1, &n, &minus1));
  H5TRY(ht = string_type(STORE_HOSTS_LEN));
  H5TRY(make_empty(root, "runs/hosts", ht, 1, &n, NULL));
  status = 0;
out:
  if (ht >= 0)
    H5Tclose(ht);
  return status;
}

static void iso_now(char *buf, size_t len)
{
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Make the rename durable: fsync the file, then its directory. */
static int sync_path(const char *path, int dir)
{
  int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

static int create_impl(const char *path, const struct spec *s, char *err,
                       size_t len)
{
  int status = -1;
  int failed_early = 1; /* a failure before the last dataset: say so */
  hid_t f = -1, root = -1, studies = -1, fapl = -1;
  char *tmp = NULL, *dircopy = NULL;
  quiet_hdf5();
  size_t tl = strlen(path) + 32;
  if (!(tmp = malloc(tl)) || !(dircopy = strdup(path))) {
    snprintf(err, len, "out of memory");
    goto out;
  }
  snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
  H5TRY(fapl = H5Pcreate(H5P_FILE_ACCESS));
  /* The earliest format: no file-consistency flags, so a file a killed
   * run had open still opens (see store.h). */
  H5TRY(H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V18));
  f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (f < 0) {
    char why[200];
    snprintf(err, len, "cannot create %s: %s", path, h5_reason(why, sizeof why));
    goto out;
  }
  H5TRY(root = H5Gopen2(f, "/", H5P_DEFAULT));
  char created[32];
  iso_now(created, sizeof created);
  const int32_t format = STORE_FORMAT;
  const uint64_t master = spec_master_seed(s);
  const int64_t ntasks = spec_ntasks(s);
  H5TRY(put_text(root, "spec", spec_text(s)));
  H5TRY(put_text(root, "spec_canonical", spec_canonical(s)));
  H5TRY(attr_str(root, "spec_sha256", spec_sha256(s)));
  H5TRY(attr_str(root, "dposweep_version", DPOSWEEP_VERSION));
  H5TRY(attr_str(root, "git_revision", DPOSWEEP_GIT_REVISION));
  H5TRY(attr_scalar(root, "dposweep_format", H5T_NATIVE_INT32, &format));
  H5TRY(attr_str(root, "created", created));
  H5TRY(attr_str(root, "name", spec_name(s)));
  H5TRY(attr_scalar(root, "master_seed", H5T_NATIVE_UINT64, &master));
  H5TRY(attr_scalar(root, "ntasks", H5T_NATIVE_INT64, &ntasks));
  H5TRY(studies = H5Gcreate2(root, "studies", H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT));
  {
    const char **names = calloc((size_t)spec_nstudies(s), sizeof *names);
    if (!names) {
      snprintf(err, len, "out of memory");
      goto out;
    }
    for (int i = 0; i < spec_nstudies(s); i++)
      names[i] = spec_study(s, i)->name;
    int rc = attr_str_array(studies, "order", names, spec_nstudies(s));
    free(names);
    H5TRY(rc);
  }
  for (int i = 0; i < spec_nstudies(s); i++)
    if (create_study(studies, spec_study(s, i), err, len) != 0)
      goto out;
  if (create_runs(root, err, len) != 0)
    goto out;
  failed_early = 0;
  H5Gclose(studies);
  studies = -1;
  H5Gclose(root);
  root = -1;
  herr_t rc = H5Fclose(f);
  f = -1;
  if (rc < 0) {
    char why[200];
    snprintf(err, len, "cannot write %s: %s", path, h5_reason(why, sizeof why));
    goto out;
  }
  if (sync_path(tmp, 0) != 0 || rename(tmp, path) != 0) {
    snprintf(err, len, "cannot create %s: %s", path, strerror(errno));
    goto out;
  }
  (void)sync_path(dirname(dircopy), 1);
  status = 0;
out:
  if (studies >= 0)
    H5Gclose(studies);
  if (root >= 0)
    H5Gclose(root);
  if (f >= 0)
    H5Fclose(f);
  if (fapl >= 0)
    H5Pclose(fapl);
  if (status != 0 && failed_early && f >= 0) {
    /* "cannot create X: No space left on device (store.c:408)" */
    char detail[512];
    snprintf(detail, sizeof detail, "%s", err);
    snprintf(err, len, "cannot create %s: %s", path, detail);
  }
  if (status != 0 && tmp)
    unlink(tmp);
  free(tmp);
  free(dircopy);
  return status;
}

/* Metadata (object headers, attributes, B-trees), measured on files made
 * by store_create: about 11.9 KB per study and 6.4 KB for the rest,
 * plus the spec texts. */
#define STUDY_METADATA_BYTES 11900
#define FILE_METADATA_BYTES 6400

int64_t store_study_bytes(const struct spec_study *st)
{
  int64_t per_task = 4 + 4 + 8 + 8 + 8 + 8 + 1 + 8 /* coordinates */
                     + 1 + 4 + 8 + 8 + STORE_REASON_LEN /* status, ... */
                     + 3 * 8 * st->nrec + 8 * (int64_t)st->max_arms;
  return st->ntasks * per_task + 8 * st->nrec + STUDY_METADATA_BYTES;
}

int64_t store_predicted_size(const struct spec *s)
{
  /* Raw data exactly; metadata estimated (see STUDY_METADATA_BYTES). */
  int64_t bytes = 0;
  for (int i = 0; i < spec_nstudies(s); i++)
    bytes += store_study_bytes(spec_study(s, i));
  bytes += (int64_t)STORE_MAX_RUNS * (8 + 8 + 4 + 8 + 8 + STORE_HOSTS_LEN);
  bytes += (int64_t)strlen(spec_canonical(s)) + (int64_t)strlen(spec_text(s));
  return bytes + FILE_METADATA_BYTES;
}

/* ---- probing and reading ---- */

static int read_attr_text(hid_t loc, const char *name, char **out)
{
  /* An attribute, or (for long texts) a dataset of chars; see put_text. */
  *out = NULL;
  if (H5Aexists(loc, name) > 0) {
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    int rc = -1;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t)) {
      size_t n = H5Tget_size(t);
      char *buf = calloc(n + 1, 1);
      if (buf && H5Aread(a, t, buf) >= 0) {
        *out = buf;
        rc = 0;
      } else {
        free(buf);
      }
    }
    if (t >= 0)
      H5Tclose(t);
    if (a >= 0)
      H5Aclose(a);
    return rc;
  }
  if (H5Lexists(loc, name, H5P_DEFAULT) > 0) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    int rc = -1;
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (n >= 0) {
      char *buf = calloc((size_t)n + 1, 1);
      if (buf && H5Dread(d, H5T_NATIVE_CHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         buf) >= 0) {
        *out = buf;
        rc = 0;
      } else {
        free(buf);
      }
    }
    if (sp >= 0)
      H5Sclose(sp);
    if (d >= 0)
      H5Dclose(d);
    return rc;
  }
  return -1;
}

static int read_format(hid_t root, int32_t *format)
{
  if (H5Aexists(root, "dposweep_format") <= 0)
    return -1;
  hid_t a = H5Aopen(root, "dposweep_format", H5P_DEFAULT);
  if (a < 0)
    return -1;
  herr_t rc = H5Aread(a, H5T_NATIVE_INT32, format);
  H5Aclose(a);
  return rc < 0 ? -1 : 0;
}

/* Open read-only and check it is an intact dposweep file of our format:
 * its stored canonical spec must match the stored hash.  Fills *sha and
 * *canon (malloc'd).  Returns a store_probe_result. */
static int open_checked(const char *path, hid_t *fout, char **sha,
                        char **canon, char *msg, size_t len)
{
  struct stat sb;
  *fout = -1;
  *sha = NULL;
  *canon = NULL;
  if (stat(path, &sb) != 0) {
    if (errno == ENOENT)
      return STORE_MISSING;
    snprintf(msg, len, "%s: cannot read: %s", path, strerror(errno));
    return STORE_NOT_HDF5;
  }
  if (S_ISDIR(sb.st_mode)) {
    snprintf(msg, len, "%s: is a directory, not a results file", path);
    return STORE_NOT_HDF5;
  }
  if (access(path, R_OK) != 0) {
    snprintf(msg, len, "%s: cannot read: %s", path, strerror(errno));
    return STORE_NOT_HDF5;
  }
  htri_t is = H5Fis_hdf5(path);
  if (is <= 0) {
    H5Eclear2(H5E_DEFAULT);
    snprintf(msg, len, "%s: not an HDF5 file (%s)", path,
             sb.st_size == 0 ? "empty" : "no HDF5 signature");
    return STORE_NOT_HDF5;
  }
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    char why[200];
    snprintf(msg, len, "%s: cannot open as HDF5 (damaged or truncated?): %s",
             path, h5_reason(why, sizeof why));
    return STORE_NOT_HDF5;
  }
  int32_t format = 0;
  if (read_format(f, &format) != 0) {
    H5Eclear2(H5E_DEFAULT);
    snprintf(msg, len, "%s: an HDF5 file, but not a dposweep results file",
             path);
    H5Fclose(f);
    return STORE_NOT_DPOSWEEP;
  }
  if (format != STORE_FORMAT) {
    snprintf(msg, len,
             "%s: a dposweep file of format version %d; this dposweep reads "
             "version %d",
             path, (int)format, STORE_FORMAT);
    H5Fclose(f);
    return STORE_NOT_DPOSWEEP;
  }
  if (read_attr_text(f, "spec_sha256", sha) != 0) {
    H5Eclear2(H5E_DEFAULT);
    snprintf(msg, len, "%s: a dposweep file without its spec hash (damaged?)",
             path);
    H5Fclose(f);
    return STORE_NOT_DPOSWEEP;
  }
  char check[65] = "";
  if (read_attr_text(f, "spec_canonical", canon) == 0)
    spec_sha256_hex(*canon, strlen(*canon), check);
  H5Eclear2(H5E_DEFAULT);
  if (!*canon) {
    snprintf(msg, len, "%s: the stored spec is missing (damaged?)", path);
  } else if (strcmp(check, *sha) != 0) {
    snprintf(msg, len, "%s: the stored spec does not match its hash (damaged?)",
             path);
  } else {
    *fout = f;
    return STORE_SAME_SPEC; /* the caller compares the hash */
  }
  free(*sha);
  free(*canon);
  *sha = *canon = NULL;
  H5Fclose(f);
  return STORE_NOT_DPOSWEEP;
}

static int probe_impl(const char *path, const char *sha256, char *msg,
                      size_t len)
{
  quiet_hdf5();
  hid_t f;
  char *sha, *canon;
  msg[0] = '\0';
  int rc = open_checked(path, &f, &sha, &canon, msg, len);
  if (rc != STORE_SAME_SPEC)
    return rc;
  free(canon);
  if (strcmp(sha, sha256) != 0) {
    snprintf(msg, len, "%s holds another spec (sha256 %.12s..., this spec "
                       "%.12s...)",
             path, sha, sha256);
    rc = STORE_OTHER_SPEC;
  } else {
    snprintf(msg, len, "%s holds this spec", path);
  }
  free(sha);
  H5Fclose(f);
  return rc;
}

struct store_reader {
  hid_t f;
  struct spec *spec;
};

static int reader_open_impl(const char *path, struct store_reader **out,
                            char *err, size_t len)
{
  quiet_hdf5();
  struct store_reader *r = calloc(1, sizeof *r);
  char *sha = NULL, *canon = NULL;
  int status = -1;
  if (!r) {
    snprintf(err, len, "out of memory");
    goto out;
  }
  r->f = -1;
  int rc = open_checked(path, &r->f, &sha, &canon, err, len);
  if (rc == STORE_MISSING)
    snprintf(err, len, "%s: no such file", path);
  if (rc != STORE_SAME_SPEC)
    goto out;
  struct err pe;
  if (spec_load_text(canon, strlen(canon), path, &r->spec, &pe) != 0) {
    snprintf(err, len, "%s: the stored spec does not parse: %s", path, pe.msg);
    goto out;
  }
  for (int i = 0; i < spec_nstudies(r->spec); i++) {
    char p[128];
    snprintf(p, sizeof p, "/studies/%s/tasks/status", spec_study(r->spec, i)->name);
    if (H5Lexists(r->f, "/studies", H5P_DEFAULT) <= 0 ||
        H5Lexists(r->f, p, H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      snprintf(err, len, "%s: study '%s' is missing (damaged?)", path,
               spec_study(r->spec, i)->name);
      goto out;
    }
  }
  *out = r;
  r = NULL;
  status = 0;
out:
  free(sha);
  free(canon);
  store_reader_close(&r);
  return status;
}

void store_reader_close(struct store_reader **rp)
{
  if (!rp || !*rp)
    return;
  struct store_reader *r = *rp;
  if (r->f >= 0)
    H5Fclose(r->f);
  spec_destroy(&r->spec);
  free(r);
  *rp = NULL;
}

const struct spec *store_reader_spec(const struct store_reader *r)
{
  return r->spec;
}

static int read_status_from(hid_t f, const char *study, uint8_t *status)
{
  char p[128];
  snprintf(p, sizeof p, "/studies/%s/tasks/status", study);
  hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
  if (d < 0)
    return -1;
  herr_t rc = H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, status);
  H5Dclose(d);
  return rc < 0 ? -1 : 0;
}

static int reader_status_impl(struct store_reader *r, int study,
                              uint8_t *status)
{
  return read_status_from(r->f, spec_study(r->spec, study)->name, status);
}

int store_reader_runs(struct store_reader *r, struct store_run_info *runs,
                      int max)
{
  double *start = malloc(STORE_MAX_RUNS * sizeof *start);
  double *end = malloc(STORE_MAX_RUNS * sizeof *end);
  int32_t *ranks = malloc(STORE_MAX_RUNS * sizeof *ranks);
  int64_t *before = malloc(STORE_MAX_RUNS * sizeof *before);
  int64_t *after = malloc(STORE_MAX_RUNS * sizeof *after);
  char *hosts = malloc((size_t)STORE_MAX_RUNS * STORE_HOSTS_LEN);
  hid_t ht = string_type(STORE_HOSTS_LEN);
  int n = -1;
  struct {
    const char *name;
    hid_t type;
    void *buf;
  } sets[] = {
    {"/runs/start", H5T_NATIVE_DOUBLE, start},
    {"/runs/end", H5T_NATIVE_DOUBLE, end},
    {"/runs/ranks", H5T_NATIVE_INT32, ranks},
    {"/runs/done_before", H5T_NATIVE_INT64, before},
    {"/runs/done_after", H5T_NATIVE_INT64, after},
    {"/runs/hosts", ht, hosts},
  };
  if (!start || !end || !ranks || !before || !after || !hosts || ht < 0)
    goto out;
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    hid_t d = H5Dopen2(r->f, sets[i].name, H5P_DEFAULT);
    herr_t rc = d >= 0 ? H5Dread(d, sets[i].type, H5S_ALL, H5S_ALL,
                                 H5P_DEFAULT, sets[i].buf)
                       : -1;
    if (d >= 0)
      H5Dclose(d);
    if (rc < 0)
      goto out;
  }
  n = 0;
  for (int i = 0; i < STORE_MAX_RUNS && !isnan(start[i]); i++) {
    if (n < max) {
      runs[n].start = start[i];
      runs[n].end = end[i];
      runs[n].ranks = ranks[i];
      runs[n].done_before = before[i];
      runs[n].done_after = after[i];
      memcpy(runs[n].hosts, hosts + (size_t)i * STORE_HOSTS_LEN, STORE_HOSTS_LEN);
      runs[n].hosts[STORE_HOSTS_LEN - 1] = '\0';
    }
    n++;
  }
out:
  H5Eclear2(H5E_DEFAULT);
  if (ht >= 0)
    H5Tclose(ht);
  free(start);
  free(end);
  free(ranks);
  free(before);
  free(after);
  free(hosts);
  return n;
}

/* ---- parallel access ---- */

struct study_handles {
  hid_t d[D_COUNT];
  int64_t nrec;
  int max_arms;
};

struct store {
  hid_t f;
  hid_t reason_t, hosts_t;
  int nstudies;
  struct study_handles *studies;
  hid_t runs[6]; /* start end ranks done_before done_after hosts */
  const struct spec *spec;
};

static const char *const run_path[6] = {"/runs/start",       "/runs/end",
                                        "/runs/ranks",       "/runs/done_before",
                                        "/runs/done_after",  "/runs/hosts"};

static int close_impl(struct store **sp);

static int open_impl(MPI_Comm comm, const char *path, const struct spec *s,
                     struct store **out, char *err, size_t len)
{
  quiet_hdf5();
  int status = -1;
  hid_t fapl = -1;
  struct store *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(err, len, "out of memory");
    goto out;
  }
  st->f = st->reason_t = st->hosts_t = -1;
  for (int i = 0; i < 6; i++)
    st->runs[i] = -1;
  st->spec = s;
  st->nstudies = spec_nstudies(s);
  if (!(st->studies = calloc((size_t)st->nstudies, sizeof *st->studies))) {
    snprintf(err, len, "out of memory");
    goto out;
  }
  for (int i = 0; i < st->nstudies; i++)
    for (int j = 0; j < D_COUNT; j++)
      st->studies[i].d[j] = -1;
  H5TRY(fapl = H5Pcreate(H5P_FILE_ACCESS));
  H5TRY(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
  st->f = H5Fopen(path, H5F_ACC_RDWR, fapl);
  if (st->f < 0) {
    char why[200];
    snprintf(err, len, "cannot open %s for writing: %s", path,
             h5_reason(why, sizeof why));
    goto out;
  }
  H5TRY(st->reason_t = reason_type());
  H5TRY(st->hosts_t = string_type(STORE_HOSTS_LEN));
  for (int i = 0; i < st->nstudies; i++) {
    const struct spec_study *ss = spec_study(s, i);
    st->studies[i].nrec = ss->nrec;
    st->studies[i].max_arms = ss->max_arms;
    for (int j = 0; j < D_COUNT; j++) {
      char p[160];
      snprintf(p, sizeof p, "/studies/%s/%s", ss->name, dset_path[j]);
      H5TRY(st->studies[i].d[j] = H5Dopen2(st->f, p, H5P_DEFAULT));
    }
  }
  for (int i = 0; i < 6; i++)
    H5TRY(st->runs[i] = H5Dopen2(st->f, run_path[i], H5P_DEFAULT));
  *out = st;
  st = NULL;
  status = 0;
out:
  if (fapl >= 0)
    H5Pclose(fapl);
  if (st)
    (void)close_impl(&st);
  return status;
}

static int close_impl(struct store **sp)
{
  if (!sp || !*sp)
    return 0;
  struct store *st = *sp;
  int rc = 0;
  for (int i = 0; st->studies && i < st->nstudies; i++)
    for (int j = 0; j < D_COUNT; j++)
      if (st->studies[i].d[j] >= 0)
        H5Dclose(st->studies[i].d[j]);
  for (int i = 0; i < 6; i++)
    if (st->runs[i] >= 0)
      H5Dclose(st->runs[i]);
  if (st->reason_t >= 0)
    H5Tclose(st->reason_t);
  if (st->hosts_t >= 0)
    H5Tclose(st->hosts_t);
  if (st->f >= 0 && H5Fclose(st->f) < 0)
    rc = -1;
  free(st->studies);
  free(st);
  *sp = NULL;
  return rc;
}

static int flush_impl(struct store *st)
{
  return H5Fflush(st->f, H5F_SCOPE_GLOBAL) < 0 ? -1 : 0;
}

static int read_status_impl(struct store *st, int study, uint8_t *status)
{
  return H5Dread(st->studies[study].d[D_STATUS], H5T_NATIVE_UINT8, H5S_ALL,
                 H5S_ALL, H5P_DEFAULT, status) < 0
           ? -1
           : 0;
}

/* Select the rows of r (ascending) in a dataset of rank 1 or 2: one
 * hyperslab per contiguous run, OR-ed together. */
static hid_t select_rows(hid_t d, const struct store_rows *r)
{
  hid_t fs = H5Dget_space(d);
  if (fs < 0)
    return -1;
  hsize_t dims[2] = {0, 1};
  int rank = H5Sget_simple_extent_dims(fs, dims, NULL);
  if (rank < 1)
    goto fail;
  H5S_seloper_t op = H5S_SELECT_SET;
  for (int64_t i = 0; i < r->n;) {
    int64_t j = i + 1;
    while (j < r->n && r->rows[j] == r->rows[j - 1] + 1)
      j++;
    hsize_t start[2] = {(hsize_t)r->rows[i], 0};
    hsize_t count[2] = {(hsize_t)(j - i), rank == 2 ? dims[1] : 1};
    if (H5Sselect_hyperslab(fs, op, start, NULL, count, NULL) < 0)
      goto fail;
    op = H5S_SELECT_OR;
    i = j;
  }
  return fs;
fail:
  H5Sclose(fs);
  return -1;
}

static int write_selected(hid_t d, hid_t memtype, const struct store_rows *r,
                          hsize_t width, const void *buf)
{
  hid_t fs = select_rows(d, r);
  hsize_t mdims[2] = {(hsize_t)r->n, width};
  hid_t ms = H5Screate_simple(width > 1 ? 2 : 1, mdims, NULL);
  int rc = -1;
  if (fs >= 0 && ms >= 0 && H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf) >= 0)
    rc = 0;
  if (fs >= 0)
    H5Sclose(fs);
  if (ms >= 0)
    H5Sclose(ms);
  return rc;
}

static int write_rows_impl(struct store *st, int study,
                           const struct store_rows *r, char *err, size_t len)
{
  if (r->n == 0)
    return 0;
  int status = -1;
  const struct study_handles *h = &st->studies[study];
  const hsize_t nrec = (hsize_t)h->nrec, ma = (hsize_t)h->max_arms;
  /* Rows first; the status bytes only once the rows are written, so a
   * task marked done always has its rows (an interrupted write leaves it
   * pending and it is redone). */
  H5TRY(write_selected(h->d[D_MAXD], H5T_NATIVE_DOUBLE, r, nrec,
                         r->max_abs_delta));
  H5TRY(write_selected(h->d[D_MEAND], H5T_NATIVE_DOUBLE, r, nrec,
                         r->mean_abs_delta));
  H5TRY(write_selected(h->d[D_GAP], H5T_NATIVE_DOUBLE, r, nrec, r->value_gap));
  H5TRY(write_selected(h->d[D_THETA], H5T_NATIVE_DOUBLE, r, ma, r->theta));
  H5TRY(write_selected(h->d[D_RANK], H5T_NATIVE_INT32, r, 1, r->rank));
  H5TRY(write_selected(h->d[D_WALL], H5T_NATIVE_DOUBLE, r, 1, r->wall_seconds));
  H5TRY(write_selected(h->d[D_FINISHED], H5T_NATIVE_DOUBLE, r, 1,
                         r->finished_at));
  H5TRY(write_selected(h->d[D_REASON], st->reason_t, r, 1, r->reason));
  H5TRY(write_selected(h->d[D_STATUS], H5T_NATIVE_UINT8, r, 1, r->status));
  status = 0;
out:
  return status;
}

static int write_run_field(struct store *st, int field, int slot, hid_t type,
                           const void *v)
{
  return write_block(st->runs[field], type, (hsize_t)slot, 1, v);
}

static int run_begin_impl(struct store *st, double start, int ranks,
                          const char *hosts, int64_t done_before, char *err,
                          size_t len)
{
  double *starts = malloc(STORE_MAX_RUNS * sizeof *starts);
  int slot = -1;
  char why[200];
  snprintf(err, len, "out of memory");
  if (!starts)
    return -1;
  if (H5Dread(st->runs[0], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
              starts) < 0) {
    snprintf(err, len, "%s", h5_reason(why, sizeof why));
    goto out;
  }
  for (int i = 0; i < STORE_MAX_RUNS; i++)
    if (isnan(starts[i])) {
      slot = i;
      break;
    }
  if (slot < 0) {
    snprintf(err, len, "all %d run records are used", STORE_MAX_RUNS);
    goto out;
  }
  char h[STORE_HOSTS_LEN] = {0};
  snprintf(h, sizeof h, "%s", hosts);
  int32_t r = ranks;
  if (write_run_field(st, 2, slot, H5T_NATIVE_INT32, &r) < 0 ||
      write_run_field(st, 3, slot, H5T_NATIVE_INT64, &done_before) < 0 ||
      write_run_field(st, 5, slot, st->hosts_t, h) < 0 ||
      /* start last: it marks the slot used */
      write_run_field(st, 0, slot, H5T_NATIVE_DOUBLE, &start) < 0) {
    snprintf(err, len, "%s", h5_reason(why, sizeof why));
    slot = -1;
  }
out:
  H5Eclear2(H5E_DEFAULT);
  free(starts);
  return slot;
}

static int run_end_impl(struct store *st, int slot, double end,
                        int64_t done_after)
{
  if (slot < 0)
    return -1;
  if (write_run_field(st, 4, slot, H5T_NATIVE_INT64, &done_after) < 0 ||
      write_run_field(st, 1, slot, H5T_NATIVE_DOUBLE, &end) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return -1;
  }
  return 0;
}

/* ---- the public API over the functions above (error context) ---- */

static int runtime(struct err *e, int rc)
{
  if (rc == 0)
    return 0;
  e->code = ERR_RUNTIME;
  return ERR_RUNTIME;
}

enum store_probe_result store_probe(const char *path, const char *sha256,
                                    struct err *what)
{
  err_clear(what);
  int found = probe_impl(path, sha256, what->msg, sizeof what->msg);
  if (found != STORE_MISSING && found != STORE_SAME_SPEC)
    what->code = ERR_INPUT;
  return (enum store_probe_result)found;
}

int store_create(const char *path, const struct spec *s, struct err *e)
{
  err_clear(e);
  return runtime(e, create_impl(path, s, e->msg, sizeof e->msg));
}

int store_open(MPI_Comm comm, const char *path, const struct spec *s,
               struct store **out, struct err *e)
{
  err_clear(e);
  return runtime(e, open_impl(comm, path, s, out, e->msg, sizeof e->msg));
}

int store_close(struct store **st, struct err *e)
{
  err_clear(e);
  if (close_impl(st) != 0)
    return err_set(e, ERR_RUNTIME, "closing the results file failed");
  return 0;
}

int store_flush(struct store *st, struct err *e)
{
  err_clear(e);
  if (flush_impl(st) != 0)
    return err_set(e, ERR_RUNTIME, "cannot flush the results file");
  return 0;
}

int store_read_status(struct store *st, int study, uint8_t *status,
                      struct err *e)
{
  err_clear(e);
  if (read_status_impl(st, study, status) != 0)
    return err_set(e, ERR_RUNTIME, "cannot read the task status of study '%s'",
                   spec_study(st->spec, study)->name);
  return 0;
}

int store_write_rows(struct store *st, int study, const struct store_rows *r,
                     struct err *e)
{
  err_clear(e);
  return runtime(e, write_rows_impl(st, study, r, e->msg, sizeof e->msg));
}

int store_run_begin(struct store *st, double start, int ranks,
                    const char *hosts, int64_t done_before, int *slot,
                    struct err *e)
{
  err_clear(e);
  int got = run_begin_impl(st, start, ranks, hosts, done_before, e->msg,
                           sizeof e->msg);
  if (got < 0)
    return runtime(e, -1);
  *slot = got;
  return 0;
}

int store_run_end(struct store *st, int slot, double end, int64_t done_after,
                  struct err *e)
{
  err_clear(e);
  if (run_end_impl(st, slot, end, done_after) != 0)
    return err_set(e, ERR_RUNTIME, "cannot record the end of this run");
  return 0;
}

int store_reader_open(const char *path, struct store_reader **out,
                      struct err *e)
{
  err_clear(e);
  if (reader_open_impl(path, out, e->msg, sizeof e->msg) != 0) {
    e->code = ERR_INPUT;
    return ERR_INPUT;
  }
  return 0;
}

int store_reader_status(struct store_reader *r, int study, uint8_t *status,
                        struct err *e)
{
  err_clear(e);
  if (reader_status_impl(r, study, status) != 0)
    return err_set(e, ERR_INPUT, "cannot read the status of study '%s' (damaged?)",
                   spec_study(r->spec, study)->name);
  return 0;
}
