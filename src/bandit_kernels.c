/* bandit_kernels: the engine's vector loops, compiled once per instruction
 * set with -DBK_ISA=<name> (src/meson.build).  See bandit_kernels.h.
 *
 * Why the results are the same bits on every path: every kernel works on
 * vectors of GCC's vector extension (vd, W lanes: the path's width), whose
 * operations act element by element with IEEE rounding and no contraction
 * into FMAs (-ffp-contract=off), so an element's value does not depend on
 * W; loop tails go through the same vector code; and the one reduction over
 * a vector (the pair loop's row sums) adds its terms in one fixed order,
 * written out below, that does not depend on W either. */
#include "bandit_kernels.h"
#include "rng_batch.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef BK_ISA
#error "compile with -DBK_ISA=baseline, avx2 or avx512"
#endif

#define BK_CAT2(a, b) a##_##b
#define BK_CAT(a, b) BK_CAT2(a, b)
#define BK_STR2(a) #a
#define BK_STR(a) BK_STR2(a)

/* Lanes per vector (the results do not depend on them): W for the pair
 * loops and the exponentials, WT for mix-p's table.  The AVX-512 path runs
 * the pair loops on 256-bit vectors with AVX-512VL's 32 registers: on the
 * Xeon (Cascade Lake) measured, 512-bit divisions lowered the clock and
 * ran slower than 256-bit ones, while the table, which streams memory,
 * gained from 512-bit loads. */
#if defined(__AVX512F__)
#define W 4
#define WT 8
#elif defined(__AVX2__)
#define W 4
#define WT 4
#else
#define W 2
#define WT 2
#endif
typedef double vd __attribute__((vector_size(W * sizeof(double))));
typedef uint64_t vu __attribute__((vector_size(W * sizeof(uint64_t))));
typedef int64_t vm __attribute__((vector_size(W * sizeof(int64_t))));
typedef double v2 __attribute__((vector_size(2 * sizeof(double))));
typedef double vt __attribute__((vector_size(WT * sizeof(double))));

#define INLINE static inline __attribute__((always_inline))

INLINE vd load(const double *p)
{
  vd v;
  memcpy(&v, p, sizeof v);
  return v;
}

INLINE void store(double *p, vd v) { memcpy(p, &v, sizeof v); }

INLINE vt load_t(const double *p)
{
  vt v;
  memcpy(&v, p, sizeof v);
  return v;
}

INLINE void store_t(double *p, vt v) { memcpy(p, &v, sizeof v); }

INLINE vd splat(double x)
{
  vd v;
  for (int i = 0; i < W; i++)
    v[i] = x;
  return v;
}

/* m ? a : b per lane, m the result of a comparison (all ones or zero): C's
 * ?: per element, NaN included. */
INLINE vd select(vm m, vd a, vd b)
{
  return (vd)(((vm)a & m) | ((vm)b & ~m));
}

/* ---- exp ---- */

/* exp(a) for a in [BK_EXP_FLOOR, 0], the per-step exponentials: shared
 * with rng_batch.c, so included here, once vd, vu and splat exist. */
#include "bk_vexp.h"

/* e = exp(scale x - m) for W entries, clamped below when clamp is set. */
INLINE vd exp_block(vd x, double scale, double m, int clamp)
{
  vd a = scale * x - m;
  if (clamp)
    a = select(a < BK_EXP_FLOOR, splat(BK_EXP_FLOOR), a);
  return bk_exp_nonpos(a);
}

static void shifted_exp(const double *x, double scale, int n, double *e,
                        double *ie)
{
  /* max and min do not depend on the order they are taken in (a NaN is
   * skipped either way), so lanes may take them. */
  vd vmax = splat(-INFINITY), vmin = splat(INFINITY);
  int i = 0;
  for (; i + W <= n; i += W) {
    vd v = scale * load(x + i);
    vmax = select(v > vmax, v, vmax);
    vmin = select(v < vmin, v, vmin);
  }
  double m = -INFINITY, lo = INFINITY;
  for (int j = 0; j < W; j++) {
    m = vmax[j] > m ? vmax[j] : m;
    lo = vmin[j] < lo ? vmin[j] : lo;
  }
  for (; i < n; i++) {
    double v = scale * x[i];
    m = v > m ? v : m;
    lo = v < lo ? v : lo;
  }
  /* The usual case has no clamp (a spread over 700 stops a run as
   * diverged). */
  int clamp = !(lo - m >= BK_EXP_FLOOR);
  /* Four vectors per pass: the polynomial is one long dependent chain per
   * vector, and four chains keep the multipliers busy. */
  for (i = 0; i + 4 * W <= n; i += 4 * W) {
    vd v[4];
    for (int j = 0; j < 4; j++)
      v[j] = exp_block(load(x + i + j * W), scale, m, clamp);
    for (int j = 0; j < 4; j++) {
      store(e + i + j * W, v[j]);
      if (ie)
        store(ie + i + j * W, 1.0 / v[j]);
    }
  }
  for (; i + W <= n; i += W) {
    vd v = exp_block(load(x + i), scale, m, clamp);
    store(e + i, v);
    if (ie)
      store(ie + i, 1.0 / v);
  }
  if (i < n) {
    double buf[W] = {0};
    memcpy(buf, x + i, (size_t)(n - i) * sizeof *buf);
    vd v = exp_block(load(buf), scale, m, clamp);
    for (int j = 0; i + j < n; j++) {
      e[i + j] = v[j];
      if (ie)
        ie[i + j] = 1.0 / v[j];
    }
  }
}

/* ---- the pair loops ---- */

/* S(y, y), the diagonal's pair weight. */
INLINE double diag_weight(enum bandit_regime regime, const struct bk_pairs *p,
                          int y)
{
  double ery = p->er[y], iery = p->ier[y], ey = p->e[y], iey = p->ie[y];
  double ay = p->a[y], by = p->b[y];
  return bk_pair_weight(regime, ery, iery, ery, iery, ey, iey, ey, iey, ay, by,
                        ay, by, p->lo, p->hi, p->c2k2);
}

/* Row y's inputs, broadcast. */
struct row {
  double ery, iery, ey, iey, ay, by;
};

/* S(y, z) and S(y, z) Delta(y, z) for the W arms z at the pointers
 * (already offset).  Delta(y,z) = sig(r_y - r_z) - sig(beta(u_y - u_z)) =
 * (er_y e_z - er_z e_y) / ((er_y + er_z) (e_y + e_z)): one division per
 * pair and no exp (docs/model.md section 2). */
INLINE void pair_terms(enum bandit_regime regime, const struct bk_pairs *p,
                       const struct row *y, const double *er,
                       const double *ier, const double *e, const double *ie,
                       const double *a, const double *b, vd *w_out, vd *t_out)
{
  vd ER = load(er), E = load(e), w;
  switch (regime) {
  case BANDIT_UNIFORM: w = splat(4.0); break;
  case BANDIT_MIX_R: w = 2.0 + y->ery * load(ier) + ER * y->iery; break;
  case BANDIT_MIX_P: w = 2.0 + y->ey * load(ie) + E * y->iey; break;
  case BANDIT_MIX_P_CLIP: {
    /* exp(z') and exp(-z'), z' = clip(z, -m, m); no division. */
    vd x = y->ey * load(ie), xi = E * y->iey;
    vd lo = splat(p->lo), hi = splat(p->hi);
    x = select(x < lo, lo, select(x > hi, hi, x));
    xi = select(xi < lo, lo, select(xi > hi, hi, xi));
    w = 2.0 + x + xi;
    break;
  }
  default: w = p->c2k2 * (y->ay * load(b) + load(a) * y->by); break;
  }
  vd d = (y->ery * E - ER * y->ey) / ((y->ery + ER) * (y->ey + E));
  *w_out = w;
  *t_out = w * d;
}

/* The row sums' one order: two running sums, the first taking the terms
 * 0, 2, 4, ... of a row and the second 1, 3, 5, ... (added pair by pair),
 * a last odd term going to the first; the row's total is (first + 0) +
 * second.  This is the order the SSE2 build of the first engine used, so
 * exact results keep their bits; its long chains of dependent additions
 * are shortened by running R rows at once (row_group), not by another
 * order.  The sums start at +0 and so are never -0: adding +0 to one
 * changes no bit, which lets a block's unused lanes be zeros. */

/* acc += (v0, v1), then acc += (v2, v3), ...: a vector's lanes added pair
 * by pair into the two running sums, in lane order.  Written with
 * shuffles, which stay in registers (element access went through the
 * stack). */
INLINE void add_pairs(v2 *acc, vd v)
{
#if W == 4
  *acc += __builtin_shufflevector(v, v, 0, 1);
  *acc += __builtin_shufflevector(v, v, 2, 3);
#else
  *acc += v;
#endif
}

/* (last lane of prev, lanes 0..W-2 of v): an odd row's pairs. */
INLINE vd shift_in(vd prev, vd v)
{
#if W == 4
  return __builtin_shufflevector(prev, v, 3, 4, 5, 6);
#else
  return __builtin_shufflevector(prev, v, 1, 2);
#endif
}

/* Rows handled in one pass (row_group). */
#if W >= 4
#define R 4
#else
#define R 2
#endif

/* Rows y, ..., y + R - 1 (those below K) over the arms z > y, in blocks of
 * W arms starting at y + 1: one pass over the arms' arrays and over s for
 * R rows, and R independent chains of additions.  Row y + i's terms are
 * the lanes z > y + i (the lanes before are its pairs with the rows above,
 * counted there, and its own diagonal), zeros elsewhere; so an even row
 * pairs lanes (0,1), (2,3), ... of every block, and an odd row pairs (1,2),
 * (3,4), ..., its last lane waiting for the first of the next block.  s[z]
 * gets the rows' terms in row order, as in a row-by-row loop.  Returns
 * each row's sum of terms and of weights in tot. */
INLINE void row_group(enum bandit_regime regime, const struct bk_pairs *p,
                      int y, double *restrict s, double tot[R][2])
{
  const int k = p->k, prod = regime >= BANDIT_ON_POLICY;
  /* uniform's weights are all 4: their sums are exact whatever the order,
   * and pair_loop counts them instead. */
  const int weights = regime != BANDIT_UNIFORM;
  struct row r[R];
  v2 acc[R][2];
  vd prev[R][2]; /* odd rows: the block before (its last lane pends) */
  vm iota;
  for (int l = 0; l < W; l++)
    iota[l] = l;
  for (int i = 0; i < R; i++) {
    /* Rows past K read the arrays' padding and have no lanes. */
    r[i] = (struct row){p->er[y + i], p->ier[y + i], p->e[y + i],
                        p->ie[y + i], prod ? p->a[y + i] : 0.0,
                        prod ? p->b[y + i] : 0.0};
    acc[i][0] = acc[i][1] = (v2){0.0, 0.0};
    prev[i][0] = prev[i][1] = splat(0.0);
  }
  for (int z = y + 1; z < k; z += W) {
    vd t[R], w[R];
    for (int i = 0; i < R; i++)
      pair_terms(regime, p, &r[i], p->er + z, p->ier + z, p->e + z,
                 p->ie + z, prod ? p->a + z : NULL, prod ? p->b + z : NULL,
                 &w[i], &t[i]);
    if (z == y + 1 || z + W > k) /* the arrays' padding is read past K */
      for (int i = 0; i < R; i++) {
        vm in = (iota + z > y + i) & (iota + z < k);
        t[i] = select(in, t[i], splat(0.0));
        w[i] = select(in, w[i], splat(0.0));
      }
    if (z + W <= k) {
      vd sv = load(s + z);
      for (int i = 0; i < R; i++)
        sv = sv - t[i];
      store(s + z, sv);
    } else {
      for (int l = 0; z + l < k; l++)
        for (int i = 0; i < R; i++)
          s[z + l] = s[z + l] - t[i][l];
    }
    for (int i = 0; i < R; i++) {
      if (i % 2) { /* (last of the block before, 0), (1, 2), ... */
        add_pairs(&acc[i][0], shift_in(prev[i][0], t[i]));
        prev[i][0] = t[i];
        if (weights) {
          add_pairs(&acc[i][1], shift_in(prev[i][1], w[i]));
          prev[i][1] = w[i];
        }
      } else { /* (0, 1), (2, 3), ... */
        add_pairs(&acc[i][0], t[i]);
        if (weights)
          add_pairs(&acc[i][1], w[i]);
      }
    }
  }
  for (int i = 0; i < R; i++)
    for (int j = 0; j < 2; j++) {
      if (i % 2)
        acc[i][j][0] += prev[i][j][W - 1];
      tot[i][j] = (acc[i][j][0] + 0.0) + acc[i][j][1];
    }
}

/* Accumulate s[y] = sum_{y'} S(y,y') Delta(y,y') over unordered pairs
 * (Delta antisymmetric, S symmetric) and return sum over all ordered pairs
 * of S (diagonal included).  The per-arm arrays have at least W - 1 + R - 1
 * entries of zero padding. */
INLINE double pair_loop(enum bandit_regime regime, const struct bk_pairs *p,
                        double *restrict s)
{
  const int k = p->k;
  double diag = 0.0, off = 0.0;
  for (int y = 0; y < k; y++)
    s[y] = 0.0;
  for (int y = 0; y < k; y += R) {
    double tot[R][2];
    row_group(regime, p, y, s, tot);
    for (int i = 0; i < R && y + i < k; i++) {
      diag += diag_weight(regime, p, y + i);
      s[y + i] += tot[i][0];
      off += regime == BANDIT_UNIFORM ? 4.0 * (double)(k - 1 - y - i)
                                      : tot[i][1];
    }
  }
  return diag + 2.0 * off;
}

#define PAIR_LOOP(name, regime)                                                \
  static double name(const struct bk_pairs *p, double *s)                      \
  {                                                                            \
    return pair_loop(regime, p, s);                                            \
  }
PAIR_LOOP(pairs_uniform, BANDIT_UNIFORM)
PAIR_LOOP(pairs_mix_r, BANDIT_MIX_R)
PAIR_LOOP(pairs_mix_p, BANDIT_MIX_P)
PAIR_LOOP(pairs_mix_p_clip, BANDIT_MIX_P_CLIP)
PAIR_LOOP(pairs_on_policy, BANDIT_ON_POLICY)
PAIR_LOOP(pairs_hybrid, BANDIT_HYBRID)
PAIR_LOOP(pairs_reference, BANDIT_REFERENCE)

/* ---- mix-p's table ---- */

/* t1 = P^T ie, t2 = P^T e, walking P by rows (K independent sums instead of
 * one long dependent chain per row), four rows per pass over t1 and t2 to
 * spare their loads and stores; each t1[y] still adds its terms in row
 * order, one rounding each. */
static void table_products(const double *ptab, int k, int kp,
                           const double *e, const double *ie, double *t1,
                           double *t2)
{
  for (int y = 0; y < kp; y++)
    t1[y] = t2[y] = 0.0;
  int z = 0;
  for (; z + 4 <= k; z += 4) {
    const double *p0 = ptab + (size_t)z * (size_t)kp, *p1 = p0 + kp,
                 *p2 = p1 + kp, *p3 = p2 + kp;
    for (int y = 0; y < kp; y += WT) {
      vt a = load_t(t1 + y), c = load_t(t2 + y), q = load_t(p0 + y);
      a = a + q * ie[z];
      c = c + q * e[z];
      q = load_t(p1 + y);
      a = a + q * ie[z + 1];
      c = c + q * e[z + 1];
      q = load_t(p2 + y);
      a = a + q * ie[z + 2];
      c = c + q * e[z + 2];
      q = load_t(p3 + y);
      a = a + q * ie[z + 3];
      c = c + q * e[z + 3];
      store_t(t1 + y, a);
      store_t(t2 + y, c);
    }
  }
  for (; z < k; z++) {
    const double *pz = ptab + (size_t)z * (size_t)kp;
    for (int y = 0; y < kp; y += WT) {
      vt q = load_t(pz + y);
      store_t(t1 + y, load_t(t1 + y) + q * ie[z]);
      store_t(t2 + y, load_t(t2 + y) + q * e[z]);
    }
  }
}

const struct bandit_kernels BK_CAT(bk, BK_ISA) = {
  .name = BK_STR(BK_ISA),
  .shifted_exp = shifted_exp,
  .pair_loop = {[BANDIT_UNIFORM] = pairs_uniform,
                [BANDIT_MIX_R] = pairs_mix_r,
                [BANDIT_MIX_P] = pairs_mix_p,
                [BANDIT_MIX_P_CLIP] = pairs_mix_p_clip,
                [BANDIT_ON_POLICY] = pairs_on_policy,
                [BANDIT_HYBRID] = pairs_hybrid,
                [BANDIT_REFERENCE] = pairs_reference},
  .table_products = table_products,
  .multinomial = BK_CAT(rb_multinomial, BK_ISA),
};
