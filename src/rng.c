/* rng: PCG32, SplitMix64 and samplers.  See include/dposweep/rng.h. */
#include "dposweep/rng.h"

#include "rng_batch.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void rng_pcg32_seed(struct rng_pcg32 *g, uint64_t initstate, uint64_t initseq)
{
  /* Exactly the reference pcg32_srandom_r, so the published outputs apply. */
  g->state = 0U;
  g->inc = (initseq << 1u) | 1u;
  (void)rng_pcg32_next(g);
  g->state += initstate;
  (void)rng_pcg32_next(g);
}

/* The generator's step and the 53-bit uniform are rng_batch.h's, inlined
 * into the samplers below (the public functions are their wrappers). */
#define pcg32_step rb_pcg32_step
#define uniform53 rb_uniform53

uint32_t rng_pcg32_next(struct rng_pcg32 *g) { return pcg32_step(g); }

static uint64_t splitmix64_mix(uint64_t z)
{
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rng_splitmix64_next(uint64_t *state)
{
  *state += 0x9e3779b97f4a7c15ULL;
  return splitmix64_mix(*state);
}

uint64_t rng_key_mix(uint64_t key, uint64_t value)
{
  /* Mix the value before combining so that small integers (regime codes,
   * seeds) spread over all bits, then mix the combination. */
  uint64_t s = value;
  uint64_t v = rng_splitmix64_next(&s);
  s = key ^ v;
  return rng_splitmix64_next(&s);
}

uint64_t rng_double_bits(double x)
{
  uint64_t b;
  if (x == 0.0)
    x = 0.0; /* fold -0.0 into +0.0: they are the same setting */
  memcpy(&b, &x, sizeof b);
  return b;
}

void rng_pcg32_seed_key(struct rng_pcg32 *g, uint64_t key)
{
  uint64_t s = key;
  uint64_t initstate = rng_splitmix64_next(&s);
  uint64_t initseq = rng_splitmix64_next(&s);
  rng_pcg32_seed(g, initstate, initseq);
}

double rng_uniform(struct rng_pcg32 *g) { return uniform53(g); }

double rng_uniform_pos(struct rng_pcg32 *g)
{
  double u;
  do
    u = rng_uniform(g);
  while (u == 0.0);
  return u;
}

/* The PCG32 generator as a gsl_rng_type: GSL's samplers then draw their
 * bits from PCG, and gsl_rng_uniform gets our 53-bit doubles. */
static void gsl_pcg_set(void *state, unsigned long int seed)
{
  rng_pcg32_seed(state, seed, 0);
}

static unsigned long int gsl_pcg_get(void *state)
{
  return rng_pcg32_next(state);
}

static double gsl_pcg_get_double(void *state)
{
  return rng_uniform(state);
}

static const gsl_rng_type gsl_pcg_type = {
  "dposweep-pcg32", 0xffffffffUL, 0UL, sizeof(struct rng_pcg32),
  gsl_pcg_set,      gsl_pcg_get,  gsl_pcg_get_double,
};

static gsl_rng gsl_view(struct rng_pcg32 *g)
{
  gsl_rng r = {&gsl_pcg_type, g};
  return r;
}

double rng_normal(struct rng_pcg32 *g)
{
  gsl_rng r = gsl_view(g);
  return gsl_ran_gaussian_ziggurat(&r, 1.0);
}

int rng_bernoulli(struct rng_pcg32 *g, double p)
{
  return rng_uniform(g) < p;
}

/* ---- Binomial(n, p) ----
 *
 * Hormann's BTRD (W. Hormann, "The generation of binomial random
 * variates", J. Statist. Comput. Simul. 46, 1993): transformed rejection
 * with a table-free quick acceptance that takes one uniform for most
 * draws, for (n + 1) min(p, 1 - p) >= 11; inversion, walking the
 * probabilities up from 0, below.  Exact in distribution up to the
 * rounding of double arithmetic: the final acceptance test compares
 * log f(k) / f(m) in a form without cancellation (log1p of small
 * ratios), so its error stays near 1e-11 even at n = 4e9.  Every uniform
 * comes from the caller's PCG32 stream. */

/* log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2], the remainder
 * of Stirling's series, for k < 128 (computed to 50 digits: Python's
 * decimal, log k! as a sum of logs); above, the series' first four terms
 * in 1/(k + 1) are exact to 1e-22. */
const double rng_stirling_tail_table[128] = {
  0.08106146679532726, 0.0413406959554093, 0.02767792568499834,
  0.020790672103765093, 0.016644691189821193, 0.013876128823070748,
  0.01189670994589177, 0.010411265261972096, 0.009255462182712733,
  0.00833056343336287, 0.007573675487951841, 0.00694284010720953,
  0.006408994188004207, 0.0059513701127588475, 0.005554733551962801,
  0.0052076559196096404, 0.004901395948434738, 0.004629153749334028,
  0.004385560249232324, 0.004166319691996922, 0.00396795421864086,
  0.0037876180684444346, 0.0036229602246830948, 0.003472021382978767,
  0.003333155636728093, 0.003204970228055038, 0.0030862786826087773,
  0.002976063983550409, 0.0028734493623524663, 0.0027776749297526936,
  0.002688078828531143, 0.0026040819192516564, 0.0025251752497567844,
  0.002450909735438118, 0.002380887608234112, 0.002314755290514684,
  0.002252197424337524, 0.002192931843287834, 0.0021367053177525,
  0.0020832899383024218, 0.0020324800282566307, 0.0019840894972457954,
  0.0019379495639957995, 0.0018939067896006345, 0.0018518213729931796,
  0.0018115656687196307, 0.0017730228939128539, 0.0017360859968765974,
  0.0017006566641960617, 0.0016666444469833656, 0.0016339659899078578,
  0.0016025443491763207, 0.0015723083877161597, 0.0015431922375547637,
  0.001515134820843603, 0.0014880794221971373, 0.0014619733060452678,
  0.001436767373567119, 0.001412415854510449, 0.0013888760298270133,
  0.0013661079815878961, 0.0013440743670990404, 0.001322740214528256,
  0.0013020727376910496, 0.0012820411679321567, 0.0012626166012897153,
  0.0012437718593454816, 0.001225481362352321, 0.0012077210133935275,
  0.0011904680924708464, 0.001173701159542376, 0.0011573999656402615,
  0.001141545371293453, 0.0011261192715645379, 0.0011111045270833704,
  0.0010964849005251829, 0.001082244998038253, 0.0010683702151769565,
  0.0010548466869410077, 0.0010416612415616192, 0.0010288013577107774,
  0.0010162551248414397, 0.0010040112063945989, 0.0009920588056343287,
  0.0009803876338943896, 0.0009689878810401172, 0.0009578501879673551,
  0.0009469656209764034, 0.000936325647873512, 0.000925922115665562,
  0.0009157472297253833, 0.0009057935343158172, 0.0008960538943702565,
  0.0008865214784360981, 0.000877189742695422, 0.0008680524159843522,
  0.0008591034857390314, 0.0008503371848020241, 0.0008417479790283124,
  0.0008333305556349147, 0.0008250798122425884, 0.0008169908465621254,
  0.0008090589466814305, 0.0008012795819129495, 0.0007936483941640893,
  0.0007861611897960947, 0.000778813931939427, 0.0007716027332360576,
  0.0007645238489812593, 0.0007575736706394759, 0.0007507487197106769,
  0.0007440456419252952, 0.0007374612017473918, 0.0007309922771671227,
  0.0007246358547648976, 0.000718389025030837, 0.0007122489779242528,
  0.0007062129986589131, 0.0007002784637008125, 0.0006944428369660497,
  0.0006887036662072376, 0.0006830585795776273, 0.0006775052823628333,
  0.0006720415538706998, 0.0006666652444704495, 0.0006613742727728239,
  0.0006561666229434436, 0.0006510403421421022,
};

static double stirling_tail(double k)
{
  if (k < 128.0)
    return rng_stirling_tail_table[(int)k];
  double z = 1.0 / (k + 1.0), z2 = z * z;
  return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - z2 / 1680.0) * z2) *
                           z2) *
         z;
}

/* log(f(k) / f(m)) for Binomial(n, p), r = p / q, from Stirling's formula
 * with d = k - m: the terms in (m + 1/2) and (n - m + 1/2) as log1p of
 * small ratios, so nothing of size n log n cancels. */
static double binomial_log_ratio(double n, double m, double k, double r)
{
  double d = k - m;
  return -(m + 0.5) * log1p(d / (m + 1.0)) -
         (n - m + 0.5) * log1p(-d / (n - m + 1.0)) +
         d * log((n - k + 1.0) * r / (k + 1.0)) + stirling_tail(m) -
         stirling_tail(k) + stirling_tail(n - m) - stirling_tail(n - k);
}

/* P(0) = (1 - p)^n.  For n up to 1024 by squaring, which is quicker than
 * exp and log1p and as exact (the rounding of 1 - p, 1e-16, grows at most
 * n-fold); above, from log1p(-p), exact for any p. */
double rng_binomial_p0(double p, uint32_t n)
{
  if (n > 1024)
    return exp((double)n * log1p(-p));
  double q = 1.0 - p, f = 1.0;
  for (; n; n >>= 1, q *= q)
    if (n & 1)
      f *= q;
  return f;
}

/* One attempt of inversion for p <= 1/2, (n + 1) p < 11, with the uniform
 * u: P(0) = q^n, P(x) = P(x - 1) (a / x - s), s = p / q, a = (n + 1) s.
 * Fails (0) when u lies beyond the summed probabilities (round-off, or a
 * tail past x = 110 of probability below 1e-60). */
static int inversion_try(double p, uint32_t n, double u, uint32_t *out)
{
  const double s = p / (1.0 - p), a = ((double)n + 1.0) * s;
  const uint32_t last = n < 110 ? n : 110;
  double f = rng_binomial_p0(p, n);
  for (uint32_t x = 0;; x++) {
    if (u < f) {
      *out = x;
      return 1;
    }
    if (x == last)
      return 0;
    u -= f;
    f *= a / (double)(x + 1) - s;
  }
}

/* floor(x) for |x| < 2^63, by truncation (no SSE4.1 round in the
 * baseline instruction set, and libm's floor is a call); a huge or NaN x
 * gives -2^63, a negative count, which is rejected. */
static inline double floor_count(double x)
{
  double t = (double)(int64_t)x;
  return t - (double)(t > x);
}

/* Steps 3.1 to 3.3 of BTRD (Hormann's paper): whether the candidate k is
 * accepted, v on the hat's scale. */
static int btrd_accept(double nd, double p, double npq, double k, double v)
{
  const double m = floor_count((nd + 1.0) * p); /* the mode */
  const double r = p / (1.0 - p), nr = (nd + 1.0) * r;
  double km = fabs(k - m);
  if (km <= 15.0) {
    /* 3.1: f(k) / f(m) by the recursion f(i) / f(i - 1) = (nr - r i) / i,
     * its numerators and denominators multiplied apart (no division; at
     * most 15 factors below 4.3e9 each). */
    double num = 1.0, den = 1.0;
    for (double i = m + 1.0; i <= k; i++) {
      num *= nr - r * i;
      den *= i;
    }
    for (double i = k + 1.0; i <= m; i++) {
      num *= i;
      den *= nr - r * i;
    }
    return v * den <= num;
  }
  /* 3.2: squeeze with the normal approximation's bounds. */
  v = log(v);
  double rho =
    (km / npq) * (((km / 3.0 + 0.625) * km + 1.0 / 6.0) / npq + 0.5);
  double t = -km * km / (2.0 * npq);
  if (v < t - rho)
    return 1;
  if (v > t + rho)
    return 0;
  /* 3.3: the final test. */
  return v <= binomial_log_ratio(nd, m, k, r);
}

/* BTRD for p <= 1/2, (n + 1) p >= 11: attempts until one is accepted, each
 * taking one uniform in its quick acceptance (step 1, most attempts) and
 * two otherwise.  The setup is what step 1 needs; the rest is derived when
 * an attempt gets past it. */
static uint32_t binomial_btrd(struct rng_pcg32 *g, double p, uint32_t n)
{
  const double nd = (double)n, npq = nd * p * (1.0 - p);
  const double spq = sqrt(npq);
  const double b = 1.15 + 2.53 * spq;
  const double a = -0.0873 + 0.0248 * b + 0.01 * p;
  const double c = nd * p + 0.5;
  const double vr = 0.92 - 4.2 / b, urvr = 0.86 * vr;
  for (;;) {
    /* 1: the quick acceptance. */
    double v = uniform53(g), u;
    if (v <= urvr) {
      u = v / vr - 0.43;
      double k = floor_count((2.0 * a / (0.5 - fabs(u)) + b) * u + c);
      if (k >= 0.0 && k <= nd) /* always, for these parameters */
        return (uint32_t)k;
      continue;
    }
    /* 2: a point of the hat outside the quick region. */
    if (v >= vr) {
      u = uniform53(g) - 0.5;
    } else {
      u = v / vr - 0.93;
      u = (u < 0.0 ? -0.5 : 0.5) - u;
      v = uniform53(g) * vr;
    }
    double us = 0.5 - fabs(u);
    double k = floor_count((2.0 * a / us + b) * u + c);
    if (k < 0.0 || k > nd)
      continue;
    /* 3.0: v on the hat's scale. */
    double alpha = (2.83 + 5.1 / b) * spq;
    if (btrd_accept(nd, p, npq, k, v * alpha / (a / (us * us) + b)))
      return (uint32_t)k;
  }
}

/* Inversion for p <= 1/2, (n + 1) p < 11: one uniform an attempt. */
static uint32_t binomial_inversion(struct rng_pcg32 *g, double p, uint32_t n)
{
  uint32_t x;
  while (!inversion_try(p, n, uniform53(g), &x))
    ;
  return x;
}

/* rng_binomial, inlined into the loops below: the generator's state can
 * then stay in a register from one draw to the next (its chain of
 * multiplications is the one thing the draws cannot overlap). */
static inline uint32_t binomial(struct rng_pcg32 *g, double p, uint32_t n)
{
  if (n == 0 || !(p > 0.0))
    return 0;
  if (p >= 1.0)
    return n;
  /* The rarer outcome's count; 1 - p is exact for p >= 1/2. */
  int flip = p > 0.5;
  double pp = flip ? 1.0 - p : p;
  uint32_t x = ((double)n + 1.0) * pp < 11.0 ? binomial_inversion(g, pp, n)
                                             : binomial_btrd(g, pp, n);
  return flip ? n - x : x;
}

uint32_t rng_binomial(struct rng_pcg32 *g, double p, uint32_t n)
{
  return binomial(g, p, n);
}

/* ---- Multinomial ----
 *
 * A heap-shaped binary tree over the cells, split level by level from the
 * root, each level's binomials drawn as one batch: see src/rng_batch.c.
 * This is the baseline copy; the bandit's sampled estimator runs the copy
 * of the instruction-set path selected, the same bits. */

int rng_multinomial_create(size_t capacity, struct rng_multinomial **out)
{
  int status = -1;
  struct rng_multinomial *m = calloc(1, sizeof *m);
  if (!m || capacity == 0 || capacity > ((size_t)1 << 30))
    goto out;
  m->capacity = capacity;
  const size_t lanes = capacity + RB_PAD;
  int ok = (m->sum = malloc(2 * capacity * sizeof *m->sum)) != NULL;
  ok &= (m->cnt = malloc(2 * capacity * sizeof *m->cnt)) != NULL;
  double **dbl[] = {&m->nd, &m->p, &m->ua, &m->x, &m->cw, &m->ck};
  for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++)
    ok &= (*dbl[i] = calloc(lanes, sizeof **dbl[i])) != NULL;
  ok &= (m->st = calloc(lanes, sizeof *m->st)) != NULL;
  ok &= (m->cok = calloc(lanes, sizeof *m->cok)) != NULL;
  ok &= (m->jm4 = malloc((lanes + 1) * sizeof *m->jm4)) != NULL;
  ok &= (m->ja4 = malloc((lanes + 1) * sizeof *m->ja4)) != NULL;
  ok &= (m->lfhi = malloc((RB_LF_MAX + 1) * sizeof *m->lfhi)) != NULL;
  ok &= (m->lflo = malloc((RB_LF_MAX + 1) * sizeof *m->lflo)) != NULL;
  if (!ok)
    goto out;
  m->jmul[0] = 1;
  m->jadd[0] = 0;
  for (int j = 1; j < RB_JUMPS; j++) {
    m->jmul[j] = m->jmul[j - 1] * RB_PCG_MULT;
    m->jadd[j] = m->jadd[j - 1] * RB_PCG_MULT + 1;
  }
  m->jm4[0] = 1;
  m->ja4[0] = 0;
  for (size_t i = 1; i <= lanes; i++) {
    m->jm4[i] = m->jm4[i - 1] * m->jmul[4];
    m->ja4[i] = m->ja4[i - 1] * m->jmul[4] + m->jadd[4];
  }
  m->rcp[0] = 0.0;
  for (int i = 1; i <= RB_INV_LAST + 1; i++)
    m->rcp[i] = 1.0 / (double)i;
  /* log i! summed in double-double (Knuth's two-sum), so that a difference
   * of two entries carries only the errors of the logs summed between
   * them (libm's log, within an ulp each): about 1e-15 for BTRD's final
   * test, where single doubles would carry 1e-11. */
  double hi = 0.0, lo = 0.0;
  m->lfhi[0] = m->lflo[0] = 0.0;
  for (int i = 1; i <= RB_LF_MAX; i++) {
    double t = log((double)i), s = hi + t, bb = s - hi;
    lo += (hi - (s - bb)) + (t - bb);
    hi = s + lo;
    lo -= hi - s;
    m->lfhi[i] = hi;
    m->lflo[i] = lo;
  }
  *out = m;
  m = NULL;
  status = 0;
out:
  rng_multinomial_destroy(&m);
  return status;
}

void rng_multinomial_destroy(struct rng_multinomial **mp)
{
  if (!mp || !*mp)
    return;
  struct rng_multinomial *m = *mp;
  void *arrays[] = {m->sum, m->cnt, m->nd, m->p,   m->ua,  m->x,
                    m->st,  m->cw,  m->ck, m->cok, m->jm4, m->ja4,
                    m->lfhi, m->lflo};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
    free(arrays[i]);
  free(m);
  *mp = NULL;
}

int rng_multinomial_draw(struct rng_multinomial *m, struct rng_pcg32 *g,
                         uint32_t n, const double *w, size_t count,
                         uint32_t *counts)
{
  return rb_multinomial_baseline(m, g, n, w, count, counts);
}

int rng_multinomial_binomials(struct rng_multinomial *m, struct rng_pcg32 *g,
                              size_t count, const uint32_t *n,
                              const double *p, uint32_t *x)
{
  if (count > m->capacity)
    return -1;
  if (count > 0)
    rb_binomials_baseline(m, g, count, n, p, x);
  return 0;
}

struct rng_alias {
  size_t capacity;
  size_t n;
  double *prob;   /* acceptance probability of column i */
  uint32_t *alias;
  uint32_t *work; /* small/large worklists during build */
};

int rng_alias_create(size_t capacity, struct rng_alias **out)
{
  int status = -1;
  struct rng_alias *a = calloc(1, sizeof *a);
  if (!a || capacity == 0 || capacity > UINT32_MAX)
    goto out;
  a->capacity = capacity;
  a->prob = malloc(capacity * sizeof *a->prob);
  a->alias = malloc(capacity * sizeof *a->alias);
  a->work = malloc(capacity * sizeof *a->work);
  if (!a->prob || !a->alias || !a->work)
    goto out;
  *out = a;
  a = NULL;
  status = 0;
out:
  rng_alias_destroy(&a);
  return status;
}

void rng_alias_destroy(struct rng_alias **a)
{
  if (!a || !*a)
    return;
  free((*a)->prob);
  free((*a)->alias);
  free((*a)->work);
  free(*a);
  *a = NULL;
}

int rng_alias_build(struct rng_alias *a, const double *w, size_t n)
{
  if (n == 0 || n > a->capacity)
    return -1;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (!(w[i] >= 0.0) || !isfinite(w[i]))
      return -1;
    sum += w[i];
  }
  if (!(sum > 0.0) || !isfinite(sum))
    return -1;
  /* Vose's method: small columns fill from the front of work, large from
   * the back, so one array serves both lists. */
  double scale = (double)n / sum;
  size_t ns = 0, nl = 0;
  for (size_t i = 0; i < n; i++) {
    a->prob[i] = w[i] * scale;
    if (a->prob[i] < 1.0)
      a->work[ns++] = (uint32_t)i;
    else
      a->work[n - 1 - nl++] = (uint32_t)i;
  }
  while (ns > 0 && nl > 0) {
    uint32_t s = a->work[--ns];
    uint32_t l = a->work[n - nl];
    a->alias[s] = l;
    a->prob[l] -= 1.0 - a->prob[s];
    if (a->prob[l] < 1.0) {
      nl--;
      a->work[ns++] = l;
    }
  }
  /* What remains is 1 up to round-off. */
  while (nl > 0) {
    uint32_t l = a->work[n - nl--];
    a->prob[l] = 1.0;
    a->alias[l] = l;
  }
  while (ns > 0) {
    uint32_t s = a->work[--ns];
    a->prob[s] = 1.0;
    a->alias[s] = s;
  }
  a->n = n;
  return 0;
}

size_t rng_alias_draw(const struct rng_alias *a, struct rng_pcg32 *g)
{
  double x = rng_uniform(g) * (double)a->n;
  size_t i = (size_t)x;
  if (i >= a->n)
    i = a->n - 1;
  return (x - (double)i) < a->prob[i] ? i : a->alias[i];
}
