/* rng: PCG32 random numbers, SplitMix64 seeding, and the samplers the
 * bandit engine needs.  PCG32 is the only source of random bits; the GSL
 * samplers (ziggurat normals, binomials) are driven through a custom
 * gsl_rng_type wrapping it.  Nothing here knows about MPI or HDF5.
 *
 * All functions are not collective (no MPI). */
#ifndef DPOSWEEP_RNG_H
#define DPOSWEEP_RNG_H

#include <stddef.h>
#include <stdint.h>

/* PCG32 (XSH-RR, 64-bit state, selectable stream).  A small value type,
 * exposed on purpose: it is copied and stepped in the hot loops, and an
 * opaque heap object would cost an allocation per task for nothing. */
struct rng_pcg32 {
  uint64_t state;
  uint64_t inc; /* always odd: selects the stream */
};

/* Seed like the reference pcg32_srandom_r(rng, initstate, initseq). */
void rng_pcg32_seed(struct rng_pcg32 *g, uint64_t initstate, uint64_t initseq);

/* Next 32 random bits. */
uint32_t rng_pcg32_next(struct rng_pcg32 *g);

/* SplitMix64: advance *state and return the next output. */
uint64_t rng_splitmix64_next(uint64_t *state);

/* Fold one 64-bit value into a running hash key (SplitMix64 finalizer).
 * Used to derive stream seeds from task coordinates. */
uint64_t rng_key_mix(uint64_t key, uint64_t value);

/* The bits of a double, for hashing (+0.0 and -0.0 are folded). */
uint64_t rng_double_bits(double x);

/* Seed a generator from a key: state and stream both come from SplitMix64
 * outputs of the key, so distinct keys give distinct streams. */
void rng_pcg32_seed_key(struct rng_pcg32 *g, uint64_t key);

/* Uniform double in [0, 1) with 53 random bits (two outputs). */
double rng_uniform(struct rng_pcg32 *g);

/* Uniform double in (0, 1): never returns 0, for logs. */
double rng_uniform_pos(struct rng_pcg32 *g);

/* Standard normal N(0,1) (GSL's ziggurat, bits from PCG32). */
double rng_normal(struct rng_pcg32 *g);

/* Bernoulli(p): 1 with probability p. */
int rng_bernoulli(struct rng_pcg32 *g, double p);

/* Binomial(n, p) (GSL's BTPE/inversion, bits from PCG32).  p is clamped
 * to [0, 1]. */
uint32_t rng_binomial(struct rng_pcg32 *g, double p, uint32_t n);

/* Walker/Vose alias table for categorical draws over n outcomes with
 * weights w (not necessarily normalized).  Build is O(n), draw O(1). */
struct rng_alias;

/* Allocate a table for up to capacity outcomes.  Returns 0 or -1 (ENOMEM). */
int rng_alias_create(size_t capacity, struct rng_alias **out);
void rng_alias_destroy(struct rng_alias **a);

/* (Re)build the table from n >= 1 non-negative weights with a positive sum.
 * Returns 0, or -1 when n exceeds the capacity or the weights are invalid. */
int rng_alias_build(struct rng_alias *a, const double *w, size_t n);

/* Draw one outcome index in [0, n). */
size_t rng_alias_draw(const struct rng_alias *a, struct rng_pcg32 *g);

#endif
