/* spec: YAML sweep spec with libcyaml.  See include/dposweep/spec.h. */
#include "dposweep/spec.h"

#include "dposweep/text.h"

#include "spec_private.h"

#include <cyaml/cyaml.h>
#include <errno.h>
#include <math.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

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
  char **ref_spread;
  unsigned ref_spread_count;
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
  char **ref_logits;
  unsigned ref_logits_count;
  /* seeds: a count or a list, which no libcyaml 1.3 field can be: the
   * schema skips it and read_seeds takes it from libyaml's tree. */
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
  CYAML_FIELD_SEQUENCE("ref_spread", OPTP, struct y_grid, ref_spread,
                       &y_string, 1, CYAML_UNLIMITED),
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
  CYAML_FIELD_SEQUENCE("ref_logits", OPTP, struct y_study, ref_logits,
                       &y_string, 1, CYAML_UNLIMITED),
  CYAML_FIELD_IGNORE("seeds", OPT),
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

/* A study: the read-only view callers get, and the arrays it points into,
 * owned here. */
struct study {
  struct spec_study pub;
  char *name;
  enum bandit_regime *regime;
  int *arms;
  double *beta, *sigma, *eta, *ref_spread;
  int64_t *samples;
  unsigned char *eta_theory;
  double *reward_values;
  double *ref_logits;
  uint64_t *seed_list;
};

struct spec {
  char *name;
  uint64_t master_seed;
  int nstudies; /* built so far, while loading: what destroy frees */
  struct study *studies;
  int64_t ntasks;   /* over all studies */
  char *text;       /* as given */
  char *canonical;  /* see spec_canonical */
  char sha256[65];  /* of canonical */
};

/* ---- libcyaml's messages, as one line of ours ---- */

/* libcyaml reports a failure as a message line and a backtrace of lines
 * "  in mapping field 'beta' (line: 8, column: 13)", innermost first.
 * We keep them and fold them into one line afterwards. */
#define CYAML_LOG_LINES 24
struct cyaml_log {
  char lines[CYAML_LOG_LINES][256];
  int n;
};

static void log_collect(cyaml_log_t level, void *ctx, const char *fmt,
                        va_list args)
{
  struct cyaml_log *log = ctx;
  if (level < CYAML_LOG_ERROR || log->n >= CYAML_LOG_LINES)
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

/* The study names of a document the strict schema rejected, through the
 * lenient one; NULL (and the message names the study by its position)
 * when even that fails or memory runs out. */
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
    /* A name strdup cannot copy stays NULL: that study is named by its
     * position instead. */
    for (unsigned i = 0; i < names->studies_count; i++)
      out[i] = names->studies[i].name ? strdup(names->studies[i].name) : NULL;
    *count = names->studies_count;
  }
  /* Freeing what libcyaml itself loaded cannot fail in a way we could act
   * on. */
  cyaml_free(&cfg, &y_names_top, names, 0);
  return out;
}

static void free_names(char **names, unsigned count)
{
  if (!names)
    return;
  for (unsigned i = 0; i < count; i++)
    free(names[i]);
  free(names);
}

/* What failed: the first logged line ("Load: <message>") in our words, or
 * libcyaml's text for the code.  *frames is the index of the first
 * backtrace line, -1 when there is none. */
static void cyaml_failure(const struct cyaml_log *log, cyaml_err_t code,
                          char *out, size_t len, int *frames)
{
  char message[256] = "";
  *frames = -1;
  for (int i = 0; i < log->n; i++) {
    const char *l = log->lines[i];
    if (strncmp(l, "Load: ", 6) == 0)
      l += 6;
    if (strcmp(l, "Backtrace:") == 0) {
      *frames = i + 1;
      break;
    }
    if (!message[0])
      snprintf(message, sizeof message, "%s", l);
  }
  if (!message[0])
    snprintf(message, sizeof message, "%s", cyaml_strerror(code));
  reword(message, out, len);
}

/* Where it failed, from the backtrace read outermost frame first: the
 * study ("study 'a': ", by name when the document still yields one), the
 * key path below it ("grid.beta[2]") and the innermost line and column. */
struct yaml_place {
  char study[160];
  char path[512];
  long line, col;
};

static void cyaml_place(const struct cyaml_log *log, int frames,
                        const char *text, size_t len, struct yaml_place *at)
{
  int in_studies = 0;
  unsigned nnames = 0;
  char **names = NULL;
  for (int i = log->n - 1; i >= frames; i--) {
    const char *l = log->lines[i];
    while (*l == ' ')
      l++;
    char key[128];
    long ln = 0, cl = 0;
    unsigned entry;
    size_t pl = strlen(at->path);
    if (sscanf(l, "in mapping field '%127[^']' (line: %ld, column: %ld)", key,
               &ln, &cl) == 3) {
      in_studies = strcmp(key, "studies") == 0 && pl == 0;
      if (!in_studies)
        snprintf(at->path + pl, sizeof at->path - pl, "%s%s", pl ? "." : "",
                 key);
    } else if (sscanf(l, "in sequence entry '%u' (line: %ld, column: %ld)",
                      &entry, &ln, &cl) == 3) {
      if (in_studies) {
        /* Name the study, not its position, when we can. */
        if (!names)
          names = study_names_of(text, len, &nnames);
        if (names && entry >= 1 && entry <= nnames && names[entry - 1])
          snprintf(at->study, sizeof at->study, "study '%.64s': ",
                   names[entry - 1]);
        else
          snprintf(at->study, sizeof at->study, "studies[%u]: ", entry - 1);
        in_studies = 0;
      } else if (entry >= 1) { /* entry 0: the list itself */
        snprintf(at->path + pl, sizeof at->path - pl, "[%u]", entry - 1);
      }
    } else if (sscanf(l, "in mapping (line: %ld, column: %ld)", &ln, &cl) !=
               2) {
      continue;
    }
    at->line = ln;
    at->col = cl;
  }
  free_names(names, nnames);
}

/* Set e from libcyaml's log: "file:line:col: study 'x': grid.beta[2]:
 * what", as compilers do (without line and column when libcyaml gave
 * none).  Returns ERR_INPUT. */
static int cyaml_error(struct err *e, const char *label,
                       const struct cyaml_log *log, cyaml_err_t code,
                       const char *text, size_t len)
{
  char what[300];
  int frames;
  struct yaml_place at = {.line = 0};
  cyaml_failure(log, code, what, sizeof what, &frames);
  if (frames >= 0)
    cyaml_place(log, frames, text, len, &at);
  const char *sep = at.path[0] ? ": " : "";
  if (at.line > 0)
    return err_set(e, ERR_INPUT, "%s:%ld:%ld: %s%s%s%s", label, at.line,
                   at.col, at.study, at.path, sep, what);
  return err_set(e, ERR_INPUT, "%s: %s%s%s%s", label, at.study, at.path, sep,
                 what);
}

/* ---- seeds: a count or a list, from libyaml's tree ----
 *
 * libcyaml 1.3 has no field that may be a scalar or a sequence, so the
 * strict schema skips the key seeds (and with it its duplicate-key check)
 * and this pass reads every study's seeds node from libyaml's tree of the
 * same text, which libcyaml has accepted by then.  The words point into
 * the tree, which lives until the spec is built. */

/* A study's seeds as written: a count (seeds: N), a list (seeds: [a, b])
 * or neither (the key is missing). */
struct y_seeds {
  const char *count;
  const char **list;
  unsigned list_count;
  int is_list;
};

struct seeds_tree {
  yaml_document_t doc;
  int loaded;
  struct y_seeds *studies; /* one per entry of studies, in order */
  unsigned nstudies;
};

/* The value of key in a mapping node, or NULL; *again: the key node of a
 * second pair with the same key, or NULL. */
static yaml_node_t *map_value(yaml_document_t *d, yaml_node_t *map,
                              const char *key, yaml_node_t **again)
{
  yaml_node_t *value = NULL;
  *again = NULL;
  if (!map || map->type != YAML_MAPPING_NODE)
    return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
       p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(d, p->key);
    if (!k || k->type != YAML_SCALAR_NODE ||
        strcmp((const char *)k->data.scalar.value, key) != 0)
      continue;
    if (value) {
      *again = k;
      break;
    }
    value = yaml_document_get_node(d, p->value);
  }
  return value;
}

/* One study's seeds node into *out; a node of the wrong shape (or a
 * second seeds key) is an error placed like libcyaml's: label, line and
 * column, the study. */
static int seeds_of(struct err *e, const char *label, yaml_document_t *d,
                    yaml_node_t *study, unsigned index, struct y_seeds *out)
{
  yaml_node_t *again, *name_again;
  yaml_node_t *node = map_value(d, study, "seeds", &again);
  yaml_node_t *name = map_value(d, study, "name", &name_again);
  char who[96];
  if (name && name->type == YAML_SCALAR_NODE)
    snprintf(who, sizeof who, "study '%.64s': ", name->data.scalar.value);
  else
    snprintf(who, sizeof who, "studies[%u]: ", index);
  const yaml_node_t *bad = again;
  const char *what = "seeds: duplicate key 'seeds'";
  char entry[64];
  if (!bad && node && node->type == YAML_MAPPING_NODE) {
    bad = node;
    what = "seeds: wrong type: expected an integer or a list of integers";
  }
  if (!bad && node && node->type == YAML_SEQUENCE_NODE) {
    unsigned n = (unsigned)(node->data.sequence.items.top -
                            node->data.sequence.items.start);
    if (n && !(out->list = calloc(n, sizeof *out->list)))
      return err_set(e, ERR_RUNTIME, "out of memory");
    out->is_list = 1;
    for (unsigned i = 0; i < n && !bad; i++) {
      yaml_node_t *item =
        yaml_document_get_node(d, node->data.sequence.items.start[i]);
      if (item && item->type == YAML_SCALAR_NODE) {
        out->list[out->list_count++] = (const char *)item->data.scalar.value;
        continue;
      }
      bad = item ? item : node;
      snprintf(entry, sizeof entry,
               "seeds[%u]: wrong type: expected an integer", i);
      what = entry;
    }
  } else if (!bad && node) {
    out->count = (const char *)node->data.scalar.value;
  }
  if (bad)
    return err_set(e, ERR_INPUT, "%s:%lu:%lu: %s%s", label,
                   (unsigned long)bad->start_mark.line + 1,
                   (unsigned long)bad->start_mark.column + 1, who, what);
  return 0;
}

static void free_seeds(struct seeds_tree *t)
{
  for (unsigned i = 0; t->studies && i < t->nstudies; i++)
    free(t->studies[i].list);
  free(t->studies);
  if (t->loaded)
    yaml_document_delete(&t->doc);
  memset(t, 0, sizeof *t);
}

/* Every study's seeds from the text libcyaml accepted; what is not there
 * (no studies list) is left to the strict checks. */
static int read_seeds(const char *text, size_t len, const char *label,
                      struct seeds_tree *t, struct err *e)
{
  yaml_parser_t parser;
  int rc = 0;
  memset(t, 0, sizeof *t);
  if (!yaml_parser_initialize(&parser))
    return err_set(e, ERR_RUNTIME, "out of memory");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  t->loaded = yaml_parser_load(&parser, &t->doc);
  if (!t->loaded)
    rc = parser.error == YAML_MEMORY_ERROR
           ? err_set(e, ERR_RUNTIME, "out of memory")
           : err_set(e, ERR_INPUT, "%s: %s", label,
                     parser.problem ? parser.problem : "not YAML");
  yaml_parser_delete(&parser);
  if (rc)
    return rc;
  yaml_node_t *again;
  yaml_node_t *studies = map_value(
    &t->doc, yaml_document_get_root_node(&t->doc), "studies", &again);
  if (!studies || studies->type != YAML_SEQUENCE_NODE)
    return 0;
  unsigned n = (unsigned)(studies->data.sequence.items.top -
                          studies->data.sequence.items.start);
  if (n && !(t->studies = calloc(n, sizeof *t->studies)))
    return err_set(e, ERR_RUNTIME, "out of memory");
  t->nstudies = n;
  for (unsigned i = 0; i < n; i++) {
    yaml_node_t *study =
      yaml_document_get_node(&t->doc, studies->data.sequence.items.start[i]);
    if ((rc = seeds_of(e, label, &t->doc, study, i, &t->studies[i])))
      return rc;
  }
  return 0;
}

/* ---- one value at a time, with the engine's rules ----
 *
 * Every message below names the study and the key ("study 'a':
 * grid.beta[2]: ..."); spec_load_text puts the file name in front. */

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

/* The key of a list entry, "grid.beta[2]", in buf. */
#define KEY_LEN 64
static const char *key_at(char buf[KEY_LEN], const char *key, int64_t pos)
{
  snprintf(buf, KEY_LEN, "%s[%lld]", key, (long long)pos);
  return buf;
}

/* p is the baseline with one value of the study's changed: the engine's
 * verdict on it, under the value's key. */
static int check_value(struct err *e, const char *study,
                       const struct bandit_params *p, const char *key)
{
  const char *field;
  struct err why;
  if (bandit_params_check(p, &field, &why) == 0)
    return 0;
  return err_set(e, ERR_INPUT, "study '%s': %s: %s", study, key, why.msg);
}

/* A number: the whole word must be one (strtod, no trailing text); NaN
 * and infinity parse and are refused by the value checks. */
static int number_word(struct err *e, const char *study, const char *key,
                       const char *word, double *out)
{
  if (text_parse_double(word, out) == TEXT_OK)
    return 0;
  return err_set(e, ERR_INPUT, "study '%s': %s: invalid number '%.40s'",
                 study, key, word);
}

/* An integer: decimal digits only. */
static int int_word(struct err *e, const char *study, const char *key,
                    const char *word, int64_t *out)
{
  if (text_parse_i64(word, INT64_MIN, INT64_MAX, out) == TEXT_OK)
    return 0;
  return err_set(e, ERR_INPUT, "study '%s': %s: invalid integer '%.40s'",
                 study, key, word);
}

/* ---- a study, piece by piece ---- */

/* The name: present, well-formed, not another study's. */
static int study_name(struct err *e, const struct y_study *y,
                      struct study *s, const struct spec *spec,
                      int index)
{
  if (!y->name)
    return err_set(e, ERR_INPUT, "studies[%d]: missing key 'name'", index);
  if (!valid_name(y->name, SPEC_MAX_NAME))
    return err_set(e, ERR_INPUT,
                   "studies[%d]: name: '%.80s%s' must be 1 to 64 letters, "
                   "digits, '-' or '_'",
                   index, y->name, strlen(y->name) > 80 ? "..." : "");
  for (int i = 0; i < index; i++)
    if (strcmp(spec->studies[i].name, y->name) == 0)
      return err_set(e, ERR_INPUT, "study '%s': name: duplicate study name",
                     y->name);
  if (!(s->name = strdup(y->name)))
    return err_set(e, ERR_RUNTIME, "out of memory");
  s->pub.name = s->name;
  return 0;
}

/* The grid's axes as loaded: where their words are in struct y_grid, and
 * how a word becomes a value.  regime to sigma must be given; samples
 * defaults to [0]; eta is a study key or an axis and has its own parser
 * (parse_eta). */
typedef int (*axis_word_fn)(struct err *e, struct study *s,
                            int64_t pos, const char *key, const char *word);

static int regime_word(struct err *e, struct study *s, int64_t pos,
                       const char *key, const char *word);
static int arms_word(struct err *e, struct study *s, int64_t pos,
                     const char *key, const char *word);
static int beta_word(struct err *e, struct study *s, int64_t pos,
                     const char *key, const char *word);
static int sigma_word(struct err *e, struct study *s, int64_t pos,
                      const char *key, const char *word);
static int samples_word(struct err *e, struct study *s, int64_t pos,
                        const char *key, const char *word);
static int ref_spread_word(struct err *e, struct study *s, int64_t pos,
                           const char *key, const char *word);

static const struct grid_axis {
  enum spec_axis axis;
  size_t words, count; /* offsets of the field pair in struct y_grid */
  int required;
  axis_word_fn parse; /* NULL: eta, see parse_eta */
} grid_axes[] = {
  {SPEC_AXIS_REGIME, offsetof(struct y_grid, regime),
   offsetof(struct y_grid, regime_count), 1, regime_word},
  {SPEC_AXIS_ARMS, offsetof(struct y_grid, arms),
   offsetof(struct y_grid, arms_count), 1, arms_word},
  {SPEC_AXIS_BETA, offsetof(struct y_grid, beta),
   offsetof(struct y_grid, beta_count), 1, beta_word},
  {SPEC_AXIS_SIGMA, offsetof(struct y_grid, sigma),
   offsetof(struct y_grid, sigma_count), 1, sigma_word},
  {SPEC_AXIS_SAMPLES, offsetof(struct y_grid, samples),
   offsetof(struct y_grid, samples_count), 0, samples_word},
  {SPEC_AXIS_ETA, offsetof(struct y_grid, eta),
   offsetof(struct y_grid, eta_count), 0, NULL},
  {SPEC_AXIS_REF_SPREAD, offsetof(struct y_grid, ref_spread),
   offsetof(struct y_grid, ref_spread_count), 0, ref_spread_word},
};
#define NGRID_AXES (sizeof grid_axes / sizeof grid_axes[0])

static char **axis_words(const struct y_grid *g, const struct grid_axis *a)
{
  return *(char **const *)((const char *)g + a->words);
}

static unsigned axis_count(const struct y_grid *g, const struct grid_axis *a)
{
  return *(const unsigned *)((const char *)g + a->count);
}

/* The keys a study cannot do without, and no empty axis list. */
static int required_keys(struct err *e, const struct y_study *y,
                         const struct y_seeds *seeds, const char *nm)
{
  static const char *const keys[] = {"iterations", "scale", "rewards",
                                     "seeds", "grid"};
  const void *present[] = {y->iterations, y->scale, y->rewards,
                           seeds->is_list ? (const void *)seeds
                                          : (const void *)seeds->count,
                           y->grid};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!present[i])
      return err_set(e, ERR_INPUT, "study '%s': missing key '%s'", nm,
                     keys[i]);
  for (size_t i = 0; i < NGRID_AXES; i++) {
    const struct grid_axis *a = &grid_axes[i];
    const char *name = spec_axis_name(a->axis);
    if (!axis_words(y->grid, a)) {
      if (a->required)
        return err_set(e, ERR_INPUT, "study '%s': grid: missing key '%s'", nm,
                       name);
    } else if (axis_count(y->grid, a) == 0) {
      return err_set(e, ERR_INPUT, "study '%s': grid.%s: empty list", nm,
                     name);
    }
  }
  return 0;
}

/* iterations and record_every (default 1): both parsed first, then
 * checked in that order. */
static int parse_scalars(struct err *e, const struct y_study *y,
                         struct study *s)
{
  struct spec_study *st = &s->pub;
  const char *nm = s->name;
  int rc;
  st->record_every = 1;
  if ((rc = int_word(e, nm, "iterations", y->iterations, &st->iterations)))
    return rc;
  if (y->record_every &&
      (rc = int_word(e, nm, "record_every", y->record_every,
                     &st->record_every)))
    return rc;
  struct bandit_params p = baseline();
  p.iterations = st->iterations;
  if ((rc = check_value(e, nm, &p, "iterations")))
    return rc;
  p.record_every = st->record_every;
  return check_value(e, nm, &p, "record_every");
}

/* seeds: N is the seeds 0 .. N-1, kept as a count (a plan of 10^7 tasks
 * allocates no seeds); a list is kept as given, unless it is exactly 0 ..
 * N-1, which is seeds: N (same canonical text, same hash).  Duplicates
 * are found with the axes' (check_duplicates). */
static int parse_seeds(struct err *e, const struct y_seeds *y,
                       struct study *s)
{
  struct spec_study *st = &s->pub;
  const char *nm = s->name;
  int64_t n;
  int rc;
  if (!y->is_list) {
    if ((rc = int_word(e, nm, "seeds", y->count, &n)))
      return rc;
    if (n < 1 || n > SPEC_MAX_TASKS)
      return err_set(e, ERR_INPUT,
                     "study '%s': seeds: must be between 1 and 2147483648 "
                     "(got %lld)",
                     nm, (long long)n);
    st->len[SPEC_AXIS_SEED] = n;
    return 0;
  }
  if (y->list_count == 0)
    return err_set(e, ERR_INPUT, "study '%s': seeds: empty list", nm);
  if (!(s->seed_list = malloc(y->list_count * sizeof *s->seed_list)))
    return err_set(e, ERR_RUNTIME, "out of memory");
  int range = 1;
  for (unsigned i = 0; i < y->list_count; i++) {
    char key[KEY_LEN];
    rc = text_parse_i64(y->list[i], 0, SPEC_MAX_SEED, &n);
    if (rc == TEXT_INVALID)
      return err_set(e, ERR_INPUT, "study '%s': %s: invalid integer '%.40s'",
                     nm, key_at(key, "seeds", i), y->list[i]);
    if (rc != TEXT_OK)
      return err_set(e, ERR_INPUT,
                     "study '%s': %s: must be between 0 and "
                     "9223372036854775807 (got %.40s)",
                     nm, key_at(key, "seeds", i), y->list[i]);
    s->seed_list[i] = (uint64_t)n;
    range &= n == (int64_t)i;
  }
  st->len[SPEC_AXIS_SEED] = y->list_count;
  if (range) {
    free(s->seed_list);
    s->seed_list = NULL;
  }
  st->seed_list = s->seed_list;
  return 0;
}

/* scale, rewards, and whether reward_values may or must be there. */
static int parse_scale_rewards(struct err *e, const struct y_study *y,
                               struct study *s)
{
  struct spec_study *st = &s->pub;
  const char *nm = s->name;
  if (bandit_scale_parse(y->scale, &st->scale) != 0)
    return err_set(e, ERR_INPUT,
                   "study '%s': scale: unknown scale '%.40s' (theory, "
                   "normalized)",
                   nm, y->scale);
  if (strcmp(y->rewards, "explicit") == 0) {
    st->rewards = BANDIT_REWARDS_EXPLICIT;
    if (!y->reward_values)
      return err_set(e, ERR_INPUT,
                     "study '%s': reward_values: missing (rewards: "
                     "explicit needs a list)",
                     nm);
  } else if (bandit_rewards_parse(y->rewards, &st->rewards) != 0) {
    return err_set(e, ERR_INPUT,
                   "study '%s': rewards: unknown distribution '%.40s' "
                   "(uniform, normal, explicit)",
                   nm, y->rewards);
  } else if (y->reward_values) {
    return err_set(e, ERR_INPUT,
                   "study '%s': reward_values: only with rewards: explicit",
                   nm);
  }
  return 0;
}

/* The axis lengths (an absent optional axis has one value) and their
 * arrays, zeroed: samples and ref_spread absent are [0]. */
static int alloc_axes(struct err *e, const struct y_grid *g,
                      struct study *s)
{
  struct spec_study *st = &s->pub;
  for (size_t i = 0; i < NGRID_AXES; i++) {
    const struct grid_axis *a = &grid_axes[i];
    st->len[a->axis] = axis_words(g, a) ? (int64_t)axis_count(g, a) : 1;
  }
  s->regime = calloc((size_t)st->len[SPEC_AXIS_REGIME], sizeof *s->regime);
  s->arms = calloc((size_t)st->len[SPEC_AXIS_ARMS], sizeof *s->arms);
  s->beta = calloc((size_t)st->len[SPEC_AXIS_BETA], sizeof *s->beta);
  s->sigma = calloc((size_t)st->len[SPEC_AXIS_SIGMA], sizeof *s->sigma);
  s->samples = calloc((size_t)st->len[SPEC_AXIS_SAMPLES], sizeof *s->samples);
  s->eta = calloc((size_t)st->len[SPEC_AXIS_ETA], sizeof *s->eta);
  s->eta_theory = calloc((size_t)st->len[SPEC_AXIS_ETA], sizeof *s->eta_theory);
  s->ref_spread =
    calloc((size_t)st->len[SPEC_AXIS_REF_SPREAD], sizeof *s->ref_spread);
  if (!s->regime || !s->arms || !s->beta || !s->sigma || !s->samples ||
      !s->eta || !s->eta_theory || !s->ref_spread)
    return err_set(e, ERR_RUNTIME, "out of memory");
  st->regime = s->regime;
  st->arms = s->arms;
  st->beta = s->beta;
  st->sigma = s->sigma;
  st->samples = s->samples;
  st->eta = s->eta;
  st->eta_theory = s->eta_theory;
  st->ref_spread = s->ref_spread;
  return 0;
}

static int regime_word(struct err *e, struct study *s, int64_t pos,
                       const char *key, const char *word)
{
  if (bandit_regime_parse(word, &s->regime[pos]) == 0)
    return 0;
  return err_set(e, ERR_INPUT,
                 "study '%s': %s: unknown regime '%.40s' (uniform, mix-r, "
                 "mix-p, mix-p-clip, on-policy, hybrid, reference)",
                 s->name, key, word);
}

static int arms_word(struct err *e, struct study *s, int64_t pos,
                     const char *key, const char *word)
{
  int64_t k;
  int rc = int_word(e, s->name, key, word, &k);
  if (rc)
    return rc;
  if (k < 2 || k > BANDIT_MAX_ARMS)
    return err_set(e, ERR_INPUT,
                   "study '%s': %s: must be between 2 and %d (got %lld)",
                   s->name, key, BANDIT_MAX_ARMS, (long long)k);
  s->arms[pos] = (int)k;
  if (s->arms[pos] > s->pub.max_arms)
    s->pub.max_arms = s->arms[pos];
  return 0;
}

/* word as a number into *value, a field of the baseline task p, and into
 * *out; then p checked by the engine, with its rules and messages for the
 * field (beta, sigma). */
static int checked_number(struct err *e, const char *study, const char *key,
                          const char *word, struct bandit_params *p,
                          double *value, double *out)
{
  int rc = number_word(e, study, key, word, value);
  if (rc)
    return rc;
  *out = *value;
  return check_value(e, study, p, key);
}

static int beta_word(struct err *e, struct study *s, int64_t pos,
                     const char *key, const char *word)
{
  struct bandit_params p = baseline();
  return checked_number(e, s->name, key, word, &p, &p.beta, &s->beta[pos]);
}

static int sigma_word(struct err *e, struct study *s, int64_t pos,
                      const char *key, const char *word)
{
  struct bandit_params p = baseline();
  return checked_number(e, s->name, key, word, &p, &p.sigma, &s->sigma[pos]);
}

static int samples_word(struct err *e, struct study *s, int64_t pos,
                        const char *key, const char *word)
{
  struct bandit_params p = baseline();
  int rc = int_word(e, s->name, key, word, &p.samples);
  if (rc)
    return rc;
  s->samples[pos] = p.samples;
  return check_value(e, s->name, &p, key);
}

static int ref_spread_word(struct err *e, struct study *s, int64_t pos,
                           const char *key, const char *word)
{
  struct bandit_params p = baseline();
  int rc = number_word(e, s->name, key, word, &p.ref_spread);
  if (rc)
    return rc;
  if (!isfinite(p.ref_spread) || !(p.ref_spread >= 0.0))
    return err_set(e, ERR_INPUT,
                   "study '%s': %s: must be a finite number >= 0 (got %.17g)",
                   s->name, key, p.ref_spread);
  /* -0.0 is the default 0 (a uniform reference), spelled the same in
   * the canonical text. */
  s->ref_spread[pos] = p.ref_spread == 0.0 ? 0.0 : p.ref_spread;
  return check_value(e, s->name, &p, key);
}

/* Every word of every grid axis but eta, axis by axis in grid_axes order. */
static int parse_grid(struct err *e, const struct y_grid *g,
                      struct study *s)
{
  for (size_t i = 0; i < NGRID_AXES; i++) {
    const struct grid_axis *a = &grid_axes[i];
    char **words = axis_words(g, a);
    if (!a->parse || !words)
      continue;
    char prefix[KEY_LEN], key[KEY_LEN];
    snprintf(prefix, sizeof prefix, "grid.%s", spec_axis_name(a->axis));
    for (int64_t pos = 0; pos < s->pub.len[a->axis]; pos++) {
      int rc = a->parse(e, s, pos, key_at(key, prefix, pos), words[pos]);
      if (rc)
        return rc;
    }
  }
  return 0;
}

/* eta: one study value or a grid axis, each 'theory' or a number. */
static int parse_eta(struct err *e, const struct y_study *y,
                     struct study *s)
{
  const struct y_grid *g = y->grid;
  const char *nm = s->name;
  if (y->eta && g->eta)
    return err_set(e, ERR_INPUT,
                   "study '%s': eta: given both as a study key and as a "
                   "grid axis; keep one",
                   nm);
  if (!y->eta && !g->eta)
    return err_set(e, ERR_INPUT,
                   "study '%s': missing key 'eta' (a number or 'theory', "
                   "or a grid axis eta)",
                   nm);
  for (int64_t i = 0; i < s->pub.len[SPEC_AXIS_ETA]; i++) {
    char buf[KEY_LEN];
    const char *word = g->eta ? g->eta[i] : y->eta;
    const char *key = g->eta ? key_at(buf, "grid.eta", i) : "eta";
    struct bandit_params p = baseline();
    p.scale = s->pub.scale;
    if (strcmp(word, "theory") == 0) {
      s->eta_theory[i] = 1;
      p.eta_theory = 1;
    } else if (text_parse_double(word, &s->eta[i]) != TEXT_OK) {
      return err_set(e, ERR_INPUT,
                     "study '%s': %s: not a number or 'theory': '%.40s'", nm,
                     key, word);
    } else {
      p.eta = s->eta[i];
    }
    int rc = check_value(e, nm, &p, key);
    if (rc)
      return rc;
  }
  return 0;
}

/* One estimator per task: a gaussian one (sigma > 0) and a sampled one
 * (samples > 0) never pair in one grid. */
static int check_estimators(struct err *e, const struct study *s)
{
  const struct spec_study *st = &s->pub;
  for (int64_t i = 0; i < st->len[SPEC_AXIS_SIGMA]; i++)
    for (int64_t j = 0; j < st->len[SPEC_AXIS_SAMPLES]; j++)
      if (s->sigma[i] > 0.0 && s->samples[j] > 0)
        return err_set(e, ERR_INPUT,
                       "study '%s': grid.samples[%lld]: %lld pairs with "
                       "grid.sigma[%lld] = %g > 0 in one task; a task uses "
                       "one estimator (split into two studies)",
                       s->name, (long long)j, (long long)s->samples[j],
                       (long long)i, s->sigma[i]);
  return 0;
}

/* A per-arm vector (reward_values, ref_logits): nv numbers, finite ones
 * only where `finite`, and one value per arm of every arms value.  *out
 * is the study's to free, set even on failure. */
static int per_arm_values(struct err *e, struct study *s, const char *key,
                          char *const *words, unsigned nv, bool finite,
                          double **out)
{
  const struct spec_study *st = &s->pub;
  int rc;
  if (!(*out = malloc(nv * sizeof **out)))
    return err_set(e, ERR_RUNTIME, "out of memory");
  for (unsigned i = 0; i < nv; i++) {
    char at[KEY_LEN];
    key_at(at, key, i);
    if ((rc = number_word(e, s->name, at, words[i], &(*out)[i])))
      return rc;
    if (finite && !isfinite((*out)[i]))
      return err_set(e, ERR_INPUT,
                     "study '%s': %s: must be a finite number (got %.17g)",
                     s->name, at, (*out)[i]);
  }
  for (int64_t i = 0; i < st->len[SPEC_AXIS_ARMS]; i++)
    if ((unsigned)s->arms[i] != nv)
      return err_set(e, ERR_INPUT,
                     "study '%s': grid.arms[%lld]: is %d but %s lists %u "
                     "values",
                     s->name, (long long)i, s->arms[i], key, nv);
  return 0;
}

/* rewards: explicit: the values, one per arm of every arms value, and
 * the engine's check of the vector. */
static int parse_reward_values(struct err *e, const struct y_study *y,
                               struct study *s)
{
  struct spec_study *st = &s->pub;
  unsigned nv = y->reward_values_count;
  int rc;
  if (st->rewards != BANDIT_REWARDS_EXPLICIT)
    return 0;
  if ((rc = per_arm_values(e, s, "reward_values", y->reward_values, nv, false,
                           &s->reward_values)))
    return rc;
  st->reward_values = s->reward_values;
  struct bandit_params p = baseline();
  p.arms = (int)nv;
  p.rewards = BANDIT_REWARDS_EXPLICIT;
  p.reward_values = s->reward_values;
  return check_value(e, s->name, &p, "reward_values");
}

/* rewards: explicit aside, an explicit reference theta_ref: one finite
 * value per arm of every arms value, and never with a spread (the
 * reference is either drawn or given). */
static int parse_ref_logits(struct err *e, const struct y_study *y,
                            struct study *s)
{
  struct spec_study *st = &s->pub;
  unsigned nv = y->ref_logits_count;
  int rc;
  if (!y->ref_logits)
    return 0;
  for (int64_t i = 0; i < st->len[SPEC_AXIS_REF_SPREAD]; i++)
    if (s->ref_spread[i] != 0.0)
      return err_set(e, ERR_INPUT,
                     "study '%s': ref_logits: not together with "
                     "grid.ref_spread[%lld] = %g (a given reference has no "
                     "spread; keep one)",
                     s->name, (long long)i, s->ref_spread[i]);
  if ((rc = per_arm_values(e, s, "ref_logits", y->ref_logits, nv, true,
                           &s->ref_logits)))
    return rc;
  st->ref_logits = s->ref_logits;
  struct bandit_params p = baseline();
  p.arms = (int)nv;
  p.ref_logits = s->ref_logits;
  return check_value(e, s->name, &p, "ref_logits");
}

/* The first position of axis a whose value equals an earlier one's
 * (numerically: 0 and -0.0 are one value) in *dup, that earlier one in
 * *first; *dup = 0 when all differ.  Sorting keeps a list of 10^6 seeds
 * quick. */
static int first_duplicate(struct err *e, const struct spec_study *st,
                           enum spec_axis a, int64_t *first, int64_t *dup)
{
  const int64_t n = st->len[a];
  *dup = 0;
  struct spec_placed *v;
  if (n < 2 || (a == SPEC_AXIS_SEED && !st->seed_list))
    return 0; /* one value, or seeds 0 .. N-1 */
  int rc = spec_axis_sorted(st, a, &v, e);
  if (rc)
    return rc;
  /* Equal values sit together, each run in position order: the run's
   * second entry is its first repetition. */
  for (int64_t i = 1; i < n; i++)
    if (spec_value_cmp(&v[i - 1].v, &v[i].v) == 0 &&
        (i < 2 || spec_value_cmp(&v[i - 2].v, &v[i].v) != 0) &&
        (*dup == 0 || v[i].pos < *dup)) {
      *dup = v[i].pos;
      *first = v[i - 1].pos;
    }
  free(v);
  return 0;
}

/* Duplicate values in an axis would make identical tasks. */
static int check_duplicates(struct err *e, const struct study *s)
{
  for (int a = 0; a < SPEC_NAXES; a++) {
    int64_t first = 0, dup;
    int rc = first_duplicate(e, &s->pub, (enum spec_axis)a, &first, &dup);
    if (rc)
      return rc;
    if (!dup)
      continue;
    const char *grid = a == SPEC_AXIS_SEED ? "" : "grid.";
    const char *name = spec_axis_name((enum spec_axis)a);
    if (a == SPEC_AXIS_SEED)
      name = "seeds";
    return err_set(e, ERR_INPUT,
                   "study '%s': %s%s[%lld]: duplicate value (equal to "
                   "%s%s[%lld])",
                   s->name, grid, name, (long long)dup, grid, name,
                   (long long)first);
  }
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

/* Build study number index of spec from its YAML, piece by piece, each
 * piece in the order of the checks a user sees (the first failure is
 * the one reported).  What is built so far is s's, freed by
 * spec_destroy. */
static int build_study(struct err *e, const struct y_study *y,
                       const struct y_seeds *seeds, struct study *s,
                       const struct spec *spec, int index)
{
  int rc;
  if ((rc = study_name(e, y, s, spec, index)))
    return rc;
  if ((rc = required_keys(e, y, seeds, s->name)))
    return rc;
  if ((rc = parse_scalars(e, y, s)))
    return rc;
  if ((rc = parse_seeds(e, seeds, s)))
    return rc;
  if ((rc = parse_scale_rewards(e, y, s)))
    return rc;
  if ((rc = alloc_axes(e, y->grid, s)))
    return rc;
  if ((rc = parse_grid(e, y->grid, s)))
    return rc;
  if ((rc = parse_eta(e, y, s)))
    return rc;
  if ((rc = check_estimators(e, s)))
    return rc;
  if ((rc = parse_reward_values(e, y, s)))
    return rc;
  if ((rc = parse_ref_logits(e, y, s)))
    return rc;
  if ((rc = check_duplicates(e, s)))
    return rc;
  struct spec_study *st = &s->pub;
  st->ntasks = 1;
  for (int a = 0; a < SPEC_NAXES; a++)
    st->ntasks = mul_capped(st->ntasks, st->len[a]);
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

void spec_write_head(FILE *f, const char *name, uint64_t master_seed)
{
  fprintf(f, "name: '%s'\nmaster_seed: %llu\nstudies:\n", name,
          (unsigned long long)master_seed);
}

/* A list of n doubles, "[a, b, c]" and a newline, 17 digits each. */
static void write_doubles(FILE *f, const double *v, int64_t n)
{
  fputc('[', f);
  for (int64_t j = 0; j < n; j++)
    fprintf(f, "%s%.17g", j ? ", " : "", v[j]);
  fputs("]\n", f);
}

/* One study of the canonical text: every key, in schema order.  Keys
 * added after the first release (ref_logits, grid.ref_spread, a seeds
 * list) are written only when they say something other than the old
 * default, so every spec that does not use them keeps its text and hash
 * (and its results files still resume). */
void spec_write_study(FILE *f, const struct spec_study *st)
{
  /* Names are quoted: "-" alone would read as a list. */
  fprintf(f, "  - name: '%s'\n    iterations: %lld\n    record_every: %lld\n",
          st->name, (long long)st->iterations, (long long)st->record_every);
  fprintf(f, "    scale: %s\n    rewards: %s\n", bandit_scale_name(st->scale),
          bandit_rewards_name(st->rewards));
  if (st->rewards == BANDIT_REWARDS_EXPLICIT) {
    fprintf(f, "    reward_values: ");
    write_doubles(f, st->reward_values, st->max_arms);
  }
  if (st->ref_logits) {
    fprintf(f, "    ref_logits: ");
    write_doubles(f, st->ref_logits, st->max_arms);
  }
  if (st->seed_list) {
    fprintf(f, "    seeds: [");
    for (int64_t j = 0; j < st->len[SPEC_AXIS_SEED]; j++)
      fprintf(f, "%s%llu", j ? ", " : "",
              (unsigned long long)st->seed_list[j]);
    fprintf(f, "]\n");
  } else {
    fprintf(f, "    seeds: %lld\n", (long long)st->len[SPEC_AXIS_SEED]);
  }
  fprintf(f, "    grid:\n      regime: [");
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
  if (st->len[SPEC_AXIS_REF_SPREAD] != 1 || st->ref_spread[0] != 0.0) {
    fprintf(f, "      ref_spread: ");
    write_doubles(f, st->ref_spread, st->len[SPEC_AXIS_REF_SPREAD]);
  }
}

/* The canonical text (a new string), or NULL when memory runs out. */
static char *canonical_text(const struct spec *s)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    return NULL;
  spec_write_head(f, s->name, s->master_seed);
  for (int i = 0; i < s->nstudies; i++)
    spec_write_study(f, &s->studies[i].pub);
  /* A failed write (no memory) sets the error flag; fclose reports only
   * the final flush. */
  int failed = ferror(f);
  if (fclose(f) != 0 || failed) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* ---- loading ---- */

/* The document through the strict schema; a failure says where, with the
 * label, line and column. */
static int load_yaml(const char *text, size_t len, const char *label,
                     struct y_spec **out, struct err *e)
{
  struct cyaml_log log = {.n = 0};
  const cyaml_config_t cfg = {
    .log_fn = log_collect,
    .log_ctx = &log,
    .mem_fn = cyaml_mem,
    .log_level = CYAML_LOG_ERROR,
    .flags = CYAML_CFG_NO_ALIAS,
  };
  struct y_spec *y = NULL;
  cyaml_err_t code = cyaml_load_data((const uint8_t *)text, len, &cfg,
                                     &y_spec_top, (cyaml_data_t **)&y, NULL);
  if (code != CYAML_OK)
    return cyaml_error(e, label, &log, code, text, len);
  if (!y)
    return err_set(e, ERR_INPUT, "%s: empty spec", label);
  *out = y;
  return 0;
}

static void free_yaml(struct y_spec *y)
{
  const cyaml_config_t cfg = {
    .mem_fn = cyaml_mem,
    .log_level = CYAML_LOG_ERROR,
  };
  /* Freeing what libcyaml itself loaded cannot fail in a way we could act
   * on. */
  if (y)
    cyaml_free(&cfg, &y_spec_top, y, 0);
}

/* The spec's own keys: name, master_seed, a non-empty studies list. */
static int spec_keys(struct err *e, const struct y_spec *y, struct spec *s)
{
  if (!y->name)
    return err_set(e, ERR_INPUT, "missing key 'name'");
  if (!valid_name(y->name, 128))
    return err_set(e, ERR_INPUT,
                   "name: '%.80s' must be 1 to 128 letters, digits, '-' or "
                   "'_'",
                   y->name);
  if (!y->master_seed)
    return err_set(e, ERR_INPUT, "missing key 'master_seed'");
  if (text_parse_u64(y->master_seed, &s->master_seed) != TEXT_OK)
    return err_set(e, ERR_INPUT,
                   "master_seed: must be an integer between 0 and "
                   "18446744073709551615 (got '%.40s')",
                   y->master_seed);
  if (!y->studies || y->studies_count == 0)
    return err_set(e, ERR_INPUT, "%s",
                   y->studies ? "studies: empty list"
                              : "missing key 'studies'");
  if (!(s->name = strdup(y->name)))
    return err_set(e, ERR_RUNTIME, "out of memory");
  return 0;
}

/* Every study, and the task count over all of them. */
static int build_studies(struct err *e, const struct y_spec *y,
                         const struct seeds_tree *seeds, struct spec *s)
{
  static const struct y_seeds missing = {.count = NULL};
  if (!(s->studies = calloc(y->studies_count, sizeof *s->studies)))
    return err_set(e, ERR_RUNTIME, "out of memory");
  for (unsigned i = 0; i < y->studies_count; i++) {
    s->nstudies = (int)i + 1; /* so destroy frees what was built */
    /* Both trees are of one text: the same studies, in the same order. */
    const struct y_seeds *ys = i < seeds->nstudies ? &seeds->studies[i]
                                                   : &missing;
    int rc = build_study(e, &y->studies[i], ys, &s->studies[i], s, (int)i);
    if (rc)
      return rc;
    s->ntasks += s->studies[i].pub.ntasks;
    if (s->ntasks > SPEC_MAX_TASKS)
      return err_set(e, ERR_INPUT,
                     "study '%s': grid: the spec has more than 2^31 = "
                     "2147483648 tasks in all (%lld so far); split it into "
                     "several specs",
                     s->studies[i].pub.name, (long long)s->ntasks);
  }
  return 0;
}

/* The spec from the loaded document, its text, canonical text and hash.
 * Messages without the label (the caller adds it). */
static int build_spec(struct err *e, const struct y_spec *y,
                      const struct seeds_tree *seeds, const char *text,
                      size_t len, struct spec **out)
{
  struct spec *s = calloc(1, sizeof *s);
  int rc = ERR_RUNTIME;
  if (!s) {
    err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  if ((rc = spec_keys(e, y, s)))
    goto out;
  if (!(s->text = malloc(len + 1))) {
    rc = err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  memcpy(s->text, text, len);
  s->text[len] = '\0';
  if ((rc = build_studies(e, y, seeds, s)))
    goto out;
  if (!(s->canonical = canonical_text(s))) {
    rc = err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  spec_sha256_hex(s->canonical, strlen(s->canonical), s->sha256);
  *out = s;
  s = NULL;
out:
  spec_destroy(&s);
  return rc;
}

int spec_load_text(const char *text, size_t len, const char *label,
                   struct spec **out, struct err *e)
{
  struct y_spec *y = NULL;
  struct seeds_tree seeds = {.loaded = 0};
  int rc;
  err_clear(e);
  if (len == 0 || memchr(text, '\0', len)) {
    rc = err_set(e, ERR_INPUT, "%s: %s", label,
                 len == 0 ? "empty spec"
                          : "not a text file (contains NUL bytes)");
    goto out;
  }
  if ((rc = load_yaml(text, len, label, &y, e)))
    goto out;
  if ((rc = read_seeds(text, len, label, &seeds, e)))
    goto out;
  if ((rc = build_spec(e, y, &seeds, text, len, out)))
    err_prefix(e, "%s: ", label);
out:
  free_seeds(&seeds);
  free_yaml(y);
  return rc;
}

/* A spec is small; refusing huge files keeps a wrong argument (a results
 * file, /dev/zero) from eating memory. */
#define SPEC_MAX_BYTES (64L << 20)

/* Up to SPEC_MAX_BYTES + 1 bytes of f in a new buffer with room for a
 * NUL (*n of them; the caller checks ferror), or NULL when memory runs
 * out.  The buffer grows with what is read (a pipe or /dev/zero has no
 * size to trust), so a small spec costs little memory. */
static char *read_all(FILE *f, size_t *n)
{
  char *buf = NULL;
  size_t cap = 0;
  *n = 0;
  for (;;) {
    if (*n == cap) {
      size_t want = cap ? 2 * cap : 64 * 1024;
      if (want > (size_t)SPEC_MAX_BYTES + 1)
        want = (size_t)SPEC_MAX_BYTES + 1;
      char *bigger = realloc(buf, want + 1);
      if (!bigger) {
        free(buf);
        return NULL;
      }
      buf = bigger;
      cap = want;
    }
    size_t got = fread(buf + *n, 1, cap - *n, f);
    *n += got;
    if (got == 0 || *n > (size_t)SPEC_MAX_BYTES)
      return buf;
  }
}

/* The whole file, NUL-terminated, in *text (free() it); *len its size.
 * Messages without the path (the caller adds it). */
static int read_spec_file(const char *path, char **text, size_t *len,
                          struct err *e)
{
  struct stat sb;
  FILE *f = NULL;
  char *buf = NULL;
  int rc = ERR_INPUT;
  if (stat(path, &sb) != 0) {
    err_set(e, ERR_INPUT, "cannot read spec: %s", strerror(errno));
    goto out;
  }
  if (S_ISDIR(sb.st_mode)) {
    err_set(e, ERR_INPUT, "cannot read spec: is a directory");
    goto out;
  }
  if (!(f = fopen(path, "rb"))) {
    err_set(e, ERR_INPUT, "cannot read spec: %s", strerror(errno));
    goto out;
  }
  size_t n = 0;
  if (!(buf = read_all(f, &n))) {
    rc = err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  if (ferror(f)) {
    err_set(e, ERR_INPUT, "cannot read spec: %s", strerror(errno));
    goto out;
  }
  if (n > (size_t)SPEC_MAX_BYTES) {
    err_set(e, ERR_INPUT, "spec larger than 64 MiB; is this the right file?");
    goto out;
  }
  buf[n] = '\0';
  *text = buf;
  *len = n;
  buf = NULL;
  rc = 0;
out:
  /* Read-only: closing cannot lose data. */
  if (f)
    fclose(f);
  free(buf);
  return rc;
}

int spec_load_file(const char *path, struct spec **out, struct err *e)
{
  char *text = NULL;
  size_t len = 0;
  err_clear(e);
  int rc = read_spec_file(path, &text, &len, e);
  if (rc) {
    err_prefix(e, "%s: ", path);
    return rc;
  }
  rc = spec_load_text(text, len, path, out, e);
  free(text);
  return rc;
}

void spec_destroy(struct spec **sp)
{
  if (!sp || !*sp)
    return;
  struct spec *s = *sp;
  for (int i = 0; s->studies && i < s->nstudies; i++) {
    struct study *t = &s->studies[i];
    free(t->name);
    free(t->regime);
    free(t->arms);
    free(t->beta);
    free(t->sigma);
    free(t->eta);
    free(t->samples);
    free(t->eta_theory);
    free(t->ref_spread);
    free(t->reward_values);
    free(t->ref_logits);
    free(t->seed_list);
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
  "regime", "arms", "beta", "sigma", "samples", "eta", "ref_spread", "seed",
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
  p->seed = spec_seed(st, at[SPEC_AXIS_SEED]);
  p->ref_spread = st->ref_spread[at[SPEC_AXIS_REF_SPREAD]];
  p->ref_logits = st->ref_logits;
}

uint64_t spec_seed(const struct spec_study *st, int64_t pos)
{
  return st->seed_list ? st->seed_list[pos] : (uint64_t)pos;
}

struct spec_value spec_axis_value(const struct spec_study *st,
                                  enum spec_axis a, int64_t pos)
{
  struct spec_value v = {0.0, 0};
  switch (a) {
  case SPEC_AXIS_REGIME: v.num = (double)st->regime[pos]; break;
  case SPEC_AXIS_ARMS: v.num = st->arms[pos]; break;
  case SPEC_AXIS_BETA: v.num = st->beta[pos]; break;
  case SPEC_AXIS_SIGMA: v.num = st->sigma[pos]; break;
  case SPEC_AXIS_SAMPLES: v.num = (double)st->samples[pos]; break;
  case SPEC_AXIS_ETA:
    v.num = st->eta_theory[pos] ? SPEC_VALUE_THEORY : st->eta[pos];
    break;
  case SPEC_AXIS_REF_SPREAD: v.num = st->ref_spread[pos]; break;
  case SPEC_AXIS_SEED: v.seed = spec_seed(st, pos); break;
  case SPEC_NAXES: break;
  }
  return v;
}

int spec_value_cmp(const struct spec_value *x, const struct spec_value *y)
{
  if (x->num != y->num)
    return x->num < y->num ? -1 : 1;
  return (x->seed > y->seed) - (x->seed < y->seed);
}

static int placed_cmp(const void *x, const void *y)
{
  const struct spec_placed *a = x, *b = y;
  int c = spec_value_cmp(&a->v, &b->v);
  return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

int spec_axis_sorted(const struct spec_study *st, enum spec_axis a,
                     struct spec_placed **out, struct err *e)
{
  const int64_t n = st->len[a];
  struct spec_placed *v = malloc((size_t)n * sizeof *v);
  if (!v)
    return err_set(e, ERR_RUNTIME, "out of memory");
  for (int64_t i = 0; i < n; i++)
    v[i] = (struct spec_placed){spec_axis_value(st, a, i), i};
  if (n > 1)
    qsort(v, (size_t)n, sizeof *v, placed_cmp);
  *out = v;
  return 0;
}

int64_t spec_sorted_find(const struct spec_placed *sorted, int64_t n,
                         const struct spec_value *x)
{
  int64_t lo = 0, hi = n; /* the answer, if any, is in [lo, hi) */
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    int c = spec_value_cmp(&sorted[mid].v, x);
    if (c == 0)
      return sorted[mid].pos;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
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
