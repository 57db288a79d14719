/* Unit tests of spec_map (the tasks of one study in another) and
 * spec_union (the union of specs): the map agrees with task_same in both
 * directions on random specs; the union merges axes in first-seen order,
 * seeds ascending, keeps other studies side by side, refuses clashes and
 * other master seeds, and holds every task of every input. */
#include "dposweep/spec.h"
#include "dposweep/task.h"

#include "unit.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct spec *load(const char *text)
{
  struct spec *s = NULL;
  struct err e;
  int rc = spec_load_text(text, strlen(text), "t.yaml", &s, &e);
  ck_assert_msg(rc == 0, "%s\n%s", e.msg, text);
  return s;
}

/* ---- random small specs ---- */

/* A small deterministic generator (SplitMix64), so a failure repeats. */
static uint64_t next(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int pick(uint64_t *s, int n) { return (int)(next(s) % (uint64_t)n); }

/* A non-empty random subset of words[0 .. n-1] in random order (mostly
 * large, so two specs share values often), each
 * word one of its spellings ("1" or "1.0": the same number), as a YAML
 * list. */
static void subset(FILE *f, uint64_t *s, const char *const (*words)[3],
                   int n)
{
  int order[8], k = n - pick(s, n < 3 ? n : 3); /* mostly large */
  for (int i = 0; i < n; i++)
    order[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = pick(s, i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  fputc('[', f);
  for (int i = 0; i < k; i++) {
    const char *const *w = words[order[i]];
    int nspell = w[2] ? 3 : w[1] ? 2 : 1;
    fprintf(f, "%s%s", i ? ", " : "", w[pick(s, nspell)]);
  }
  fputs("]\n", f);
}

static const char *const regimes[][3] = {
  {"uniform"}, {"mix-r"}, {"mix-p"}, {"hybrid"}};
static const char *const arms[][3] = {{"2"}, {"3"}, {"4"}};
static const char *const betas[][3] = {
  {"0.5", "5e-1"}, {"1", "1.0", "1e0"}, {"2", "2.0"}};
static const char *const sigmas[][3] = {{"0", "-0.0", "0.0"}, {"0.1", "1e-1"}};
static const char *const samples[][3] = {{"0"}, {"4"}, {"8"}};
static const char *const etas_theory[][3] = {{"theory"}, {"0.1"}, {"0.2"}};
static const char *const etas[][3] = {{"0.1", "1e-1"}, {"0.2"}, {"0.4"}};
static const char *const spreads[][3] = {{"0", "-0.0"}, {"0.5"}, {"1", "1.0"}};
static const char *const seeds[][3] = {{"0"}, {"1"}, {"2"}, {"3"}, {"5"}};

/* One random study: a mix of everything that makes two studies' tasks
 * the same or not, with few enough values that the same value turns up
 * in two specs often.  Its name says its settings (and the estimator,
 * which follows the scale), so studies of equal name have equal settings
 * and a union of random specs mostly succeeds. */
static void random_study(FILE *f, uint64_t *set, uint64_t *s, int index)
{
  int theory = pick(set, 2), rewards = pick(set, 4), logits = pick(set, 5);
  int iterations = 4 + 2 * (pick(set, 3) == 0), every = 1 + pick(set, 3);
  int three = rewards >= 2 || logits >= 3, sampled = !theory;
  fprintf(f, "  - name: s%d%d%d%d%d_%d\n", theory, rewards, logits,
          iterations, every, index);
  fprintf(f, "    iterations: %d\n    record_every: %d\n", iterations, every);
  fprintf(f, "    scale: %s\n", theory ? "theory" : "normalized");
  if (rewards >= 2)
    fprintf(f, "    rewards: explicit\n    reward_values: [%s, 0.5, 1]\n",
            rewards == 2 ? "0" : "-0.0");
  else
    fprintf(f, "    rewards: %s\n", rewards ? "uniform" : "normal");
  if (logits >= 3)
    fprintf(f, "    ref_logits: %s\n",
            logits == 3 ? "[0, 1, 2]" : "[-0.0, 1, 2.5]");
  if (pick(s, 2))
    fprintf(f, "    seeds: %d\n", 1 + pick(s, 3));
  else {
    fputs("    seeds: ", f);
    subset(f, s, seeds, 5);
  }
  fputs("    grid:\n      regime: ", f);
  subset(f, s, regimes, 4);
  fputs("      arms: ", f);
  if (three)
    fputs("[3]\n", f);
  else
    subset(f, s, arms, 3);
  fputs("      beta: ", f);
  subset(f, s, betas, 3);
  fputs("      sigma: ", f);
  if (sampled)
    fputs("[0]\n      samples: ", f);
  subset(f, s, sampled ? samples : sigmas, sampled ? 3 : 2);
  fputs("      eta: ", f);
  subset(f, s, theory ? etas_theory : etas, 3);
  if (logits < 3 && pick(s, 2)) {
    fputs("      ref_spread: ", f);
    subset(f, s, spreads, 3);
  }
}

/* A random spec of one or two studies (master seed mostly 5); *set
 * draws the studies' settings, *s their grids. */
static struct spec *random_spec(uint64_t *set, uint64_t *s)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ck_assert_ptr_nonnull(f);
  fprintf(f, "name: r\nmaster_seed: %d\nstudies:\n", pick(set, 8) ? 5 : 6);
  int n = 1 + pick(set, 2);
  for (int i = 0; i < n; i++)
    random_study(f, set, s, i);
  ck_assert_int_eq(fclose(f), 0);
  struct spec *spec = load(text);
  free(text);
  return spec;
}

/* ---- the map ---- */

/* For every task of study i of a, the map into study j of b names
 * exactly the task of b that task_same calls the same (when b records
 * its steps), and its record map names the same steps. */
static int64_t check_pair(const struct spec *a, int i, const struct spec *b,
                          int j)
{
  struct spec_map *m = NULL;
  struct err e;
  ck_assert_int_eq(spec_map_create(a, i, b, j, &m, &e), 0);
  const struct spec_study *to = spec_study(a, i), *from = spec_study(b, j);
  int records = task_records_within(to->iterations, to->record_every,
                                    from->record_every, NULL);
  int64_t mapped = 0;
  for (int64_t t = 0; t < to->ntasks; t++) {
    struct bandit_params p, q;
    spec_task_params(a, i, t, &p);
    int64_t found = -1;
    for (int64_t u = 0; u < from->ntasks; u++) {
      spec_task_params(b, j, u, &q);
      if (task_same(&p, &q)) {
        ck_assert_msg(found < 0, "two tasks of one study are the same");
        found = u;
      }
    }
    int64_t want = records ? found : -1;
    ck_assert_msg(spec_map_index(m, t) == want,
                  "task %lld: map %lld, task_same %lld (%s)\n%s\n%s",
                  (long long)t, (long long)spec_map_index(m, t),
                  (long long)want, spec_map_mismatch(m) ?
                  spec_map_mismatch(m) : "compatible",
                  spec_canonical(a), spec_canonical(b));
    mapped += want >= 0;
  }
  if (spec_map_mismatch(m) == NULL)
    for (int64_t r = 0; r < to->nrec; r++)
      ck_assert_int_eq(
        bandit_rec_step(spec_map_record(m, r), from->iterations,
                        from->record_every),
        bandit_rec_step(r, to->iterations, to->record_every));
  else
    ck_assert_int_eq(spec_map_record(m, 0), -1);
  spec_map_destroy(&m);
  ck_assert_ptr_null(m);
  return mapped;
}

START_TEST(test_map_is_task_same)
{
  uint64_t s = 0x5eed0000ULL + (uint64_t)_i;
  int64_t mapped = 0;
  for (int round = 0; round < 10; round++) {
    /* Half the time both specs draw the same settings. */
    uint64_t set_a = next(&s), set_b = pick(&s, 2) ? set_a : next(&s);
    struct spec *a = random_spec(&set_a, &s), *b = random_spec(&set_b, &s);
    for (int i = 0; i < spec_nstudies(a); i++) {
      for (int j = 0; j < spec_nstudies(b); j++)
        mapped += check_pair(a, i, b, j);
      /* A study in itself: every task maps to itself. */
      ck_assert_int_eq(check_pair(a, i, a, i), spec_study(a, i)->ntasks);
    }
    spec_destroy(&a);
    spec_destroy(&b);
  }
  /* The random specs share tasks often enough to test the mapped case. */
  ck_assert_int_gt(mapped, 0);
}
END_TEST

static const char grown_from[] =
  "name: old\nmaster_seed: 9\nstudies:\n"
  "  - name: a\n    iterations: 12\n    record_every: 2\n    scale: theory\n"
  "    eta: theory\n    rewards: uniform\n    seeds: 3\n"
  "    grid: {regime: [uniform, mix-r], arms: [3, 5], beta: [1], sigma: [0, 0.1]}\n";

START_TEST(test_map_examples)
{
  struct spec *old = load(grown_from);
  /* More seeds, a new beta, the study renamed, sigma spelled -0.0,
   * every 4th step (a subset of every 2nd). */
  struct spec *grown = load(
    "name: new\nmaster_seed: 9\nstudies:\n"
    "  - name: z\n    iterations: 12\n    record_every: 4\n    scale: theory\n"
    "    eta: theory\n    rewards: uniform\n    seeds: [4, 2, 0]\n"
    "    grid: {regime: [mix-r], arms: [5], beta: [2, 1.0],"
    " sigma: [-0.0, 0.1]}\n");
  struct spec_map *m = NULL;
  struct err e;
  ck_assert_int_eq(spec_map_create(grown, 0, old, 0, &m, &e), 0);
  ck_assert_ptr_null(spec_map_mismatch(m));
  ck_assert_int_eq(spec_map_pos(m, SPEC_AXIS_REGIME, 0), 1);
  ck_assert_int_eq(spec_map_pos(m, SPEC_AXIS_ARMS, 0), 1);
  ck_assert_int_eq(spec_map_pos(m, SPEC_AXIS_BETA, 0), -1);
  ck_assert_int_eq(spec_map_pos(m, SPEC_AXIS_BETA, 1), 0);
  ck_assert_int_eq(spec_map_pos(m, SPEC_AXIS_SIGMA, 0), 0);
  ck_assert_int_eq(spec_map_pos(m, SPEC_AXIS_SEED, 0), -1); /* seed 4 */
  ck_assert_int_eq(spec_map_pos(m, SPEC_AXIS_SEED, 1), 2);  /* seed 2 */
  ck_assert_int_eq(spec_map_pos(m, SPEC_AXIS_SEED, 3), -1); /* no such */
  /* Task (mix-r, 5, beta 1.0, sigma 0.1, seed 2) is index (1*2 + 1)*3 +
   * 1 = 10 of grown and ((1*2 + 1)*1*2 + 1)*3 + 2 = 23 of old. */
  ck_assert_int_eq(spec_map_index(m, 10), 23);
  ck_assert_int_eq(spec_map_index(m, -1), -1);
  ck_assert_int_eq(spec_map_index(m, spec_study(grown, 0)->ntasks), -1);
  /* Records 0 4 8 12 of grown are 0 2 4 6 of old. */
  ck_assert_int_eq(spec_map_record(m, 1), 2);
  ck_assert_int_eq(spec_map_record(m, 3), 6);
  spec_map_destroy(&m);
  /* The other way round: every 2nd step is not within every 4th. */
  ck_assert_int_eq(spec_map_create(old, 0, grown, 0, &m, &e), 0);
  ck_assert_ptr_nonnull(strstr(spec_map_mismatch(m), "record_every 2"));
  ck_assert_int_eq(spec_map_index(m, 0), -1);
  ck_assert_int_eq(spec_map_pos(m, SPEC_AXIS_REGIME, 0), -1);
  spec_map_destroy(&m);
  spec_map_destroy(&m); /* NULL-safe */
  spec_destroy(&old);
  spec_destroy(&grown);
}
END_TEST

/* Every study-level value makes studies incompatible, and says so. */
static const struct {
  const char *from, *to, *why;
} mismatches[] = {
  {"master_seed: 9", "master_seed: 8", "master_seed differs (8 vs 9)"},
  {"iterations: 12", "iterations: 13", "iterations differ (13 vs 12)"},
  {"scale: theory\n    eta: theory", "scale: normalized\n    eta: 1",
   "scale differs (normalized vs theory)"},
  {"rewards: uniform", "rewards: normal", "rewards differ (normal vs uniform)"},
  {"record_every: 2", "record_every: 3", "record_every 3 keeps steps"},
  {"rewards: uniform", "ref_logits: [0, 0, 0]\n    rewards: uniform",
   "ref_logits differ"},
};

START_TEST(test_map_mismatches)
{
  struct spec *old = load(grown_from);
  const char *p = strstr(grown_from, mismatches[_i].from);
  ck_assert_ptr_nonnull(p);
  char text[1024];
  snprintf(text, sizeof text, "%.*s%s%s", (int)(p - grown_from), grown_from,
           mismatches[_i].to, p + strlen(mismatches[_i].from));
  if (strstr(text, "ref_logits")) {
    char *arms = strstr(text, "arms: [3, 5]");
    memcpy(arms, "arms: [3]   ", 12);
  }
  struct spec *other = load(text);
  struct spec_map *m = NULL;
  struct err e;
  ck_assert_int_eq(spec_map_create(other, 0, old, 0, &m, &e), 0);
  ck_assert_ptr_nonnull(spec_map_mismatch(m));
  ck_assert_msg(strstr(spec_map_mismatch(m), mismatches[_i].why),
                "%s", spec_map_mismatch(m));
  for (int64_t t = 0; t < spec_study(other, 0)->ntasks; t++)
    ck_assert_int_eq(spec_map_index(m, t), -1);
  spec_map_destroy(&m);
  spec_destroy(&old);
  spec_destroy(&other);
}
END_TEST

/* ---- the union ---- */

static struct spec *union_of(const char *const *texts, int n, int want_rc,
                             char *msg, size_t len)
{
  struct spec *in[4], *out = NULL;
  struct err e;
  for (int i = 0; i < n; i++)
    in[i] = load(texts[i]);
  int rc = spec_union((const struct spec *const *)in, n, &out, &e);
  ck_assert_msg(rc == want_rc, "rc %d: %s", rc, e.msg);
  if (msg)
    snprintf(msg, len, "%s", rc ? e.msg : "");
  for (int i = 0; i < n; i++)
    spec_destroy(&in[i]);
  return out;
}

#define HEAD "name: %s\nmaster_seed: 9\nstudies:\n"
#define STUDY(name, every, seeds, grid)                                        \
  "  - name: " name "\n    iterations: 12\n    record_every: " every "\n"      \
  "    scale: theory\n    rewards: uniform\n    seeds: " seeds "\n"           \
  "    grid: {" grid "}\n"

START_TEST(test_union_of_axes)
{
  const char *texts[] = {
    "name: first\nmaster_seed: 9\nstudies:\n"
    STUDY("a", "2", "[5, 1]",
          "regime: [mix-r, uniform], arms: [3], beta: [1, 0.5], sigma: [0],"
          " eta: [theory]"),
    "name: second\nmaster_seed: 9\nstudies:\n"
    STUDY("a", "2", "3",
          "regime: [mix-p, uniform], arms: [5, 3], beta: [2, 1.0, 5e-1],"
          " sigma: [-0.0, 0.1], eta: [0.25, theory], ref_spread: [0, 1]"),
  };
  struct spec *u = union_of(texts, 2, 0, NULL, 0);
  ck_assert_str_eq(spec_name(u), "first");
  ck_assert_int_eq(spec_nstudies(u), 1);
  const struct spec_study *a = spec_study(u, 0);
  /* First-seen order, numerically equal values once. */
  ck_assert_ptr_nonnull(strstr(spec_canonical(u),
    "    seeds: [0, 1, 2, 5]\n"
    "    grid:\n"
    "      regime: [mix-r, uniform, mix-p]\n"
    "      arms: [3, 5]\n"
    "      beta: [1, 0.5, 2]\n"
    "      sigma: [0, 0.10000000000000001]\n"
    "      samples: [0]\n"
    "      eta: [theory, 0.25]\n"
    "      ref_spread: [0, 1]\n"));
  ck_assert_int_eq(a->ntasks, 3 * 2 * 3 * 2 * 2 * 2 * 4);
  /* Loaded from its own canonical text. */
  ck_assert_str_eq(spec_text(u), spec_canonical(u));
  struct spec *again = load(spec_canonical(u));
  ck_assert_str_eq(spec_sha256(again), spec_sha256(u));
  spec_destroy(&again);
  spec_destroy(&u);
}
END_TEST

START_TEST(test_union_seeds_ascending)
{
  static const struct {
    const char *a, *b, *want;
  } cases[] = {
    {"3", "5", "seeds: 5\n"},
    {"[4, 2]", "2", "seeds: [0, 1, 2, 4]\n"},
    {"[3, 1]", "[2, 0]", "seeds: 4\n"}, /* 0 .. 3: a count */
    {"[7]", "[7]", "seeds: [7]\n"},
    {"2", "[2, 3, 9]", "seeds: [0, 1, 2, 3, 9]\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char ta[512], tb[512];
    snprintf(ta, sizeof ta, HEAD STUDY("a", "1", "%s",
                                        "regime: [uniform], arms: [2], beta: [1],"
                                        " sigma: [0], eta: [theory]"),
             "x", cases[i].a);
    snprintf(tb, sizeof tb, HEAD STUDY("a", "1", "%s",
                                        "regime: [uniform], arms: [2], beta: [1],"
                                        " sigma: [0], eta: [theory]"),
             "y", cases[i].b);
    const char *texts[] = {ta, tb};
    struct spec *u = union_of(texts, 2, 0, NULL, 0);
    ck_assert_msg(strstr(spec_canonical(u), cases[i].want), "case %zu:\n%s",
                  i, spec_canonical(u));
    spec_destroy(&u);
  }
}
END_TEST

START_TEST(test_union_side_by_side)
{
  const char *texts[] = {
    "name: first\nmaster_seed: 9\nstudies:\n"
    STUDY("a", "1", "2", "regime: [uniform], arms: [2], beta: [1], sigma: [0],"
                         " eta: [theory]")
    STUDY("b", "1", "2", "regime: [mix-r], arms: [2], beta: [1], sigma: [0],"
                         " eta: [theory]"),
    /* c: other settings (record_every 2), kept; d: the settings of a
     * and b: joins a, the first of them; b: joins b by name. */
    "name: second\nmaster_seed: 9\nstudies:\n"
    STUDY("c", "2", "2", "regime: [uniform], arms: [2], beta: [1], sigma: [0],"
                         " eta: [theory]")
    STUDY("d", "1", "3", "regime: [hybrid], arms: [2], beta: [1], sigma: [0],"
                         " eta: [theory]")
    STUDY("b", "1", "1", "regime: [on-policy], arms: [2], beta: [1], sigma: [0],"
                         " eta: [theory]"),
  };
  struct spec *u = union_of(texts, 2, 0, NULL, 0);
  ck_assert_int_eq(spec_nstudies(u), 3);
  ck_assert_str_eq(spec_study(u, 0)->name, "a");
  ck_assert_str_eq(spec_study(u, 1)->name, "b");
  ck_assert_str_eq(spec_study(u, 2)->name, "c");
  ck_assert_int_eq(spec_study(u, 0)->len[SPEC_AXIS_REGIME], 2); /* + hybrid */
  ck_assert_int_eq(spec_study(u, 0)->regime[1], BANDIT_HYBRID);
  ck_assert_int_eq(spec_study(u, 0)->len[SPEC_AXIS_SEED], 3);
  ck_assert_int_eq(spec_study(u, 1)->len[SPEC_AXIS_REGIME], 2); /* + on-policy */
  ck_assert_int_eq(spec_study(u, 1)->regime[1], BANDIT_ON_POLICY);
  ck_assert_int_eq(spec_study(u, 2)->record_every, 2);
  /* Two studies of one input never merge: a and b stay two. */
  const char *one[] = {texts[0]};
  struct spec *self = union_of(one, 1, 0, NULL, 0);
  struct spec *first = load(texts[0]);
  ck_assert_str_eq(spec_sha256(self), spec_sha256(first));
  spec_destroy(&self);
  spec_destroy(&first);
  spec_destroy(&u);
}
END_TEST

START_TEST(test_union_refusals)
{
  char msg[1024];
  const char *clash[] = {
    "name: first\nmaster_seed: 9\nstudies:\n"
    STUDY("a", "1", "2", "regime: [uniform], arms: [2], beta: [1], sigma: [0],"
                         " eta: [theory]"),
    "name: second\nmaster_seed: 9\nstudies:\n"
    STUDY("a", "3", "2", "regime: [uniform], arms: [2], beta: [1], sigma: [0],"
                         " eta: [theory]"),
  };
  ck_assert_ptr_null(union_of(clash, 2, ERR_INPUT, msg, sizeof msg));
  ck_assert_msg(strstr(msg, "study 'a'") && strstr(msg, "record_every"),
                "%s", msg);
  const char *seeds[] = {
    clash[0],
    "name: second\nmaster_seed: 10\nstudies:\n"
    STUDY("a", "1", "2", "regime: [uniform], arms: [2], beta: [1], sigma: [0],"
                         " eta: [theory]"),
  };
  ck_assert_ptr_null(union_of(seeds, 2, ERR_INPUT, msg, sizeof msg));
  ck_assert_msg(strstr(msg, "input 2") && strstr(msg, "master_seed 10"),
                "%s", msg);
  /* A union grid that is no valid study: sigma 0.1 with samples 4. */
  const char *estimators[] = {
    "name: first\nmaster_seed: 9\nstudies:\n"
    STUDY("a", "1", "2", "regime: [uniform], arms: [2], beta: [1], sigma: [0.1],"
                         " eta: [theory]"),
    "name: second\nmaster_seed: 9\nstudies:\n"
    STUDY("a", "1", "2", "regime: [uniform], arms: [2], beta: [1], sigma: [0],"
                         " samples: [4], eta: [theory]"),
  };
  ck_assert_ptr_null(union_of(estimators, 2, ERR_INPUT, msg, sizeof msg));
  ck_assert_msg(strstr(msg, "study 'a'") && strstr(msg, "estimator"), "%s",
                msg);
  struct spec *out = NULL;
  struct err e;
  ck_assert_int_eq(spec_union(NULL, 0, &out, &e), ERR_INPUT);
  ck_assert_ptr_null(out);
}
END_TEST

/* Every task of study i of s is in some study of u (two studies of equal
 * settings may both hold it). */
static void check_held(const struct spec *s, int i, const struct spec *u)
{
  const struct spec_study *st = spec_study(s, i);
  unsigned char *held = calloc((size_t)st->ntasks, 1);
  ck_assert_ptr_nonnull(held);
  for (int j = 0; j < spec_nstudies(u); j++) {
    struct spec_map *m = NULL;
    struct err e;
    ck_assert_int_eq(spec_map_create(s, i, u, j, &m, &e), 0);
    for (int64_t t = 0; t < st->ntasks; t++)
      held[t] |= spec_map_index(m, t) >= 0;
    spec_map_destroy(&m);
  }
  for (int64_t t = 0; t < st->ntasks; t++)
    ck_assert_msg(held[t], "task %lld of study '%s' is not in the union\n%s",
                  (long long)t, st->name, spec_canonical(u));
  free(held);
}

/* Every task of every input is a task of the union (spec_map finds it),
 * and the union has no task that no input's grid implies: its size is
 * the product of the union axes. */
START_TEST(test_union_holds_every_input_task)
{
  uint64_t s = 0xa110000ULL + (uint64_t)_i;
  for (int round = 0; round < 10; round++) {
    struct spec *in[3];
    uint64_t set = next(&s);
    for (int k = 0; k < 3; k++) {
      uint64_t set_k = pick(&s, 2) ? set : next(&s);
      in[k] = random_spec(&set_k, &s);
    }
    struct spec *u = NULL;
    struct err e;
    int rc = spec_union((const struct spec *const *)in, 3, &u, &e);
    int seeds_differ = spec_master_seed(in[1]) != spec_master_seed(in[0]) ||
                       spec_master_seed(in[2]) != spec_master_seed(in[0]);
    if (seeds_differ) {
      ck_assert_int_eq(rc, ERR_INPUT);
    } else if (rc == 0) {
      for (int k = 0; k < 3; k++)
        for (int i = 0; i < spec_nstudies(in[k]); i++)
          check_held(in[k], i, u);
      struct spec *again = load(spec_canonical(u));
      ck_assert_str_eq(spec_sha256(again), spec_sha256(u));
      spec_destroy(&again);
    } else {
      ck_abort_msg("%s", e.msg);
    }
    spec_destroy(&u);
    for (int k = 0; k < 3; k++)
      spec_destroy(&in[k]);
  }
}
END_TEST

static Suite *spec_map_suite(void)
{
  TCase *tc;
  Suite *s = unit_suite("spec_map", 240, &tc);
  tcase_add_loop_test(tc, test_map_is_task_same, 0, 20);
  tcase_add_test(tc, test_map_examples);
  tcase_add_loop_test(tc, test_map_mismatches, 0,
                      (int)(sizeof mismatches / sizeof mismatches[0]));
  tcase_add_test(tc, test_union_of_axes);
  tcase_add_test(tc, test_union_seeds_ascending);
  tcase_add_test(tc, test_union_side_by_side);
  tcase_add_test(tc, test_union_refusals);
  tcase_add_loop_test(tc, test_union_holds_every_input_task, 0, 10);
  return s;
}

UNIT_MAIN(spec_map_suite)
