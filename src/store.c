/* store: the results file.  include/dposweep/store.h gives the layout and
 * the crash-safety rules, docs/design.md (section 7) the argument for
 * them; here three tables hold the layout (the datasets of a study, the
 * run records, the sources), read by creation, the parallel open, the
 * writers, the reader and the size estimate alike. */

#define _GNU_SOURCE /* memfd_create (discard_file) */

#include "dposweep/store.h"

#include "version.h"

#include "dposweep/err.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

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

/* ---- the layout: element types, shapes, the tables ---- */

enum elem { ELEM_U8, ELEM_I32, ELEM_U32, ELEM_I64, ELEM_F64, ELEM_REASON,
            ELEM_HOSTS, ELEM_ISA, ELEM_PATH, ELEM_SHA, ELEM_VERSION,
            ELEM_STUDY, ELEM_COUNT };

static size_t elem_size(enum elem k)
{
  static const size_t size[ELEM_COUNT] = {
    [ELEM_U8] = 1, [ELEM_I32] = 4, [ELEM_U32] = 4, [ELEM_I64] = 8,
    [ELEM_F64] = 8, [ELEM_REASON] = STORE_REASON_LEN,
    [ELEM_HOSTS] = STORE_HOSTS_LEN, [ELEM_ISA] = STORE_ISA_LEN,
    [ELEM_PATH] = STORE_PATH_LEN, [ELEM_SHA] = 65,
    [ELEM_VERSION] = STORE_VERSION_LEN, [ELEM_STUDY] = STORE_STUDY_LEN};
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

/* The numbers' types, then the texts' (ELEM_REASON and after). */
static int types_open(struct elem_types *ty, struct err *e)
{
  for (int k = 0; k < ELEM_COUNT; k++)
    ty->t[k] = H5I_INVALID_HID;
  H5_CHECK(e, fail, ty->t[ELEM_U8] = H5Tcopy(H5T_NATIVE_UINT8));
  H5_CHECK(e, fail, ty->t[ELEM_I32] = H5Tcopy(H5T_NATIVE_INT32));
  H5_CHECK(e, fail, ty->t[ELEM_U32] = H5Tcopy(H5T_NATIVE_UINT32));
  H5_CHECK(e, fail, ty->t[ELEM_I64] = H5Tcopy(H5T_NATIVE_INT64));
  H5_CHECK(e, fail, ty->t[ELEM_F64] = H5Tcopy(H5T_NATIVE_DOUBLE));
  for (int k = ELEM_REASON; k < ELEM_COUNT; k++)
    if (string_type(elem_size((enum elem)k), &ty->t[k], e) != 0)
      goto fail;
  return 0;
fail:
  types_close(ty);
  return ERR_RUNTIME;
}

/* Dataset shapes: per task, per task and record, per task and arm, per
 * record, per run record, per source. */
enum shape { SHAPE_TASK, SHAPE_TASK_REC, SHAPE_TASK_ARM, SHAPE_REC,
             SHAPE_RUN, SHAPE_SOURCE };

/* The dimensions of a shape in study st (NULL for SHAPE_RUN and
 * SHAPE_SOURCE); returns the rank. */
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
  case SHAPE_SOURCE:
    dims[0] = STORE_MAX_SOURCES;
    return 1;
  }
  return 0;
}

/* What a dataset reads before anything is written there. */
static const double fill_nan = NAN;
static const uint8_t fill_pending = TASK_PENDING;
static const int32_t fill_none_i32 = -1;
static const int32_t fill_no_ranks = 0;
static const int64_t fill_none_i64 = -1;

struct dset_def {
  const char *name; /* under the study's group, or under / */
  enum elem elem;
  enum shape shape;
  const void *fill; /* NULL: zero bytes */
};

/* A study's datasets, in creation order (the order fixes the file's
 * bytes): the coordinates, the results the runs write (one traj/ dataset
 * per enum bandit_metric), the record steps. */
enum study_dset {
  SD_REGIME, SD_ARMS, SD_BETA, SD_SIGMA, SD_SAMPLES, SD_ETA, SD_ETA_THEORY,
  SD_REF_SPREAD, SD_SEED,
  SD_STATUS, SD_RANK, SD_WALL_SECONDS, SD_FINISHED_AT, SD_REASON, SD_RUN,
  SD_CHECKSUM, SD_ORIGIN_SOURCE, SD_ORIGIN_STUDY, SD_ORIGIN_INDEX,
  SD_METRIC, /* SD_METRIC + m: traj/<bandit_metric_name(m)> */
  SD_THETA = SD_METRIC + BANDIT_NMETRICS,
  SD_T,
  SD_COUNT
};
#define SD_NCOORDS SD_STATUS        /* [0, SD_STATUS): coordinates */
#define SD_RESULTS_FIRST SD_STATUS  /* [SD_STATUS, SD_T): results */
#define SD_RESULTS_END SD_T

/* Every dataset but the metrics', which study_def makes from the metric
 * table (bandit.h). */
static const struct dset_def study_dsets[SD_COUNT] = {
  [SD_REGIME] = {"tasks/regime", ELEM_I32, SHAPE_TASK, NULL},
  [SD_ARMS] = {"tasks/arms", ELEM_I32, SHAPE_TASK, NULL},
  [SD_BETA] = {"tasks/beta", ELEM_F64, SHAPE_TASK, NULL},
  [SD_SIGMA] = {"tasks/sigma", ELEM_F64, SHAPE_TASK, NULL},
  [SD_SAMPLES] = {"tasks/samples", ELEM_I64, SHAPE_TASK, NULL},
  [SD_ETA] = {"tasks/eta", ELEM_F64, SHAPE_TASK, NULL},
  [SD_ETA_THEORY] = {"tasks/eta_theory", ELEM_U8, SHAPE_TASK, NULL},
  [SD_REF_SPREAD] = {"tasks/ref_spread", ELEM_F64, SHAPE_TASK, NULL},
  [SD_SEED] = {"tasks/seed", ELEM_I64, SHAPE_TASK, NULL},
  [SD_STATUS] = {"tasks/status", ELEM_U8, SHAPE_TASK, &fill_pending},
  [SD_RANK] = {"tasks/rank", ELEM_I32, SHAPE_TASK, &fill_none_i32},
  [SD_WALL_SECONDS] = {"tasks/wall_seconds", ELEM_F64, SHAPE_TASK, &fill_nan},
  [SD_FINISHED_AT] = {"tasks/finished_at", ELEM_F64, SHAPE_TASK, &fill_nan},
  [SD_REASON] = {"tasks/reason", ELEM_REASON, SHAPE_TASK, NULL},
  [SD_RUN] = {"tasks/run", ELEM_I32, SHAPE_TASK, &fill_none_i32},
  [SD_CHECKSUM] = {"tasks/checksum", ELEM_U32, SHAPE_TASK, NULL},
  [SD_ORIGIN_SOURCE] = {"tasks/origin_source", ELEM_I32, SHAPE_TASK,
                        &fill_none_i32},
  [SD_ORIGIN_STUDY] = {"tasks/origin_study", ELEM_STUDY, SHAPE_TASK, NULL},
  [SD_ORIGIN_INDEX] = {"tasks/origin_index", ELEM_I64, SHAPE_TASK,
                       &fill_none_i64},
  [SD_THETA] = {"final/theta", ELEM_F64, SHAPE_TASK_ARM, &fill_nan},
  [SD_T] = {"traj/t", ELEM_I64, SHAPE_REC, NULL},
};

static const struct dset_def metric_dset = {"traj/", ELEM_F64, SHAPE_TASK_REC,
                                            &fill_nan};

static bool is_metric(int j)
{
  return j >= SD_METRIC && j < SD_METRIC + BANDIT_NMETRICS;
}

static const struct dset_def *study_def(int j)
{
  return is_metric(j) ? &metric_dset : &study_dsets[j];
}

/* A study dataset's name under the study's group: "traj/value_gap". */
#define DSET_NAME_LEN 64

static void study_dset_name(int j, char buf[DSET_NAME_LEN])
{
  if (is_metric(j))
    snprintf(buf, DSET_NAME_LEN, "traj/%s",
             bandit_metric_name((enum bandit_metric)(j - SD_METRIC)));
  else
    snprintf(buf, DSET_NAME_LEN, "%s", study_dsets[j].name);
}

/* The run records under /runs, one row per run; start marks a row used. */
enum run_field { RUN_START, RUN_END, RUN_RANKS, RUN_DONE_BEFORE,
                 RUN_DONE_AFTER, RUN_HOSTS, RUN_NODES, RUN_ISA,
                 RUN_NFIELDS };

static const struct dset_def run_dsets[RUN_NFIELDS] = {
  [RUN_START] = {"runs/start", ELEM_F64, SHAPE_RUN, &fill_nan},
  [RUN_END] = {"runs/end", ELEM_F64, SHAPE_RUN, &fill_nan},
  [RUN_RANKS] = {"runs/ranks", ELEM_I32, SHAPE_RUN, &fill_no_ranks},
  [RUN_DONE_BEFORE] = {"runs/done_before", ELEM_I64, SHAPE_RUN,
                       &fill_none_i64},
  [RUN_DONE_AFTER] = {"runs/done_after", ELEM_I64, SHAPE_RUN,
                      &fill_none_i64},
  [RUN_HOSTS] = {"runs/hosts", ELEM_HOSTS, SHAPE_RUN, NULL},
  [RUN_NODES] = {"runs/nodes", ELEM_HOSTS, SHAPE_RUN, NULL},
  [RUN_ISA] = {"runs/isa", ELEM_ISA, SHAPE_RUN, NULL},
};

/* The files a file was built from, under /sources, one row per source,
 * written at creation; a non-empty path marks a row used. */
enum source_field { SRC_PATH, SRC_SHA, SRC_VERSION, SRC_GIT, SRC_NUMERICS,
                    SRC_NFIELDS };

static const struct dset_def source_dsets[SRC_NFIELDS] = {
  [SRC_PATH] = {"sources/path", ELEM_PATH, SHAPE_SOURCE, NULL},
  [SRC_SHA] = {"sources/spec_sha256", ELEM_SHA, SHAPE_SOURCE, NULL},
  [SRC_VERSION] = {"sources/dposweep_version", ELEM_VERSION, SHAPE_SOURCE,
                   NULL},
  [SRC_GIT] = {"sources/git_revision", ELEM_VERSION, SHAPE_SOURCE, NULL},
  [SRC_NUMERICS] = {"sources/numerics", ELEM_I32, SHAPE_SOURCE, NULL},
};

/* "/studies/<name>/<dataset>": study names are at most SPEC_MAX_NAME. */
#define STUDY_PATH_LEN (SPEC_MAX_NAME + DSET_NAME_LEN + 16)

static void study_path(char buf[STUDY_PATH_LEN], const char *study, int j)
{
  char name[DSET_NAME_LEN];
  study_dset_name(j, name);
  snprintf(buf, STUDY_PATH_LEN, "/studies/%s/%s", study, name);
}

/* ---- the predicted size ---- */

/* Metadata (object headers, attributes, B-trees), measured on files made
 * by store_create: about 8.6 KB per study plus 184 bytes per dataset in
 * it, and 10.7 KB for the rest, plus the spec texts. */
#define STUDY_METADATA_BYTES (8600 + 184 * SD_COUNT)
#define FILE_METADATA_BYTES 10700

static int64_t def_bytes(const struct dset_def *def,
                         const struct spec_study *st)
{
  hsize_t dims[2] = {0, 1};
  int rank = shape_dims(def->shape, st, dims);
  int64_t count = (int64_t)dims[0] * (rank == 2 ? (int64_t)dims[1] : 1);
  return count * (int64_t)elem_size(def->elem);
}

static int64_t raw_bytes(const struct dset_def *defs, int n)
{
  int64_t bytes = 0;
  for (int i = 0; i < n; i++)
    bytes += def_bytes(&defs[i], NULL);
  return bytes;
}

int64_t store_study_bytes(const struct spec_study *st)
{
  int64_t bytes = STUDY_METADATA_BYTES;
  for (int j = 0; j < SD_COUNT; j++)
    bytes += def_bytes(study_def(j), st);
  return bytes;
}

int64_t store_predicted_size(const struct spec *s)
{
  /* Raw data exactly; metadata estimated (see STUDY_METADATA_BYTES). */
  int64_t bytes = 0;
  for (int i = 0; i < spec_nstudies(s); i++)
    bytes += store_study_bytes(spec_study(s, i));
  bytes += raw_bytes(run_dsets, RUN_NFIELDS);
  bytes += raw_bytes(source_dsets, SRC_NFIELDS);
  bytes += (int64_t)strlen(spec_canonical(s)) + (int64_t)strlen(spec_text(s));
  return bytes + FILE_METADATA_BYTES;
}

/* ---- creation: attributes and datasets ---- */

/* An attribute of type holding one value (n NULL) or an array of *n. */
static int attr_write(hid_t loc, const char *name, hid_t type,
                      const hsize_t *n, const void *buf, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t space = H5I_INVALID_HID, a = H5I_INVALID_HID;
  H5_CHECK(e, out, space = n ? H5Screate_simple(1, n, NULL)
                             : H5Screate(H5S_SCALAR));
  H5_CHECK(e, out, a = H5Acreate2(loc, name, type, space, H5P_DEFAULT,
                                  H5P_DEFAULT));
  H5_CHECK(e, out, H5Awrite(a, type, buf));
  rc = 0;
out:
  h5_release(H5Aclose, a);
  h5_release(H5Sclose, space);
  return rc;
}

static int attr_scalar(hid_t loc, const char *name, hid_t type,
                       const void *v, struct err *e)
{
  return attr_write(loc, name, type, NULL, v, e);
}

static int attr_array(hid_t loc, const char *name, hid_t type, hsize_t n,
                      const void *v, struct err *e)
{
  return attr_write(loc, name, type, &n, v, e);
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

/* The dataset def describes, named name, in study st (NULL for /runs
 * and /sources). */
static int make_defined(hid_t loc, const char *name,
                        const struct dset_def *def,
                        const struct spec_study *st,
                        const struct elem_types *ty, hid_t *out,
                        struct err *e)
{
  hsize_t dims[2] = {0, 1};
  int rank = shape_dims(def->shape, st, dims);
  return make_dataset(loc, name, ty->t[def->elem], rank, dims, def->fill,
                      out, e);
}

/* Study dataset j of st, under the study's group g. */
static int make_study_dset(hid_t g, int j, const struct spec_study *st,
                           const struct elem_types *ty, hid_t *out,
                           struct err *e)
{
  char name[DSET_NAME_LEN];
  study_dset_name(j, name);
  return make_defined(g, name, study_def(j), st, ty, out, e);
}

/* A dataset written later (or never): created, filled, closed. */
static int make_empty(hid_t loc, const struct dset_def *def,
                      const struct elem_types *ty, struct err *e)
{
  hid_t d = H5I_INVALID_HID;
  int rc = make_defined(loc, def->name, def, NULL, ty, &d, e);
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

/* Attributes over 64 KiB do not fit the object headers of the earliest
 * file format, which create_file keeps for crash safety
 * (docs/design.md, section 7), so long texts become a dataset of the
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
  /* The traj/ datasets in the metric table's order, which the checksum
   * follows (a reader cannot learn it from the datasets' names). */
  const char *metrics[BANDIT_NMETRICS];
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    metrics[m] = bandit_metric_name((enum bandit_metric)m);
  if (rc == 0)
    rc = attr_str_array(g, "metrics", metrics, BANDIT_NMETRICS, e);
  if (rc == 0 && st->rewards == BANDIT_REWARDS_EXPLICIT)
    rc = attr_array(g, "reward_values", H5T_NATIVE_DOUBLE,
                    (hsize_t)st->max_arms, st->reward_values, e);
  if (rc == 0 && st->ref_logits)
    rc = attr_array(g, "ref_logits", H5T_NATIVE_DOUBLE,
                    (hsize_t)st->max_arms, st->ref_logits, e);
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
  case SPEC_AXIS_REF_SPREAD:
    return attr_array(g, name, H5T_NATIVE_DOUBLE, n, st->ref_spread, e);
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
  double *ref_spread = buf[SD_REF_SPREAD];
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
    ref_spread[j] = st->ref_spread[at[SPEC_AXIS_REF_SPREAD]];
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
    buf[i] = malloc(COORD_BLOCK * elem_size(study_def(i)->elem));
  }
  for (int i = 0; i < SD_NCOORDS; i++)
    if (!buf[i]) {
      out_of_memory(e);
      goto out;
    }
  for (int i = 0; i < SD_NCOORDS; i++)
    if (make_study_dset(g, i, st, ty, &d[i], e) != 0)
      goto out;
  for (hsize_t start = 0; start < n; start += COORD_BLOCK) {
    hsize_t count = n - start < COORD_BLOCK ? n - start : COORD_BLOCK;
    fill_coords(st, start, count, buf);
    for (int i = 0; i < SD_NCOORDS; i++)
      if (write_block(d[i], ty->t[study_def(i)->elem], start, count, buf[i],
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
  if (make_study_dset(g, SD_T, st, ty, &d, e) != 0)
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
  for (int j = SD_RESULTS_FIRST; j < SD_RESULTS_END; j++) {
    hid_t d = H5I_INVALID_HID;
    if (h5_close(H5Dclose, d, make_study_dset(g, j, st, ty, &d, e), e) != 0)
      goto out;
  }
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
 * the file and when, the format, the numerics its results are of. */
static int write_root_attrs(hid_t root, const struct spec *s, struct err *e)
{
  char created[32];
  if (created_now(created, e) != 0)
    return ERR_RUNTIME;
  const int32_t format = STORE_FORMAT, numerics = BANDIT_NUMERICS_VERSION;
  const uint64_t master = spec_master_seed(s);
  const int64_t ntasks = spec_ntasks(s);
  const struct attr_def attrs[] = {
    {"spec", spec_text(s), 0, NULL},
    {"spec_canonical", spec_canonical(s), 0, NULL},
    {"spec_sha256", spec_sha256(s), 0, NULL},
    {"dposweep_version", DPOSWEEP_VERSION, 0, NULL},
    {"git_revision", DPOSWEEP_GIT_REVISION, 0, NULL},
    {"dposweep_format", NULL, H5T_NATIVE_INT32, &format},
    {"numerics", NULL, H5T_NATIVE_INT32, &numerics},
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
    int rc = make_empty(root, &run_dsets[i], ty, e);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* The n sources' field k, packed as the dataset stores it. */
static void pack_source_field(const struct store_source *src, int n,
                              enum source_field k, void *buf)
{
  size_t w = elem_size(source_dsets[k].elem);
  for (int i = 0; i < n; i++) {
    char *at = (char *)buf + (size_t)i * w;
    switch (k) {
    case SRC_PATH: snprintf(at, w, "%s", src[i].path); break;
    case SRC_SHA: snprintf(at, w, "%s", src[i].spec_sha256); break;
    case SRC_VERSION: snprintf(at, w, "%s", src[i].dposweep_version); break;
    case SRC_GIT: snprintf(at, w, "%s", src[i].git_revision); break;
    case SRC_NUMERICS: memcpy(at, &src[i].numerics, w); break;
    case SRC_NFIELDS: break;
    }
  }
}

/* /sources, with the first n rows written. */
static int create_sources(hid_t root, const struct store_source *src, int n,
                          const struct elem_types *ty, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t d = H5I_INVALID_HID;
  void *buf = calloc((size_t)(n > 0 ? n : 1), STORE_PATH_LEN);
  if (!buf)
    return out_of_memory(e);
  for (int k = 0; k < SRC_NFIELDS; k++) {
    const struct dset_def *def = &source_dsets[k];
    if (make_defined(root, def->name, def, NULL, ty, &d, e) != 0)
      goto out;
    pack_source_field(src, n, (enum source_field)k, buf);
    if (n > 0 && write_block(d, ty->t[def->elem], 0, (hsize_t)n, buf, e) != 0)
      goto out;
    hid_t closing = d;
    d = H5I_INVALID_HID;
    if (h5_close(H5Dclose, closing, 0, e) != 0)
      goto out;
  }
  rc = 0;
out:
  free(buf);
  return h5_close(H5Dclose, d, rc, e);
}

static int write_contents(hid_t f, const struct spec *s,
                          const struct store_source *sources, int nsources,
                          struct err *e)
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
  if (create_sources(root, sources, nsources, &ty, e) != 0)
    goto out;
  rc = 0;
out:
  types_close(&ty);
  return h5_close(H5Gclose, root, rc, e);
}

/* The file under its temporary name, in the earliest format: no
 * file-consistency flags, so a file a killed run had open still opens
 * (docs/design.md, section 7). */
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

/* ---- creation: temporaries ---- */

/* This host's name as it appears in temporaries' names: characters other
 * than letters, digits, '-' and '.' become '_' (a name must stay one
 * path component). */
#define HOST_NAME_LEN 256

static void temp_host(char buf[HOST_NAME_LEN])
{
  if (gethostname(buf, HOST_NAME_LEN) != 0)
    snprintf(buf, HOST_NAME_LEN, "unknown"); /* still one name per host */
  buf[HOST_NAME_LEN - 1] = '\0';
  for (char *c = buf; *c; c++)
    if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.')
      *c = '_';
}

/* "<path>.tmp.<host>.<pid>", malloc'd, or NULL. */
static char *temp_name(const char *path)
{
  char host[HOST_NAME_LEN];
  temp_host(host);
  size_t len = strlen(path) + strlen(host) + 48;
  char *tmp = malloc(len);
  if (tmp)
    snprintf(tmp, len, "%s.tmp.%s.%ld", path, host, (long)getpid());
  return tmp;
}

/* Whether entry (a file name) is a temporary of base ("<base>.tmp.*")
 * that may be removed: every one with all, else one of this host whose
 * process is gone. */
static bool stale_temp(const char *entry, const char *base, int all,
                       const char *host)
{
  size_t nb = strlen(base);
  if (strncmp(entry, base, nb) != 0 || strncmp(entry + nb, ".tmp.", 5) != 0)
    return false;
  if (all)
    return true;
  const char *rest = entry + nb + 5, *dot = strrchr(rest, '.');
  if (!dot || (size_t)(dot - rest) != strlen(host) ||
      strncmp(rest, host, strlen(host)) != 0)
    return false;
  char *end;
  errno = 0;
  long pid = strtol(dot + 1, &end, 10);
  if (errno || *end || end == dot + 1 || pid <= 0 || pid == (long)getpid())
    return false;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int store_remove_stale_temps(const char *path, int all, struct err *e)
{
  err_clear(e);
  int removed = 0;
  char host[HOST_NAME_LEN];
  temp_host(host);
  char *d = strdup(path), *b = strdup(path);
  DIR *dir = NULL;
  if (!d || !b) {
    removed = out_of_memory(e);
    goto out;
  }
  const char *dname = dirname(d), *base = basename(b);
  if (!(dir = opendir(dname))) {
    removed = err_set(e, ERR_RUNTIME, "cannot read %s: %s", dname,
                      strerror(errno));
    goto out;
  }
  for (struct dirent *ent; (ent = readdir(dir)) != NULL;) {
    if (!stale_temp(ent->d_name, base, all, host))
      continue;
    /* A temporary another cleanup removed first is gone all the same. */
    if (unlinkat(dirfd(dir), ent->d_name, 0) == 0)
      removed++;
  }
out:
  if (dir)
    (void)closedir(dir); /* read-only: nothing to lose */
  free(d);
  free(b);
  return removed;
}

/* The sources fit their fields, and their slots. */
static int check_sources(const struct store_source *src, int n,
                         struct err *e)
{
  if (n < 0 || n > STORE_MAX_SOURCES)
    return err_set(e, ERR_INPUT, "%d source files (at most %d)", n,
                   STORE_MAX_SOURCES);
  for (int i = 0; i < n; i++) {
    if (!src[i].path[0] ||
        strnlen(src[i].path, STORE_PATH_LEN) == STORE_PATH_LEN)
      return err_set(e, ERR_INPUT,
                     "source %d: its path must have 1 to %d characters",
                     i + 1, STORE_PATH_LEN - 1);
    if (strnlen(src[i].spec_sha256, 65) == 65 ||
        strnlen(src[i].dposweep_version, STORE_VERSION_LEN) ==
          STORE_VERSION_LEN ||
        strnlen(src[i].git_revision, STORE_VERSION_LEN) == STORE_VERSION_LEN)
      return err_set(e, ERR_INPUT, "source %d: a field is not terminated",
                     i + 1);
  }
  return 0;
}

/* Make the file at tmp, whole, and close it.  *failed_to says what the
 * error was about ("create", "write"). */
static int make_file(const char *tmp, const struct spec *s,
                     const struct store_source *sources, int nsources,
                     const char **failed_to, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t f = H5I_INVALID_HID;
  *failed_to = "create";
  if (create_file(tmp, &f, e) != 0)
    goto out;
  if (write_contents(f, s, sources, nsources, e) != 0)
    goto out;
  /* The metadata goes out now: a full disk may show only here.  Flushed
   * first, so a failure leaves a file discard_file can still close. */
  *failed_to = "write";
  H5_CHECK(e, out, H5Fflush(f, H5F_SCOPE_LOCAL));
  hid_t closing = f;
  f = H5I_INVALID_HID;
  H5_CHECK(e, out, H5Fclose(closing));
  rc = 0;
out:
  discard_file(f);
  return rc;
}

int store_create_temp(const char *path, const struct spec *s,
                      const struct store_source *sources, int nsources,
                      char **tmp_path, struct err *e)
{
  err_clear(e);
  quiet_hdf5();
  const char *failed_to = "create";
  int rc = check_sources(sources, nsources, e);
  if (rc != 0)
    return err_prefix(e, "cannot create %s: ", path);
  char *tmp = temp_name(path);
  if (!tmp) {
    out_of_memory(e);
    return err_prefix(e, "cannot create %s: ", path);
  }
  /* Leftovers of this host's interrupted attempts.  If the directory
   * cannot be read, making the file fails next and says why. */
  struct err ignored;
  (void)store_remove_stale_temps(path, 0, &ignored);
  rc = make_file(tmp, s, sources, nsources, &failed_to, e);
  if (rc != 0) {
    err_prefix(e, "cannot %s %s: ", failed_to, path);
    store_discard_temp(tmp);
    free(tmp);
    return rc;
  }
  *tmp_path = tmp;
  return 0;
}

int store_commit(const char *tmp_path, const char *path, struct err *e)
{
  err_clear(e);
  if (move_into_place(tmp_path, path, e) != 0)
    return err_prefix(e, "cannot create %s: ", path);
  return 0;
}

void store_discard_temp(const char *tmp_path)
{
  /* A temporary left behind (removal failed) has a name that says what
   * it is; the caller's error is already told. */
  if (tmp_path)
    (void)unlink(tmp_path);
}

int store_create(const char *path, const struct spec *s, struct err *e)
{
  char *tmp = NULL;
  int rc = store_create_temp(path, s, NULL, 0, &tmp, e);
  if (rc != 0)
    return rc;
  if ((rc = store_commit(tmp, path, e)) != 0)
    store_discard_temp(tmp);
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

/* An int32 attribute of loc; ERR_INPUT when there is none. */
static int read_int_attr(hid_t loc, const char *name, int32_t *out,
                         struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t a = H5I_INVALID_HID;
  int32_t value;
  if (H5Aexists(loc, name) <= 0) {
    h5_forget();
    return err_set(e, ERR_INPUT, "no %s", name);
  }
  H5_CHECK(e, out, a = H5Aopen(loc, name, H5P_DEFAULT));
  H5_CHECK(e, out, H5Aread(a, H5T_NATIVE_INT32, &value));
  *out = value;
  rc = 0;
out:
  h5_release(H5Aclose, a);
  return rc;
}

/* An intact dposweep file of our format, open read-only, with its stored
 * spec hash and canonical spec (malloc'd) and its numerics version. */
struct checked {
  hid_t f;
  char *sha, *canon;
  int32_t numerics;
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

/* Ours and intact: our format version, a numerics version, and the
 * stored canonical spec matches the stored hash.  Else ERR_INPUT
 * (STORE_NOT_DPOSWEEP). */
static int check_ours(const char *path, struct checked *c, struct err *e)
{
  int32_t format = 0;
  if (read_int_attr(c->f, "dposweep_format", &format, e) != 0)
    return err_set(e, ERR_INPUT,
                   "%s: an HDF5 file, but not a dposweep results file", path);
  if (format != STORE_FORMAT)
    return err_set(e, ERR_INPUT,
                   "%s: a dposweep file of format version %d; this dposweep "
                   "reads version %d",
                   path, (int)format, STORE_FORMAT);
  if (read_int_attr(c->f, "numerics", &c->numerics, e) != 0)
    return err_set(e, ERR_INPUT,
                   "%s: a dposweep file without its numerics version "
                   "(damaged?)", path);
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

/* Open read-only with no raw-data cache (HDF5's sieve buffer): a reader
 * of a file another process is writing must see a status byte and the
 * rows it reads after it as they are now, never bytes cached before. */
static hid_t open_readonly(const char *path)
{
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = H5I_INVALID_HID;
  if (fapl >= 0 && H5Pset_sieve_buf_size(fapl, 0) >= 0)
    f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  h5_release(H5Pclose, fapl);
  return f;
}

/* Open path read-only as an intact dposweep file of our format.  Returns
 * 0 and fills *c, or ERR_INPUT (ERR_RUNTIME if memory runs out); *kind
 * says what is there either way (STORE_SAME_SPEC: ours; the caller
 * compares the hash and the numerics). */
static int open_checked(const char *path, struct checked *c,
                        enum store_probe_result *kind, struct err *e)
{
  struct checked got = {H5I_INVALID_HID, NULL, NULL, 0};
  int rc = check_path(path, kind, e);
  if (rc != 0)
    return rc;
  got.f = open_readonly(path);
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
  } else if (c.numerics != BANDIT_NUMERICS_VERSION) {
    err_set(what, ERR_INPUT,
            "%s holds results of numerics version %d; this dposweep "
            "computes version %d",
            path, (int)c.numerics, BANDIT_NUMERICS_VERSION);
    kind = STORE_OTHER_NUMERICS;
  } else {
    err_set(what, ERR_OK, "%s holds this spec", path);
  }
  checked_close(&c);
  return kind;
}

struct store_reader {
  hid_t f;
  struct spec *spec;
  struct store_source self; /* this file as a source of another */
  struct elem_types ty;
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
    study_path(p, name, SD_STATUS);
    if (!has_studies || H5Lexists(f, p, H5P_DEFAULT) <= 0) {
      h5_forget();
      return err_set(e, ERR_INPUT, "%s: study '%s' is missing (damaged?)",
                     path, name);
    }
  }
  return 0;
}

/* A provenance text of the file into buf (n bytes), "" when it has none:
 * it describes the file, the file does not depend on it. */
static void provenance_text(hid_t f, const char *name, char *buf, size_t n)
{
  char *text = NULL;
  struct err ignored;
  buf[0] = '\0';
  if (read_text(f, name, &text, &ignored) == 0)
    snprintf(buf, n, "%s", text);
  free(text);
}

/* r->self: the file's path (absolute where it resolves), spec hash,
 * version, revision and numerics. */
static void describe_self(struct store_reader *r, const char *path,
                          const struct checked *c)
{
  struct store_source *me = &r->self;
  char *abs = realpath(path, NULL);
  snprintf(me->path, sizeof me->path, "%s", abs ? abs : path);
  free(abs);
  snprintf(me->spec_sha256, sizeof me->spec_sha256, "%s", c->sha);
  provenance_text(r->f, "dposweep_version", me->dposweep_version,
                  sizeof me->dposweep_version);
  provenance_text(r->f, "git_revision", me->git_revision,
                  sizeof me->git_revision);
  me->numerics = c->numerics;
}

int store_reader_open(const char *path, struct store_reader **out,
                      struct err *e)
{
  err_clear(e);
  quiet_hdf5();
  int rc;
  struct checked c = {H5I_INVALID_HID, NULL, NULL, 0};
  enum store_probe_result kind;
  struct err pe;
  struct store_reader *r = calloc(1, sizeof *r);
  if (!r)
    return out_of_memory(e);
  r->f = H5I_INVALID_HID;
  for (int k = 0; k < ELEM_COUNT; k++)
    r->ty.t[k] = H5I_INVALID_HID;
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
  if ((rc = types_open(&r->ty, e)) != 0)
    goto out;
  describe_self(r, path, &c);
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
  types_close(&r->ty);
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

int store_reader_numerics(const struct store_reader *r)
{
  return (int)r->self.numerics;
}

void store_reader_describe(const struct store_reader *r,
                           struct store_source *out)
{
  *out = r->self;
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

/* All of study dataset j of the study into buf as memtype; what (its
 * name in a message) says what could not be read. */
static int read_study_whole(struct store_reader *r, int study, int j,
                            hid_t memtype, void *buf, const char *what,
                            struct err *e)
{
  err_clear(e);
  const char *name = spec_study(r->spec, study)->name;
  char p[STUDY_PATH_LEN];
  study_path(p, name, j);
  if (read_whole(r->f, p, memtype, buf, e) != 0)
    return err_set(e, ERR_INPUT, "cannot read the %s of study '%s' (damaged?)",
                   what, name);
  return 0;
}

int store_reader_status(struct store_reader *r, int study, uint8_t *status,
                        struct err *e)
{
  return read_study_whole(r, study, SD_STATUS, H5T_NATIVE_UINT8, status,
                          "status", e);
}

int store_reader_origins(struct store_reader *r, int study,
                         int32_t *origin_source, struct err *e)
{
  return read_study_whole(r, study, SD_ORIGIN_SOURCE, H5T_NATIVE_INT32,
                          origin_source, "origins", e);
}

/* Every dataset of a table (/runs, /sources), read whole into field[];
 * the buffers are allocated here (free_fields frees them).  Returns 0,
 * ERR_INPUT (a dataset unreadable: "cannot read the WHAT") or ERR_RUNTIME
 * (memory). */
static int read_fields(struct store_reader *r, const struct dset_def *defs,
                       int n, const char *what, void **field, struct err *e)
{
  for (int i = 0; i < n; i++) {
    hsize_t dims[2] = {0, 1};
    shape_dims(defs[i].shape, NULL, dims);
    field[i] = calloc(dims[0], elem_size(defs[i].elem));
    if (!field[i])
      return out_of_memory(e);
  }
  for (int i = 0; i < n; i++)
    if (read_whole(r->f, defs[i].name, r->ty.t[defs[i].elem], field[i], e)
        != 0)
      return err_set(e, ERR_INPUT, "cannot read the %s (damaged?)", what);
  return 0;
}

static void free_fields(void **field, int n)
{
  for (int i = 0; i < n; i++)
    free(field[i]);
}

/* A fixed-length text of a table's row i into buf (n bytes). */
static void field_text(const void *field, enum elem k, int i, char *buf,
                       size_t n)
{
  size_t w = elem_size(k);
  snprintf(buf, n, "%.*s", (int)w, (const char *)field + (size_t)i * w);
}

int store_reader_read_runs(struct store_reader *r,
                           struct store_run_info *runs, int max, int *count,
                           struct err *e)
{
  err_clear(e);
  int rc = ERR_RUNTIME, n = 0;
  void *field[RUN_NFIELDS] = {NULL};
  if ((rc = read_fields(r, run_dsets, RUN_NFIELDS, "run records", field,
                        e)) != 0)
    goto out;
  const double *start = field[RUN_START], *end = field[RUN_END];
  const int32_t *ranks = field[RUN_RANKS];
  const int64_t *before = field[RUN_DONE_BEFORE];
  const int64_t *after = field[RUN_DONE_AFTER];
  for (; n < STORE_MAX_RUNS && !isnan(start[n]); n++) {
    if (n >= max)
      continue;
    runs[n].start = start[n];
    runs[n].end = end[n];
    runs[n].ranks = ranks[n];
    runs[n].done_before = before[n];
    runs[n].done_after = after[n];
    field_text(field[RUN_HOSTS], ELEM_HOSTS, n, runs[n].hosts,
               sizeof runs[n].hosts);
    field_text(field[RUN_NODES], ELEM_HOSTS, n, runs[n].nodes,
               sizeof runs[n].nodes);
    field_text(field[RUN_ISA], ELEM_ISA, n, runs[n].isa, sizeof runs[n].isa);
  }
  *count = n;
  rc = 0;
out:
  free_fields(field, RUN_NFIELDS);
  return rc;
}

int store_reader_runs(struct store_reader *r, struct store_run_info *runs,
                      int max)
{
  struct err e;
  int n;
  return store_reader_read_runs(r, runs, max, &n, &e) == 0 ? n : -1;
}

int store_reader_sources(struct store_reader *r, struct store_source *out,
                         int max, int *count, struct err *e)
{
  err_clear(e);
  int rc = ERR_RUNTIME, n = 0;
  void *field[SRC_NFIELDS] = {NULL};
  if ((rc = read_fields(r, source_dsets, SRC_NFIELDS, "sources", field,
                        e)) != 0)
    goto out;
  const char *path = field[SRC_PATH];
  const int32_t *numerics = field[SRC_NUMERICS];
  for (; n < STORE_MAX_SOURCES && path[(size_t)n * STORE_PATH_LEN]; n++) {
    if (n >= max)
      continue;
    struct store_source *s = &out[n];
    field_text(field[SRC_PATH], ELEM_PATH, n, s->path, sizeof s->path);
    field_text(field[SRC_SHA], ELEM_SHA, n, s->spec_sha256,
               sizeof s->spec_sha256);
    field_text(field[SRC_VERSION], ELEM_VERSION, n, s->dposweep_version,
               sizeof s->dposweep_version);
    field_text(field[SRC_GIT], ELEM_VERSION, n, s->git_revision,
               sizeof s->git_revision);
    s->numerics = numerics[n];
  }
  *count = n;
  rc = 0;
out:
  free_fields(field, SRC_NFIELDS);
  return rc;
}

/* ---- selections ---- */

/* A run of consecutive rows. */
struct row_run {
  hsize_t first, count;
};

/* Up to this many runs are OR-ed into one selection one by one; HDF5
 * 1.10 merges each into the whole selection so far, so n runs cost
 * O(n^2) that way (65,536 scattered rows: minutes).  More are combined
 * as a balanced tree of halves (O(n log n): 65,536 in 0.3 s). */
#define SELECT_LEAF_RUNS 32

static int select_runs(hid_t base, const struct row_run *runs, int64_t n,
                       hsize_t width, hid_t *out, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t sp = H5I_INVALID_HID, left = H5I_INVALID_HID,
        right = H5I_INVALID_HID;
  if (n > SELECT_LEAF_RUNS) {
    if (select_runs(base, runs, n / 2, width, &left, e) != 0 ||
        select_runs(base, runs + n / 2, n - n / 2, width, &right, e) != 0)
      goto out;
    H5_CHECK(e, out, sp = H5Scombine_select(left, H5S_SELECT_OR, right));
  } else {
    H5_CHECK(e, out, sp = H5Scopy(base));
    for (int64_t i = 0; i < n; i++) {
      hsize_t start[2] = {runs[i].first, 0};
      hsize_t count[2] = {runs[i].count, width};
      H5_CHECK(e, out, H5Sselect_hyperslab(sp, i ? H5S_SELECT_OR
                                                 : H5S_SELECT_SET,
                                           start, NULL, count, NULL));
    }
  }
  *out = sp;
  sp = H5I_INVALID_HID;
  rc = 0;
out:
  h5_release(H5Sclose, sp);
  h5_release(H5Sclose, left);
  h5_release(H5Sclose, right);
  return rc;
}

/* A new dataspace: base (a dataset's, of rank 1 or 2 with width columns)
 * with rows[0..n) (ascending, distinct, n > 0) selected, one hyperslab
 * per run of consecutive rows.  Data moves in file order, i.e. in the
 * order of rows. */
static int select_rows(hid_t base, const int64_t *rows, int64_t n,
                       hsize_t width, hid_t *out, struct err *e)
{
  int64_t nruns = 0;
  struct row_run *runs = malloc((size_t)n * sizeof *runs);
  if (!runs)
    return out_of_memory(e);
  for (int64_t i = 0; i < n;) {
    int64_t j = i + 1;
    while (j < n && rows[j] == rows[j - 1] + 1)
      j++;
    runs[nruns++] = (struct row_run){(hsize_t)rows[i], (hsize_t)(j - i)};
    i = j;
  }
  int rc = select_runs(base, runs, nruns, width, out, e);
  free(runs);
  return rc;
}

/* The dataspaces that move rows[0..n) of a dataset: the file's with the
 * rows selected, and memory's of n rows.  ROW_SPACES_NONE until opened;
 * row_spaces_close releases them (also after a failed open). */
struct row_spaces {
  hid_t file, mem;
};
#define ROW_SPACES_NONE {H5I_INVALID_HID, H5I_INVALID_HID}

/* The row spaces of rows[0..n) of dataset d, of definition def in study
 * st, into *sp (which must be ROW_SPACES_NONE). */
static int row_spaces_open(hid_t d, const struct dset_def *def,
                           const struct spec_study *st, const int64_t *rows,
                           int64_t n, struct row_spaces *sp, struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t space = H5I_INVALID_HID;
  hsize_t dims[2] = {0, 1};
  int rank = shape_dims(def->shape, st, dims);
  dims[0] = (hsize_t)n;
  H5_CHECK(e, out, space = H5Dget_space(d));
  if (select_rows(space, rows, n, rank == 2 ? dims[1] : 1, &sp->file, e)
      != 0)
    goto out;
  H5_CHECK(e, out, sp->mem = H5Screate_simple(rank, dims, NULL));
  rc = 0;
out:
  h5_release(H5Sclose, space);
  return rc;
}

/* Dataspaces write nothing: releasing them cannot fail the caller. */
static void row_spaces_close(struct row_spaces *sp)
{
  h5_release(H5Sclose, sp->file);
  h5_release(H5Sclose, sp->mem);
  *sp = (struct row_spaces)ROW_SPACES_NONE;
}

/* rows[0..n) ascending, distinct and below ntasks: select_rows's
 * premise, checked where rows come from a caller. */
static bool rows_valid(const int64_t *rows, int64_t n, int64_t ntasks)
{
  for (int64_t i = 0; i < n; i++)
    if (rows[i] < 0 || rows[i] >= ntasks || (i > 0 && rows[i] <= rows[i - 1]))
      return false;
  return true;
}

/* ---- checksums ---- */

/* CRC-32 of n doubles' little-endian bytes, continuing crc. */
static uLong crc_doubles(uLong crc, const double *v, int64_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return crc32_z(crc, (const Bytef *)v, (z_size_t)n * sizeof *v);
#else
  for (int64_t i = 0; i < n; i++) {
    unsigned char b[8];
    uint64_t bits;
    memcpy(&bits, &v[i], sizeof bits);
    for (int k = 0; k < 8; k++)
      b[k] = (unsigned char)(bits >> (8 * k));
    crc = crc32(crc, b, sizeof b);
  }
  return crc;
#endif
}

uint32_t store_checksum(const double *const metric[BANDIT_NMETRICS],
                        int64_t nrec, const double *theta, int64_t max_arms)
{
  uLong crc = crc32(0L, Z_NULL, 0);
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    crc = crc_doubles(crc, metric[m], nrec);
  return (uint32_t)crc_doubles(crc, theta, max_arms);
}

/* The checksum of task i of a batch laid out as struct store_rows says. */
static uint32_t row_checksum(const double *const metric[BANDIT_NMETRICS],
                             const double *theta, int64_t i, int64_t nrec,
                             int64_t max_arms)
{
  const double *at[BANDIT_NMETRICS];
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    at[m] = metric[m] + i * nrec;
  return store_checksum(at, nrec, theta + i * max_arms, max_arms);
}

/* ---- writing ---- */

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

/* Open path read-write: through MPI-IO over comm, or (comm
 * MPI_COMM_NULL) with HDF5's serial driver. */
static int open_rdwr(MPI_Comm comm, const char *path, hid_t *out,
                     struct err *e)
{
  int rc = ERR_RUNTIME;
  hid_t fapl = H5I_INVALID_HID, f;
  H5_CHECK(e, out, fapl = H5Pcreate(H5P_FILE_ACCESS));
  if (comm != MPI_COMM_NULL)
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
      study_path(p, name, j);
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

static int open_store(MPI_Comm comm, const char *path, const struct spec *s,
                      struct store **out, struct err *e)
{
  err_clear(e);
  quiet_hdf5();
  int rc = ERR_RUNTIME;
  struct store *st = store_new(s);
  if (!st)
    return out_of_memory(e);
  if (open_rdwr(comm, path, &st->f, e) != 0)
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

int store_open(MPI_Comm comm, const char *path, const struct spec *s,
               struct store **out, struct err *e)
{
  return open_store(comm, path, s, out, e);
}

int store_open_serial(const char *path, const struct spec *s,
                      struct store **out, struct err *e)
{
  return open_store(MPI_COMM_NULL, path, s, out, e);
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

/* Write rows[0..n) of one result dataset from buf (n rows). */
static int write_result(struct store *st, int study, int which,
                        const int64_t *rows, int64_t n, const void *buf,
                        struct err *e)
{
  int rc = ERR_RUNTIME;
  const struct dset_def *def = study_def(which);
  hid_t d = st->dset[study][which];
  struct row_spaces sp = ROW_SPACES_NONE;
  if (row_spaces_open(d, def, spec_study(st->spec, study), rows, n, &sp, e)
      != 0)
    goto out;
  H5_CHECK(e, out, H5Dwrite(d, st->ty.t[def->elem], sp.mem, sp.file,
                            H5P_DEFAULT, buf));
  rc = 0;
out:
  row_spaces_close(&sp);
  return rc;
}

/* A dataset of a batch and the buffer its rows come from. */
struct part {
  int which;
  const void *buf;
};

/* The parts of r in the order they are written: rows, checksums and the
 * rest first; the status bytes last, so a task marked finished always
 * has its rows (an interrupted write leaves it pending and it is redone).
 * Returns the number of parts. */
static int rows_parts(const struct store_rows *r, const uint32_t *sums,
                      const int32_t *runs, struct part parts[SD_COUNT])
{
  int n = 0;
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    parts[n++] = (struct part){SD_METRIC + m, r->metric[m]};
  parts[n++] = (struct part){SD_THETA, r->theta};
  parts[n++] = (struct part){SD_CHECKSUM, sums};
  parts[n++] = (struct part){SD_RANK, r->rank};
  parts[n++] = (struct part){SD_WALL_SECONDS, r->wall_seconds};
  parts[n++] = (struct part){SD_FINISHED_AT, r->finished_at};
  parts[n++] = (struct part){SD_REASON, r->reason};
  parts[n++] = (struct part){SD_RUN, runs};
  if (r->origin_source) {
    parts[n++] = (struct part){SD_ORIGIN_SOURCE, r->origin_source};
    parts[n++] = (struct part){SD_ORIGIN_STUDY, r->origin_study};
    parts[n++] = (struct part){SD_ORIGIN_INDEX, r->origin_index};
  }
  parts[n++] = (struct part){SD_STATUS, r->status}; /* last */
  return n;
}

int store_write_rows(struct store *st, int study, const struct store_rows *r,
                     struct err *e)
{
  err_clear(e);
  const struct spec_study *sst = spec_study(st->spec, study);
  if (r->n == 0)
    return 0;
  if (!rows_valid(r->rows, r->n, sst->ntasks))
    return err_set(e, ERR_RUNTIME,
                   "study '%s': rows to write must be ascending, distinct "
                   "and below %lld", sst->name, (long long)sst->ntasks);
  int rc = ERR_RUNTIME;
  uint32_t *sums = malloc((size_t)r->n * sizeof *sums);
  int32_t *runs = malloc((size_t)r->n * sizeof *runs);
  if (!sums || !runs) {
    out_of_memory(e);
    goto out;
  }
  for (int64_t i = 0; i < r->n; i++) {
    sums[i] = row_checksum(r->metric, r->theta, i, sst->nrec, sst->max_arms);
    runs[i] = r->run;
  }
  struct part parts[SD_COUNT];
  int nparts = rows_parts(r, sums, runs, parts);
  for (int i = 0; i < nparts; i++)
    if (write_result(st, study, parts[i].which, r->rows, r->n, parts[i].buf,
                     e) != 0)
      goto out;
  rc = 0;
out:
  free(sums);
  free(runs);
  return rc;
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

int store_run_begin(struct store *st, const struct store_run_start *begin,
                    int *slot, struct err *e)
{
  err_clear(e);
  int free_slot, rc;
  if ((rc = find_free_run(st, &free_slot, e)) != 0)
    return rc;
  char hosts[STORE_HOSTS_LEN] = {0}, nodes[STORE_HOSTS_LEN] = {0};
  char isa[STORE_ISA_LEN] = {0};
  snprintf(hosts, sizeof hosts, "%s", begin->hosts ? begin->hosts : "");
  snprintf(nodes, sizeof nodes, "%s", begin->nodes ? begin->nodes : "");
  snprintf(isa, sizeof isa, "%s", begin->isa ? begin->isa : "");
  const int32_t nranks = begin->ranks;
  const struct {
    enum run_field field;
    const void *v;
  } fields[] = {
    {RUN_RANKS, &nranks}, {RUN_DONE_BEFORE, &begin->done_before},
    {RUN_HOSTS, hosts}, {RUN_NODES, nodes}, {RUN_ISA, isa},
    {RUN_START, &begin->start}, /* last: it marks the record used */
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    if ((rc = write_run_field(st, fields[i].field, free_slot, fields[i].v,
                              e)) != 0)
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

/* ---- reading batches of tasks ---- */

const char *store_check_text(enum store_check c)
{
  switch (c) {
  case STORE_CHECK_OK: return "ok";
  case STORE_CHECK_UNFINISHED: return "not finished";
  case STORE_CHECK_NO_ROWS: return "marked finished without rows";
  case STORE_CHECK_MISMATCH: return "checksum mismatch";
  }
  return "?";
}

void store_batch_destroy(struct store_batch **bp)
{
  if (!bp || !*bp)
    return;
  struct store_batch *b = *bp;
  free(b->index);
  free(b->status);
  free(b->check);
  free(b->checksum);
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    free(b->metric[m]);
  free(b->theta);
  free(b->rank);
  free(b->run);
  free(b->origin_source);
  free(b->wall_seconds);
  free(b->finished_at);
  free(b->reason);
  free(b->origin_study);
  free(b->origin_index);
  free(b);
  *bp = NULL;
}

/* A batch of n tasks of st with every array allocated, or NULL. */
static struct store_batch *batch_new(int64_t n, const struct spec_study *st)
{
  struct store_batch *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  size_t k = (size_t)(n > 0 ? n : 1);
  b->n = n;
  b->nrec = st->nrec;
  b->max_arms = st->max_arms;
  bool ok = (b->index = malloc(k * sizeof *b->index)) &&
            (b->status = malloc(k)) && (b->check = malloc(k)) &&
            (b->checksum = malloc(k * sizeof *b->checksum)) &&
            (b->theta = malloc(k * (size_t)st->max_arms * sizeof(double))) &&
            (b->rank = malloc(k * sizeof *b->rank)) &&
            (b->run = malloc(k * sizeof *b->run)) &&
            (b->origin_source = malloc(k * sizeof *b->origin_source)) &&
            (b->wall_seconds = malloc(k * sizeof(double))) &&
            (b->finished_at = malloc(k * sizeof(double))) &&
            (b->reason = malloc(k * STORE_REASON_LEN)) &&
            (b->origin_study = malloc(k * STORE_STUDY_LEN)) &&
            (b->origin_index = malloc(k * sizeof *b->origin_index));
  for (int m = 0; ok && m < BANDIT_NMETRICS; m++)
    ok = (b->metric[m] = malloc(k * (size_t)st->nrec * sizeof(double)));
  if (!ok)
    store_batch_destroy(&b);
  return b;
}

/* Read rows index[0..n) of study dataset j into buf.  A dataset that is
 * missing or unreadable is the file's fault: ERR_INPUT. */
static int read_selected(struct store_reader *r, const struct spec_study *st,
                         int j, const int64_t *index, int64_t n, void *buf,
                         struct err *e)
{
  int rc = ERR_RUNTIME;
  const struct dset_def *def = study_def(j);
  hid_t d = H5I_INVALID_HID;
  struct row_spaces sp = ROW_SPACES_NONE;
  char p[STUDY_PATH_LEN];
  study_path(p, st->name, j);
  H5_CHECK(e, out, d = H5Dopen2(r->f, p, H5P_DEFAULT));
  if (row_spaces_open(d, def, st, index, n, &sp, e) != 0)
    goto out;
  H5_CHECK(e, out, H5Dread(d, r->ty.t[def->elem], sp.mem, sp.file,
                           H5P_DEFAULT, buf));
  rc = 0;
out:
  row_spaces_close(&sp);
  h5_release(H5Dclose, d); /* read-only: closing writes nothing */
  if (rc != 0) {
    char name[DSET_NAME_LEN];
    study_dset_name(j, name);
    rc = err_set(e, ERR_INPUT,
                 "%s: study '%s': cannot read %s (damaged, or made by "
                 "another dposweep?)",
                 r->self.path, st->name, name);
  }
  return rc;
}

/* Every dataset of a batch, the status bytes first: a task finished
 * after they were read is taken as not finished, never trusted. */
static int read_batch_parts(struct store_reader *r,
                            const struct spec_study *st,
                            struct store_batch *b, struct err *e)
{
  struct part parts[SD_COUNT];
  int n = 0;
  parts[n++] = (struct part){SD_STATUS, b->status};
  parts[n++] = (struct part){SD_CHECKSUM, b->checksum};
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    parts[n++] = (struct part){SD_METRIC + m, b->metric[m]};
  parts[n++] = (struct part){SD_THETA, b->theta};
  parts[n++] = (struct part){SD_RANK, b->rank};
  parts[n++] = (struct part){SD_RUN, b->run};
  parts[n++] = (struct part){SD_ORIGIN_SOURCE, b->origin_source};
  parts[n++] = (struct part){SD_ORIGIN_STUDY, b->origin_study};
  parts[n++] = (struct part){SD_ORIGIN_INDEX, b->origin_index};
  parts[n++] = (struct part){SD_WALL_SECONDS, b->wall_seconds};
  parts[n++] = (struct part){SD_FINISHED_AT, b->finished_at};
  parts[n++] = (struct part){SD_REASON, b->reason};
  for (int i = 0; i < n; i++)
    if (read_selected(r, st, parts[i].which, b->index, b->n,
                      (void *)parts[i].buf, e) != 0)
      return ERR_INPUT;
  return 0;
}

/* Whether task i's rows are all NaN: never written. */
static bool rows_unwritten(const struct store_batch *b, int64_t i)
{
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    for (int64_t j = 0; j < b->nrec; j++)
      if (!isnan(b->metric[m][i * b->nrec + j]))
        return false;
  return true;
}

/* Check task i of b against its checksum; rows of a task not finished
 * are set to NaN, so nobody uses them. */
static void check_task(struct store_batch *b, int64_t i)
{
  if (b->status[i] != TASK_DONE && b->status[i] != TASK_FAILED) {
    b->check[i] = STORE_CHECK_UNFINISHED;
    b->checksum[i] = 0;
    for (int m = 0; m < BANDIT_NMETRICS; m++)
      for (int64_t j = 0; j < b->nrec; j++)
        b->metric[m][i * b->nrec + j] = NAN;
    for (int64_t a = 0; a < b->max_arms; a++)
      b->theta[i * b->max_arms + a] = NAN;
    return;
  }
  const double *const *metric = (const double *const *)b->metric;
  uint32_t sum = row_checksum(metric, b->theta, i, b->nrec, b->max_arms);
  if (sum == b->checksum[i])
    b->check[i] = STORE_CHECK_OK;
  else if (rows_unwritten(b, i))
    b->check[i] = STORE_CHECK_NO_ROWS;
  else
    b->check[i] = STORE_CHECK_MISMATCH;
}

int store_reader_read_batch(struct store_reader *r, int study,
                            const int64_t *index, int64_t n,
                            struct store_batch **out, struct err *e)
{
  err_clear(e);
  if (study < 0 || study >= spec_nstudies(r->spec))
    return err_set(e, ERR_INPUT, "%s: no study %d", r->self.path, study);
  const struct spec_study *st = spec_study(r->spec, study);
  if (n < 0 || !rows_valid(index, n, st->ntasks))
    return err_set(e, ERR_INPUT,
                   "%s: study '%s': task indices must be ascending, "
                   "distinct and below %lld",
                   r->self.path, st->name, (long long)st->ntasks);
  struct store_batch *b = batch_new(n, st);
  if (!b)
    return out_of_memory(e);
  if (n > 0) {
    memcpy(b->index, index, (size_t)n * sizeof *index);
    if (read_batch_parts(r, st, b, e) != 0) {
      store_batch_destroy(&b);
      return ERR_INPUT;
    }
  }
  for (int64_t i = 0; i < n; i++)
    check_task(b, i);
  *out = b;
  return 0;
}

/* ---- building a file from others ---- */

/* A pair of a copy: source index, target index, its position in the
 * caller's list. */
struct pair {
  int64_t from, to, pos;
};

static int by_from(const void *pa, const void *pb)
{
  const struct pair *a = pa, *b = pb;
  return (a->from > b->from) - (a->from < b->from);
}

static int by_to(const void *pa, const void *pb)
{
  const struct pair *a = pa, *b = pb;
  return (a->to > b->to) - (a->to < b->to);
}

/* Whether sorted pairs have a repeated key (from, or to with use_to). */
static bool repeated(const struct pair *p, int64_t n, bool use_to)
{
  for (int64_t i = 1; i < n; i++)
    if (use_to ? p[i].to == p[i - 1].to : p[i].from == p[i - 1].from)
      return true;
  return false;
}

/* What a copy works with: its pairs sorted by source index, the two
 * studies, and the write buffers of one batch. */
struct copy_job {
  const struct store_copy *c;
  const struct spec_study *from, *to;
  struct pair *pairs;    /* c->n, by source index */
  struct pair *batch;    /* one batch's copied pairs, by target index */
  int64_t cap;           /* tasks per batch */
  struct store_batch *out; /* the write buffers: cap tasks of study to,
                              index[] their target indices */
  struct store_rows rows;  /* the same buffers, as written */
};

static void copy_job_free(struct copy_job *j)
{
  free(j->pairs);
  free(j->batch);
  store_batch_destroy(&j->out);
}

/* Batches of at most 64 Ki tasks and about 64 MiB of rows (either
 * study's), so a copy of 10^6 tasks is a few dozen reads and writes. */
#define COPY_MAX_TASKS ((int64_t)1 << 16)
#define COPY_MAX_BYTES ((int64_t)64 << 20)

static int copy_job_alloc(struct copy_job *j, struct err *e)
{
  int64_t nrec = j->from->nrec > j->to->nrec ? j->from->nrec : j->to->nrec;
  int64_t arms = j->from->max_arms > j->to->max_arms ? j->from->max_arms
                                                     : j->to->max_arms;
  int64_t per_task = 8 * (BANDIT_NMETRICS * nrec + arms) + 256;
  j->cap = COPY_MAX_BYTES / per_task;
  j->cap = j->cap < 1 ? 1 : j->cap > COPY_MAX_TASKS ? COPY_MAX_TASKS : j->cap;
  size_t k = (size_t)j->cap, n = (size_t)(j->c->n > 0 ? j->c->n : 1);
  j->pairs = malloc(n * sizeof *j->pairs);
  j->batch = malloc(k * sizeof *j->batch);
  j->out = batch_new(j->cap, j->to);
  if (!j->pairs || !j->batch || !j->out)
    return out_of_memory(e);
  /* A study name is written with its padding: zeros, not what malloc
   * left there (the file's bytes must not depend on it). */
  memset(j->out->origin_study, 0, k * STORE_STUDY_LEN);
  return 0;
}

/* The copy's premises: studies and slot in range, a record map that fits,
 * indices in range and distinct.  Sorts j->pairs by source index. */
static int copy_check(struct copy_job *j, const struct spec *dst_spec,
                      const struct spec *src_spec, struct err *e)
{
  const struct store_copy *c = j->c;
  if (c->source < 0 || c->source >= STORE_MAX_SOURCES)
    return err_set(e, ERR_INPUT, "no source slot %d", c->source);
  if (!c->rec_map && j->from->nrec != j->to->nrec)
    return err_set(e, ERR_INPUT,
                   "studies '%s' and '%s' record different steps: a record "
                   "map is needed", j->from->name, j->to->name);
  for (int64_t r = 0; c->rec_map && r < j->to->nrec; r++)
    if (c->rec_map[r] < 0 || c->rec_map[r] >= j->from->nrec)
      return err_set(e, ERR_INPUT, "record map entry %lld out of range",
                     (long long)r);
  for (int64_t i = 0; i < c->n; i++) {
    if (c->from[i] < 0 || c->from[i] >= j->from->ntasks ||
        c->to[i] < 0 || c->to[i] >= j->to->ntasks)
      return err_set(e, ERR_INPUT, "pair %lld (%lld -> %lld) out of range",
                     (long long)i, (long long)c->from[i],
                     (long long)c->to[i]);
    j->pairs[i] = (struct pair){c->from[i], c->to[i], i};
  }
  if (c->n > 1)
    qsort(j->pairs, (size_t)c->n, sizeof *j->pairs, by_to);
  if (repeated(j->pairs, c->n, true))
    return err_set(e, ERR_INPUT, "a task of study '%s' is copied twice",
                   spec_study(dst_spec, c->study)->name);
  if (c->n > 1)
    qsort(j->pairs, (size_t)c->n, sizeof *j->pairs, by_from);
  if (repeated(j->pairs, c->n, false))
    return err_set(e, ERR_INPUT, "a task of study '%s' is copied twice",
                   spec_study(src_spec, c->source_study)->name);
  return 0;
}

/* Task k of batch b into slot q of the write buffers, as task to. */
static void copy_one(struct copy_job *j, const struct store_batch *b,
                     int64_t k, int64_t q, const struct pair *p)
{
  const int64_t nf = j->from->nrec, nt = j->to->nrec;
  struct store_batch *o = j->out;
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    for (int64_t r = 0; r < nt; r++)
      o->metric[m][q * nt + r] =
        b->metric[m][k * nf + (j->c->rec_map ? j->c->rec_map[r] : r)];
  for (int64_t a = 0; a < o->max_arms; a++)
    o->theta[q * o->max_arms + a] =
      a < b->max_arms ? b->theta[k * b->max_arms + a] : NAN;
  o->index[q] = p->to;
  o->status[q] = b->status[k];
  o->rank[q] = b->rank[k];
  o->wall_seconds[q] = b->wall_seconds[k];
  o->finished_at[q] = b->finished_at[k];
  memcpy(o->reason + q * STORE_REASON_LEN, b->reason + k * STORE_REASON_LEN,
         STORE_REASON_LEN);
  o->origin_source[q] = j->c->source;
  snprintf(o->origin_study + q * STORE_STUDY_LEN, STORE_STUDY_LEN, "%s",
           j->from->name);
  o->origin_index[q] = p->from;
}

/* The pairs [at, at + n) (by source index) whose rows read back OK, by
 * target index, into j->batch; their outcomes recorded.  Returns the
 * number, or ERR_INPUT for the first one not OK when there is no outcome
 * array. */
static int64_t keep_ok(struct copy_job *j, struct store_reader *src,
                       const struct store_batch *b, int64_t at,
                       uint8_t *outcome, struct err *e)
{
  int64_t kept = 0;
  for (int64_t k = 0; k < b->n; k++) {
    const struct pair *p = &j->pairs[at + k];
    if (outcome)
      outcome[p->pos] = b->check[k];
    else if (b->check[k] != STORE_CHECK_OK)
      return err_set(e, ERR_INPUT, "%s: study '%s' task %lld: %s",
                     src->self.path, j->from->name, (long long)p->from,
                     store_check_text((enum store_check)b->check[k]));
    if (b->check[k] == STORE_CHECK_OK) {
      j->batch[kept] = *p;
      j->batch[kept++].pos = k; /* now: the task's place in b */
    }
  }
  if (kept > 1)
    qsort(j->batch, (size_t)kept, sizeof *j->batch, by_to);
  return kept;
}

/* One batch: read pairs [at, at + n) from src, write those OK to dst. */
static int copy_batch(struct copy_job *j, struct store *dst,
                      struct store_reader *src, int64_t at, int64_t n,
                      uint8_t *outcome, int64_t *copied, struct err *e)
{
  struct store_batch *b = NULL;
  int64_t *index = malloc((size_t)n * sizeof *index);
  int rc = ERR_RUNTIME;
  if (!index) {
    out_of_memory(e);
    goto out;
  }
  for (int64_t k = 0; k < n; k++)
    index[k] = j->pairs[at + k].from;
  if ((rc = store_reader_read_batch(src, j->c->source_study, index, n, &b,
                                    e)) != 0)
    goto out;
  int64_t kept = keep_ok(j, src, b, at, outcome, e);
  if ((rc = kept < 0 ? (int)kept : 0) != 0)
    goto out;
  for (int64_t q = 0; q < kept; q++)
    copy_one(j, b, j->batch[q].pos, q, &j->batch[q]);
  j->rows.n = kept;
  if ((rc = store_write_rows(dst, j->c->study, &j->rows, e)) != 0)
    goto out;
  *copied += kept;
out:
  store_batch_destroy(&b);
  free(index);
  return rc;
}

/* The write buffers as struct store_rows (n set per batch). */
static void copy_rows(struct copy_job *j)
{
  const struct store_batch *o = j->out;
  struct store_rows *r = &j->rows;
  r->rows = o->index;
  for (int m = 0; m < BANDIT_NMETRICS; m++)
    r->metric[m] = o->metric[m];
  r->theta = o->theta;
  r->status = o->status;
  r->rank = o->rank;
  r->wall_seconds = o->wall_seconds;
  r->finished_at = o->finished_at;
  r->reason = o->reason;
  r->run = -1;
  r->origin_source = o->origin_source;
  r->origin_study = o->origin_study;
  r->origin_index = o->origin_index;
}

int store_copy_tasks(struct store *dst, struct store_reader *src,
                     const struct store_copy *c, uint8_t *outcome,
                     int64_t *copied, struct err *e)
{
  err_clear(e);
  quiet_hdf5();
  if (c->study < 0 || c->study >= dst->nstudies || c->source_study < 0 ||
      c->source_study >= spec_nstudies(src->spec) || c->n < 0)
    return err_set(e, ERR_INPUT, "copy from %s: no such study",
                   src->self.path);
  /* The new file says its results are this dposweep's (its numerics
   * attribute): another engine's rows must not enter it. */
  if (src->self.numerics != BANDIT_NUMERICS_VERSION)
    return err_set(e, ERR_INPUT,
                   "%s holds results of numerics version %d; this dposweep "
                   "computes version %d",
                   src->self.path, (int)src->self.numerics,
                   BANDIT_NUMERICS_VERSION);
  struct copy_job j = {.c = c,
                       .from = spec_study(src->spec, c->source_study),
                       .to = spec_study(dst->spec, c->study)};
  int64_t done = 0;
  int rc = copy_job_alloc(&j, e);
  if (rc == 0 && (rc = copy_check(&j, dst->spec, src->spec, e)) != 0)
    err_prefix(e, "copy from %s: ", src->self.path);
  if (rc == 0)
    copy_rows(&j);
  for (int64_t at = 0; rc == 0 && at < c->n; at += j.cap)
    rc = copy_batch(&j, dst, src, at, c->n - at < j.cap ? c->n - at : j.cap,
                    outcome, &done, e);
  copy_job_free(&j);
  if (rc == 0 && copied)
    *copied = done;
  return rc;
}
