/* rng: PCG32 random numbers, SplitMix64 seeding, and the samplers the
 * bandit engine needs.  PCG32 is the only source of random bits; GSL's
 * ziggurat normals are driven through a custom gsl_rng_type wrapping it.
 * Nothing here knows about MPI or HDF5.
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

/* Binomial(n, p), exact in distribution: Hormann's BTRD for (n + 1)
 * min(p, 1 - p) >= 11 (about 1.2 uniforms a draw, whatever n), inversion
 * below; bits from PCG32.  p is clamped to [0, 1] (NaN: 0). */
uint32_t rng_binomial(struct rng_pcg32 *g, double p, uint32_t n);

/* Multinomial counts: n draws over cells of weights w[0..count), exact in
 * distribution.  A binary tree over the cells (a heap: node i has children
 * 2i and 2i + 1), whose nodes split their draws between their children by
 * a binomial, level by level from the root, each level's binomials drawn
 * as one batch (rng_multinomial_binomials); a node without draws zeros its
 * subtree.  count - 1 binomials at most, at a cost independent of n; a
 * level with nothing to draw (n = 0, a single cell) takes no bits.
 * Memory O(capacity).  See src/rng_batch.c. */
struct rng_multinomial;

/* A sampler for up to capacity cells.  Returns 0 or -1 (ENOMEM, or a
 * capacity of 0 or past 2^30). */
int rng_multinomial_create(size_t capacity, struct rng_multinomial **out);
void rng_multinomial_destroy(struct rng_multinomial **m);

/* Draw counts[0..count), summing to n.  Returns 0, or -1 (nothing drawn)
 * when count is 0 or exceeds the capacity, or the weights are not finite
 * and >= 0 with a positive sum. */
int rng_multinomial_draw(struct rng_multinomial *m, struct rng_pcg32 *g,
                         uint32_t n, const double *w, size_t count,
                         uint32_t *counts);

/* x[i] ~ Binomial(n[i], p[i]) for i < count, independent, exact in
 * distribution, drawn as one batch the way rng_multinomial_draw draws a
 * level of its tree: inversion for small means, BTRD for the others, in
 * vector passes over all the draws, each draw's uniforms at places fixed
 * by its index and attempt (src/rng_batch.c).  Other draws than
 * rng_binomial's, the same laws; p clamped as there (NaN: 0).  Returns 0,
 * or -1 (nothing drawn) when count exceeds the capacity. */
int rng_multinomial_binomials(struct rng_multinomial *m, struct rng_pcg32 *g,
                              size_t count, const uint32_t *n,
                              const double *p, uint32_t *x);

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
