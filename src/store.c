/* store: the results file.  include/dposweep/store.h gives the layout and
 * the crash-safety rules; here two tables hold it (the datasets of a
 * study, the run records), read by creation, the parallel open, the
 * writers, the reader and the size estimate alike. */

#define _GNU_SOURCE /* memfd_create (discard_file) */

#include "dposweep/store.h"

#include "version.h"

#include "dposweep/err.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---- */

#define H5_REASON_LEN 200

/* The most specific text on HDF5's error stack: the system's message
 * ("No space left on device") when there is one, else the innermost
 * description.  HDF5 clears its stack when the next API call begins (a
 * cleanup H5Sclose, say), so an automatic-error hook saves the text the
 * moment a call fails, and h5_reason reports the saved text. */
static char g_h5_reason[H5_REASON_LEN];

static herr_t find_reason(unsigned n, const H5E_error2_t *entry, void *data)
{
  char *system_msg = data;
  const char *m =
    entry->desc ? strstr(entry->desc, "error message = '") : NULL;
  if (m && !system_msg[0]) {
    m += strlen("error message = '");
    const char *q = strchr(m, '\'');
    int len = q ? (int)(q - m) : (int)strlen(m);
    snprintf(system_msg, H5_REASON_LEN, "%.*s", len, m);
  }
  if (n == 0 && entry->desc && !g_h5_reason[0])
    snprintf(g_h5_reason, sizeof g_h5_reason, "%s", entry->desc);
  return 0;
}

static herr_t save_reason(hid_t stack, void *data)
{
  (void)data;
  int saved_errno = errno; /* the failed system call's, e.g. EFBIG */
  char system_msg[H5_REASON_LEN] = "";
  g_h5_reason[0] = '\0';
  /* A failed walk leaves a shorter reason, never a wrong one. */
  (void)H5Ewalk2(stack, H5E_WALK_UPWARD, find_reason, system_msg);
  if (system_msg[0]) {
    snprintf(g_h5_reason, sizeof g_h5_reason, "%s", system_msg);
  } else if (saved_errno != 0) {
    /* The MPI-IO driver says only "file write failed"; the system's
     * errno says why. */
    char desc[H5_REASON_LEN];
    snprintf(desc, sizeof desc, "%s", g_h5_reason);
    snprintf(g_h5_reason, sizeof g_h5_reason, "%s: %s", desc,
             strerror(saved_errno));
  }
  errno = saved_errno;
  return 0;
}

/* The reason of the last failed HDF5 call, copied into buf and
 * forgotten. */
static const char *h5_reason(char buf[H5_REASON_LEN])
{
  snprintf(buf, H5_REASON_LEN, "%s",
           g_h5_reason[0] ? g_h5_reason : "HDF5 error");
  g_h5_reason[0] = '\0';
  return buf;
}

/* Forget a failure that was expected and handled (an absent attribute, a
 * file that is not HDF5), so it is never reported for a later one.  HDF5
 * clears its own stack when the next API call begins: no H5Eclear2. */
static void h5_forget(void)
{
  g_h5_reason[0] = '\0';
}

static void quiet_hdf5(void)
{
  /* We report errors ourselves, in one line: save, never print.  If this
   * failed, HDF5 would print its stack as well; our one line still
   * comes, so it is not an error. */
  (void)H5Eset_auto2(H5E_DEFAULT, save_reason, NULL);
  h5_forget();
}

/* Check an HDF5 call (a negative hid_t or herr_t is a failure): on failure
 * set e to ERR_RUNTIME and HDF5's reason, and go to label. */
#define H5_CHECK(e, label, call)                                               \
  do {                                                                         \
    if ((call) < 0) {                                                          \
      char why_[H5_REASON_LEN];                                                \
      err_set((e), ERR_RUNTIME, "%s", h5_reason(why_));                        \
      goto label;                                                              \
    }                                                                          \
  } while (0)

/* Close a file, group or dataset at the end of a function whose status so
 * far is rc; returns the new status.  Closing may write (the object's
 * header, the file's metadata), so after a success a failed close fails
 * the function; after a failure it is ignored (the first reason is the
 * one reported).  A negative id is skipped. */
static int h5_close(herr_t (*close_fn)(hid_t), hid_t id, int rc,
                    struct err *e)
{
  if (id < 0 || close_fn(id) >= 0)
    return rc;
  if (rc != 0) {
    h5_forget();
    return rc;
  }
  char why[H5_REASON_LEN];
  return err_set(e, ERR_RUNTIME, "%s", h5_reason(why));
}

/* Release a handle whose close writes nothing: a property list,
 * dataspace, datatype or attribute (its value is in the object's header
 * once H5Awrite returns), or a dataset or file opened read-only.  Nothing
 * in the file depends on it, so a failure is not an error.  A negative id
 * is skipped. */
static void h5_release(herr_t (*close_fn)(hid_t), hid_t id)
{
  if (id >= 0 && close_fn(id) < 0)
    h5_forget();
}

#define out_of_memory(e) err_set((e), ERR_RUNTIME, "out of memory")

/* ---- the layout: element types, shapes, the two tables ---- */

enum elem { ELEM_U8, ELEM_I32, ELEM_I64, ELEM_F64, ELEM_REASON, ELEM_HOSTS,
            ELEM_COUNT };

static size_t elem_size(enum elem k)
{
  static const size_t size[ELEM_COUNT] = {
    [ELEM_U8] = 1, [ELEM_I32] = 4, [ELEM_I64] = 8, [ELEM_F64] = 8,
    [ELEM_REASON] = STORE_REASON_LEN, [ELEM_HOSTS] = STORE_HOSTS_LEN};
  return size[k];
}

/* The HDF5 type of each element, in the file and in memory alike. */
struct elem_types {
  hid_t t[ELEM_COUNT];
};

/* A fixed-length, NUL-terminated string of n bytes. */
static int string_type(size_t n, hid_t *out, struct err *e)
{
  hid_t t = H5I_INVALID_HID;
  H5_CHECK(e, fail, t = H5Tcopy(H5T_C_S1));
  H5_CHECK(e, fail, H5Tset_size(t, n));
  H5_CHECK(e, fail, H5Tset_strpad(t, H5T_STR_NULLTERM));
  *out = t;
  return 0;
fail:
  h5_release(H5Tclose, t);
  return ERR_RUNTIME;
}

static void types_close(struct elem_types *ty)
{
  for (int k = 0; k < ELEM_COUNT; k++) {
    h5_release(H5Tclose, ty->t[k]);
    ty->t[k] = H5I_INVALID_HID;
  }
}

static int types_open(struct elem_types *ty, struct err *e)
{
  for (int k = 0; k < ELEM_COUNT; k++)
    ty->t[k] = H5I_INVALID_HID;
  H5_CHECK(e, fail, ty->t[ELEM_U8] = H5Tcopy(H5T_NATIVE_UINT8));
  H5_CHECK(e, fail, ty->t[ELEM_I32] = H5Tcopy(H5T_NATIVE_INT32));
  H5_CHECK(e, fail, ty->t[ELEM_I64] = H5Tcopy(H5T_NATIVE_INT64));
  H5_CHECK(e, fail, ty->t[ELEM_F64] = H5Tcopy(H5T_NATIVE_DOUBLE));
  if (string_type(STORE_REASON_LEN, &ty->t[ELEM_REASON], e) != 0)
    goto fail;
  if (string_type(STORE_HOSTS_LEN, &ty->t[ELEM_HOSTS], e) != 0)
    goto fail;
  return 0;
fail:
  types_close(ty);
  return ERR_RUNTIME;
}

/* Dataset shapes: per task, per task and record, per task and arm, per
 * record, per run record. */
enum shape { SHAPE_TASK, SHAPE_TASK_REC, SHAPE_TASK_ARM, SHAPE_REC,
             SHAPE_RUN };

/* The dimensions of a shape in study st (NULL for SHAPE_RUN); returns the
 * rank. */
static int shape_dims(enum shape sh, const struct spec_study *st,
                      hsize_t dims[2])
{
  switch (sh) {
  case SHAPE_TASK:
    dims[0] = (hsize_t)st->ntasks;
    return 1;
  case SHAPE_TASK_REC:
    dims[0] = (hsize_t)st->ntasks;
    dims[1] = (hsize_t)st->nrec;
    return 2;
  case SHAPE_TASK_ARM:
    dims[0] = (hsize_t)st->ntasks;
    dims[1] = (hsize_t)st->max_arms;
    return 2;
  case SHAPE_REC:
    dims[0] = (hsize_t)st->nrec;
    return 1;
  case SHAPE_RUN:
    dims[0] = STORE_MAX_RUNS;
    return 1;
  }
  return 0;
}

/* What a dataset reads before anything is written there. */
static const double fill_nan = NAN;
static const uint8_t fill_pending = TASK_PENDING;
static const int32_t fill_no_rank = -1;
static const int32_t fill_no_ranks = 0;
static const int64_t fill_unknown_count = -1;

struct dset_def {
  const char *name; /* under the study's group, or under / */
  enum elem elem;
  enum shape shape;
  const void *fill; /* NULL: zero bytes */
};

/* A study's datasets, in creation order (the order fixes the file's
 * bytes): the coordinates, the results the runs write, the record
 * steps. */
enum study_dset {
  SD_REGIME, SD_ARMS, SD_BETA, SD_SIGMA, SD_SAMPLES, SD_ETA, SD_ETA_THEORY,
  SD_SEED,
  SD_STATUS, SD_RANK, SD_WALL_SECONDS, SD_FINISHED_AT, SD_REASON,
  SD_MAX_ABS_DELTA, SD_MEAN_ABS_DELTA, SD_VALUE_GAP, SD_THETA,
  SD_T,
  SD_COUNT
};
#define SD_NCOORDS SD_STATUS        /* [0, SD_STATUS): coordinates */
#define SD_RESULTS_FIRST SD_STATUS  /* [SD_STATUS, SD_T): results */
#define SD_RESULTS_END SD_T

static const struct dset_def study_dsets[SD_COUNT] = {
  [SD_REGIME] = {"tasks/regime", ELEM_I32, SHAPE_TASK, NULL},
  [SD_ARMS] = {"tasks/arms", ELEM_I32, SHAPE_TASK, NULL},
  [SD_BETA] = {"tasks/beta", ELEM_F64, SHAPE_TASK, NULL},
  [SD_SIGMA] = {"tasks/sigma", ELEM_F64, SHAPE_TASK, NULL},
  [SD_SAMPLES] = {"tasks/samples", ELEM_I64, SHAPE_TASK, NULL},
  [SD_ETA] = {"tasks/eta", ELEM_F64, SHAPE_TASK, NULL},
  [SD_ETA_THEORY] = {"tasks/eta_theory", ELEM_U8, SHAPE_TASK, NULL},
  [SD_SEED] = {"tasks/seed", ELEM_I64, SHAPE_TASK, NULL},
  [SD_STATUS] = {"tasks/status", ELEM_U8, SHAPE_TASK, &fill_pending},
  [SD_RANK] = {"tasks/rank", ELEM_I32, SHAPE_TASK, &fill_no_rank},
  [SD_WALL_SECONDS] = {"tasks/wall_seconds", ELEM_F64, SHAPE_TASK, &fill_nan},
  [SD_FINISHED_AT] = {"tasks/finished_at", ELEM_F64, SHAPE_TASK, &fill_nan},
  [SD_REASON] = {"tasks/reason", ELEM_REASON, SHAPE_TASK, NULL},
  [SD_MAX_ABS_DELTA] = {"traj/max_abs_delta", ELEM_F64, SHAPE_TASK_REC,
                        &fill_nan},
  [SD_MEAN_ABS_DELTA] = {"traj/mean_abs_delta", ELEM_F64, SHAPE_TASK_REC,
                         &fill_nan},
  [SD_VALUE_GAP] = {"traj/value_gap", ELEM_F64, SHAPE_TASK_REC, &fill_nan},
  [SD_THETA] = {"final/theta", ELEM_F64, SHAPE_TASK_ARM, &fill_nan},
  [SD_T] = {"traj/t", ELEM_I64, SHAPE_REC, NULL},
};

/* The run records under /runs, one row per run; start marks a row used. */
enum run_field { RUN_START, RUN_END, RUN_RANKS, RUN_DONE_BEFORE,
                 RUN_DONE_AFTER, RUN_HOSTS, RUN_NFIELDS };

static const struct dset_def run_dsets[RUN_NFIELDS] = {
  [RUN_START] = {"runs/start", ELEM_F64, SHAPE_RUN, &fill_nan},
  [RUN_END] = {"runs/end", ELEM_F64, SHAPE_RUN, &fill_nan},
  [RUN_RANKS] = {"runs/ranks", ELEM_I32, SHAPE_RUN, &fill_no_ranks},
  [RUN_DONE_BEFORE] = {"runs/done_before", ELEM_I64, SHAPE_RUN,
                       &fill_unknown_count},
  [RUN_DONE_AFTER] = {"runs/done_after", ELEM_I64, SHAPE_RUN,
                      &fill_unknown_count},
  [RUN_HOSTS] = {"runs/hosts", ELEM_HOSTS, SHAPE_RUN, NULL},
};

/* "/studies/<name>/<dataset>": study names are at most SPEC_MAX_NAME. */
#define STUDY_PATH_LEN (SPEC_MAX_NAME + 64)

static void study_path(char buf[STUDY_PATH_LEN], const char *study,
                       const char *dset)
{
  snprintf(buf, STUDY_PATH_LEN, "/studies/%s/%s", study, dset);
}

/* ---- the predicted size ---- */

/* Metadata (object headers, attributes, B-trees), measured on files made
 * by store_create: about 11.9 KB per study and 6.4 KB for the rest,
 * plus the spec texts. */
#define STUDY_METADATA_BYTES 11900
#define FILE_METADATA_BYTES 6400

static int64_t raw_bytes(const struct dset_def *defs, int n,
                         const struct spec_study *st)
{
  int64_t bytes = 0;
  for (int i = 0; i < n; i++) {
    hsize_t dims[2] = {0, 1};
    int rank = shape_dims(defs[i].shape, st, dims);
    int64_t count = (int64_t)dims[0] * (rank == 2 ? (int64_t)dims[1] : 1);
    bytes += count * (int64_t)elem_size(defs[i].elem);
  }
  return bytes;
}

int64_t store_study_bytes(const struct spec_study *st)
{
  return raw_bytes(study_dsets, SD_COUNT, st) + STUDY_METADATA_BYTES;
}

int64_t store_predicted_size(const struct spec *s)
{
  /* Raw data exactly; metadata estimated (see STUDY_METADATA_BYTES). */
  int64_t bytes = 0;
  for (int i = 0; i < spec_nstudies(s); i++)
    bytes += store_study_bytes(spec_study(s, i));
  bytes += raw_bytes(run_dsets, RUN_NFIELDS, NULL);
  bytes += (int64_t)strlen(spec_canonical(s)) + (int64_t)strlen(spec_text(s));
  return bytes + FILE_METADATA_BYTES;
}

/* ---- creation: attributes and datasets ---- */

static int attr_write(hid_t loc, const char *name, hid_t type, hid_t space,
                      const void *buf, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t a = H5I_INVALID_HID;
  H5_CHECK(e, out, a = H5Acreate2(loc, name, type, space, H5P_DEFAULT,
                                  H5P_DEFAULT));
  H5_CHECK(e, out, H5Awrite(a, type, buf));
  rc = 0;
out:
  h5_release(H5Aclose, a);
  return rc;
}

static int attr_scalar(hid_t loc, const char *name, hid_t type,
                       const void *v, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t space = H5I_INVALID_HID;
  H5_CHECK(e, out, space = H5Screate(H5S_SCALAR));
  if (attr_write(loc, name, type, space, v, e) != 0)
    goto out;
  rc = 0;
out:
  h5_release(H5Sclose, space);
  return rc;
}

static int attr_array(hid_t loc, const char *name, hid_t type, hsize_t n,
                      const void *v, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t space = H5I_INVALID_HID;
  H5_CHECK(e, out, space = H5Screate_simple(1, &n, NULL));
  if (attr_write(loc, name, type, space, v, e) != 0)
    goto out;
  rc = 0;
out:
  h5_release(H5Sclose, space);
  return rc;
}

static int attr_str(hid_t loc, const char *name, const char *v, struct err *e)
{
  size_t n = strlen(v);
  hid_t t = H5I_INVALID_HID;
  if (string_type(n ? n : 1, &t, e) != 0)
    return ERR_RUNTIME;
  int rc = attr_scalar(loc, name, t, v, e);
  h5_release(H5Tclose, t);
  return rc;
}

/* n texts as one array of strings as wide as the longest. */
static int attr_str_array(hid_t loc, const char *name, const char *const *v,
                          int n, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t t = H5I_INVALID_HID;
  size_t width = 1;
  for (int i = 0; i < n; i++)
    width = strlen(v[i]) > width ? strlen(v[i]) : width;
  char *packed = calloc((size_t)n, width);
  if (!packed) {
    out_of_memory(e);
    goto out;
  }
  for (int i = 0; i < n; i++)
    memcpy(packed + (size_t)i * width, v[i], strlen(v[i]));
  if (string_type(width, &t, e) != 0)
    goto out;
  if (attr_array(loc, name, t, (hsize_t)n, packed, e) != 0)
    goto out;
  rc = 0;
out:
  h5_release(H5Tclose, t);
  free(packed);
  return rc;
}

/* A dataset at its final size: contiguous, allocated and filled with fill
 * (NULL: zeros) now, so later writes only overwrite bytes (store.h). */
static int make_dataset(hid_t loc, const char *name, hid_t type, int rank,
                        const hsize_t *dims, const void *fill, hid_t *out,
                        struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID,
        lcpl = H5I_INVALID_HID, d;
  H5_CHECK(e, out, space = H5Screate_simple(rank, dims, NULL));
  H5_CHECK(e, out, dcpl = H5Pcreate(H5P_DATASET_CREATE));
  H5_CHECK(e, out, lcpl = H5Pcreate(H5P_LINK_CREATE));
  H5_CHECK(e, out, H5Pset_layout(dcpl, H5D_CONTIGUOUS));
  H5_CHECK(e, out, H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
  H5_CHECK(e, out, H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC));
  if (fill)
    H5_CHECK(e, out, H5Pset_fill_value(dcpl, type, fill));
  H5_CHECK(e, out, H5Pset_create_intermediate_group(lcpl, 1));
  H5_CHECK(e, out, d = H5Dcreate2(loc, name, type, space, lcpl, dcpl,
                                  H5P_DEFAULT));
  *out = d;
  rc = 0;
out:
  h5_release(H5Sclose, space);
  h5_release(H5Pclose, dcpl);
  h5_release(H5Pclose, lcpl);
  return rc;
}

/* The dataset def describes, in study st (NULL for /runs). */
static int make_defined(hid_t loc, const struct dset_def *def,
                        const struct spec_study *st,
                        const struct elem_types *ty, hid_t *out,
                        struct err *e)
{
  hsize_t dims[2] = {0, 1};
  int rank = shape_dims(def->shape, st, dims);
  return make_dataset(loc, def->name, ty->t[def->elem], rank, dims,
                      def->fill, out, e);
}

/* A dataset the runs fill later: created, filled, closed. */
static int make_empty(hid_t loc, const struct dset_def *def,
                      const struct spec_study *st,
                      const struct elem_types *ty, struct err *e)
{
  hid_t d = H5I_INVALID_HID;
  int rc = make_defined(loc, def, st, ty, &d, e);
  return h5_close(H5Dclose, d, rc, e);
}

/* Write count elements from buf at start of a 1-d dataset. */
static int write_block(hid_t d, hid_t memtype, hsize_t start, hsize_t count,
                       const void *buf, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t file_space = H5I_INVALID_HID, mem_space = H5I_INVALID_HID;
  H5_CHECK(e, out, file_space = H5Dget_space(d));
  H5_CHECK(e, out, mem_space = H5Screate_simple(1, &count, NULL));
  H5_CHECK(e, out, H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &start,
                                       NULL, &count, NULL));
  H5_CHECK(e, out, H5Dwrite(d, memtype, mem_space, file_space, H5P_DEFAULT,
                            buf));
  rc = 0;
out:
  h5_release(H5Sclose, file_space);
  h5_release(H5Sclose, mem_space);
  return rc;
}

/* Attributes over 64 KiB do not fit the default (crash-safe, see
 * store.h) object header format, so long texts become a dataset of the
 * same name under / with the attribute left out. */
#define ATTR_TEXT_MAX 60000

static int put_text(hid_t root, const char *name, const char *text,
                    struct err *e)
{
  size_t n = strlen(text);
  if (n < ATTR_TEXT_MAX)
    return attr_str(root, name, text, e);
  int rc = ERR_RUNTIME;
  hsize_t dim = n;
  hid_t d = H5I_INVALID_HID;
  if (make_dataset(root, name, H5T_NATIVE_CHAR, 1, &dim, NULL, &d, e) != 0)
    goto out;
  H5_CHECK(e, out, H5Dwrite(d, H5T_NATIVE_CHAR, H5S_ALL, H5S_ALL,
                            H5P_DEFAULT, text));
  rc = 0;
out:
  return h5_close(H5Dclose, d, rc, e);
}

/* Attributes given as a table: a text, or a number of an HDF5 type. */
struct attr_def {
  const char *name;
  const char *text; /* NULL: a number */
  hid_t type;
  const void *number;
};

static int write_attrs(hid_t loc, const struct attr_def *defs, size_t n,
                       struct err *e)
{
  for (size_t i = 0; i < n; i++) {
    const struct attr_def *a = &defs[i];
    int rc = a->text ? put_text(loc, a->name, a->text, e)
                     : attr_scalar(loc, a->name, a->type, a->number, e);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* ---- creation: a study ---- */

#define ETA_LABEL_LEN 32

/* An eta value as analysis reads it: "theory" or the number. */
static void eta_label(const struct spec_study *st, int i,
                      char buf[ETA_LABEL_LEN])
{
  if (st->eta_theory[i])
    snprintf(buf, ETA_LABEL_LEN, "theory");
  else
    snprintf(buf, ETA_LABEL_LEN, "%.17g", st->eta[i]);
}

/* "regime,arms,...,seed (seed fastest)": the task index order, told to
 * readers in the axes' own names. */
static void index_order(char *buf, size_t len)
{
  size_t used = 0;
  for (int a = 0; a < SPEC_NAXES; a++)
    used += (size_t)snprintf(buf + used, len - used, "%s%s", a ? "," : "",
                             spec_axis_name((enum spec_axis)a));
  snprintf(buf + used, len - used, " (%s fastest)",
           spec_axis_name(SPEC_NAXES - 1));
}

/* The study's settings: analysis groups by them. */
static int write_settings(hid_t g, const struct spec_study *st, struct err *e)
{
  char order[128];
  index_order(order, sizeof order);
  const struct attr_def settings[] = {
    {"iterations", NULL, H5T_NATIVE_INT64, &st->iterations},
    {"record_every", NULL, H5T_NATIVE_INT64, &st->record_every},
    {"seeds", NULL, H5T_NATIVE_INT64, &st->len[SPEC_AXIS_SEED]},
    {"ntasks", NULL, H5T_NATIVE_INT64, &st->ntasks},
    {"nrec", NULL, H5T_NATIVE_INT64, &st->nrec},
    {"max_arms", NULL, H5T_NATIVE_INT32, &st->max_arms},
    {"scale", bandit_scale_name(st->scale), 0, NULL},
    {"rewards", bandit_rewards_name(st->rewards), 0, NULL},
    {"index_order", order, 0, NULL},
  };
  int rc = write_attrs(g, settings, sizeof settings / sizeof settings[0], e);
  if (rc == 0 && st->rewards == BANDIT_REWARDS_EXPLICIT)
    rc = attr_array(g, "reward_values", H5T_NATIVE_DOUBLE,
                    (hsize_t)st->max_arms, st->reward_values, e);
  return rc;
}

/* The eta axis as labels, and a single eta also as the study's eta. */
static int write_eta_axis(hid_t g, const char *name,
                          const struct spec_study *st, struct err *e)
{
  int n = (int)st->len[SPEC_AXIS_ETA], rc = ERR_RUNTIME;
  char(*labels)[ETA_LABEL_LEN] = calloc((size_t)n, sizeof *labels);
  const char **ptrs = calloc((size_t)n, sizeof *ptrs);
  if (!labels || !ptrs) {
    out_of_memory(e);
    goto out;
  }
  for (int i = 0; i < n; i++) {
    eta_label(st, i, labels[i]);
    ptrs[i] = labels[i];
  }
  if (attr_str_array(g, name, ptrs, n, e) != 0)
    goto out;
  if (n == 1 && attr_str(g, "eta", labels[0], e) != 0)
    goto out;
  rc = 0;
out:
  free(labels);
  free(ptrs);
  return rc;
}

static int write_regime_axis(hid_t g, const char *name,
                             const struct spec_study *st, struct err *e)
{
  const char *names[BANDIT_NREGIMES];
  int n = (int)st->len[SPEC_AXIS_REGIME];
  for (int i = 0; i < n; i++)
    names[i] = bandit_regime_name(st->regime[i]);
  return attr_str_array(g, name, names, n, e);
}

/* The values of axis a as attribute "axis_<name>" (the seeds are a count,
 * written with the settings). */
static int write_axis(hid_t g, const struct spec_study *st, enum spec_axis a,
                      struct err *e)
{
  char name[64];
  snprintf(name, sizeof name, "axis_%s", spec_axis_name(a));
  hsize_t n = (hsize_t)st->len[a];
  switch (a) {
  case SPEC_AXIS_REGIME:
    return write_regime_axis(g, name, st, e);
  case SPEC_AXIS_ARMS:
    return attr_array(g, name, H5T_NATIVE_INT32, n, st->arms, e);
  case SPEC_AXIS_BETA:
    return attr_array(g, name, H5T_NATIVE_DOUBLE, n, st->beta, e);
  case SPEC_AXIS_SIGMA:
    return attr_array(g, name, H5T_NATIVE_DOUBLE, n, st->sigma, e);
  case SPEC_AXIS_SAMPLES:
    return attr_array(g, name, H5T_NATIVE_INT64, n, st->samples, e);
  case SPEC_AXIS_ETA:
    return write_eta_axis(g, name, st, e);
  case SPEC_AXIS_REF_SPREAD: /* not stored yet: results file format 2 */
  case SPEC_AXIS_SEED:
  case SPEC_NAXES:
    break;
  }
  return 0;
}

/* One block of coordinates, tasks start .. start + count - 1, into the
 * buffers of the coordinate datasets. */
static void fill_coords(const struct spec_study *st, hsize_t start,
                        hsize_t count, void *const buf[SD_NCOORDS])
{
  int32_t *regime = buf[SD_REGIME], *arms = buf[SD_ARMS];
  double *beta = buf[SD_BETA], *sigma = buf[SD_SIGMA], *eta = buf[SD_ETA];
  int64_t *samples = buf[SD_SAMPLES], *seed = buf[SD_SEED];
  uint8_t *eta_theory = buf[SD_ETA_THEORY];
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
    seed[j] = (int64_t)spec_seed(st, at[SPEC_AXIS_SEED]);
  }
}

/* Regime codes to names, for readers of tasks/regime. */
static int write_regime_names(hid_t d, struct err *e)
{
  const char *names[BANDIT_NREGIMES];
  for (int i = 0; i < BANDIT_NREGIMES; i++)
    names[i] = bandit_regime_name((enum bandit_regime)i);
  return attr_str_array(d, "names", names, BANDIT_NREGIMES, e);
}

/* The coordinate datasets, written in blocks so a study of 10^8 tasks
 * needs no 10^8-entry buffer. */
#define COORD_BLOCK ((hsize_t)1 << 16)

static int write_coords(hid_t g, const struct spec_study *st,
                        const struct elem_types *ty, struct err *e)
{
  int rc = ERR_RUNTIME;
  const hsize_t n = (hsize_t)st->ntasks;
  hid_t d[SD_NCOORDS];
  void *buf[SD_NCOORDS];
  for (int i = 0; i < SD_NCOORDS; i++) {
    d[i] = H5I_INVALID_HID;
    buf[i] = malloc(COORD_BLOCK * elem_size(study_dsets[i].elem));
  }
  for (int i = 0; i < SD_NCOORDS; i++)
    if (!buf[i]) {
      out_of_memory(e);
      goto out;
    }
  for (int i = 0; i < SD_NCOORDS; i++)
    if (make_defined(g, &study_dsets[i], st, ty, &d[i], e) != 0)
      goto out;
  for (hsize_t start = 0; start < n; start += COORD_BLOCK) {
    hsize_t count = n - start < COORD_BLOCK ? n - start : COORD_BLOCK;
    fill_coords(st, start, count, buf);
    for (int i = 0; i < SD_NCOORDS; i++)
      if (write_block(d[i], ty->t[study_dsets[i].elem], start, count, buf[i],
                      e) != 0)
        goto out;
  }
  if (write_regime_names(d[SD_REGIME], e) != 0)
    goto out;
  rc = 0;
out:
  for (int i = 0; i < SD_NCOORDS; i++) {
    rc = h5_close(H5Dclose, d[i], rc, e);
    free(buf[i]);
  }
  return rc;
}

/* traj/t: the iteration of each record. */
static int write_rec_steps(hid_t g, const struct spec_study *st,
                           const struct elem_types *ty, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t d = H5I_INVALID_HID;
  int64_t *t = malloc((size_t)st->nrec * sizeof *t);
  if (!t) {
    out_of_memory(e);
    goto out;
  }
  for (int64_t i = 0; i < st->nrec; i++)
    t[i] = bandit_rec_step(i, st->iterations, st->record_every);
  if (make_defined(g, &study_dsets[SD_T], st, ty, &d, e) != 0)
    goto out;
  H5_CHECK(e, out, H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                            H5P_DEFAULT, t));
  rc = 0;
out:
  free(t);
  return h5_close(H5Dclose, d, rc, e);
}

/* /studies/<name>: settings and axes as attributes, the coordinates, the
 * result datasets at their final size, the record steps. */
static int create_study(hid_t studies, const struct spec_study *st,
                        const struct elem_types *ty, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t g = H5I_INVALID_HID;
  H5_CHECK(e, out, g = H5Gcreate2(studies, st->name, H5P_DEFAULT,
                                  H5P_DEFAULT, H5P_DEFAULT));
  if (write_settings(g, st, e) != 0)
    goto out;
  for (int a = 0; a < SPEC_NAXES; a++)
    if (write_axis(g, st, (enum spec_axis)a, e) != 0)
      goto out;
  if (write_coords(g, st, ty, e) != 0)
    goto out;
  for (int i = SD_RESULTS_FIRST; i < SD_RESULTS_END; i++)
    if (make_empty(g, &study_dsets[i], st, ty, e) != 0)
      goto out;
  if (write_rec_steps(g, st, ty, e) != 0)
    goto out;
  rc = 0;
out:
  return h5_close(H5Gclose, g, rc, e);
}

/* ---- creation: the file ---- */

static int created_now(char buf[32], struct err *e)
{
  time_t now = time(NULL);
  struct tm tm;
  if (now == (time_t)-1 || !gmtime_r(&now, &tm))
    return err_set(e, ERR_RUNTIME, "cannot read the clock: %s",
                   strerror(errno));
  strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return 0;
}

/* The attributes of /: the spec (as given, canonical, its hash), who made
 * the file and when, the format. */
static int write_root_attrs(hid_t root, const struct spec *s, struct err *e)
{
  char created[32];
  if (created_now(created, e) != 0)
    return ERR_RUNTIME;
  const int32_t format = STORE_FORMAT;
  const uint64_t master = spec_master_seed(s);
  const int64_t ntasks = spec_ntasks(s);
  const struct attr_def attrs[] = {
    {"spec", spec_text(s), 0, NULL},
    {"spec_canonical", spec_canonical(s), 0, NULL},
    {"spec_sha256", spec_sha256(s), 0, NULL},
    {"dposweep_version", DPOSWEEP_VERSION, 0, NULL},
    {"git_revision", DPOSWEEP_GIT_REVISION, 0, NULL},
    {"dposweep_format", NULL, H5T_NATIVE_INT32, &format},
    {"created", created, 0, NULL},
    {"name", spec_name(s), 0, NULL},
    {"master_seed", NULL, H5T_NATIVE_UINT64, &master},
    {"ntasks", NULL, H5T_NATIVE_INT64, &ntasks},
  };
  return write_attrs(root, attrs, sizeof attrs / sizeof attrs[0], e);
}

/* /studies, its "order" attribute (the spec's order) and every study. */
static int create_studies(hid_t root, const struct spec *s,
                          const struct elem_types *ty, struct err *e)
{
  int rc = ERR_RUNTIME, n = spec_nstudies(s);
  hid_t studies = H5I_INVALID_HID;
  const char **names = calloc((size_t)n, sizeof *names);
  if (!names) {
    out_of_memory(e);
    goto out;
  }
  for (int i = 0; i < n; i++)
    names[i] = spec_study(s, i)->name;
  H5_CHECK(e, out, studies = H5Gcreate2(root, "studies", H5P_DEFAULT,
                                        H5P_DEFAULT, H5P_DEFAULT));
  if (attr_str_array(studies, "order", names, n, e) != 0)
    goto out;
  for (int i = 0; i < n; i++)
    if (create_study(studies, spec_study(s, i), ty, e) != 0)
      goto out;
  rc = 0;
out:
  free(names);
  return h5_close(H5Gclose, studies, rc, e);
}

static int create_runs(hid_t root, const struct elem_types *ty,
                       struct err *e)
{
  for (int i = 0; i < RUN_NFIELDS; i++) {
    int rc = make_empty(root, &run_dsets[i], NULL, ty, e);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int write_contents(hid_t f, const struct spec *s, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t root = H5I_INVALID_HID;
  struct elem_types ty;
  if (types_open(&ty, e) != 0)
    return ERR_RUNTIME;
  H5_CHECK(e, out, root = H5Gopen2(f, "/", H5P_DEFAULT));
  if (write_root_attrs(root, s, e) != 0)
    goto out;
  if (create_studies(root, s, &ty, e) != 0)
    goto out;
  if (create_runs(root, &ty, e) != 0)
    goto out;
  rc = 0;
out:
  types_close(&ty);
  return h5_close(H5Gclose, root, rc, e);
}

/* The file under its temporary name, in the earliest format: no
 * file-consistency flags, so a file a killed run had open still opens
 * (store.h). */
static int create_file(const char *tmp, hid_t *out, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t fapl = H5I_INVALID_HID, f;
  H5_CHECK(e, out, fapl = H5Pcreate(H5P_FILE_ACCESS));
  H5_CHECK(e, out, H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST,
                                        H5F_LIBVER_V18));
  H5_CHECK(e, out, f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  *out = f;
  rc = 0;
out:
  h5_release(H5Pclose, fapl);
  return rc;
}

/* fsync a file, or a directory (is_dir). */
static int sync_path(const char *path, int is_dir, struct err *e)
{
  int fd = open(path, is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0)
    return err_set(e, ERR_RUNTIME, "%s", strerror(errno));
  int synced = fsync(fd);
  int why = errno;
  /* Read-only descriptor, already synced: closing it loses nothing. */
  (void)close(fd);
  if (synced != 0)
    return err_set(e, ERR_RUNTIME, "%s", strerror(why));
  return 0;
}

/* Rename the finished file into place, durably: its bytes reach the disk
 * before its name does. */
static int move_into_place(const char *tmp, const char *path, struct err *e)
{
  if (sync_path(tmp, 0, e) != 0)
    return ERR_RUNTIME;
  if (rename(tmp, path) != 0)
    return err_set(e, ERR_RUNTIME, "%s", strerror(errno));
  /* Then the directory, so the name survives a power cut.  If this fails
   * (some file systems refuse fsync on a directory), a power cut may lose
   * the name of a complete file: the next run then starts it over, which
   * is safe, so it is not an error. */
  char *dir = strdup(path);
  struct err ignored;
  if (dir)
    (void)sync_path(dirname(dir), 1, &ignored);
  free(dir);
  return 0;
}

/* Close a file that could not be made, before it is removed.  Closing
 * flushes its metadata; on a full disk that fails as well, and HDF5 1.10
 * then keeps a half-closed file that crashes the library's shutdown (in
 * MPI_Finalize).  So the file's descriptor (the sec2 driver's) is first
 * pointed at an anonymous memory file, where the flush always succeeds
 * and which vanishes on close.  Nobody reads this file: if that cannot be
 * done, the close is tried as it is, and its failure loses nothing. */
static void discard_file(hid_t f)
{
  int *fd = NULL;
  if (f < 0)
    return;
  if (H5Fget_vfd_handle(f, H5P_DEFAULT, (void **)&fd) >= 0 && fd) {
    int scratch = memfd_create("dposweep-discarded", 0);
    if (scratch >= 0) {
      (void)dup2(scratch, *fd);
      (void)close(scratch);
    }
  }
  h5_release(H5Fclose, f);
}

int store_create(const char *path, const struct spec *s, struct err *e)
{
  err_clear(e);
  quiet_hdf5();
  int rc = ERR_RUNTIME;
  const char *failed_to = "create";
  hid_t f = H5I_INVALID_HID;
  size_t len = strlen(path) + 32;
  char *tmp = malloc(len);
  if (!tmp) {
    out_of_memory(e);
    goto out;
  }
  snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
  if (create_file(tmp, &f, e) != 0)
    goto out;
  if (write_contents(f, s, e) != 0)
    goto out;
  /* The metadata goes out now: a full disk may show only here.  Flushed
   * first, so a failure leaves a file discard_file can still close. */
  failed_to = "write";
  H5_CHECK(e, out, H5Fflush(f, H5F_SCOPE_LOCAL));
  hid_t closing = f;
  f = H5I_INVALID_HID;
  H5_CHECK(e, out, H5Fclose(closing));
  failed_to = "create";
  if (move_into_place(tmp, path, e) != 0)
    goto out;
  rc = 0;
out:
  if (rc != 0) {
    err_prefix(e, "cannot %s %s: ", failed_to, path);
    discard_file(f);
    /* A temporary left behind (removal failed) has a name that says what
     * it is; the error is already told. */
    if (tmp)
      (void)unlink(tmp);
  }
  free(tmp);
  return rc;
}

/* ---- probing and reading ---- */

/* A text stored as a fixed-length string attribute. */
static int read_text_attr(hid_t loc, const char *name, char **out,
                          struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID;
  char *buf = NULL;
  htri_t variable = 0;
  H5_CHECK(e, out, a = H5Aopen(loc, name, H5P_DEFAULT));
  H5_CHECK(e, out, t = H5Aget_type(a));
  H5T_class_t type_class = H5Tget_class(t); /* H5T_NO_CLASS on failure */
  if (type_class == H5T_STRING)
    H5_CHECK(e, out, variable = H5Tis_variable_str(t));
  size_t n = type_class == H5T_STRING ? H5Tget_size(t) : 0; /* 0: failed */
  if (type_class != H5T_STRING || variable || n == 0) {
    h5_forget();
    rc = err_set(e, ERR_INPUT, "'%s' is not a text", name);
    goto out;
  }
  if (!(buf = calloc(n + 1, 1))) {
    out_of_memory(e);
    goto out;
  }
  H5_CHECK(e, out, H5Aread(a, t, buf));
  *out = buf;
  buf = NULL;
  rc = 0;
out:
  free(buf);
  h5_release(H5Tclose, t);
  h5_release(H5Aclose, a);
  return rc;
}

/* A text stored as a dataset of chars (a long one, see put_text). */
static int read_text_dataset(hid_t loc, const char *name, char **out,
                             struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t d = H5I_INVALID_HID, space = H5I_INVALID_HID;
  hssize_t n;
  char *buf = NULL;
  H5_CHECK(e, out, d = H5Dopen2(loc, name, H5P_DEFAULT));
  H5_CHECK(e, out, space = H5Dget_space(d));
  H5_CHECK(e, out, n = H5Sget_simple_extent_npoints(space));
  if (!(buf = calloc((size_t)n + 1, 1))) {
    out_of_memory(e);
    goto out;
  }
  H5_CHECK(e, out, H5Dread(d, H5T_NATIVE_CHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                           buf));
  *out = buf;
  buf = NULL;
  rc = 0;
out:
  free(buf);
  h5_release(H5Sclose, space);
  /* Read-only: closing writes nothing. */
  h5_release(H5Dclose, d);
  return rc;
}

/* A text put_text wrote: an attribute, or a dataset of chars; *out is
 * malloc'd. */
static int read_text(hid_t loc, const char *name, char **out, struct err *e)
{
  if (H5Aexists(loc, name) > 0)
    return read_text_attr(loc, name, out, e);
  if (H5Lexists(loc, name, H5P_DEFAULT) > 0)
    return read_text_dataset(loc, name, out, e);
  h5_forget();
  return err_set(e, ERR_INPUT, "no text '%s'", name);
}

static int read_format(hid_t root, int32_t *format, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t a = H5I_INVALID_HID;
  int32_t value;
  if (H5Aexists(root, "dposweep_format") <= 0) {
    h5_forget();
    return err_set(e, ERR_INPUT, "no dposweep_format");
  }
  H5_CHECK(e, out, a = H5Aopen(root, "dposweep_format", H5P_DEFAULT));
  H5_CHECK(e, out, H5Aread(a, H5T_NATIVE_INT32, &value));
  *format = value;
  rc = 0;
out:
  h5_release(H5Aclose, a);
  return rc;
}

/* An intact dposweep file of our format, open read-only, with its stored
 * spec hash and canonical spec (malloc'd). */
struct checked {
  hid_t f;
  char *sha, *canon;
};

static void checked_close(struct checked *c)
{
  /* Read-only: closing writes nothing, a failure loses nothing. */
  h5_release(H5Fclose, c->f);
  c->f = H5I_INVALID_HID;
  free(c->sha);
  free(c->canon);
  c->sha = c->canon = NULL;
}

/* What is at path, before HDF5 opens it: 0 for a readable file with the
 * HDF5 signature, else ERR_INPUT with *kind STORE_MISSING or
 * STORE_NOT_HDF5. */
static int check_path(const char *path, enum store_probe_result *kind,
                      struct err *e)
{
  struct stat sb;
  *kind = STORE_NOT_HDF5;
  if (stat(path, &sb) != 0) {
    if (errno != ENOENT)
      return err_set(e, ERR_INPUT, "%s: cannot read: %s", path,
                     strerror(errno));
    *kind = STORE_MISSING;
    return err_set(e, ERR_INPUT, "%s: no such file", path);
  }
  if (S_ISDIR(sb.st_mode))
    return err_set(e, ERR_INPUT, "%s: is a directory, not a results file",
                   path);
  if (access(path, R_OK) != 0)
    return err_set(e, ERR_INPUT, "%s: cannot read: %s", path,
                   strerror(errno));
  /* An error here (an unreadable signature) means "not HDF5" too. */
  if (H5Fis_hdf5(path) <= 0) {
    h5_forget();
    return err_set(e, ERR_INPUT, "%s: not an HDF5 file (%s)", path,
                   sb.st_size == 0 ? "empty" : "no HDF5 signature");
  }
  return 0;
}

/* Ours and intact: our format version, and the stored canonical spec
 * matches the stored hash.  Else ERR_INPUT (STORE_NOT_DPOSWEEP). */
static int check_ours(const char *path, struct checked *c, struct err *e)
{
  int32_t format = 0;
  if (read_format(c->f, &format, e) != 0)
    return err_set(e, ERR_INPUT,
                   "%s: an HDF5 file, but not a dposweep results file", path);
  if (format != STORE_FORMAT)
    return err_set(e, ERR_INPUT,
                   "%s: a dposweep file of format version %d; this dposweep "
                   "reads version %d",
                   path, (int)format, STORE_FORMAT);
  if (read_text(c->f, "spec_sha256", &c->sha, e) != 0)
    return err_set(e, ERR_INPUT,
                   "%s: a dposweep file without its spec hash (damaged?)",
                   path);
  if (read_text(c->f, "spec_canonical", &c->canon, e) != 0)
    return err_set(e, ERR_INPUT, "%s: the stored spec is missing (damaged?)",
                   path);
  char check[65];
  spec_sha256_hex(c->canon, strlen(c->canon), check);
  if (strcmp(check, c->sha) != 0)
    return err_set(e, ERR_INPUT,
                   "%s: the stored spec does not match its hash (damaged?)",
                   path);
  return 0;
}

/* Open path read-only as an intact dposweep file of our format.  Returns
 * 0 and fills *c, or ERR_INPUT (ERR_RUNTIME if memory runs out); *kind
 * says what is there either way (STORE_SAME_SPEC: ours; the caller
 * compares the hash). */
static int open_checked(const char *path, struct checked *c,
                        enum store_probe_result *kind, struct err *e)
{
  struct checked got = {H5I_INVALID_HID, NULL, NULL};
  int rc = check_path(path, kind, e);
  if (rc != 0)
    return rc;
  got.f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (got.f < 0) {
    char why[H5_REASON_LEN];
    return err_set(e, ERR_INPUT,
                   "%s: cannot open as HDF5 (damaged or truncated?): %s",
                   path, h5_reason(why));
  }
  *kind = STORE_NOT_DPOSWEEP;
  if ((rc = check_ours(path, &got, e)) != 0) {
    checked_close(&got);
    return rc;
  }
  *kind = STORE_SAME_SPEC;
  *c = got;
  return 0;
}

enum store_probe_result store_probe(const char *path, const char *sha256,
                                    struct err *what)
{
  err_clear(what);
  quiet_hdf5();
  struct checked c;
  enum store_probe_result kind;
  if (open_checked(path, &c, &kind, what) != 0) {
    if (kind == STORE_MISSING)
      err_clear(what); /* nothing to say: the file will be made */
    return kind;
  }
  if (strcmp(c.sha, sha256) != 0) {
    err_set(what, ERR_INPUT,
            "%s holds another spec (sha256 %.12s..., this spec %.12s...)",
            path, c.sha, sha256);
    kind = STORE_OTHER_SPEC;
  } else {
    err_set(what, ERR_OK, "%s holds this spec", path);
  }
  checked_close(&c);
  return kind;
}

struct store_reader {
  hid_t f;
  struct spec *spec;
};

/* Every study of the stored spec has its datasets (tasks/status stands
 * for them). */
static int check_studies(hid_t f, const char *path, const struct spec *s,
                         struct err *e)
{
  /* A missing group on the way makes H5Lexists fail: missing too. */
  int has_studies = H5Lexists(f, "/studies", H5P_DEFAULT) > 0;
  for (int i = 0; i < spec_nstudies(s); i++) {
    const char *name = spec_study(s, i)->name;
    char p[STUDY_PATH_LEN];
    study_path(p, name, study_dsets[SD_STATUS].name);
    if (!has_studies || H5Lexists(f, p, H5P_DEFAULT) <= 0) {
      h5_forget();
      return err_set(e, ERR_INPUT, "%s: study '%s' is missing (damaged?)",
                     path, name);
    }
  }
  return 0;
}

int store_reader_open(const char *path, struct store_reader **out,
                      struct err *e)
{
  err_clear(e);
  quiet_hdf5();
  int rc;
  struct checked c = {H5I_INVALID_HID, NULL, NULL};
  enum store_probe_result kind;
  struct err pe;
  struct store_reader *r = calloc(1, sizeof *r);
  if (!r)
    return out_of_memory(e);
  r->f = H5I_INVALID_HID;
  if ((rc = open_checked(path, &c, &kind, e)) != 0)
    goto out;
  r->f = c.f;
  c.f = H5I_INVALID_HID;
  if ((rc = spec_load_text(c.canon, strlen(c.canon), path, &r->spec, &pe))
      != 0) {
    err_set(e, pe.code, "%s: the stored spec does not parse: %s", path,
            pe.msg);
    goto out;
  }
  if ((rc = check_studies(r->f, path, r->spec, e)) != 0)
    goto out;
  *out = r;
  r = NULL;
out:
  checked_close(&c);
  store_reader_close(&r);
  return rc;
}

void store_reader_close(struct store_reader **rp)
{
  if (!rp || !*rp)
    return;
  struct store_reader *r = *rp;
  /* Read-only: closing writes nothing, a failure loses nothing. */
  h5_release(H5Fclose, r->f);
  spec_destroy(&r->spec);
  free(r);
  *rp = NULL;
}

const struct spec *store_reader_spec(const struct store_reader *r)
{
  return r->spec;
}

/* Read all of dataset name (under loc) into buf as memtype. */
static int read_whole(hid_t loc, const char *name, hid_t memtype, void *buf,
                      struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t d = H5I_INVALID_HID;
  H5_CHECK(e, out, d = H5Dopen2(loc, name, H5P_DEFAULT));
  H5_CHECK(e, out, H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
  rc = 0;
out:
  /* Read-only: closing writes nothing. */
  h5_release(H5Dclose, d);
  return rc;
}

int store_reader_status(struct store_reader *r, int study, uint8_t *status,
                        struct err *e)
{
  err_clear(e);
  const char *name = spec_study(r->spec, study)->name;
  char p[STUDY_PATH_LEN];
  study_path(p, name, study_dsets[SD_STATUS].name);
  if (read_whole(r->f, p, H5T_NATIVE_UINT8, status, e) != 0)
    return err_set(e, ERR_INPUT,
                   "cannot read the status of study '%s' (damaged?)", name);
  return 0;
}

/* Every field of the run records, read whole into field[]. */
static int read_run_fields(hid_t f, void *const field[RUN_NFIELDS],
                           struct err *e)
{
  struct elem_types ty;
  if (types_open(&ty, e) != 0)
    return ERR_RUNTIME;
  int rc = 0;
  for (int i = 0; i < RUN_NFIELDS && rc == 0; i++)
    rc = read_whole(f, run_dsets[i].name, ty.t[run_dsets[i].elem], field[i],
                    e);
  types_close(&ty);
  return rc;
}

int store_reader_read_runs(struct store_reader *r,
                           struct store_run_info *runs, int max, int *count,
                           struct err *e)
{
  err_clear(e);
  int rc = ERR_RUNTIME, n = 0;
  void *field[RUN_NFIELDS];
  for (int i = 0; i < RUN_NFIELDS; i++)
    field[i] = malloc(STORE_MAX_RUNS * elem_size(run_dsets[i].elem));
  for (int i = 0; i < RUN_NFIELDS; i++)
    if (!field[i]) {
      out_of_memory(e);
      goto out;
    }
  if (read_run_fields(r->f, field, e) != 0) {
    rc = err_set(e, ERR_INPUT, "cannot read the run records (damaged?)");
    goto out;
  }
  const double *start = field[RUN_START], *end = field[RUN_END];
  const int32_t *ranks = field[RUN_RANKS];
  const int64_t *before = field[RUN_DONE_BEFORE];
  const int64_t *after = field[RUN_DONE_AFTER];
  const char *hosts = field[RUN_HOSTS];
  for (; n < STORE_MAX_RUNS && !isnan(start[n]); n++) {
    if (n >= max)
      continue;
    runs[n].start = start[n];
    runs[n].end = end[n];
    runs[n].ranks = ranks[n];
    runs[n].done_before = before[n];
    runs[n].done_after = after[n];
    memcpy(runs[n].hosts, hosts + (size_t)n * STORE_HOSTS_LEN,
           STORE_HOSTS_LEN);
    runs[n].hosts[STORE_HOSTS_LEN - 1] = '\0';
  }
  *count = n;
  rc = 0;
out:
  for (int i = 0; i < RUN_NFIELDS; i++)
    free(field[i]);
  return rc;
}

int store_reader_runs(struct store_reader *r, struct store_run_info *runs,
                      int max)
{
  struct err e;
  int n;
  return store_reader_read_runs(r, runs, max, &n, &e) == 0 ? n : -1;
}

/* ---- parallel access ---- */

struct store {
  hid_t f;
  struct elem_types ty;
  const struct spec *spec;
  int nstudies;
  hid_t (*dset)[SD_COUNT]; /* per study: the results open, the rest not */
  hid_t run[RUN_NFIELDS];
};

/* Close every handle, whatever fails on the way: every rank makes the
 * same calls (they are collective).  rc is the status so far; returns the
 * new one (a close failure after a success is the function's failure). */
static int close_handles(struct store *st, int rc, struct err *e)
{
  for (int i = 0; st->dset && i < st->nstudies; i++)
    for (int j = 0; j < SD_COUNT; j++)
      rc = h5_close(H5Dclose, st->dset[i][j], rc, e);
  for (int i = 0; i < RUN_NFIELDS; i++)
    rc = h5_close(H5Dclose, st->run[i], rc, e);
  types_close(&st->ty);
  return h5_close(H5Fclose, st->f, rc, e);
}

static void store_free(struct store **sp)
{
  free((*sp)->dset);
  free(*sp);
  *sp = NULL;
}

/* A store of spec s with no handle open yet. */
static struct store *store_new(const struct spec *s)
{
  struct store *st = calloc(1, sizeof *st);
  if (!st)
    return NULL;
  st->spec = s;
  st->nstudies = spec_nstudies(s);
  st->dset = calloc((size_t)st->nstudies, sizeof *st->dset);
  if (!st->dset) {
    free(st);
    return NULL;
  }
  st->f = H5I_INVALID_HID;
  for (int k = 0; k < ELEM_COUNT; k++)
    st->ty.t[k] = H5I_INVALID_HID;
  for (int i = 0; i < st->nstudies; i++)
    for (int j = 0; j < SD_COUNT; j++)
      st->dset[i][j] = H5I_INVALID_HID;
  for (int i = 0; i < RUN_NFIELDS; i++)
    st->run[i] = H5I_INVALID_HID;
  return st;
}

static int open_parallel(MPI_Comm comm, const char *path, hid_t *out,
                         struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t fapl = H5I_INVALID_HID, f;
  H5_CHECK(e, out, fapl = H5Pcreate(H5P_FILE_ACCESS));
  H5_CHECK(e, out, H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
  H5_CHECK(e, out, f = H5Fopen(path, H5F_ACC_RDWR, fapl));
  *out = f;
  rc = 0;
out:
  h5_release(H5Pclose, fapl);
  return rc;
}

/* The datasets the runs write: every study's results and /runs. */
static int open_datasets(struct store *st, struct err *e)
{
  for (int i = 0; i < st->nstudies; i++) {
    const char *name = spec_study(st->spec, i)->name;
    for (int j = SD_RESULTS_FIRST; j < SD_RESULTS_END; j++) {
      char p[STUDY_PATH_LEN];
      study_path(p, name, study_dsets[j].name);
      H5_CHECK(e, fail, st->dset[i][j] = H5Dopen2(st->f, p, H5P_DEFAULT));
    }
  }
  for (int i = 0; i < RUN_NFIELDS; i++)
    H5_CHECK(e, fail, st->run[i] = H5Dopen2(st->f, run_dsets[i].name,
                                           H5P_DEFAULT));
  return 0;
fail:
  return ERR_RUNTIME;
}

int store_open(MPI_Comm comm, const char *path, const struct spec *s,
               struct store **out, struct err *e)
{
  err_clear(e);
  quiet_hdf5();
  int rc = ERR_RUNTIME;
  struct store *st = store_new(s);
  if (!st)
    return out_of_memory(e);
  if (open_parallel(comm, path, &st->f, e) != 0)
    goto out;
  if (types_open(&st->ty, e) != 0)
    goto out;
  if (open_datasets(st, e) != 0)
    goto out;
  *out = st;
  st = NULL;
  rc = 0;
out:
  if (rc != 0) {
    err_prefix(e, "cannot open %s for writing: ", path);
    rc = close_handles(st, rc, e);
    store_free(&st);
  }
  return rc;
}

int store_close(struct store **sp, struct err *e)
{
  err_clear(e);
  if (!sp || !*sp)
    return 0;
  int rc = close_handles(*sp, 0, e);
  store_free(sp);
  if (rc != 0)
    return err_prefix(e, "closing the results file failed: ");
  return 0;
}

int store_flush(struct store *st, struct err *e)
{
  err_clear(e);
  H5_CHECK(e, fail, H5Fflush(st->f, H5F_SCOPE_GLOBAL));
  return 0;
fail:
  return err_prefix(e, "cannot flush the results file: ");
}

int store_read_status(struct store *st, int study, uint8_t *status,
                      struct err *e)
{
  err_clear(e);
  H5_CHECK(e, fail, H5Dread(st->dset[study][SD_STATUS], H5T_NATIVE_UINT8,
                            H5S_ALL, H5S_ALL, H5P_DEFAULT, status));
  return 0;
fail:
  return err_prefix(e, "cannot read the task status of study '%s': ",
                    spec_study(st->spec, study)->name);
}

/* Select the rows of r (ascending) in a dataset of rank 1 or 2 of width
 * columns: one hyperslab per run of consecutive rows, OR-ed together. */
static int select_rows(hid_t space, const struct store_rows *r,
                       hsize_t width, struct err *e)
{
  H5S_seloper_t op = H5S_SELECT_SET;
  for (int64_t i = 0; i < r->n;) {
    int64_t j = i + 1;
    while (j < r->n && r->rows[j] == r->rows[j - 1] + 1)
      j++;
    hsize_t start[2] = {(hsize_t)r->rows[i], 0};
    hsize_t count[2] = {(hsize_t)(j - i), width};
    H5_CHECK(e, fail, H5Sselect_hyperslab(space, op, start, NULL, count,
                                          NULL));
    op = H5S_SELECT_OR;
    i = j;
  }
  return 0;
fail:
  return ERR_RUNTIME;
}

/* Write r's rows of one result dataset from buf (r->n rows). */
static int write_result(struct store *st, int study, enum study_dset which,
                        const struct store_rows *r, const void *buf,
                        struct err *e)
{
  int rc = ERR_RUNTIME;
  const struct dset_def *def = &study_dsets[which];
  hid_t d = st->dset[study][which];
  hid_t file_space = H5I_INVALID_HID, mem_space = H5I_INVALID_HID;
  hsize_t dims[2] = {0, 1};
  int rank = shape_dims(def->shape, spec_study(st->spec, study), dims);
  dims[0] = (hsize_t)r->n;
  H5_CHECK(e, out, file_space = H5Dget_space(d));
  if (select_rows(file_space, r, rank == 2 ? dims[1] : 1, e) != 0)
    goto out;
  H5_CHECK(e, out, mem_space = H5Screate_simple(rank, dims, NULL));
  H5_CHECK(e, out, H5Dwrite(d, st->ty.t[def->elem], mem_space, file_space,
                            H5P_DEFAULT, buf));
  rc = 0;
out:
  h5_release(H5Sclose, file_space);
  h5_release(H5Sclose, mem_space);
  return rc;
}

int store_write_rows(struct store *st, int study, const struct store_rows *r,
                     struct err *e)
{
  err_clear(e);
  /* Rows first; the status bytes only once the rows are written, so a
   * task marked done always has its rows (an interrupted write leaves it
   * pending and it is redone). */
  const struct {
    enum study_dset which;
    const void *buf;
  } parts[] = {
    {SD_MAX_ABS_DELTA, r->max_abs_delta},
    {SD_MEAN_ABS_DELTA, r->mean_abs_delta},
    {SD_VALUE_GAP, r->value_gap},
    {SD_THETA, r->theta},
    {SD_RANK, r->rank},
    {SD_WALL_SECONDS, r->wall_seconds},
    {SD_FINISHED_AT, r->finished_at},
    {SD_REASON, r->reason},
    {SD_STATUS, r->status}, /* last */
  };
  if (r->n == 0)
    return 0;
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    int rc = write_result(st, study, parts[i].which, r, parts[i].buf, e);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Write one field of run record slot from v (of the field's type). */
static int write_run_field(struct store *st, enum run_field field, int slot,
                           const void *v, struct err *e)
{
  return write_block(st->run[field], st->ty.t[run_dsets[field].elem],
                     (hsize_t)slot, 1, v, e);
}

/* The first run record not yet used (its start never written). */
static int find_free_run(struct store *st, int *slot, struct err *e)
{
  int rc = ERR_RUNTIME;
  double *starts = malloc(STORE_MAX_RUNS * sizeof *starts);
  if (!starts) {
    out_of_memory(e);
    goto out;
  }
  H5_CHECK(e, out, H5Dread(st->run[RUN_START], H5T_NATIVE_DOUBLE, H5S_ALL,
                           H5S_ALL, H5P_DEFAULT, starts));
  int i = 0;
  while (i < STORE_MAX_RUNS && !isnan(starts[i]))
    i++;
  if (i == STORE_MAX_RUNS) {
    err_set(e, ERR_RUNTIME, "all %d run records are used", STORE_MAX_RUNS);
    goto out;
  }
  *slot = i;
  rc = 0;
out:
  free(starts);
  return rc;
}

int store_run_begin(struct store *st, double start, int ranks,
                    const char *hosts, int64_t done_before, int *slot,
                    struct err *e)
{
  err_clear(e);
  int free_slot, rc;
  if ((rc = find_free_run(st, &free_slot, e)) != 0)
    return rc;
  char padded_hosts[STORE_HOSTS_LEN] = {0};
  snprintf(padded_hosts, sizeof padded_hosts, "%s", hosts);
  const int32_t nranks = ranks;
  if ((rc = write_run_field(st, RUN_RANKS, free_slot, &nranks, e)) != 0)
    return rc;
  if ((rc = write_run_field(st, RUN_DONE_BEFORE, free_slot, &done_before,
                            e)) != 0)
    return rc;
  if ((rc = write_run_field(st, RUN_HOSTS, free_slot, padded_hosts, e)) != 0)
    return rc;
  /* start last: it marks the record used */
  if ((rc = write_run_field(st, RUN_START, free_slot, &start, e)) != 0)
    return rc;
  *slot = free_slot;
  return 0;
}

int store_run_end(struct store *st, int slot, double end, int64_t done_after,
                  struct err *e)
{
  err_clear(e);
  if (slot < 0 || slot >= STORE_MAX_RUNS)
    return err_set(e, ERR_RUNTIME,
                   "cannot record the end of this run: no run record %d",
                   slot);
  if (write_run_field(st, RUN_DONE_AFTER, slot, &done_after, e) != 0)
    return err_prefix(e, "cannot record the end of this run: ");
  if (write_run_field(st, RUN_END, slot, &end, e) != 0)
    return err_prefix(e, "cannot record the end of this run: ");
  return 0;
}
