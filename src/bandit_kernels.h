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

/* The symmetric pair weight S(y, y') of docs/model.md section 3, theory
 * scale, of one pair (scalar): the sampled estimator's (bandit.c) and the
 * pair loops' diagonal (bandit_kernels.c).  Inlined with a constant
 * regime, so each caller is specialized.  For the product samplers S =
 * 2K^2 (a[y] b[y'] + a[y'] b[y]). */
static inline __attribute__((always_inline)) double
bk_pair_weight(enum bandit_regime regime, double er_y, double ier_y,
               double er_z, double ier_z, double e_y, double ie_y, double e_z,
               double ie_z, double a_y, double b_y, double a_z, double b_z,
               double lo, double hi, double c2k2)
{
  switch (regime) {
  case BANDIT_UNIFORM: return 4.0;
  case BANDIT_MIX_R: return 2.0 + er_y * ier_z + er_z * ier_y;
  case BANDIT_MIX_P: return 2.0 + e_y * ie_z + e_z * ie_y;
  case BANDIT_MIX_P_CLIP: {
    /* exp(z') and exp(-z'), z' = clip(z, -m, m); no division. */
    double x = e_y * ie_z, xi = e_z * ie_y;
    x = x < lo ? lo : (x > hi ? hi : x);
    xi = xi < lo ? lo : (xi > hi ? hi : xi);
    return 2.0 + x + xi;
  }
  case BANDIT_ON_POLICY:
  case BANDIT_HYBRID:
  case BANDIT_REFERENCE:
  default: return c2k2 * (a_y * b_z + a_z * b_y);
  }
}

extern const struct bandit_kernels bk_baseline;
#ifdef BANDIT_X86_KERNELS
extern const struct bandit_kernels bk_avx2;
extern const struct bandit_kernels bk_avx512;
#endif

/* The table of the path selected (bandit_isa_select), or of "auto" when
 * none was. */
const struct bandit_kernels *bandit_kernels_active(void);

#endif
