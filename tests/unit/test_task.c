/* Unit tests of the task module: a task's identity is its values (every
 * field of struct bandit_params counts, or is said not to), numbers
 * compare as numbers, and the recorded steps of one task are found among
 * another's. */
#include "dposweep/task.h"

#include "unit.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double rewards_a[3] = {0.0, 0.5, 1.0};
static const double rewards_b[3] = {-0.0, 0.5, 1.0}; /* equal to a */
static const double rewards_c[3] = {0.0, 0.5, 0.75};
static const double logits_a[3] = {0.0, 1.0, -2.0};
static const double logits_b[3] = {-0.0, 1.0, -2.0}; /* equal to a */
static const double logits_c[3] = {0.0, 1.0, -2.5};
static const double zeros[3] = {0.0, 0.0, 0.0};

/* A valid task with a value in every field. */
static struct bandit_params base(void)
{
  struct bandit_params p = {
    .regime = BANDIT_MIX_P,
    .scale = BANDIT_THEORY,
    .rewards = BANDIT_REWARDS_EXPLICIT,
    .reward_values = rewards_a,
    .arms = 3,
    .beta = 1.5,
    .sigma = 0.0,
    .samples = 0,
    .eta = 0.25,
    .eta_theory = 0,
    .iterations = 10,
    .record_every = 2,
    .master_seed = 7,
    .seed = 3,
    .ref_spread = 0.0,
    .ref_logits = NULL,
  };
  return p;
}

/* Every field of struct bandit_params, and whether changing it keeps the
 * task the same. */
static const struct {
  const char *name;
  int same;
} fields[] = {
  {"regime", 0},     {"scale", 0},        {"rewards", 0},
  {"reward_values", 0}, {"arms", 0},      {"beta", 0},
  {"sigma", 0},      {"samples", 0},      {"eta", 0},
  {"eta_theory", 0}, {"iterations", 0},   {"record_every", 1},
  {"master_seed", 0}, {"seed", 0},        {"ref_spread", 0},
  {"ref_logits", 0},
};
#define NFIELDS ((int)(sizeof fields / sizeof fields[0]))

/* Change field i of p to another valid value. */
static void perturb(int i, struct bandit_params *p)
{
  const char *f = fields[i].name;
  if (!strcmp(f, "regime")) p->regime = BANDIT_MIX_R;
  else if (!strcmp(f, "scale")) p->scale = BANDIT_NORMALIZED;
  else if (!strcmp(f, "rewards")) p->rewards = BANDIT_REWARDS_NORMAL;
  else if (!strcmp(f, "reward_values")) p->reward_values = rewards_c;
  else if (!strcmp(f, "arms")) p->arms = 2;
  else if (!strcmp(f, "beta")) p->beta = 1.25;
  else if (!strcmp(f, "sigma")) p->sigma = 0.1;
  else if (!strcmp(f, "samples")) p->samples = 16;
  else if (!strcmp(f, "eta")) p->eta = 0.5;
  else if (!strcmp(f, "eta_theory")) p->eta_theory = 1;
  else if (!strcmp(f, "iterations")) p->iterations = 11;
  else if (!strcmp(f, "record_every")) p->record_every = 5;
  else if (!strcmp(f, "master_seed")) p->master_seed = 8;
  else if (!strcmp(f, "seed")) p->seed = 4;
  else if (!strcmp(f, "ref_spread")) p->ref_spread = 0.5;
  else if (!strcmp(f, "ref_logits")) p->ref_logits = logits_a;
  else ck_abort_msg("no perturbation for field %s", f);
}

START_TEST(test_each_field)
{
  struct bandit_params a = base(), b = base();
  ck_assert_int_eq(task_same(&a, &b), 1);
  perturb(_i, &b);
  const char *field;
  struct err e;
  ck_assert_msg(bandit_params_check(&b, &field, &e) == 0, "%s: %s", field,
                e.msg);
  ck_assert_msg(task_same(&a, &b) == fields[_i].same, "field %s",
                fields[_i].name);
  ck_assert_msg(task_same(&b, &a) == fields[_i].same, "field %s, reversed",
                fields[_i].name);
}
END_TEST

/* The names declared in struct bandit_params in bandit.h, in order; *n
 * their count. */
static void declared_fields(char names[][64], int max, int *n)
{
  const char *root = getenv("SOURCE_ROOT");
  ck_assert_msg(root != NULL, "SOURCE_ROOT not set (meson sets it)");
  char path[4096];
  snprintf(path, sizeof path, "%s/include/dposweep/bandit.h", root);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot read %s", path);
  static char text[1 << 16];
  size_t len = fread(text, 1, sizeof text - 1, f);
  text[len] = '\0';
  fclose(f);
  char *p = strstr(text, "struct bandit_params {");
  ck_assert_ptr_nonnull(p);
  char *end = strstr(p, "\n};");
  ck_assert_ptr_nonnull(end);
  *end = '\0';
  p = strchr(p, '{') + 1;
  /* Comments out, then each declaration's last identifier. */
  for (char *c; (c = strstr(p, "/*"));) {
    char *close = strstr(c, "*/");
    ck_assert_ptr_nonnull(close);
    memset(c, ' ', (size_t)(close + 2 - c));
  }
  *n = 0;
  for (char *decl = strtok(p, ";"); decl; decl = strtok(NULL, ";")) {
    char *q = decl + strlen(decl);
    while (q > decl && !(isalnum((unsigned char)q[-1]) || q[-1] == '_'))
      q--;
    char *stop = q;
    while (q > decl && (isalnum((unsigned char)q[-1]) || q[-1] == '_'))
      q--;
    if (stop == q)
      continue; /* only blanks after the last ';' */
    ck_assert_int_lt(*n, max);
    snprintf(names[*n], 64, "%.*s", (int)(stop - q), q);
    (*n)++;
  }
}

/* The table above lists exactly the fields bandit.h declares: a field
 * added there without a decision here (and in task_same) fails. */
START_TEST(test_every_field_counts)
{
  char names[64][64];
  int n;
  declared_fields(names, 64, &n);
  ck_assert_int_eq(n, NFIELDS);
  for (int i = 0; i < n; i++)
    ck_assert_str_eq(names[i], fields[i].name);
}
END_TEST

START_TEST(test_numbers_compare_as_numbers)
{
  struct bandit_params a = base(), b = base();
  /* -0.0 is 0: sigma, ref_spread, reward and reference values. */
  a.sigma = 0.0;
  b.sigma = -0.0;
  a.ref_spread = 0.0;
  b.ref_spread = -0.0;
  b.reward_values = rewards_b;
  ck_assert_int_eq(task_same(&a, &b), 1);
  a.ref_logits = logits_a;
  b.ref_logits = logits_b;
  ck_assert_int_eq(task_same(&a, &b), 1);
  /* Equal values behind different pointers are the same vector. */
  double copy[3];
  memcpy(copy, logits_a, sizeof copy);
  b.ref_logits = copy;
  ck_assert_int_eq(task_same(&a, &b), 1);
  b.ref_logits = logits_c;
  ck_assert_int_eq(task_same(&a, &b), 0);
  /* A reference of zeros is given, not absent. */
  a.ref_logits = NULL;
  b.ref_logits = zeros;
  ck_assert_int_eq(task_same(&a, &b), 0);
  ck_assert_int_eq(task_same(&b, &a), 0);
}
END_TEST

START_TEST(test_explicit_rewards_only_when_explicit)
{
  struct bandit_params a = base(), b = base();
  a.rewards = b.rewards = BANDIT_REWARDS_UNIFORM;
  a.reward_values = rewards_a;
  b.reward_values = NULL; /* not used by a uniform instance */
  ck_assert_int_eq(task_same(&a, &b), 1);
  a.rewards = b.rewards = BANDIT_REWARDS_EXPLICIT;
  b.reward_values = rewards_c;
  ck_assert_int_eq(task_same(&a, &b), 0);
  b.reward_values = rewards_b;
  ck_assert_int_eq(task_same(&a, &b), 1);
}
END_TEST

START_TEST(test_theory_is_not_a_number)
{
  struct bandit_params a = base(), b = base();
  a.eta_theory = 1;
  a.eta = 0.0;
  b.eta_theory = 0;
  b.eta = bandit_theory_eta(b.beta, b.arms); /* the same step, by value */
  ck_assert_int_eq(task_same(&a, &b), 0);
  ck_assert_int_eq(task_same(&b, &a), 0);
  /* Both theory: eta's field does not count. */
  b.eta_theory = 1;
  b.eta = 123.0;
  ck_assert_int_eq(task_same(&a, &b), 1);
  /* Any non-zero eta_theory is theory. */
  b.eta_theory = 2;
  ck_assert_int_eq(task_same(&a, &b), 1);
}
END_TEST

/* task_records_within against the sets of steps, for small T and periods:
 * within exactly when the new steps are a subset of the old ones, and the
 * map names the old record holding each new step. */
START_TEST(test_records_within)
{
  for (int64_t t = 1; t <= 30; t++)
    for (int64_t kn = 1; kn <= 33; kn++)
      for (int64_t ko = 1; ko <= 33; ko++) {
        int64_t nn = bandit_nrec(t, kn), no = bandit_nrec(t, ko);
        int subset = 1;
        for (int64_t i = 0; i < nn && subset; i++) {
          int64_t step = bandit_rec_step(i, t, kn), found = 0;
          for (int64_t j = 0; j < no; j++)
            found |= bandit_rec_step(j, t, ko) == step;
          subset = (int)found;
        }
        int64_t map[64];
        for (int i = 0; i < 64; i++)
          map[i] = -7;
        int got = task_records_within(t, kn, ko, map);
        ck_assert_msg(got == subset, "T %lld, new %lld, old %lld",
                      (long long)t, (long long)kn, (long long)ko);
        ck_assert_int_eq(task_records_within(t, kn, ko, NULL), subset);
        for (int64_t i = 0; i < nn; i++) {
          if (!subset) {
            ck_assert_int_eq(map[i], -7); /* untouched */
            continue;
          }
          ck_assert(map[i] >= 0 && map[i] < no);
          ck_assert_int_eq(bandit_rec_step(map[i], t, ko),
                           bandit_rec_step(i, t, kn));
        }
      }
}
END_TEST

START_TEST(test_records_examples)
{
  int64_t map[8];
  /* Every 4th of 10 (0 4 8 10) within every 2nd (0 2 4 6 8 10). */
  ck_assert_int_eq(task_records_within(10, 4, 2, map), 1);
  ck_assert_int_eq(map[0], 0);
  ck_assert_int_eq(map[1], 2);
  ck_assert_int_eq(map[2], 4);
  ck_assert_int_eq(map[3], 5);
  /* Every 2nd is not within every 4th; every 3rd not within every 2nd. */
  ck_assert_int_eq(task_records_within(10, 2, 4, NULL), 0);
  ck_assert_int_eq(task_records_within(10, 3, 2, NULL), 0);
  /* Only 0 and T (a period >= T) are within anything. */
  ck_assert_int_eq(task_records_within(10, 10, 3, map), 1);
  ck_assert_int_eq(map[0], 0);
  ck_assert_int_eq(map[1], 4); /* 0 3 6 9 10 */
  ck_assert_int_eq(task_records_within(10, 50, 7, NULL), 1);
  /* Invalid arguments: never within. */
  ck_assert_int_eq(task_records_within(0, 1, 1, NULL), 0);
  ck_assert_int_eq(task_records_within(10, 0, 1, NULL), 0);
  ck_assert_int_eq(task_records_within(10, 1, -1, NULL), 0);
}
END_TEST

static Suite *task_suite(void)
{
  TCase *tc;
  Suite *s = unit_suite("task", 60, &tc);
  tcase_add_loop_test(tc, test_each_field, 0, NFIELDS);
  tcase_add_test(tc, test_every_field_counts);
  tcase_add_test(tc, test_numbers_compare_as_numbers);
  tcase_add_test(tc, test_explicit_rewards_only_when_explicit);
  tcase_add_test(tc, test_theory_is_not_a_number);
  tcase_add_test(tc, test_records_within);
  tcase_add_test(tc, test_records_examples);
  return s;
}

UNIT_MAIN(task_suite)
