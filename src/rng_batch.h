/* rng_batch: exact binomials drawn in batches, and the tree multinomial
 * drawn with them; private to the engine (rng.c, bandit_kernels.c).
 *
 * rng_batch.c is compiled once per instruction set, like bandit_kernels.c
 * (src/meson.build), and every copy gives the same bits: its vector code
 * acts lane by lane with IEEE operations and no contraction into FMAs
 * (-ffp-contract=off), a lane's result never depends on the others, the
 * uniforms are taken in an order fixed by the draws alone, and the scalar
 * fallbacks are the same functions on every path.  rng.c's public
 * multinomial runs the baseline copy; the bandit's sampled estimator runs
 * the copy of the path selected (struct bandit_kernels).
 *
 * All functions are not collective (no MPI). */
#ifndef DPOSWEEP_RNG_BATCH_H
#define DPOSWEEP_RNG_BATCH_H

#include "dposweep/rng.h"

#include <stddef.h>
#include <stdint.h>

/* Inversion serves the draws with (n + 1) min(p, 1 - p) below this, BTRD
 * the others: an inversion costs a step per unit of its mean (about 0.5 ns
 * a step on AVX-512), a BTRD attempt a fixed 25 ns or so (divisions, a
 * square root, table lookups, an exp), and on the machine measured the
 * sampled estimator was fastest from 80 to 160 (K = 20, n = 8192). */
#define RB_INV_MEAN 120.0

/* An inversion gives up after this many steps and draws again: for the
 * means it serves, the tail beyond has probability below 1e-80. */
#define RB_INV_LAST 400

/* Entries of padding after a batch's lanes (whole vectors, and the
 * inversions' groups of two). */
#define RB_PAD 32

/* BTRD's final test reads log i! from a table for n up to this (128 KiB in
 * double-double); for larger n it takes Stirling's formula. */
#define RB_LF_MAX 8192

/* Jumps of the generator precomputed: j steps on, state * jmul[j] + inc *
 * jadd[j], j < RB_JUMPS. */
#define RB_JUMPS 65

struct rng_multinomial {
  size_t capacity;
  double *sum;       /* the tree's weights, a heap: node i has children 2i
                        and 2i + 1; the cells are the leaves count..2 count-1 */
  uint32_t *cnt;     /* draws per node */
  /* A batch of draws, in its order (RB_PAD entries of padding each). */
  double *nd, *p;    /* n, p */
  double *ua;        /* the first uniform of its first attempt */
  double *x;         /* its count */
  int64_t *st;       /* what it still waits for */
  double *cw, *ck;   /* inversions: P(0) past n = 1024, the count */
  int64_t *cok;
  uint64_t *jm4, *ja4; /* jumps of 4 i outputs: state jm4[i] + inc ja4[i] */
  uint64_t jmul[RB_JUMPS], jadd[RB_JUMPS]; /* jumps of j < RB_JUMPS */
  double rcp[RB_INV_LAST + 2]; /* 1 / i */
  double *lfhi, *lflo; /* log i! = lfhi[i] + lflo[i], i <= RB_LF_MAX */
};

/* PCG32's step and the 53-bit uniform of two outputs, shared with rng.c
 * (rng_pcg32_next, rng_uniform): the same bits. */
#define RB_PCG_MULT 6364136223846793005ULL

static inline uint32_t rb_pcg32_output(uint64_t old)
{
  uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = (uint32_t)(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

static inline uint32_t rb_pcg32_step(struct rng_pcg32 *g)
{
  uint64_t old = g->state;
  g->state = old * RB_PCG_MULT + g->inc;
  return rb_pcg32_output(old);
}

static inline double rb_uniform_of(uint32_t a, uint32_t b)
{
  uint64_t hi = a >> 5, lo = b >> 6; /* 27 and 26 bits */
  return (double)((hi << 26) | lo) * 0x1.0p-53;
}

static inline double rb_uniform53(struct rng_pcg32 *g)
{
  uint32_t a = rb_pcg32_step(g);
  return rb_uniform_of(a, rb_pcg32_step(g));
}

/* rng.c's scalar pieces the batches fall back on (rare draws). */

/* P(0) = (1 - p)^n of Binomial(n, p). */
double rng_binomial_p0(double p, uint32_t n);

/* log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2] for k < 128
 * (rng.c; above, the series in 1 / (k + 1)). */
extern const double rng_stirling_tail_table[128];

/* The copies of rng_batch.c, one per instruction set (rb_multinomial_ISA
 * and rb_binomials_ISA, named there as here, by pasting the ISA's name):
 * rng_multinomial_draw and rng_multinomial_binomials
 * (include/dposweep/rng.h), the checks included; rb_batch_ISA draws the
 * batch m->nd, m->p into m->x (the AVX-512 copy hands its small batches
 * to the AVX2 one's). */
#define RB_DECLARE(isa)                                                        \
  int rb_multinomial_##isa(struct rng_multinomial *m, struct rng_pcg32 *g,     \
                           uint32_t n, const double *w, size_t count,          \
                           uint32_t *counts);                                  \
  void rb_binomials_##isa(struct rng_multinomial *m, struct rng_pcg32 *g,      \
                          size_t count, const uint32_t *n, const double *p,    \
                          uint32_t *x);                                        \
  void rb_batch_##isa(struct rng_multinomial *m, struct rng_pcg32 *g,          \
                      size_t len)
RB_DECLARE(baseline);
#ifdef BANDIT_X86_KERNELS
RB_DECLARE(avx2);
RB_DECLARE(avx512);
#endif

#endif
