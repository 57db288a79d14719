/* bandit_kernels: the engine's vector loops, private to the engine.
 *
 * bandit_kernels.c is compiled once per instruction set (src/meson.build:
 * baseline everywhere, AVX2 and AVX-512 on x86-64) into one table each;
 * bandit_isa.c picks a table at start-up.  Every table computes the same
 * bits: the kernels are written once over GCC's vector extension, so each
 * element sees the same IEEE operations in the same order whatever the
 * vector width, every reduction has one fixed order, and nothing is
 * contracted into an FMA (-ffp-contract=off).  (Checked by the unit tests,
 * which also run whole suites once per path.)
 *
 * Not collective (no MPI). */
#ifndef DPOSWEEP_BANDIT_KERNELS_H
#define DPOSWEEP_BANDIT_KERNELS_H

#include "dposweep/bandit.h"
#include "dposweep/rng.h"

/* What the pair loops read: the per-arm arrays of a step (K entries each)
 * and the regime's constants. */
struct bk_pairs {
  int k; /* the arrays have K + BK_ARRAY_PAD entries, the padding zero */
  const double *er, *ier; /* exp(r - max r) and its inverse */
  const double *e, *ie;   /* exp(beta u - max) and its inverse */
  const double *a, *b;    /* product samplers' factors (pi_s1, pi_s2) */
  double lo, hi;          /* mix-p-clip: exp(-m), exp(m) */
  double c2k2;            /* 2 K^2 */
};

struct bandit_kernels {
  const char *name;
  /* e = exp(scale x - max(scale x)), clamped below at exp(EXP_FLOOR), and
   * ie = 1 / e (when ie is not NULL); n entries. */
  void (*shifted_exp)(const double *x, double scale, int n, double *e,
                      double *ie);
  /* s[y] = sum_{y'} S(y,y') Delta(y,y') (theory scale) for the regime,
   * K entries; returns sum S over all ordered pairs. */
  double (*pair_loop[BANDIT_NREGIMES])(const struct bk_pairs *p, double *s);
  /* t1 = P^T ie and t2 = P^T e over the K x kp table P (kp a multiple of
   * BK_TABLE_PAD, zero padded); t1, t2 have kp entries. */
  void (*table_products)(const double *ptab, int k, int kp, const double *e,
                         const double *ie, double *t1, double *t2);
  /* rng_multinomial_draw, drawn by this path's copy of rng_batch.c (the
   * same bits as the baseline's). */
  int (*multinomial)(struct rng_multinomial *m, struct rng_pcg32 *g,
                     uint32_t n, const double *w, size_t count,
                     uint32_t *counts);
};

/* The per-arm arrays the kernels read (bk_pairs) have at least this many
 * entries of zero padding after the K arms, so a loop's last vector may
 * read past K. */
#define BK_ARRAY_PAD 8

/* Rows of mix-p's table are padded to a multiple of this many doubles (one
 * 64-byte vector), and the table and its scratch are 64-byte aligned. */
#define BK_TABLE_PAD 8

/* exp() arguments are clamped here (see bandit.c). */
#define BK_EXP_FLOOR (-700.0)

extern const struct bandit_kernels bk_baseline;
#ifdef BANDIT_X86_KERNELS
extern const struct bandit_kernels bk_avx2;
extern const struct bandit_kernels bk_avx512;
#endif

/* The table of the path selected (bandit_isa_select), or of "auto" when
 * none was. */
const struct bandit_kernels *bandit_kernels_active(void);

#endif
