/* Unit tests of the rng module: known answers, distributions (the
 * binomial and multinomial samplers against their exact laws). */
#include "dposweep/bandit.h"
#include "dposweep/rng.h"

#include "fixtures.h"
#include "unit.h"

#include <check.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    UNIT_ASSERT_MSG(u >= 0.0 && u < 1.0, "uniform %a outside [0, 1)", u);
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
  /* Small mean (inversion) and large mean (BTRD) branches. */
  const double ps[] = {0.01, 0.4};
  const uint32_t ns[] = {100, 10000};
  for (int c = 0; c < 2; c++) {
    double s = 0, s2 = 0;
    const int m = 20000;
    for (int i = 0; i < m; i++) {
      double x = rng_binomial(&g, ps[c], ns[c]);
      UNIT_ASSERT_MSG(x <= ns[c], "Bin(%u, %g) drew %g", ns[c], ps[c], x);
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
    UNIT_ASSERT_MSG(c < n, "alias drew cell %zu of %zu", c, n);
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

/* ---- Binomial and multinomial against their exact laws ---- */

/* Chi-square goodness of fit of m draws of Binomial(n, p): bins of whole
 * counts over mean +- 6 sd (one count each when the spread is small),
 * neighbours merged until each expects at least 5 draws, the tails in the
 * end bins; probabilities from GSL's binomial cdf.  Also the mean and the
 * variance, each within 5 standard errors (the variance's from the
 * binomial's fourth central moment).  Fixed seeds: deterministic. */
struct binom_case {
  uint32_t n;
  double p;
};

/* P(X <= k).  GSL's incomplete beta fails (NaN) for n p q near 1e9; there
 * the normal law with continuity correction is within 1e-4 (Berry-Esseen:
 * 1 / sqrt(n p q)), far below what 200000 draws can see. */
static double binom_cdf(double k, double p, uint32_t n)
{
  if (k < 0.0)
    return 0.0;
  if (k >= n)
    return 1.0;
  double f = gsl_cdf_binomial_P((unsigned)k, p, n);
  if (isfinite(f))
    return f;
  double npq = n * p * (1.0 - p);
  ck_assert_msg(npq > 1e6, "no cdf for Bin(%u, %g)", n, p);
  return gsl_cdf_ugaussian_P((k + 0.5 - n * p) / sqrt(npq));
}

/* Where the draws come from: rng_binomial one at a time, or batches of
 * rng_multinomial_binomials (batched), the case at every other of their
 * BATCH places among draws of every kind (fixed counts, inversions, BTRD,
 * p above 1/2, n past the log-factorial table, a NaN p), whose counts are
 * checked to lie in [0, n] (the fixed ones: exactly). */
enum { BATCH = 37 }; /* not a multiple of any vector width */

struct binom_source {
  struct rng_pcg32 g;
  struct binom_case c;
  struct rng_multinomial *m; /* batched; else NULL */
  uint32_t n[BATCH], x[BATCH];
  double p[BATCH];
  int next; /* the next place of the case to read */
};

static const struct binom_case others[] = {
  {0, 0.5},   {10, 0.0},      {10, 1.0},   {1, 0.3},     {30, 0.2},
  {241, 0.5}, {20000, 0.3},   {5000, 0.02}, {100, 0.93}, {4000000000u, 0.5},
  {7, NAN},   {238, 0.5},     {2, 0.999},
};

static void source_fill(struct binom_source *s)
{
  const int nothers = (int)(sizeof others / sizeof others[0]);
  for (int i = 0; i < BATCH; i++) {
    struct binom_case o = i % 2 ? s->c : others[(i / 2) % nothers];
    s->n[i] = o.n;
    s->p[i] = o.p;
  }
  UNIT_ASSERT_MSG(
    rng_multinomial_binomials(s->m, &s->g, BATCH, s->n, s->p, s->x) == 0,
    "a batch of Bin(%u, %g) refused", s->c.n, s->c.p);
  for (int i = 0; i < BATCH; i += 2) {
    struct binom_case o = others[(i / 2) % nothers];
    uint32_t want_lo = o.p >= 1.0 ? o.n : 0;
    uint32_t want_hi = o.n == 0 || !(o.p > 0.0) ? 0 : o.n;
    UNIT_ASSERT_MSG(s->x[i] >= want_lo && s->x[i] <= want_hi,
                    "Bin(%u, %g) drew %u, outside [%u, %u]", o.n, o.p,
                    s->x[i], want_lo, want_hi);
  }
  s->next = 1;
}

static uint32_t source_draw(struct binom_source *s)
{
  if (!s->m)
    return rng_binomial(&s->g, s->c.p, s->c.n);
  if (s->next >= BATCH)
    source_fill(s);
  uint32_t x = s->x[s->next];
  s->next += 2;
  return x;
}

static void check_binomial_law(struct binom_case c, uint64_t seed,
                               int batched)
{
  enum { M = 200000, MAXB = 64 };
  const double mean = c.n * c.p, var = mean * (1.0 - c.p), sd = sqrt(var);
  double lo = fmax(0.0, floor(mean - 6.0 * sd));
  double hi = fmin((double)c.n, ceil(mean + 6.0 * sd));
  double width = fmax(1.0, floor((hi - lo + 1.0) / 40.0));
  /* Bin b covers counts [edge[b], edge[b + 1]); the first from 0, the last
   * to n. */
  double edge[MAXB + 1];
  int nb = 0;
  edge[0] = 0.0;
  for (double e = lo + width; e <= hi && nb < MAXB - 1; e += width)
    edge[++nb] = e;
  edge[++nb] = (double)c.n + 1.0;
  double prob[MAXB];
  for (int b = 0; b < nb; b++)
    prob[b] = binom_cdf(edge[b + 1] - 1.0, c.p, c.n) -
              binom_cdf(edge[b] - 1.0, c.p, c.n);
  long count[MAXB] = {0};
  struct binom_source src = {.c = c, .next = BATCH};
  rng_pcg32_seed_key(&src.g, seed);
  if (batched)
    ck_assert_int_eq(rng_multinomial_create(BATCH, &src.m), 0);
  double s1 = 0.0, s2 = 0.0;
  for (int i = 0; i < M; i++) {
    uint32_t x = source_draw(&src);
    UNIT_ASSERT_MSG(x <= c.n, "Bin(%u, %g) drew %u", c.n, c.p, x);
    /* Centred on the true mean, so n = 4e9 loses no precision. */
    double d = (double)x - mean;
    s1 += d;
    s2 += d * d;
    int b = 0;
    while (b + 1 < nb && (double)x >= edge[b + 1])
      b++;
    count[b]++;
  }
  /* Merge bins expecting fewer than 5 draws into their neighbours. */
  double chi2 = 0.0, e = 0.0, o = 0.0;
  int dof = -1;
  for (int b = 0; b < nb; b++) {
    e += M * prob[b];
    o += (double)count[b];
    if (e >= 5.0 || b == nb - 1) {
      chi2 += (o - e) * (o - e) / e;
      dof++;
      e = o = 0.0;
    }
  }
  if (dof > 0) {
    double q = gsl_cdf_chisq_Q(chi2, dof);
    ck_assert_msg(q > 1e-6, "Bin(%u, %g)%s: chi2 %.1f on %d dof (p %.2g)",
                  c.n, c.p, batched ? " batched" : "", chi2, dof, q);
  }
  rng_multinomial_destroy(&src.m);
  double m1 = s1 / M, v = s2 / M - m1 * m1;
  ck_assert_msg(fabs(m1) <= 5.0 * sqrt(var / M) + 1e-12,
                "Bin(%u, %g): mean off by %g (se %g)", c.n, c.p, m1,
                sqrt(var / M));
  double pq = c.p * (1.0 - c.p);
  double mu4 = c.n * pq * (1.0 + 3.0 * ((double)c.n - 2.0) * pq);
  double se_v = sqrt(fmax(mu4 - var * var, 0.0) / M);
  ck_assert_msg(fabs(v - var) <= 5.0 * se_v + 1e-12,
                "Bin(%u, %g): variance %g, want %g (se %g)", c.n, c.p, v, var,
                se_v);
}

/* Tiny to huge means, both sides of the inversion/BTRD switch at (n + 1)
 * min(p, 1 - p) = 11, p above 1/2, BTRD's far tests (n p q large), and
 * the sampled estimator's own sizes (8192 pairs over 191 cells). */
static const struct binom_case binom_cases[] = {
  {1, 0.3},          {7, 0.5},          {20, 0.02},      {108, 0.1},
  {109, 0.1},        {60, 0.45},        {1000, 0.011},   {8192, 1.0 / 191},
  {43, 0.3},         {10000, 0.37},     {1000000, 0.5},  {100, 0.93},
  {4000000000u, 0.5}, {4000000000u, 1e-9}, {3000000000u, 1.5e-7},
};

START_TEST(test_binomial_law)
{
  check_binomial_law(binom_cases[_i], 1000 + (uint64_t)_i, 0);
}
END_TEST

/* The batches' sampler (the multinomial's): the same cases, and both sides
 * of its own switch from inversion to BTRD at (n + 1) min(p, 1 - p) = 120,
 * inversions with n past 1024 (P(0) from log1p) and means up to 120,
 * BTRD with n past its log-factorial table (8192). */
static const struct binom_case batch_cases[] = {
  {238, 0.5},   {241, 0.5},     {1000, 0.119}, {1000, 0.121},
  {5000, 0.02}, {20000, 0.3},   {8192, 0.45},  {50, 0.9},
  {3, 0.5},     {400, 0.29},
};

START_TEST(test_batch_binomial_law)
{
  const int nb = (int)(sizeof binom_cases / sizeof binom_cases[0]);
  struct binom_case c = _i < nb ? binom_cases[_i] : batch_cases[_i - nb];
  check_binomial_law(c, 2000 + (uint64_t)_i, 1);
}
END_TEST

START_TEST(test_batch_binomial_edges)
{
  struct rng_multinomial *m = NULL;
  ck_assert_int_eq(rng_multinomial_create(4, &m), 0);
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 5);
  struct rng_pcg32 h = g;
  uint32_t n[5] = {10, 0, 7, 3, 1}, x[5];
  double p[5] = {0.0, 0.5, 1.0, NAN, 1.5};
  /* Refused: more than the capacity; nothing: no bits. */
  ck_assert_int_eq(rng_multinomial_binomials(m, &g, 5, n, p, x), -1);
  ck_assert_int_eq(rng_multinomial_binomials(m, &g, 0, n, p, x), 0);
  ck_assert_uint_eq(g.state, h.state);
  /* Fixed counts only: no bits. */
  ck_assert_int_eq(rng_multinomial_binomials(m, &g, 4, n, p, x), 0);
  ck_assert_uint_eq(x[0], 0);
  ck_assert_uint_eq(x[1], 0);
  ck_assert_uint_eq(x[2], 7);
  ck_assert_uint_eq(x[3], 0);
  ck_assert_uint_eq(g.state, h.state);
  ck_assert_int_eq(rng_multinomial_binomials(m, &g, 1, n + 4, p + 4, x), 0);
  ck_assert_uint_eq(x[0], 1);
  /* The largest n, both ways round. */
  uint32_t big[4] = {4294967295u, 4294967295u, 4294967295u, 4294967295u};
  double pb[4] = {0.999999, 1e-6, 0.5, 1.0};
  for (int i = 0; i < 200; i++) {
    ck_assert_int_eq(rng_multinomial_binomials(m, &g, 4, big, pb, x), 0);
    ck_assert_uint_ge(x[0], 4294967295u - 30000u);
    ck_assert_uint_le(x[1], 30000u);
    ck_assert_uint_eq(x[3], 4294967295u);
  }
  rng_multinomial_destroy(&m);
}
END_TEST

START_TEST(test_binomial_edges)
{
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 3);
  struct rng_pcg32 h = g;
  /* Fixed outcomes take no bits from the stream. */
  ck_assert_uint_eq(rng_binomial(&g, 0.0, 10), 0);
  ck_assert_uint_eq(rng_binomial(&g, -1.0, 10), 0);
  ck_assert_uint_eq(rng_binomial(&g, NAN, 10), 0);
  ck_assert_uint_eq(rng_binomial(&g, 1.0, 10), 10);
  ck_assert_uint_eq(rng_binomial(&g, 0.5, 0), 0);
  ck_assert_uint_eq(rng_binomial(&g, 1.0, 4294967295u), 4294967295u);
  ck_assert_uint_eq(g.state, h.state);
  /* The largest n, both ways round. */
  for (int i = 0; i < 1000; i++) {
    uint32_t x = rng_binomial(&g, 0.999999, 4294967295u);
    ck_assert_uint_ge(x, 4294967295u - 30000u);
  }
}
END_TEST

/* All ways of putting n draws into the cells, with their multinomial
 * probabilities: the joint law, which the chi-square below tests. */
static void joint_law(const double *w, int cells, int n, int cell, int left,
                      int *cur, double lp, double tot, int *nout, int (*out)[8],
                      double *prob)
{
  if (cell == cells - 1) {
    cur[cell] = left;
    if (left > 0 && w[cell] == 0.0)
      return;
    double l = lp + (left ? left * log(w[cell] / tot) : 0.0) -
               lgamma(left + 1.0);
    memcpy(out[*nout], cur, (size_t)cells * sizeof **out);
    prob[(*nout)++] = exp(l + lgamma(n + 1.0));
    return;
  }
  for (int c = 0; c <= left; c++) {
    if (c > 0 && w[cell] == 0.0)
      break;
    cur[cell] = c;
    joint_law(w, cells, n, cell + 1, left - c, cur,
              lp + (c ? c * log(w[cell] / tot) : 0.0) - lgamma(c + 1.0), tot,
              nout, out, prob);
  }
}

START_TEST(test_multinomial_joint)
{
  /* Few draws, cells of unequal weight, zero-weight cells (never drawn),
   * a count that is not a power of two: the whole joint law. */
  const double w[] = {1.0, 2.5, 0.0, 3.0, 0.5, 0.0, 1.5};
  const int cells = 7, n = 4, M = 200000;
  static int out[400][8];
  static double prob[400];
  static long seen[400];
  int cur[8], nout = 0;
  joint_law(w, cells, n, 0, n, cur, 0.0, 8.5, &nout, out, prob);
  ck_assert_int_eq(nout, 70); /* 4 draws over 5 live cells: C(8, 4) */
  struct rng_multinomial *m = NULL;
  ck_assert_int_eq(rng_multinomial_create(cells, &m), 0);
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 21);
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < M; i++) {
    uint32_t c[7];
    UNIT_ASSERT_MSG(rng_multinomial_draw(m, &g, n, w, cells, c) == 0,
                    "draw %d refused", i);
    int j = 0;
    while (j < nout) {
      int k = 0;
      while (k < cells && (int)c[k] == out[j][k])
        k++;
      if (k == cells)
        break;
      j++;
    }
    UNIT_ASSERT_MSG(j < nout, "an outcome of probability 0");
    seen[j]++;
  }
  double chi2 = 0.0;
  for (int j = 0; j < nout; j++) {
    double e = M * prob[j];
    chi2 += (seen[j] - e) * (seen[j] - e) / e;
  }
  double q = gsl_cdf_chisq_Q(chi2, nout - 1);
  ck_assert_msg(q > 1e-6, "joint law: chi2 %.1f on %d dof (p %.2g)", chi2,
                nout - 1, q);
  rng_multinomial_destroy(&m);
  ck_assert_ptr_null(m);
}
END_TEST

/* Many draws: each count's mean and variance, and one covariance, within
 * 5 standard errors of the multinomial's n p_i, n p_i (1 - p_i) and -n p_i
 * p_j; counts sum to n.  Includes cells of tiny n p_i and n = 4e9. */
static void check_multinomial_moments(uint32_t n, const double *w, int cells,
                                      int draws, uint64_t seed)
{
  double tot = 0.0;
  for (int i = 0; i < cells; i++)
    tot += w[i];
  struct rng_multinomial *m = NULL;
  ck_assert_int_eq(rng_multinomial_create((size_t)cells, &m), 0);
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, seed);
  double s1[32] = {0}, s2[32] = {0}, s01 = 0.0;
  for (int d = 0; d < draws; d++) {
    uint32_t c[32];
    UNIT_ASSERT_MSG(rng_multinomial_draw(m, &g, n, w, cells, c) == 0,
                    "n %u: draw %d refused", n, d);
    uint64_t sum = 0;
    double x[32];
    for (int i = 0; i < cells; i++) {
      sum += c[i];
      x[i] = (double)c[i] - n * (w[i] / tot);
      s1[i] += x[i];
      s2[i] += x[i] * x[i];
    }
    UNIT_ASSERT_MSG(sum == n, "n %u: counts sum to %llu", n,
                    (unsigned long long)sum);
    s01 += x[0] * x[1];
  }
  for (int i = 0; i < cells; i++) {
    double p = w[i] / tot, var = n * p * (1.0 - p);
    double mean = s1[i] / draws, v = s2[i] / draws - mean * mean;
    ck_assert_msg(fabs(mean) <= 5.0 * sqrt(var / draws) + 1e-12,
                  "n %u cell %d: mean off by %g (sd %g)", n, i, mean,
                  sqrt(var / draws));
    double mu4 = var * (1.0 + 3.0 * ((double)n - 2.0) * p * (1.0 - p));
    double se_v = sqrt(fmax(mu4 - var * var, 0.0) / draws);
    ck_assert_msg(fabs(v - var) <= 5.0 * se_v + 1e-12,
                  "n %u cell %d: variance %g, want %g (se %g)", n, i, v, var,
                  se_v);
  }
  double p0 = w[0] / tot, p1 = w[1] / tot, cov = -(double)n * p0 * p1;
  double sd0 = sqrt(n * p0 * (1 - p0)), sd1 = sqrt(n * p1 * (1 - p1));
  ck_assert_msg(fabs(s01 / draws - cov) <= 5.0 * sd0 * sd1 * sqrt(2.0 / draws),
                "n %u: covariance %g, want %g", n, s01 / draws, cov);
  rng_multinomial_destroy(&m);
}

START_TEST(test_multinomial_moments)
{
  const double w20[] = {4.0, 9.0, 2.0, 55.0, 4.0, 6.5, 1e-6, 4.0, 12.0, 3.0,
                        4.0, 4.0, 20.0, 0.25, 4.0, 7.0, 4.0, 4.0, 30.0, 2.0};
  check_multinomial_moments(8192, w20, 20, 40000, 31);
  check_multinomial_moments(1000000, w20, 20, 20000, 32);
  const double w3[] = {1.0, 2.0, 1e-9};
  check_multinomial_moments(4000000000u, w3, 3, 20000, 33);
  /* Fewer draws than cells: most subtrees get none. */
  check_multinomial_moments(3, w20, 20, 40000, 34);
}
END_TEST

START_TEST(test_multinomial_edges)
{
  struct rng_multinomial *m = NULL;
  ck_assert_int_eq(rng_multinomial_create(0, &m), -1);
  ck_assert_int_eq(rng_multinomial_create(5, &m), 0);
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 41);
  uint32_t c[8];
  const double w[] = {1.0, 0.0, 3.0, 2.0, 1.0, 1.0};
  /* No draws: zeros, and no bits used. */
  struct rng_pcg32 h = g;
  ck_assert_int_eq(rng_multinomial_draw(m, &g, 0, w, 5, c), 0);
  for (int i = 0; i < 5; i++)
    ck_assert_uint_eq(c[i], 0);
  ck_assert_uint_eq(g.state, h.state);
  /* One cell: it takes everything, no bits used. */
  ck_assert_int_eq(rng_multinomial_draw(m, &g, 77, w + 2, 1, c), 0);
  ck_assert_uint_eq(c[0], 77);
  ck_assert_uint_eq(g.state, h.state);
  /* Refused: more cells than the capacity, no cells, bad weights. */
  ck_assert_int_eq(rng_multinomial_draw(m, &g, 5, w, 6, c), -1);
  ck_assert_int_eq(rng_multinomial_draw(m, &g, 5, w, 0, c), -1);
  const double bad[] = {1.0, -1.0}, zero[] = {0.0, 0.0};
  const double inf[] = {1.0, INFINITY};
  ck_assert_int_eq(rng_multinomial_draw(m, &g, 5, bad, 2, c), -1);
  ck_assert_int_eq(rng_multinomial_draw(m, &g, 5, zero, 2, c), -1);
  ck_assert_int_eq(rng_multinomial_draw(m, &g, 5, inf, 2, c), -1);
  rng_multinomial_destroy(&m);
  rng_multinomial_destroy(&m); /* NULL is fine */
}
END_TEST

static Suite *rng_suite(void)
{
  TCase *tc;
  /* The samplers are the same code on every path; the suite runs on each
   * all the same. */
  unit_select_isa_from_env();
  Suite *s = unit_suite("rng", 60, &tc);
  tcase_add_test(tc, test_pcg32_known_answers);
  tcase_add_test(tc, test_splitmix64_known_answers);
  tcase_add_test(tc, test_streams_differ);
  tcase_add_test(tc, test_uniform_53_bits);
  tcase_add_test(tc, test_normal_moments);
  tcase_add_test(tc, test_bernoulli_binomial);
  tcase_add_test(tc, test_alias_frequencies);
  tcase_add_loop_test(tc, test_binomial_law, 0,
                      (int)(sizeof binom_cases / sizeof binom_cases[0]));
  tcase_add_test(tc, test_binomial_edges);
  tcase_add_loop_test(
    tc, test_batch_binomial_law, 0,
    (int)(sizeof binom_cases / sizeof binom_cases[0] +
          sizeof batch_cases / sizeof batch_cases[0]));
  tcase_add_test(tc, test_batch_binomial_edges);
  tcase_add_test(tc, test_multinomial_joint);
  tcase_add_test(tc, test_multinomial_moments);
  tcase_add_test(tc, test_multinomial_edges);
  return s;
}

UNIT_MAIN(rng_suite)
