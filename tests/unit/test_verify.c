/* Unit tests of verify's pure parts: which tasks --recompute N chooses
 * (N distinct, ascending, reproducible from the seed, every subset
 * equally likely), how the work is shared among the ranks, the bit-for-
 * bit comparison of a task's rows and the names of the tasks.  The
 * collective part (verify_main) is tested under mpirun
 * (tests/mpi/test_verify.py). */
#include "dposweep/verify.h"

#include "dposweep/bandit.h"
#include "dposweep/spec.h"
#include "dposweep/task.h"

#include "unit.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Two studies: one whose tasks finish, one whose mix-p tasks diverge. */
static const char verify_spec_text[] =
  "name: v\n"
  "master_seed: 99\n"
  "studies:\n"
  "  - name: calm\n"
  "    iterations: 12\n"
  "    record_every: 5\n"
  "    scale: normalized\n"
  "    eta: 0.5\n"
  "    rewards: normal\n"
  "    seeds: 2\n"
  "    grid: {regime: [mix-p, uniform], arms: [3, 6], beta: [1.5],"
  " sigma: [0, 0.05]}\n"
  "  - name: wild\n"
  "    iterations: 50\n"
  "    record_every: 10\n"
  "    scale: theory\n"
  "    rewards: uniform\n"
  "    seeds: 1\n"
  "    grid: {regime: [mix-p], arms: [8], beta: [3.0], sigma: [0],"
  " eta: [1.0e12]}\n";

static struct spec *load(void)
{
  struct spec *s = NULL;
  struct err e;
  ck_assert_msg(spec_load_text(verify_spec_text, strlen(verify_spec_text), "v.yaml", &s,
                               &e) == 0, "%s", e.msg);
  return s;
}

START_TEST(test_choose_distinct_ascending)
{
  int64_t pos[100];
  for (int64_t n = 1; n <= 100; n += 9)
    for (int64_t want = 0; want <= n; want += 1 + n / 7) {
      verify_choose(5, n, want, pos);
      for (int64_t i = 0; i < want; i++) {
        ck_assert_int_ge(pos[i], 0);
        ck_assert_int_lt(pos[i], n);
        if (i > 0)
          ck_assert_int_lt(pos[i - 1], pos[i]); /* ascending, so distinct */
      }
    }
  verify_choose(5, 37, 37, pos); /* all of them */
  for (int64_t i = 0; i < 37; i++)
    ck_assert_int_eq(pos[i], i);
}
END_TEST

START_TEST(test_choose_reproducible)
{
  int64_t a[10], b[10], c[10];
  verify_choose(1, 1000000, 10, a);
  verify_choose(1, 1000000, 10, b);
  verify_choose(2, 1000000, 10, c);
  ck_assert(memcmp(a, b, sizeof a) == 0);
  ck_assert(memcmp(a, c, sizeof a) != 0);
  /* Pinned: a seed chooses the same tasks in every build and on every
   * machine (PCG32 seeded by SplitMix64, Knuth's selection sampling). */
  const int64_t pinned[5] = {221753, 433405, 870403, 888434, 995619};
  int64_t d[5];
  verify_choose(1, 1000000, 5, d);
  ck_assert(memcmp(d, pinned, sizeof d) == 0);
}
END_TEST

/* Every position is chosen about want/n of the time (over many seeds), and
 * pairs as often as independence of the subsets says. */
START_TEST(test_choose_uniform)
{
  enum { N = 10, WANT = 3, SEEDS = 30000 };
  int count[N] = {0}, first_two = 0;
  for (uint64_t s = 0; s < SEEDS; s++) {
    int64_t pos[WANT];
    verify_choose(s, N, WANT, pos);
    for (int i = 0; i < WANT; i++)
      count[pos[i]]++;
    first_two += pos[0] == 0 && pos[1] == 1;
  }
  const double p = (double)WANT / N, sd = sqrt(SEEDS * p * (1 - p));
  for (int i = 0; i < N; i++)
    ck_assert_msg(fabs(count[i] - SEEDS * p) < 5 * sd, "position %d: %d", i,
                  count[i]);
  /* P(0 and 1 chosen) = C(8,1)/C(10,3) = 8/120. */
  const double q = 8.0 / 120.0, sq = sqrt(SEEDS * q * (1 - q));
  ck_assert_msg(fabs(first_two - SEEDS * q) < 5 * sq, "%d", first_two);
}
END_TEST

START_TEST(test_slice_covers)
{
  for (int64_t n = 0; n < 40; n++)
    for (int p = 1; p <= 7; p++) {
      int64_t next = 0;
      for (int r = 0; r < p; r++) {
        int64_t lo, hi;
        verify_slice(n, p, r, &lo, &hi);
        ck_assert_int_eq(lo, next);
        ck_assert_int_le(hi - lo, n / p + 1);
        ck_assert_int_ge(hi - lo, n / p);
        next = hi;
      }
      ck_assert_int_eq(next, n);
    }
}
END_TEST

START_TEST(test_share_largest_first)
{
  /* 5 -> 0; 4 -> 1; 3 -> 1 (4 < 5); 3 -> 0 (5 < 7); 3 -> 1 (7 < 8). */
  const double cost[5] = {3, 5, 3, 4, 3};
  int owner[5];
  struct err e;
  ck_assert_int_eq(verify_share(cost, 5, 2, owner, &e), 0);
  const int want[5] = {1, 0, 0, 1, 1};
  for (int i = 0; i < 5; i++)
    ck_assert_msg(owner[i] == want[i], "job %d: rank %d", i, owner[i]);
  /* One rank takes everything; more ranks than jobs leave some idle. */
  ck_assert_int_eq(verify_share(cost, 5, 1, owner, &e), 0);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(owner[i], 0);
  ck_assert_int_eq(verify_share(cost, 5, 8, owner, &e), 0);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < i; j++)
      ck_assert_int_ne(owner[i], owner[j]);
  ck_assert_int_eq(verify_share(cost, 0, 3, owner, &e), 0);
}
END_TEST

START_TEST(test_share_balanced)
{
  enum { N = 1000, P = 7 };
  double cost[N], load[P] = {0};
  int owner[N], again[N];
  struct err e;
  for (int i = 0; i < N; i++)
    cost[i] = 1.0 + (double)((i * 7919) % 1000);
  ck_assert_int_eq(verify_share(cost, N, P, owner, &e), 0);
  ck_assert_int_eq(verify_share(cost, N, P, again, &e), 0);
  ck_assert(memcmp(owner, again, sizeof owner) == 0);
  double most = 0, least = INFINITY;
  for (int i = 0; i < N; i++) {
    ck_assert(owner[i] >= 0 && owner[i] < P);
    load[owner[i]] += cost[i];
  }
  for (int r = 0; r < P; r++) {
    most = fmax(most, load[r]);
    least = fmin(least, load[r]);
  }
  ck_assert_msg(most - least <= 1000.0, "loads %g .. %g", least, most);
}
END_TEST

/* Recomputing a task gives what the engine gives, twice the same. */
START_TEST(test_recompute_is_the_engine)
{
  struct spec *s = load();
  const struct spec_study *st = spec_study(s, 0);
  for (int64_t t = 0; t < st->ntasks; t++) {
    struct verify_result a, b;
    struct err e;
    ck_assert_int_eq(verify_recompute(s, 0, t, &a, &e), 0);
    ck_assert_int_eq(verify_recompute(s, 0, t, &b, &e), 0);
    char why[256] = "";
    ck_assert_msg(verify_compare(st, &a.rows, &b.rows, why, sizeof why) == 0,
                  "%s", why);
    ck_assert_int_eq(a.rows.status, TASK_DONE);

    struct bandit_params p;
    spec_task_params(s, 0, t, &p);
    struct bandit *eng = NULL;
    ck_assert_int_eq(bandit_create(&p, &eng), 0);
    double m[BANDIT_NMETRICS][4], theta[6];
    struct bandit_trace tr = {.theta = theta};
    for (int k = 0; k < BANDIT_NMETRICS; k++)
      tr.metric[k] = m[k];
    ck_assert_int_eq(bandit_run(eng, &tr), BANDIT_OK);
    bandit_destroy(&eng);
    ck_assert_int_eq(st->nrec, 4); /* steps 0, 5, 10, 12 */
    for (int k = 0; k < BANDIT_NMETRICS; k++)
      ck_assert(memcmp(m[k], a.rows.metric[k], sizeof m[k]) == 0);
    ck_assert(memcmp(theta, a.rows.theta, (size_t)p.arms * 8) == 0);
    for (int y = p.arms; y < st->max_arms; y++)
      ck_assert(isnan(a.rows.theta[y])); /* padded as a run pads */
    verify_result_destroy(&a);
    verify_result_destroy(&b);
  }
  spec_destroy(&s);
}
END_TEST

/* A copy of r's rows that a test may change. */
struct rows_copy {
  struct verify_rows rows;
  double metric[BANDIT_NMETRICS][16];
  double theta[16];
  char reason[96];
};

static void copy_rows(struct rows_copy *c, const struct verify_rows *r,
                      const struct spec_study *st)
{
  ck_assert_int_le(st->nrec, 16);
  ck_assert_int_le(st->max_arms, 16);
  memset(c, 0, sizeof *c);
  c->rows = *r;
  for (int m = 0; m < BANDIT_NMETRICS; m++) {
    memcpy(c->metric[m], r->metric[m], (size_t)st->nrec * 8);
    c->rows.metric[m] = c->metric[m];
  }
  memcpy(c->theta, r->theta, (size_t)st->max_arms * 8);
  c->rows.theta = c->theta;
  memcpy(c->reason, r->reason, sizeof c->reason);
  c->rows.reason = c->reason;
  c->rows.reason_len = sizeof c->reason;
}

/* c, a changed copy of a's rows, compares as different from them, and
 * the reason (in why) names want. */
static void compare_says(const struct spec_study *st,
                         const struct rows_copy *c,
                         const struct verify_result *a, char why[256],
                         const char *want)
{
  ck_assert_int_eq(verify_compare(st, &c->rows, &a->rows, why, 256), 1);
  ck_assert_msg(strstr(why, want) != NULL, "%s", why);
}

START_TEST(test_compare_finds_one_ulp)
{
  struct spec *s = load();
  const struct spec_study *st = spec_study(s, 0);
  struct verify_result a;
  struct err e;
  ck_assert_int_eq(verify_recompute(s, 0, 5, &a, &e), 0);
  struct rows_copy c;
  char why[256];

  copy_rows(&c, &a.rows, st);
  c.metric[BANDIT_VALUE_GAP][1] = nextafter(c.metric[BANDIT_VALUE_GAP][1], 1);
  compare_says(st, &c, &a, why, "value_gap at step 5 (stored ");
  ck_assert_ptr_null(strchr(why, '\n'));

  copy_rows(&c, &a.rows, st);
  c.theta[2] = -c.theta[2];
  compare_says(st, &c, &a, why, "final theta[2]");

  /* The padding counts too (the checksum covers it). */
  ck_assert_int_lt(spec_study(s, 0)->arms[0], st->max_arms);
  copy_rows(&c, &a.rows, st);
  c.theta[st->max_arms - 1] = 0.0;
  compare_says(st, &c, &a, why, "");

  /* Bit for bit: -0 is not 0 (kl_ref is 0 at step 0). */
  copy_rows(&c, &a.rows, st);
  ck_assert(c.metric[BANDIT_KL_REF][0] == 0.0);
  c.metric[BANDIT_KL_REF][0] = -c.metric[BANDIT_KL_REF][0];
  compare_says(st, &c, &a, why, "kl_ref at step 0");

  copy_rows(&c, &a.rows, st);
  c.rows.status = TASK_FAILED;
  snprintf(c.reason, sizeof c.reason, "diverged at step 3: x");
  compare_says(st, &c, &a, why,
               "stored failed (diverged at step 3: x), recomputed done");
  verify_result_destroy(&a);
  spec_destroy(&s);
}
END_TEST

/* A diverged task must diverge at the same step for the same reason. */
START_TEST(test_compare_divergence)
{
  struct spec *s = load();
  const struct spec_study *st = spec_study(s, 1);
  struct verify_result a;
  struct err e;
  ck_assert_int_eq(verify_recompute(s, 1, 0, &a, &e), 0);
  ck_assert_int_eq(a.rows.status, TASK_FAILED);
  ck_assert_msg(strncmp(a.reason, "diverged at step ", 17) == 0, "%s",
                a.reason);
  struct rows_copy c;
  char why[256];
  copy_rows(&c, &a.rows, st);
  ck_assert_int_eq(verify_compare(st, &c.rows, &a.rows, why, sizeof why), 0);
  /* Bytes after the reason's NUL do not count. */
  c.reason[sizeof c.reason - 1] = 'z';
  ck_assert_int_eq(verify_compare(st, &c.rows, &a.rows, why, sizeof why), 0);

  copy_rows(&c, &a.rows, st);
  snprintf(c.reason, sizeof c.reason, "diverged at step 999: later");
  compare_says(st, &c, &a, why,
               "stored failed (diverged at step 999: later), recomputed "
               "failed (diverged at step");

  copy_rows(&c, &a.rows, st);
  c.rows.status = TASK_DONE;
  compare_says(st, &c, &a, why, "stored done, recomputed failed");
  verify_result_destroy(&a);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_describe_task)
{
  struct spec *s = load();
  char buf[512];
  /* calm: regime, arms, beta, sigma, seed radix: 2*2*1*2*2; index 7 is
   * regime 0, arms 1, sigma 1, seed 1. */
  verify_describe_task(s, 0, 7, buf, sizeof buf);
  ck_assert_str_eq(buf, "study 'calm' task 7 (regime mix-p, arms 6, beta 1.5, "
                        "sigma 0.05, samples 0, eta 0.5, ref_spread 0, "
                        "seed 1)");
  verify_describe_task(s, 1, 0, buf, sizeof buf);
  ck_assert_str_eq(buf, "study 'wild' task 0 (regime mix-p, arms 8, beta 3, "
                        "sigma 0, samples 0, eta 1e+12, ref_spread 0, "
                        "seed 0)");
  spec_destroy(&s);
}
END_TEST

static Suite *verify_suite(void)
{
  TCase *tc;
  Suite *s = unit_suite("verify", 120, &tc);
  tcase_add_test(tc, test_choose_distinct_ascending);
  tcase_add_test(tc, test_choose_reproducible);
  tcase_add_test(tc, test_choose_uniform);
  tcase_add_test(tc, test_slice_covers);
  tcase_add_test(tc, test_share_largest_first);
  tcase_add_test(tc, test_share_balanced);
  tcase_add_test(tc, test_recompute_is_the_engine);
  tcase_add_test(tc, test_compare_finds_one_ulp);
  tcase_add_test(tc, test_compare_divergence);
  tcase_add_test(tc, test_describe_task);
  return s;
}

UNIT_MAIN(verify_suite)
