/* spec: YAML sweep spec with libcyaml.  See include/dposweep/spec.h. */
#include "dposweep/spec.h"

#include "dposweep/text.h"

#include <cyaml/cyaml.h>
#include <errno.h>
#include <math.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the YAML schema: what libcyaml loads ---- */

/* Everything is optional in the schema so that a missing key gets our own
 * message naming the study; scalars are pointers so absence is visible. */
struct y_grid {
  char **regime;
  unsigned regime_count;
  char **arms; /* integers load as words, parsed strictly: libcyaml's INT
                 takes "8.5" as 8 */
  unsigned arms_count;
  char **beta; /* numbers load as words too: libcyaml's FLOAT takes
                 "0.7- 0.3" as 0.7 */
  unsigned beta_count;
  char **sigma;
  unsigned sigma_count;
  char **samples;
  unsigned samples_count;
  char **eta;
  unsigned eta_count;
};

struct y_study {
  char *name;
  char *iterations;
  char *record_every;
  char *scale;
  char *eta;
  char *rewards;
  char **reward_values;
  unsigned reward_values_count;
  char *seeds;
  struct y_grid *grid;
};

struct y_spec {
  char *name;
  char *master_seed; /* a string, parsed strictly: libcyaml's UINT takes -1 */
  struct y_study *studies;
  unsigned studies_count;
};

#define OPT (CYAML_FLAG_OPTIONAL)
#define OPTP (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)

static const cyaml_schema_value_t y_string = {
  CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED)};

static const cyaml_schema_field_t y_grid_fields[] = {
  CYAML_FIELD_SEQUENCE("regime", OPTP, struct y_grid, regime, &y_string, 1,
                       CYAML_UNLIMITED),
  CYAML_FIELD_SEQUENCE("arms", OPTP, struct y_grid, arms, &y_string, 1,
                       CYAML_UNLIMITED),
  CYAML_FIELD_SEQUENCE("beta", OPTP, struct y_grid, beta, &y_string, 1,
                       CYAML_UNLIMITED),
  CYAML_FIELD_SEQUENCE("sigma", OPTP, struct y_grid, sigma, &y_string, 1,
                       CYAML_UNLIMITED),
  CYAML_FIELD_SEQUENCE("samples", OPTP, struct y_grid, samples, &y_string, 1,
                       CYAML_UNLIMITED),
  CYAML_FIELD_SEQUENCE("eta", OPTP, struct y_grid, eta, &y_string, 1,
                       CYAML_UNLIMITED),
  CYAML_FIELD_END};

static const cyaml_schema_field_t y_study_fields[] = {
  CYAML_FIELD_STRING_PTR("name", OPTP, struct y_study, name, 0,
                         CYAML_UNLIMITED),
  CYAML_FIELD_STRING_PTR("iterations", OPTP, struct y_study, iterations, 0,
                         CYAML_UNLIMITED),
  CYAML_FIELD_STRING_PTR("record_every", OPTP, struct y_study, record_every, 0,
                         CYAML_UNLIMITED),
  CYAML_FIELD_STRING_PTR("scale", OPTP, struct y_study, scale, 0,
                         CYAML_UNLIMITED),
  CYAML_FIELD_STRING_PTR("eta", OPTP, struct y_study, eta, 0, CYAML_UNLIMITED),
  CYAML_FIELD_STRING_PTR("rewards", OPTP, struct y_study, rewards, 0,
                         CYAML_UNLIMITED),
  CYAML_FIELD_SEQUENCE("reward_values", OPTP, struct y_study, reward_values,
                       &y_string, 1, CYAML_UNLIMITED),
  CYAML_FIELD_STRING_PTR("seeds", OPTP, struct y_study, seeds, 0,
                         CYAML_UNLIMITED),
  CYAML_FIELD_MAPPING_PTR("grid", OPTP, struct y_study, grid, y_grid_fields),
  CYAML_FIELD_END};

static const cyaml_schema_value_t y_study_value = {
  CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct y_study, y_study_fields)};

static const cyaml_schema_field_t y_spec_fields[] = {
  CYAML_FIELD_STRING_PTR("name", OPTP, struct y_spec, name, 0, CYAML_UNLIMITED),
  CYAML_FIELD_STRING_PTR("master_seed", OPTP, struct y_spec, master_seed, 0,
                         CYAML_UNLIMITED),
  CYAML_FIELD_SEQUENCE("studies", OPTP, struct y_spec, studies, &y_study_value,
                       0, CYAML_UNLIMITED),
  CYAML_FIELD_END};

static const cyaml_schema_value_t y_spec_top = {
  CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct y_spec, y_spec_fields)};

/* A second, lenient schema that only picks up the study names, to name
 * the study in a message about a document the strict schema rejected. */
struct y_name_only {
  char *name;
};
struct y_names {
  struct y_name_only *studies;
  unsigned studies_count;
};
static const cyaml_schema_field_t y_name_only_fields[] = {
  CYAML_FIELD_STRING_PTR("name", OPTP, struct y_name_only, name, 0,
                         CYAML_UNLIMITED),
  CYAML_FIELD_END};
static const cyaml_schema_value_t y_name_only_value = {CYAML_VALUE_MAPPING(
  CYAML_FLAG_DEFAULT, struct y_name_only, y_name_only_fields)};
static const cyaml_schema_field_t y_names_fields[] = {
  CYAML_FIELD_SEQUENCE("studies", OPTP, struct y_names, studies,
                       &y_name_only_value, 0, CYAML_UNLIMITED),
  CYAML_FIELD_END};
static const cyaml_schema_value_t y_names_top = {
  CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct y_names, y_names_fields)};

/* ---- the loaded spec ---- */

struct study_store {
  struct spec_study pub;
  char *name;
  enum bandit_regime *regime;
  int *arms;
  double *beta, *sigma, *eta;
  int64_t *samples;
  unsigned char *eta_theory;
  double *reward_values;
};

struct spec {
  char *name;
  uint64_t master_seed;
  int nstudies;
  struct study_store *studies;
  int64_t ntasks;
  char *text;
  char *canonical;
  char sha256[65];
};

/* ---- messages ---- */

struct msg {
  char *buf;
  size_t len;
  const char *label;
};

static int errorf(struct msg *m, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

static int errorf(struct msg *m, const char *fmt, ...)
{
  int n = snprintf(m->buf, m->len, "%s: ", m->label);
  va_list ap;
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < m->len)
    vsnprintf(m->buf + n, m->len - (size_t)n, fmt, ap);
  va_end(ap);
  text_one_line(m->buf);
  return -1;
}

/* libcyaml reports a failure as a message line and a backtrace of lines
 * "  in mapping field 'beta' (line: 8, column: 13)", innermost first.
 * We keep them and fold them into one line afterwards. */
struct cyaml_log {
  char lines[24][256];
  int n;
};

static void log_collect(cyaml_log_t level, void *ctx, const char *fmt,
                        va_list args)
{
  struct cyaml_log *log = ctx;
  if (level < CYAML_LOG_ERROR || log->n >= 24)
    return;
  vsnprintf(log->lines[log->n], sizeof log->lines[0], fmt, args);
  char *nl = strchr(log->lines[log->n], '\n');
  if (nl)
    *nl = '\0';
  log->n++;
}

/* Turn libcyaml's wording into ours. */
static void reword(const char *in, char *out, size_t len)
{
  static const struct {
    const char *from, *to;
  } map[] = {
    {"Invalid FLOAT value: ", "invalid number '%s'"},
    {"Invalid INT value: ", "invalid integer %s"},
    {"Invalid UINT value: ", "invalid integer %s"},
    {"Unexpected key: ", "unknown key '%s'"},
    {"Mapping field already seen: ", "duplicate key '%s'"},
    {"Missing required mapping field: ", "missing key '%s'"},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    size_t n = strlen(map[i].from);
    if (strncmp(in, map[i].from, n) == 0) {
      snprintf(out, len, map[i].to, in + n);
      return;
    }
  }
  if (strncmp(in, "Insufficient entries (0 of", 26) == 0 ||
      strncmp(in, "insufficient entries (0 of", 26) == 0) {
    snprintf(out, len, "empty list");
    return;
  }
  const char *exp = "Expecting ";
  if (strncmp(in, exp, strlen(exp)) == 0) {
    const char *what = in + strlen(exp);
    const char *kind = strncmp(what, "SEQUENCE", 8) == 0  ? "a list"
                       : strncmp(what, "MAPPING", 7) == 0 ? "a mapping"
                                                          : "a single value";
    snprintf(out, len, "wrong type: expected %s", kind);
    return;
  }
  snprintf(out, len, "%s", in);
  /* lower-case the first letter, as in our other messages */
  if (out[0] >= 'A' && out[0] <= 'Z')
    out[0] = (char)(out[0] - 'A' + 'a');
}

static char **study_names_of(const char *text, size_t len, unsigned *count)
{
  struct y_names *names = NULL;
  cyaml_config_t cfg = {
    .mem_fn = cyaml_mem,
    .log_level = CYAML_LOG_ERROR,
    .flags = CYAML_CFG_IGNORE_UNKNOWN_KEYS | CYAML_CFG_NO_ALIAS,
  };
  *count = 0;
  if (cyaml_load_data((const uint8_t *)text, len, &cfg, &y_names_top,
                      (cyaml_data_t **)&names, NULL) != CYAML_OK || !names)
    return NULL;
  char **out = calloc(names->studies_count + 1, sizeof *out);
  if (out) {
    for (unsigned i = 0; i < names->studies_count; i++)
      out[i] = names->studies[i].name ? strdup(names->studies[i].name) : NULL;
    *count = names->studies_count;
  }
  cyaml_free(&cfg, &y_names_top, names, 0);
  return out;
}

static void format_cyaml_error(struct msg *m, const struct cyaml_log *log,
                               cyaml_err_t err, const char *text, size_t len)
{
  /* The first line is "Load: <message>", then "Load: Backtrace:" and the
   * frames.  Build the key path from the outermost frame inwards. */
  char message[256] = "";
  int first_frame = -1;
  for (int i = 0; i < log->n; i++) {
    const char *l = log->lines[i];
    if (strncmp(l, "Load: ", 6) == 0)
      l += 6;
    if (strcmp(l, "Backtrace:") == 0) {
      first_frame = i + 1;
      break;
    }
    if (!message[0])
      snprintf(message, sizeof message, "%s", l);
  }
  if (!message[0])
    snprintf(message, sizeof message, "%s", cyaml_strerror(err));
  char reworded[300];
  reword(message, reworded, sizeof reworded);

  char path[512] = "";
  char study[160] = "";
  long line = 0, col = 0;
  int in_studies = 0;
  unsigned nnames = 0;
  char **names = NULL;
  if (first_frame >= 0) {
    for (int i = log->n - 1; i >= first_frame; i--) {
      const char *l = log->lines[i];
      while (*l == ' ')
        l++;
      char key[128];
      long ln = 0, cl = 0;
      unsigned entry;
      size_t pl = strlen(path);
      if (sscanf(l, "in mapping field '%127[^']' (line: %ld, column: %ld)", key,
                 &ln, &cl) == 3) {
        in_studies = strcmp(key, "studies") == 0 && pl == 0;
        if (!in_studies)
          snprintf(path + pl, sizeof path - pl, "%s%s", pl ? "." : "", key);
      } else if (sscanf(l, "in sequence entry '%u' (line: %ld, column: %ld)",
                        &entry, &ln, &cl) == 3) {
        if (in_studies) {
          /* Name the study, not its position, when we can. */
          if (!names)
            names = study_names_of(text, len, &nnames);
          if (names && entry >= 1 && entry <= nnames && names[entry - 1])
            snprintf(study, sizeof study, "study '%.64s': ", names[entry - 1]);
          else
            snprintf(study, sizeof study, "studies[%u]: ", entry - 1);
          in_studies = 0;
        } else if (entry >= 1) { /* entry 0: the list itself */
          snprintf(path + pl, sizeof path - pl, "[%u]", entry - 1);
        }
      } else if (sscanf(l, "in mapping (line: %ld, column: %ld)", &ln, &cl) !=
                 2) {
        continue;
      }
      line = ln;
      col = cl;
    }
  }
  if (names) {
    for (unsigned i = 0; i < nnames; i++)
      free(names[i]);
    free(names);
  }
  /* "file:line:col: study 'x': grid.beta[2]: what", as compilers do. */
  if (line > 0)
    snprintf(m->buf, m->len, "%s:%ld:%ld: %s%s%s%s", m->label, line, col,
             study, path, path[0] ? ": " : "", reworded);
  else
    errorf(m, "%s%s%s%s", study, path, path[0] ? ": " : "", reworded);
  text_one_line(m->buf);
}

/* ---- validation ---- */

static int valid_name(const char *s, size_t max)
{
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return 0;
  }
  return 1;
}

/* A baseline task that passes every check, to validate one value at a
 * time with the engine's own rules and messages. */
static struct bandit_params baseline(void)
{
  struct bandit_params p = {
    .regime = BANDIT_UNIFORM,
    .scale = BANDIT_THEORY,
    .rewards = BANDIT_REWARDS_UNIFORM,
    .arms = 2,
    .beta = 1.0,
    .eta = 1.0,
    .iterations = 1,
    .record_every = 1,
  };
  return p;
}

static int check_value(struct msg *m, const char *study,
                       const struct bandit_params *p, const char *key,
                       long pos)
{
  const char *field;
  struct err why;
  if (bandit_params_check(p, &field, &why) == 0)
    return 0;
  if (pos >= 0)
    return errorf(m, "study '%s': %s[%ld]: %s", study, key, pos, why.msg);
  return errorf(m, "study '%s': %s: %s", study, key, why.msg);
}

/* A study's number: the whole word must be one (strtod, no trailing
 * text); NaN and infinity parse and are refused by the value checks. */
static int number_word(struct msg *m, const char *study, const char *key,
                       long pos, const char *word, double *out)
{
  if (text_parse_double(word, out) == 0)
    return 0;
  if (pos >= 0)
    return errorf(m, "study '%s': %s[%ld]: invalid number '%.40s'", study, key,
                  pos, word);
  return errorf(m, "study '%s': %s: invalid number '%.40s'", study, key, word);
}

/* A study's integer value: decimal digits only. */
static int int_word(struct msg *m, const char *study, const char *key, long pos,
                    const char *word, int64_t *out)
{
  if (text_parse_i64(word, INT64_MIN, INT64_MAX, out) == 0)
    return 0;
  if (pos >= 0)
    return errorf(m, "study '%s': %s[%ld]: invalid integer '%.40s'", study, key,
                  pos, word);
  return errorf(m, "study '%s': %s: invalid integer '%.40s'", study, key, word);
}

static int has_duplicate(const void *a, size_t n, size_t size)
{
  const char *c = a;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (memcmp(c + i * size, c + j * size, size) == 0)
        return (int)j;
  return 0;
}

static int64_t mul_capped(int64_t a, int64_t b)
{
  /* Task counts are capped far above SPEC_MAX_TASKS, never overflow. */
  const int64_t cap = (int64_t)1 << 62;
  if (a == 0 || b == 0)
    return 0;
  if (a > cap / b)
    return cap;
  return a * b;
}

static int build_study(struct msg *m, const struct y_study *y,
                       struct study_store *s, const struct spec *spec,
                       int index)
{
  const char *nm = y->name ? y->name : "";
  if (!y->name)
    return errorf(m, "studies[%d]: missing key 'name'", index);
  if (!valid_name(y->name, SPEC_MAX_NAME))
    return errorf(m,
                  "studies[%d]: name: '%.80s%s' must be 1 to 64 letters, "
                  "digits, '-' or '_'",
                  index, y->name, strlen(y->name) > 80 ? "..." : "");
  for (int i = 0; i < index; i++)
    if (strcmp(spec->studies[i].name, y->name) == 0)
      return errorf(m, "study '%s': name: duplicate study name", nm);
  if (!(s->name = strdup(y->name)))
    return errorf(m, "out of memory");
  struct spec_study *st = &s->pub;
  st->name = s->name;

  static const char *const required[] = {"iterations", "scale", "rewards",
                                         "seeds", "grid"};
  const void *present[] = {y->iterations, y->scale, y->rewards, y->seeds,
                           y->grid};
  for (int i = 0; i < 5; i++)
    if (!present[i])
      return errorf(m, "study '%s': missing key '%s'", nm, required[i]);
  const struct y_grid *g = y->grid;
  static const char *const axes[] = {"regime", "arms", "beta", "sigma"};
  const unsigned counts[] = {g->regime_count, g->arms_count, g->beta_count,
                             g->sigma_count};
  const void *axis_ptrs[] = {g->regime, g->arms, g->beta, g->sigma};
  for (int i = 0; i < 4; i++) {
    if (!axis_ptrs[i])
      return errorf(m, "study '%s': grid: missing key '%s'", nm, axes[i]);
    if (counts[i] == 0)
      return errorf(m, "study '%s': grid.%s: empty list", nm, axes[i]);
  }
  if (g->samples && g->samples_count == 0)
    return errorf(m, "study '%s': grid.samples: empty list", nm);
  if (g->eta && g->eta_count == 0)
    return errorf(m, "study '%s': grid.eta: empty list", nm);

  struct bandit_params p = baseline();
  /* iterations, record_every, seeds */
  int64_t seeds;
  st->record_every = 1;
  if (int_word(m, nm, "iterations", -1, y->iterations, &st->iterations) ||
      (y->record_every &&
       int_word(m, nm, "record_every", -1, y->record_every, &st->record_every)) ||
      int_word(m, nm, "seeds", -1, y->seeds, &seeds))
    return -1;
  p.iterations = st->iterations;
  if (check_value(m, nm, &p, "iterations", -1))
    return -1;
  p.record_every = st->record_every;
  if (check_value(m, nm, &p, "record_every", -1))
    return -1;
  p = baseline();
  if (seeds < 1 || seeds > SPEC_MAX_TASKS)
    return errorf(m, "study '%s': seeds: must be between 1 and 2147483648 "
                     "(got %lld)",
                  nm, (long long)seeds);
  st->len[SPEC_AXIS_SEED] = seeds;

  /* scale */
  if (bandit_scale_parse(y->scale, &st->scale) != 0)
    return errorf(m, "study '%s': scale: unknown scale '%.40s' (theory, "
                     "normalized)",
                  nm, y->scale);

  /* rewards */
  if (strcmp(y->rewards, "explicit") == 0) {
    st->rewards = BANDIT_REWARDS_EXPLICIT;
    if (!y->reward_values)
      return errorf(m, "study '%s': reward_values: missing (rewards: "
                       "explicit needs a list)",
                    nm);
  } else if (bandit_rewards_parse(y->rewards, &st->rewards) != 0) {
    return errorf(m, "study '%s': rewards: unknown distribution '%.40s' "
                     "(uniform, normal, explicit)",
                  nm, y->rewards);
  } else if (y->reward_values) {
    return errorf(m, "study '%s': reward_values: only with rewards: "
                     "explicit",
                  nm);
  }

  /* The axes. */
  st->len[SPEC_AXIS_REGIME] = (int)g->regime_count;
  st->len[SPEC_AXIS_ARMS] = (int)g->arms_count;
  st->len[SPEC_AXIS_BETA] = (int)g->beta_count;
  st->len[SPEC_AXIS_SIGMA] = (int)g->sigma_count;
  st->len[SPEC_AXIS_SAMPLES] = g->samples ? (int)g->samples_count : 1;
  st->len[SPEC_AXIS_ETA] = g->eta ? (int)g->eta_count : 1;
  s->regime = calloc((size_t)st->len[SPEC_AXIS_REGIME], sizeof *s->regime);
  s->arms = calloc((size_t)st->len[SPEC_AXIS_ARMS], sizeof *s->arms);
  s->beta = calloc((size_t)st->len[SPEC_AXIS_BETA], sizeof *s->beta);
  s->sigma = calloc((size_t)st->len[SPEC_AXIS_SIGMA], sizeof *s->sigma);
  s->samples = calloc((size_t)st->len[SPEC_AXIS_SAMPLES], sizeof *s->samples);
  s->eta = calloc((size_t)st->len[SPEC_AXIS_ETA], sizeof *s->eta);
  s->eta_theory = calloc((size_t)st->len[SPEC_AXIS_ETA], sizeof *s->eta_theory);
  if (!s->regime || !s->arms || !s->beta || !s->sigma || !s->samples ||
      !s->eta || !s->eta_theory)
    return errorf(m, "out of memory");
  st->regime = s->regime;
  st->arms = s->arms;
  st->beta = s->beta;
  st->sigma = s->sigma;
  st->samples = s->samples;
  st->eta = s->eta;
  st->eta_theory = s->eta_theory;

  for (int i = 0; i < st->len[SPEC_AXIS_REGIME]; i++)
    if (bandit_regime_parse(g->regime[i], &s->regime[i]) != 0)
      return errorf(m, "study '%s': grid.regime[%d]: unknown regime '%.40s' "
                       "(uniform, mix-r, mix-p, mix-p-clip, on-policy, "
                       "hybrid, reference)",
                    nm, i, g->regime[i]);
  int max_arms = 0;
  for (int i = 0; i < st->len[SPEC_AXIS_ARMS]; i++) {
    int64_t k;
    if (int_word(m, nm, "grid.arms", i, g->arms[i], &k))
      return -1;
    if (k < 2 || k > BANDIT_MAX_ARMS)
      return errorf(m, "study '%s': grid.arms[%d]: must be between 2 and "
                       "1000000 (got %lld)",
                    nm, i, (long long)k);
    s->arms[i] = (int)k;
    max_arms = s->arms[i] > max_arms ? s->arms[i] : max_arms;
  }
  st->max_arms = max_arms;
  for (int i = 0; i < st->len[SPEC_AXIS_BETA]; i++) {
    p = baseline();
    if (number_word(m, nm, "grid.beta", i, g->beta[i], &s->beta[i]))
      return -1;
    p.beta = s->beta[i];
    if (check_value(m, nm, &p, "grid.beta", i))
      return -1;
  }
  for (int i = 0; i < st->len[SPEC_AXIS_SIGMA]; i++) {
    p = baseline();
    if (number_word(m, nm, "grid.sigma", i, g->sigma[i], &s->sigma[i]))
      return -1;
    p.sigma = s->sigma[i];
    if (check_value(m, nm, &p, "grid.sigma", i))
      return -1;
  }
  for (int i = 0; i < st->len[SPEC_AXIS_SAMPLES]; i++) {
    p = baseline();
    s->samples[i] = 0;
    if (g->samples && int_word(m, nm, "grid.samples", i, g->samples[i],
                               &s->samples[i]))
      return -1;
    p.samples = s->samples[i];
    if (check_value(m, nm, &p, "grid.samples", i))
      return -1;
  }
  /* eta: one study value or a grid axis, each 'theory' or a number. */
  if (y->eta && g->eta)
    return errorf(m, "study '%s': eta: given both as a study key and as a "
                     "grid axis; keep one",
                  nm);
  if (!y->eta && !g->eta)
    return errorf(m, "study '%s': missing key 'eta' (a number or 'theory', "
                     "or a grid axis eta)",
                  nm);
  for (int i = 0; i < st->len[SPEC_AXIS_ETA]; i++) {
    const char *word = g->eta ? g->eta[i] : y->eta;
    const char *key = g->eta ? "grid.eta" : "eta";
    long pos = g->eta ? i : -1;
    p = baseline();
    p.scale = st->scale;
    if (strcmp(word, "theory") == 0) {
      s->eta_theory[i] = 1;
      p.eta_theory = 1;
    } else if (text_parse_double(word, &s->eta[i]) != 0) {
      if (pos >= 0)
        return errorf(m, "study '%s': %s[%ld]: not a number or 'theory': "
                         "'%.40s'",
                      nm, key, pos, word);
      return errorf(m, "study '%s': %s: not a number or 'theory': '%.40s'", nm,
                    key, word);
    } else {
      p.eta = s->eta[i];
    }
    if (check_value(m, nm, &p, key, pos))
      return -1;
  }
  /* Cross-axis rules. */
  for (int i = 0; i < st->len[SPEC_AXIS_SIGMA]; i++)
    for (int j = 0; j < st->len[SPEC_AXIS_SAMPLES]; j++)
      if (s->sigma[i] > 0.0 && s->samples[j] > 0)
        return errorf(m, "study '%s': grid.samples[%d]: %lld pairs with "
                         "grid.sigma[%d] = %g > 0 in one task; a task uses "
                         "one estimator (split into two studies)",
                      nm, j, (long long)s->samples[j], i, s->sigma[i]);
  if (st->rewards == BANDIT_REWARDS_EXPLICIT) {
    unsigned nv = y->reward_values_count;
    if (!(s->reward_values = malloc(nv * sizeof *s->reward_values)))
      return errorf(m, "out of memory");
    for (unsigned i = 0; i < nv; i++)
      if (number_word(m, nm, "reward_values", (long)i, y->reward_values[i],
                      &s->reward_values[i]))
        return -1;
    for (int i = 0; i < st->len[SPEC_AXIS_ARMS]; i++)
      if ((unsigned)s->arms[i] != nv)
        return errorf(m, "study '%s': grid.arms[%d]: is %d but reward_values "
                         "lists %u values",
                      nm, i, s->arms[i], nv);
    st->reward_values = s->reward_values;
    p = baseline();
    p.arms = (int)nv;
    p.rewards = BANDIT_REWARDS_EXPLICIT;
    p.reward_values = s->reward_values;
    if (check_value(m, nm, &p, "reward_values", -1))
      return -1;
  }
  /* Duplicate values would make identical tasks. */
  struct {
    const char *key;
    const void *v;
    int n;
    size_t size;
  } dup[] = {
    {"regime", s->regime, st->len[SPEC_AXIS_REGIME], sizeof *s->regime},
    {"arms", s->arms, st->len[SPEC_AXIS_ARMS], sizeof *s->arms},
    {"beta", s->beta, st->len[SPEC_AXIS_BETA], sizeof *s->beta},
    {"sigma", s->sigma, st->len[SPEC_AXIS_SIGMA], sizeof *s->sigma},
    {"samples", s->samples, st->len[SPEC_AXIS_SAMPLES], sizeof *s->samples},
  };
  for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++) {
    int j = has_duplicate(dup[i].v, (size_t)dup[i].n, dup[i].size);
    if (j)
      return errorf(m, "study '%s': grid.%s[%d]: duplicate value", nm,
                    dup[i].key, j);
  }
  for (int i = 0; i < st->len[SPEC_AXIS_ETA]; i++)
    for (int j = i + 1; j < st->len[SPEC_AXIS_ETA]; j++)
      if (s->eta_theory[i] == s->eta_theory[j] &&
          (s->eta_theory[i] || s->eta[i] == s->eta[j]))
        return errorf(m, "study '%s': grid.eta[%d]: duplicate value", nm, j);

  int64_t n = 1;
  for (int a = 0; a < SPEC_NAXES; a++)
    n = mul_capped(n, st->len[a]);
  st->ntasks = n;
  st->nrec = bandit_nrec(st->iterations, st->record_every);
  return 0;
}

/* ---- canonical text and hash ---- */

void spec_sha256_hex(const void *data, size_t len, char out[65])
{
  struct sha256_ctx ctx;
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_init(&ctx);
  sha256_update(&ctx, len, data);
  sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
  for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
    snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static char *canonical_text(const struct spec *s)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    return NULL;
  /* Names are quoted: "-" alone would read as a list. */
  fprintf(f, "name: '%s'\nmaster_seed: %llu\nstudies:\n", s->name,
          (unsigned long long)s->master_seed);
  for (int i = 0; i < s->nstudies; i++) {
    const struct spec_study *st = &s->studies[i].pub;
    fprintf(f, "  - name: '%s'\n    iterations: %lld\n    record_every: %lld\n",
            st->name, (long long)st->iterations, (long long)st->record_every);
    fprintf(f, "    scale: %s\n    rewards: %s\n", bandit_scale_name(st->scale),
            bandit_rewards_name(st->rewards));
    if (st->rewards == BANDIT_REWARDS_EXPLICIT) {
      fprintf(f, "    reward_values: [");
      for (int j = 0; j < st->max_arms; j++)
        fprintf(f, "%s%.17g", j ? ", " : "", st->reward_values[j]);
      fprintf(f, "]\n");
    }
    fprintf(f, "    seeds: %lld\n    grid:\n      regime: [", (long long)st->len[SPEC_AXIS_SEED]);
    for (int j = 0; j < st->len[SPEC_AXIS_REGIME]; j++)
      fprintf(f, "%s%s", j ? ", " : "", bandit_regime_name(st->regime[j]));
    fprintf(f, "]\n      arms: [");
    for (int j = 0; j < st->len[SPEC_AXIS_ARMS]; j++)
      fprintf(f, "%s%d", j ? ", " : "", st->arms[j]);
    fprintf(f, "]\n      beta: [");
    for (int j = 0; j < st->len[SPEC_AXIS_BETA]; j++)
      fprintf(f, "%s%.17g", j ? ", " : "", st->beta[j]);
    fprintf(f, "]\n      sigma: [");
    for (int j = 0; j < st->len[SPEC_AXIS_SIGMA]; j++)
      fprintf(f, "%s%.17g", j ? ", " : "", st->sigma[j]);
    fprintf(f, "]\n      samples: [");
    for (int j = 0; j < st->len[SPEC_AXIS_SAMPLES]; j++)
      fprintf(f, "%s%lld", j ? ", " : "", (long long)st->samples[j]);
    fprintf(f, "]\n      eta: [");
    for (int j = 0; j < st->len[SPEC_AXIS_ETA]; j++) {
      if (st->eta_theory[j])
        fprintf(f, "%stheory", j ? ", " : "");
      else
        fprintf(f, "%s%.17g", j ? ", " : "", st->eta[j]);
    }
    fprintf(f, "]\n");
  }
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* ---- loading ---- */

int spec_load_text(const char *text, size_t len, const char *label,
                   struct spec **out, struct err *e)
{
  struct msg m = {e->msg, sizeof e->msg, label};
  struct cyaml_log log = {.n = 0};
  cyaml_config_t cfg = {
    .log_fn = log_collect,
    .log_ctx = &log,
    .mem_fn = cyaml_mem,
    .log_level = CYAML_LOG_ERROR,
    .flags = CYAML_CFG_NO_ALIAS,
  };
  struct y_spec *y = NULL;
  struct spec *s = NULL;
  int status = ERR_INPUT;

  err_clear(e);
  if (len == 0 || memchr(text, '\0', len)) {
    errorf(&m, len == 0 ? "empty spec" : "not a text file (contains NUL bytes)");
    goto out;
  }
  cyaml_err_t ce = cyaml_load_data((const uint8_t *)text, len, &cfg,
                                   &y_spec_top, (cyaml_data_t **)&y, NULL);
  if (ce != CYAML_OK) {
    format_cyaml_error(&m, &log, ce, text, len);
    goto out;
  }
  if (!y) {
    errorf(&m, "empty spec");
    goto out;
  }
  if (!(s = calloc(1, sizeof *s))) {
    errorf(&m, "out of memory");
    goto out;
  }
  if (!y->name) {
    errorf(&m, "missing key 'name'");
    goto out;
  }
  if (!valid_name(y->name, 128)) {
    errorf(&m, "name: '%.80s' must be 1 to 128 letters, digits, '-' or '_'",
           y->name);
    goto out;
  }
  if (!y->master_seed) {
    errorf(&m, "missing key 'master_seed'");
    goto out;
  }
  if (text_parse_u64(y->master_seed, &s->master_seed) != 0) {
    errorf(&m, "master_seed: must be an integer between 0 and "
               "18446744073709551615 (got '%.40s')",
           y->master_seed);
    goto out;
  }
  if (!y->studies || y->studies_count == 0) {
    errorf(&m, y->studies ? "studies: empty list" : "missing key 'studies'");
    goto out;
  }
  s->name = strdup(y->name);
  s->studies = calloc(y->studies_count, sizeof *s->studies);
  s->text = malloc(len + 1);
  if (!s->name || !s->studies || !s->text) {
    errorf(&m, "out of memory");
    goto out;
  }
  memcpy(s->text, text, len);
  s->text[len] = '\0';
  for (unsigned i = 0; i < y->studies_count; i++) {
    s->nstudies = (int)i + 1; /* so destroy frees what was built */
    if (build_study(&m, &y->studies[i], &s->studies[i], s, (int)i) != 0)
      goto out;
    s->ntasks += s->studies[i].pub.ntasks;
    if (s->ntasks > SPEC_MAX_TASKS) {
      errorf(&m, "study '%s': grid: the spec has more than 2^31 = 2147483648 "
                 "tasks in all (%lld so far); split it into several specs",
             s->studies[i].pub.name, (long long)s->ntasks);
      goto out;
    }
  }
  if (!(s->canonical = canonical_text(s))) {
    errorf(&m, "out of memory");
    goto out;
  }
  spec_sha256_hex(s->canonical, strlen(s->canonical), s->sha256);
  *out = s;
  s = NULL;
  status = 0;
out:
  if (y)
    cyaml_free(&cfg, &y_spec_top, y, 0);
  spec_destroy(&s);
  if (status != 0)
    e->code = ERR_INPUT;
  return status;
}

int spec_load_file(const char *path, struct spec **out, struct err *e)
{
  struct msg m = {e->msg, sizeof e->msg, path};
  struct stat sb;
  FILE *f = NULL;
  char *text = NULL;
  int status = ERR_INPUT;
  /* A spec is small; refusing huge files keeps a wrong argument (a
   * results file, /dev/zero) from eating memory. */
  const long max = 64L << 20;
  if (stat(path, &sb) != 0) {
    errorf(&m, "cannot read spec: %s", strerror(errno));
    goto out;
  }
  if (S_ISDIR(sb.st_mode)) {
    errorf(&m, "cannot read spec: is a directory");
    goto out;
  }
  if (!(f = fopen(path, "rb"))) {
    errorf(&m, "cannot read spec: %s", strerror(errno));
    goto out;
  }
  if (!(text = malloc((size_t)max + 1))) {
    errorf(&m, "out of memory");
    goto out;
  }
  size_t n = fread(text, 1, (size_t)max + 1, f);
  if (ferror(f)) {
    errorf(&m, "cannot read spec: %s", strerror(errno));
    goto out;
  }
  if (n > (size_t)max) {
    errorf(&m, "spec larger than 64 MiB; is this the right file?");
    goto out;
  }
  status = spec_load_text(text, n, path, out, e);
out:
  if (f)
    fclose(f);
  free(text);
  if (status != 0)
    e->code = ERR_INPUT;
  return status;
}

void spec_destroy(struct spec **sp)
{
  if (!sp || !*sp)
    return;
  struct spec *s = *sp;
  for (int i = 0; s->studies && i < s->nstudies; i++) {
    struct study_store *t = &s->studies[i];
    free(t->name);
    free(t->regime);
    free(t->arms);
    free(t->beta);
    free(t->sigma);
    free(t->eta);
    free(t->samples);
    free(t->eta_theory);
    free(t->reward_values);
  }
  free(s->studies);
  free(s->name);
  free(s->text);
  free(s->canonical);
  free(s);
  *sp = NULL;
}

const char *spec_name(const struct spec *s) { return s->name; }
uint64_t spec_master_seed(const struct spec *s) { return s->master_seed; }
int spec_nstudies(const struct spec *s) { return s->nstudies; }
int64_t spec_ntasks(const struct spec *s) { return s->ntasks; }
const char *spec_text(const struct spec *s) { return s->text; }
const char *spec_canonical(const struct spec *s) { return s->canonical; }
const char *spec_sha256(const struct spec *s) { return s->sha256; }

const struct spec_study *spec_study(const struct spec *s, int i)
{
  return (i >= 0 && i < s->nstudies) ? &s->studies[i].pub : NULL;
}

static const char *const axis_names[SPEC_NAXES] = {
  "regime", "arms", "beta", "sigma", "samples", "eta", "seed",
};

const char *spec_axis_name(enum spec_axis a)
{
  return (a >= 0 && a < SPEC_NAXES) ? axis_names[a] : NULL;
}

void spec_coords_of(const struct spec_study *st, int64_t index,
                    struct spec_coords *c)
{
  for (int a = SPEC_NAXES - 1; a >= 0; a--) {
    c->pos[a] = index % st->len[a];
    index /= st->len[a];
  }
}

int64_t spec_index_of(const struct spec_study *st, const struct spec_coords *c)
{
  int64_t index = 0;
  for (int a = 0; a < SPEC_NAXES; a++)
    index = index * st->len[a] + c->pos[a];
  return index;
}

void spec_task_params(const struct spec *s, int study, int64_t index,
                      struct bandit_params *p)
{
  const struct spec_study *st = &s->studies[study].pub;
  struct spec_coords c;
  spec_coords_of(st, index, &c);
  const int64_t *at = c.pos;
  memset(p, 0, sizeof *p);
  p->regime = st->regime[at[SPEC_AXIS_REGIME]];
  p->scale = st->scale;
  p->rewards = st->rewards;
  p->reward_values = st->reward_values;
  p->arms = st->arms[at[SPEC_AXIS_ARMS]];
  p->beta = st->beta[at[SPEC_AXIS_BETA]];
  p->sigma = st->sigma[at[SPEC_AXIS_SIGMA]];
  p->samples = st->samples[at[SPEC_AXIS_SAMPLES]];
  p->eta_theory = st->eta_theory[at[SPEC_AXIS_ETA]];
  p->eta = p->eta_theory ? 0.0 : st->eta[at[SPEC_AXIS_ETA]];
  p->iterations = st->iterations;
  p->record_every = st->record_every;
  p->master_seed = s->master_seed;
  p->seed = (uint64_t)at[SPEC_AXIS_SEED];
}

double spec_task_cost(const struct spec_study *st, const struct spec_coords *c)
{
  return bandit_cost_of(st->arms[c->pos[SPEC_AXIS_ARMS]],
                        st->samples[c->pos[SPEC_AXIS_SAMPLES]], st->iterations);
}

double spec_study_cost(const struct spec_study *st)
{
  /* Only arms and samples change the cost: sum over those two axes, times
   * the number of tasks sharing each pair. */
  const int64_t per_pair =
    st->ntasks / (st->len[SPEC_AXIS_ARMS] * st->len[SPEC_AXIS_SAMPLES]);
  double cost = 0.0;
  struct spec_coords c = {{0}};
  for (c.pos[SPEC_AXIS_ARMS] = 0;
       c.pos[SPEC_AXIS_ARMS] < st->len[SPEC_AXIS_ARMS]; c.pos[SPEC_AXIS_ARMS]++)
    for (c.pos[SPEC_AXIS_SAMPLES] = 0;
         c.pos[SPEC_AXIS_SAMPLES] < st->len[SPEC_AXIS_SAMPLES];
         c.pos[SPEC_AXIS_SAMPLES]++)
      cost += (double)per_pair * spec_task_cost(st, &c);
  return cost;
}
