/* spec: the YAML sweep spec (parsed with libcyaml), its studies, and the
 * enumeration of their grids into tasks.
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
  SPEC_AXIS_SEED,
  SPEC_NAXES
};

/* The axis's name as in specs and files: "regime", "arms", ..., "seed". */
const char *spec_axis_name(enum spec_axis a);

/* A study, read-only.  Axis a has len[a] values; samples defaults to [0]
 * and eta to the study's eta when they are not grid axes; seed i is the
 * seed value i (seeds 0 .. len[SPEC_AXIS_SEED] - 1). */
struct spec_study {
  const char *name;
  int64_t iterations;
  int64_t record_every;
  enum bandit_scale scale;
  enum bandit_rewards rewards;
  const double *reward_values; /* EXPLICIT only: max arms values */
  int64_t len[SPEC_NAXES];
  const enum bandit_regime *regime;
  const int *arms;
  const double *beta;
  const double *sigma;
  const int64_t *samples;
  const double *eta;              /* numeric eta; unused where theory */
  const unsigned char *eta_theory; /* 1: eta = 1/(beta^2 K) */
  int64_t ntasks;                  /* product of the axis sizes and seeds */
  int64_t nrec;                    /* recorded steps per task */
  int max_arms;
};

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

/* The engine parameters of task (study, index). */
void spec_task_params(const struct spec *s, int study, int64_t index,
                      struct bandit_params *p);

/* Relative cost (bandit_cost_of) of the task at c, and of the whole study. */
double spec_task_cost(const struct spec_study *st, const struct spec_coords *c);
double spec_study_cost(const struct spec_study *st);

/* SHA-256 of a buffer as 64 hex characters and a NUL. */
void spec_sha256_hex(const void *data, size_t len, char out[65]);

#endif
