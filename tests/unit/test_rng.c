/* Unit tests of the rng module: known answers, distributions. */
#include "dposweep/rng.h"

#include "unit.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

/* The reference pcg32_srandom_r(&rng, 42, 54) outputs (pcg-c demo). */
START_TEST(test_pcg32_known_answers)
{
  static const uint32_t want[] = {0xa15c02b7, 0x7b47f409, 0xba1d3330,
                                  0x83d2f293, 0xbfa4784b, 0xcbed606e};
  struct rng_pcg32 g;
  rng_pcg32_seed(&g, 42, 54);
  for (int i = 0; i < 6; i++)
    ck_assert_uint_eq(rng_pcg32_next(&g), want[i]);
}
END_TEST

START_TEST(test_splitmix64_known_answers)
{
  static const uint64_t want[] = {6457827717110365317ULL, 3203168211198807973ULL,
                                  9817491932198370423ULL, 4593380528125082431ULL,
                                  16408922859458223821ULL};
  uint64_t s = 1234567;
  for (int i = 0; i < 5; i++)
    ck_assert_uint_eq(rng_splitmix64_next(&s), want[i]);
}
END_TEST

START_TEST(test_streams_differ)
{
  /* Same state, different stream: different sequences. */
  struct rng_pcg32 a, b;
  rng_pcg32_seed(&a, 42, 54);
  rng_pcg32_seed(&b, 42, 55);
  int same = 0;
  for (int i = 0; i < 100; i++)
    same += rng_pcg32_next(&a) == rng_pcg32_next(&b);
  ck_assert_int_lt(same, 3);
  /* Keys that differ in one value give unrelated streams. */
  ck_assert_uint_ne(rng_key_mix(1, 2), rng_key_mix(1, 3));
  ck_assert_uint_ne(rng_key_mix(1, 2), rng_key_mix(2, 1));
  ck_assert_uint_eq(rng_double_bits(0.0), rng_double_bits(-0.0));
}
END_TEST

START_TEST(test_uniform_53_bits)
{
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 7);
  uint64_t or_bits = 0;
  double sum = 0.0, sum2 = 0.0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    double u = rng_uniform(&g);
    ck_assert(u >= 0.0 && u < 1.0);
    or_bits |= (uint64_t)(u * 0x1.0p53);
    sum += u;
    sum2 += u * u;
  }
  /* Every one of the 53 bits is used. */
  ck_assert_uint_eq(or_bits, (1ULL << 53) - 1);
  double mean = sum / n, var = sum2 / n - mean * mean;
  ck_assert_double_le(fabs(mean - 0.5), 5.0 * sqrt(1.0 / 12.0 / n));
  ck_assert_double_le(fabs(var - 1.0 / 12.0), 0.002);
}
END_TEST

START_TEST(test_normal_moments)
{
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 11);
  const int n = 400000;
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  int tail = 0;
  for (int i = 0; i < n; i++) {
    double x = rng_normal(&g);
    s1 += x;
    s2 += x * x;
    s3 += x * x * x;
    s4 += x * x * x * x;
    tail += fabs(x) > 3.0;
  }
  s1 /= n, s2 /= n, s3 /= n, s4 /= n;
  ck_assert_double_le(fabs(s1), 5.0 / sqrt(n));
  ck_assert_double_le(fabs(s2 - 1.0), 5.0 * sqrt(2.0 / n));
  ck_assert_double_le(fabs(s3), 5.0 * sqrt(15.0 / n));
  ck_assert_double_le(fabs(s4 - 3.0), 5.0 * sqrt(96.0 / n));
  /* P(|x| > 3) = 0.0026998 */
  double p = 0.0026998;
  ck_assert_double_le(fabs(tail - n * p), 5.0 * sqrt(n * p));
}
END_TEST

START_TEST(test_bernoulli_binomial)
{
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 13);
  const int n = 100000;
  int hits = 0;
  for (int i = 0; i < n; i++)
    hits += rng_bernoulli(&g, 0.3);
  ck_assert_double_le(fabs(hits - 0.3 * n), 5.0 * sqrt(n * 0.21));
  ck_assert_uint_eq(rng_binomial(&g, 0.0, 10), 0);
  ck_assert_uint_eq(rng_binomial(&g, 1.0, 10), 10);
  ck_assert_uint_eq(rng_binomial(&g, 1.5, 10), 10);
  ck_assert_uint_eq(rng_binomial(&g, 0.5, 0), 0);
  /* Small mean (inversion) and large mean (BTPE) branches. */
  const double ps[] = {0.01, 0.4};
  const uint32_t ns[] = {100, 10000};
  for (int c = 0; c < 2; c++) {
    double s = 0, s2 = 0;
    const int m = 20000;
    for (int i = 0; i < m; i++) {
      double x = rng_binomial(&g, ps[c], ns[c]);
      ck_assert(x <= ns[c]);
      s += x;
      s2 += x * x;
    }
    double mean = s / m, var = s2 / m - mean * mean;
    double mu = ns[c] * ps[c], v = mu * (1 - ps[c]);
    ck_assert_double_le(fabs(mean - mu), 5.0 * sqrt(v / m));
    ck_assert_double_le(fabs(var / v - 1.0), 0.05);
  }
}
END_TEST

START_TEST(test_alias_frequencies)
{
  const double w[] = {0.0, 1.0, 2.0, 3.0, 10.0, 0.5, 0.0, 4.0};
  const size_t n = sizeof w / sizeof w[0];
  struct rng_alias *a = NULL;
  ck_assert_int_eq(rng_alias_create(16, &a), 0);
  ck_assert_int_eq(rng_alias_build(a, w, n), 0);
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 17);
  long count[8] = {0};
  const long m = 400000;
  for (long i = 0; i < m; i++) {
    size_t c = rng_alias_draw(a, &g);
    ck_assert_uint_lt(c, n);
    count[c]++;
  }
  double total = 0;
  for (size_t i = 0; i < n; i++)
    total += w[i];
  /* Zero weights are never drawn; the chi-square statistic over the other
   * cells is within its 99.99% quantile (5 degrees of freedom: 25.7). */
  double chi2 = 0;
  for (size_t i = 0; i < n; i++) {
    double e = m * w[i] / total;
    if (w[i] == 0.0) {
      ck_assert_int_eq(count[i], 0);
      continue;
    }
    chi2 += (count[i] - e) * (count[i] - e) / e;
  }
  ck_assert_double_lt(chi2, 25.7);
  /* Invalid weights are refused. */
  const double bad[] = {1.0, -1.0};
  ck_assert_int_eq(rng_alias_build(a, bad, 2), -1);
  const double zero[] = {0.0, 0.0};
  ck_assert_int_eq(rng_alias_build(a, zero, 2), -1);
  ck_assert_int_eq(rng_alias_build(a, w, 17), -1);
  rng_alias_destroy(&a);
  ck_assert_ptr_null(a);
  rng_alias_destroy(&a); /* NULL is fine */
}
END_TEST

static Suite *rng_suite(void)
{
  TCase *tc;
  Suite *s = unit_suite("rng", 60, &tc);
  tcase_add_test(tc, test_pcg32_known_answers);
  tcase_add_test(tc, test_splitmix64_known_answers);
  tcase_add_test(tc, test_streams_differ);
  tcase_add_test(tc, test_uniform_53_bits);
  tcase_add_test(tc, test_normal_moments);
  tcase_add_test(tc, test_bernoulli_binomial);
  tcase_add_test(tc, test_alias_frequencies);
  return s;
}

UNIT_MAIN(rng_suite)
