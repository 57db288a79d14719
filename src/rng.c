/* rng: PCG32, SplitMix64 and samplers.  See include/dposweep/rng.h. */
#include "dposweep/rng.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PCG_MULT 6364136223846793005ULL

void rng_pcg32_seed(struct rng_pcg32 *g, uint64_t initstate, uint64_t initseq)
{
  /* Exactly the reference pcg32_srandom_r, so the published outputs apply. */
  g->state = 0U;
  g->inc = (initseq << 1u) | 1u;
  (void)rng_pcg32_next(g);
  g->state += initstate;
  (void)rng_pcg32_next(g);
}

uint32_t rng_pcg32_next(struct rng_pcg32 *g)
{
  uint64_t old = g->state;
  g->state = old * PCG_MULT + g->inc;
  uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = (uint32_t)(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

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

double rng_uniform(struct rng_pcg32 *g)
{
  uint64_t hi = rng_pcg32_next(g) >> 5; /* 27 bits */
  uint64_t lo = rng_pcg32_next(g) >> 6; /* 26 bits */
  return (double)((hi << 26) | lo) * 0x1.0p-53;
}

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

uint32_t rng_binomial(struct rng_pcg32 *g, double p, uint32_t n)
{
  if (n == 0 || !(p > 0.0))
    return 0;
  if (p >= 1.0)
    return n;
  gsl_rng r = gsl_view(g);
  return gsl_ran_binomial(&r, p, n);
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
