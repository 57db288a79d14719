/* spec: the YAML sweep spec (parsed with libcyaml), its studies, the
 * enumeration of their grids into tasks, where a task of one study is in
 * another (spec_map) and the union of specs (spec_union).
 *
 * A study's task index is mixed radix over its axes in the order of enum
 * spec_axis, the last (seed) varying fastest:
 *
 *     index = (((regime * n_arms + arms) * n_beta + beta) ... ) * n_seed + seed
 *
 * each a position in its axis list.  spec_coords_of and spec_index_of are
 * the only code that knows this order.
 *
 * All functions are not collective (no MPI). */
#ifndef DPOSWEEP_SPEC_H
#define DPOSWEEP_SPEC_H

#include "dposweep/bandit.h"
#include "dposweep/err.h"

#include <stddef.h>
#include <stdint.h>

/* At most this many tasks over all studies. */
#define SPEC_MAX_TASKS (1LL << 31)
/* Study names: letters, digits, '-', '_'. */
#define SPEC_MAX_NAME 64

/* The axes of a study's grid, in task-index order (the last fastest). */
enum spec_axis {
  SPEC_AXIS_REGIME,
  SPEC_AXIS_ARMS,
  SPEC_AXIS_BETA,
  SPEC_AXIS_SIGMA,
  SPEC_AXIS_SAMPLES,
  SPEC_AXIS_ETA,
  SPEC_AXIS_REF_SPREAD,
  SPEC_AXIS_SEED,
  SPEC_NAXES
};

/* The axis's name as in specs and files: "regime", "arms", ...,
 * "ref_spread", "seed". */
const char *spec_axis_name(enum spec_axis a);

/* The largest seed value a spec may list: seeds are stored as int64 in
 * results files (tasks/seed), so 2^63 - 1. */
#define SPEC_MAX_SEED INT64_MAX

/* A study, read-only.  Axis a has len[a] values; samples defaults to [0],
 * ref_spread to [0] and eta to the study's eta when they are not grid
 * axes.  The seed at position i is spec_seed(st, i): i itself for
 * "seeds: N", else the i-th listed seed. */
struct spec_study {
  const char *name;
  int64_t iterations;
  int64_t record_every;
  enum bandit_scale scale;
  enum bandit_rewards rewards;
  const double *reward_values; /* EXPLICIT only: max arms values */
  const double *ref_logits;    /* an explicit theta_ref, max_arms values
                                  (every arms value is max_arms); NULL:
                                  none */
  int64_t len[SPEC_NAXES];
  const enum bandit_regime *regime;
  const int *arms;
  const double *beta;
  const double *sigma;
  const int64_t *samples;
  const double *eta;              /* numeric eta; unused where theory */
  const unsigned char *eta_theory; /* 1: eta = 1/(beta^2 K) */
  const double *ref_spread;        /* >= 0, finite; never -0.0 */
  const uint64_t *seed_list; /* the listed seeds; NULL for seeds 0 ..
                                len[SPEC_AXIS_SEED] - 1 (read them with
                                spec_seed, which knows both) */
  int64_t ntasks;                  /* product of the axis sizes and seeds */
  int64_t nrec;                    /* recorded steps per task */
  int max_arms;
};

/* The seed value at position pos (0 <= pos < len[SPEC_AXIS_SEED]) of the
 * study's seed axis.  Every use of a seed position as a value goes
 * through it (spec_task_params, plan --list, tasks/seed in files). */
uint64_t spec_seed(const struct spec_study *st, int64_t pos);

/* A task's position in each axis: pos[SPEC_AXIS_ARMS] indexes st->arms. */
struct spec_coords {
  int64_t pos[SPEC_NAXES];
};

struct spec;

/* Load a spec from a file or from text.  label names the source in
 * messages ("paper.yaml").  Returns 0, or ERR_INPUT with one line in e
 * naming the study and the key, e.g.
 *   "spec.yaml:8:14: study 'a': grid.beta[2]: invalid number 'high'"
 * (ERR_RUNTIME when memory runs out). */
int spec_load_file(const char *path, struct spec **out, struct err *e);
int spec_load_text(const char *text, size_t len, const char *label,
                   struct spec **out, struct err *e);
void spec_destroy(struct spec **s);

/* The embedded default sweep (jobs/paper.yaml, compiled in). */
const char *spec_default_text(void);

const char *spec_name(const struct spec *s);
uint64_t spec_master_seed(const struct spec *s);
int spec_nstudies(const struct spec *s);
const struct spec_study *spec_study(const struct spec *s, int i);
int64_t spec_ntasks(const struct spec *s);

/* The text as given, a canonical text (every value spelled out, floats
 * with 17 digits: equal for equivalent specs) and the SHA-256 of the
 * canonical text in hex (64 characters). */
const char *spec_text(const struct spec *s);
const char *spec_canonical(const struct spec *s);
const char *spec_sha256(const struct spec *s);

/* Decode a task index of a study into axis positions, and back. */
void spec_coords_of(const struct spec_study *st, int64_t index,
                    struct spec_coords *c);
int64_t spec_index_of(const struct spec_study *st, const struct spec_coords *c);

/* The engine parameters of task (study, index).  p's pointers
 * (reward_values, ref_logits) point into s: valid while s lives. */
void spec_task_params(const struct spec *s, int study, int64_t index,
                      struct bandit_params *p);

/* Relative cost (bandit_cost_of) of the task at c, and of the whole study. */
double spec_task_cost(const struct spec_study *st, const struct spec_coords *c);
double spec_study_cost(const struct spec_study *st);

/* SHA-256 of a buffer as 64 hex characters and a NUL. */
void spec_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- finding the tasks of one study in another ----
 *
 * A map from study `to` (of one spec) into study `from` (of the same or
 * another spec, e.g. the spec stored in an older results file): for every
 * task of `to`, the task of `from` that is the same task (task_same), or
 * none.  It exists only when the study-level values agree (master seed,
 * scale, rewards and their values, reference logits, iterations) and
 * every step `to` records is recorded by `from`; then each axis value of
 * `to` is looked up among `from`'s values of that axis, numerically (0 ==
 * -0.0; eta 'theory' only matches 'theory').  Names and positions do not
 * matter.  Building it costs the sizes of the axes other than seed; seeds
 * are looked up as asked (a range needs no memory, a list its sorted
 * copy). */
struct spec_map;

/* Not collective.  Build the map from study to_study of to into study
 * from_study of from (both valid indices).  Returns 0, or ERR_RUNTIME
 * (out of memory).  Incompatible studies are not an error: the map then
 * maps nothing and spec_map_mismatch says why. */
int spec_map_create(const struct spec *to, int to_study,
                    const struct spec *from, int from_study,
                    struct spec_map **out, struct err *e);
void spec_map_destroy(struct spec_map **m);

/* Not collective.  NULL when the studies are compatible, else one line
 * saying why not, e.g. "iterations differ (200, was 100)". */
const char *spec_map_mismatch(const struct spec_map *m);

/* Not collective.  The position in `from`'s axis a of value to_pos of
 * `to`'s axis a, or -1 when `from` has no such value (or the studies are
 * not compatible). */
int64_t spec_map_pos(const struct spec_map *m, enum spec_axis a,
                     int64_t to_pos);

/* Not collective.  The index in `from` of the task to_index of `to`, or -1
 * when `from` does not have it. */
int64_t spec_map_index(const struct spec_map *m, int64_t to_index);

/* Not collective.  For a compatible map: the record index in `from` of
 * record i of `to` (0 <= i < to's nrec), the row to copy.  -1 when the
 * studies are not compatible. */
int64_t spec_map_record(const struct spec_map *m, int64_t to_rec);

/* ---- the union of specs ---- */

/* Not collective.  The union of n >= 1 specs as a new spec (destroy it
 * with spec_destroy): studies with equal settings (everything but the
 * name and the grid: iterations, record_every, scale, rewards and their
 * values, ref_logits; eta is part of the grid) merge into one study named
 * as the first seen, whose axes are the per-axis union of the values (in
 * first-seen order across the inputs, numerically equal values once;
 * seeds ascending); other studies are kept side by side, in first-seen
 * order.  A study of a later input joins the study of its name when
 * their settings are equal, else the first study with equal settings
 * that no other study of the same input has joined (two studies of one
 * input never merge, so the union of one spec is that spec, up to the
 * order of listed seeds).  The union's name and master seed are the
 * first input's.  *out is
 * loaded from its own canonical text, so loading that text again gives
 * the same hash.  Returns 0; ERR_INPUT when an input's master seed
 * differs from the first's, when two studies of one name have different
 * settings ("study 'a': ..."), or when the union grid is no valid study
 * (e.g. it pairs sigma > 0 with samples > 0, or has more than 2^31
 * tasks); ERR_RUNTIME when memory runs out. */
int spec_union(const struct spec *const *in, int n, struct spec **out,
               struct err *e);

#endif
