/* rng_batch: exact binomials drawn in batches, and the tree multinomial
 * drawn with them; compiled once per instruction set with -DBK_ISA=<name>
 * (src/meson.build).  See rng_batch.h.
 *
 * Why batches.  The multinomial splits its draws level by level down a
 * tree, and the binomials of a level are independent.  Drawn one after
 * the other (rng_binomial), each waits on the mispredicted branches and
 * the chains of dependent divisions and square roots of the one before:
 * 60-70 ns a draw on the machines measured.  Drawn as a batch, in vector
 * passes over all of them, their work overlaps.
 *
 * The methods: for (n + 1) min(p, 1 - p) < RB_INV_MEAN inversion (the
 * batch's inversions stepping through x = 0, 1, ... two vectors at a
 * time, a multiplication and a subtraction a step), and BTRD (Hormann
 * 1993) for the others, whole attempts (the quick acceptance, and steps 2
 * and 3 where it does not take the draw) lane by lane, the final test from
 * a table of log i!, or past it Stirling's formula (as rng_binomial's).
 * Every lane's arithmetic is its own; the uniforms a draw takes are fixed
 * by its place in the batch and its attempt (see "a batch" below). */
#include "rng_batch.h"

#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#ifndef BK_ISA
#error "compile with -DBK_ISA=baseline, avx2 or avx512"
#endif

#define RB_CAT2(a, b) a##_##b
#define RB_CAT(a, b) RB_CAT2(a, b)

/* Lanes per vector (the results do not depend on them). */
#if defined(__AVX512F__)
#define W 8
#elif defined(__AVX2__)
#define W 4
#else
#define W 2
#endif
typedef double vd __attribute__((vector_size(W * sizeof(double))));
typedef int64_t vm __attribute__((vector_size(W * sizeof(int64_t))));
typedef uint64_t vu __attribute__((vector_size(W * sizeof(uint64_t))));

#define INLINE static inline __attribute__((always_inline))

/* Inversions stepped together: vectors of lanes (two: their chains of
 * multiplications overlap). */
#define INV_VECTORS 2

/* A broadcast, and m ? a : b per lane (m the result of a comparison, all
 * ones or zero), by the instruction set's own instructions where it has
 * them (GCC's generic code for these is several instructions each). */
INLINE vd splat(double x)
{
#if W == 8
  return (vd)_mm512_set1_pd(x);
#elif W == 4
  return (vd)_mm256_set1_pd(x);
#elif defined(__SSE2__)
  return (vd)_mm_set1_pd(x);
#else
  vd v;
  for (int i = 0; i < W; i++)
    v[i] = x;
  return v;
#endif
}

INLINE vd load(const double *p)
{
  vd v;
  memcpy(&v, p, sizeof v);
  return v;
}

INLINE void store(double *p, vd v) { memcpy(p, &v, sizeof v); }

INLINE vd sel(vm m, vd a, vd b)
{
#if W == 8
  return (vd)_mm512_mask_blend_pd(_mm512_test_epi64_mask((__m512i)m,
                                                          (__m512i)m),
                                  (__m512d)b, (__m512d)a);
#elif W == 4
  return (vd)_mm256_blendv_pd((__m256d)b, (__m256d)a, (__m256d)m);
#else
  return (vd)(((vm)a & m) | ((vm)b & ~m));
#endif
}

INLINE vd vabs(vd x) { return (vd)((vm)x & INT64_MAX); }

/* floor(x) for 0 <= x < 2^51 (other lanes: any value, to be masked):
 * rounded to an integer by adding and taking away 2^52. */
INLINE vd vfloor(vd x)
{
  vd t = (x + 0x1p52) - 0x1p52;
  return t - sel(t > x, splat(1.0), splat(0.0));
}

/* sqrt per lane, correctly rounded (IEEE): the vector instruction where
 * there is one (libm's sqrt is a call behind its errno check). */
INLINE vd vsqrt(vd x)
{
#if W == 8
  return (vd)_mm512_sqrt_pd((__m512d)x);
#elif W == 4
  return (vd)_mm256_sqrt_pd((__m256d)x);
#elif defined(__SSE2__)
  return (vd)_mm_sqrt_pd((__m128d)x);
#else
  for (int i = 0; i < W; i++)
    x[i] = sqrt(x[i]);
  return x;
#endif
}

INLINE int any(vm m)
{
#if W == 8
  return _mm512_test_epi64_mask((__m512i)m, (__m512i)m) != 0;
#elif W == 4
  return _mm256_movemask_pd((__m256d)m) != 0;
#elif defined(__SSE2__)
  return _mm_movemask_pd((__m128d)m) != 0;
#else
  int64_t a = 0;
  for (int i = 0; i < W; i++)
    a |= m[i];
  return a != 0;
#endif
}

/* ---- uniforms ---- */

/* PCG32's output of the states s (64-bit lanes, the output in the low 32
 * bits), and the uniform of outputs a and b (rb_uniform_of's bits). */
INLINE vu pcg_out(vu s)
{
  vu x = (((s >> 18) ^ s) >> 27) & 0xffffffffu, rot = s >> 59;
  return ((x >> rot) | (x << ((32 - rot) & 63))) & 0xffffffffu;
}

INLINE vd uniform_of(vu a, vu b)
{
  const vd big = splat(0x1p52);
  vd hi = (vd)((a >> 5) | (vu)big) - big, lo = (vd)((b >> 6) | (vu)big) - big;
  return hi * 0x1p-27 + lo * 0x1p-53;
}

/* The uniforms ua[i] of PCG32's outputs 4i and 4i + 1 after the
 * generator's state (rb_uniform_of: the same bits), for i < count: each
 * draw's first uniform, all an inversion takes (a BTRD draw takes its
 * second, of outputs 4i + 2 and 4i + 3, in first_pass); the generator then
 * at output 4 count.  Two vectors of states, s[j]'s lane l at output 4 (i
 * + l) + j, each stepped 4 W outputs at a time (m->jmul, m->jadd): the
 * same outputs as one after the other. */
static void uniforms(struct rng_multinomial *m, struct rng_pcg32 *g,
                     size_t count, double *ua)
{
  const uint64_t inc = g->inc;
  vu s[2];
  for (int j = 0; j < 2; j++)
    for (int l = 0; l < W; l++)
      s[j][l] = g->state * m->jmul[4 * l + j] + inc * m->jadd[4 * l + j];
  const uint64_t mul = m->jmul[4 * W], add = inc * m->jadd[4 * W];
  for (size_t i = 0; i < count; i += W) {
    vu o0 = pcg_out(s[0]), o1 = pcg_out(s[1]);
    s[0] = s[0] * mul + add;
    s[1] = s[1] * mul + add;
    store(ua + i, uniform_of(o0, o1));
  }
  g->state = g->state * m->jm4[count] + inc * m->ja4[count];
}

/* ---- inversion ---- */

/* What a draw still waits for, after the first pass (st). */
enum { DONE = 0, INVERT = 1 };

/* Inversion for W lanes: P(0) = q^n, P(t + 1) = P(t) s (n - t) / (t +
 * 1), s = p / q; the count is the first x at which u - P(0) - ... - P(x)
 * < 0, counted as the steps at which the rest is still >= 0 (u only falls,
 * so a found lane's count stays whatever its later steps take off).  The
 * lanes are the batch's own draws, in place: n (nd), p (p, the rarer
 * outcome's taken), u (ua) and P(0) for n > 1024 (cw); a draw that is not
 * an inversion (st) is found at once and left alone. */

/* The lanes still looking: a mask register on AVX-512 (a comparison
 * into it and a masked add count a step: two instructions, where the
 * generic vector code takes four), else a vector of all ones or zero. */
#if W == 8
typedef __mmask8 mk;
INLINE mk ge0(vd u)
{
  return _mm512_cmp_pd_mask((__m512d)u, _mm512_setzero_pd(), _CMP_GE_OQ);
}
INLINE vm count_in(vm x, mk k)
{
  return (vm)_mm512_mask_add_epi64((__m512i)x, k, (__m512i)x,
                                   _mm512_set1_epi64(1));
}
INLINE int any_in(mk k) { return k != 0; }
#else
typedef vm mk;
INLINE mk ge0(vd u) { return u >= 0.0; }
INLINE vm count_in(vm x, mk k) { return x - k; }
INLINE int any_in(mk k) { return any(k); }
#endif

struct inv {
  vd u, f, s, nt, last; /* nt: n - t at step t */
  vm x;                 /* the count */
};

INLINE struct inv inv_start(const struct rng_multinomial *m, size_t l)
{
  struct inv v;
  vd nd = load(m->nd + l), p = load(m->p + l);
  vm st;
  memcpy(&st, m->st + l, sizeof st);
  p = sel(p > 0.5, 1.0 - p, p);
  v.u = load(m->ua + l);
  v.s = p / (1.0 - p);
  v.nt = nd;
  v.last = sel(nd < (double)RB_INV_LAST, nd, splat((double)RB_INV_LAST));
  v.x = (vm)splat(0.0);
  /* q^n by squaring for n <= 1024, as rng_binomial_p0 (a lane multiplies
   * by 1 where its bit is 0); beyond, rng_binomial_p0's, computed before
   * (no call in a vector loop: the vectors would be spilled around it). */
  vd q = 1.0 - p, f = splat(1.0);
  vu n = (vu)(sel(nd > 1024.0, splat(0.0), nd) + 0x1p52) - (vu)splat(0x1p52);
  /* Up to the highest bit any lane has: past it every factor is 1. */
  uint64_t bits = 0;
  for (int i = 0; i < W; i++)
    bits |= n[i];
  for (int bit = 0; bits >> bit; bit++) {
    f = f * sel(-(vm)((n >> bit) & 1), q, splat(1.0));
    q = q * q;
  }
  f = sel(nd > 1024.0, load(m->cw + l), f);
  /* Other draws, and padding lanes (n = 0), are found at once and take
   * nothing off. */
  vm live = (nd > 0.0) & (st == INVERT);
  v.u = sel(live, v.u, splat(-1.0));
  v.f = sel(live, f, splat(0.0));
  return v;
}

/* Step t (rt = 1 / (t + 1)): take P(t) off u; a lane whose u is still >=
 * 0 counts the step.  P(n + 1) is exactly 0 (the factor n - t is), so a
 * lane never passes n; one still >= 0 after RB_INV_LAST steps (round-off,
 * or a tail below 1e-80) counts past it and is drawn again.  So a lane's
 * result does not depend on how many steps its vectors take.  Returns the
 * lanes still looking. */
INLINE mk inv_step(struct inv *v, double rt)
{
  v->u -= v->f;
  mk more = ge0(v->u);
  v->x = count_in(v->x, more);
  v->f = v->f * ((v->s * v->nt) * rt);
  v->nt -= 1.0;
  return more;
}

/* The inversions among the draws 0..nl, INV_VECTORS vectors at a time,
 * stepping until all are found or past their last step: the counts found
 * into x (the rarer outcome's turned back into the draw's).  Returns
 * whether one was not found (cok 0 for it). */
static int inversions(struct rng_multinomial *m, size_t nl)
{
  vm lost = (vm)splat(0.0);
  for (size_t l = nl; l < nl + INV_VECTORS * W; l++)
    m->st[l] = DONE;
  /* Each group's start (a division, the squarings) is taken while the
   * group before steps: its chain of multiplications does not wait. */
  struct inv next[INV_VECTORS];
  for (int j = 0; j < INV_VECTORS; j++)
    next[j] = inv_start(m, (size_t)j * W);
  for (size_t l = 0; l < nl; l += INV_VECTORS * W) {
    struct inv v[INV_VECTORS];
    for (int j = 0; j < INV_VECTORS; j++)
      v[j] = next[j];
    if (l + INV_VECTORS * W < nl)
      for (int j = 0; j < INV_VECTORS; j++)
        next[j] = inv_start(m, l + (size_t)(INV_VECTORS + j) * W);
    /* Until every lane is found: one that is not by its last step (rare)
     * is drawn again whatever the steps taken after it. */
    for (int k = 0; k <= RB_INV_LAST; k++) {
      mk more = inv_step(&v[0], m->rcp[k + 1]);
      for (int j = 1; j < INV_VECTORS; j++)
        more |= inv_step(&v[j], m->rcp[k + 1]);
      if (!any_in(more))
        break;
    }
    for (int j = 0; j < INV_VECTORS; j++) {
      const size_t at = l + (size_t)j * W;
      vm st;
      memcpy(&st, m->st + at, sizeof st);
      vd x = (vd)(v[j].x + (vm)splat(0x1p52)) - splat(0x1p52);
      vd nd = load(m->nd + at), p = load(m->p + at);
      vm mine = st == INVERT;
      vm found = (v[j].u < 0.0) & (x <= v[j].last);
      store(m->ck + at, x);
      memcpy(m->cok + at, &found, sizeof found);
      store(m->x + at, sel(mine & found, sel(p > 0.5, nd - x, x),
                           load(m->x + at)));
      lost |= mine & ~found;
    }
  }
  return any(lost);
}

/* ---- uniforms of later attempts ---- */

/* The uniforms v, w of the lanes l..l + W in a round whose first output's
 * state is base: the round's outputs 4 l.. are theirs (jm4, ja4). */
INLINE void round_uniforms(const struct rng_multinomial *m, uint64_t base,
                           uint64_t inc, size_t l, vd *v, vd *w)
{
  vu jm, ja, o[4];
  memcpy(&jm, m->jm4 + l, sizeof jm);
  memcpy(&ja, m->ja4 + l, sizeof ja);
  /* Outputs 1..3 by jumps from the first's state, not step after step:
   * three multiplications side by side instead of in a chain (a retry
   * waits on them). */
  vu s = jm * base + ja * inc;
  o[0] = pcg_out(s);
  for (int j = 1; j < 4; j++)
    o[j] = pcg_out(s * m->jmul[j] + inc * m->jadd[j]);
  *v = uniform_of(o[0], o[1]);
  *w = uniform_of(o[2], o[3]);
}

/* ---- BTRD ---- */

/* The table's entries at the integers x (0 <= x <= RB_LF_MAX), by one
 * load a lane: the gather instructions are microcoded on the Xeons
 * measured (a mitigation of the Gather Data Sampling flaw) and took BTRD
 * 10-17% longer. */
INLINE vd lf_at(const double *t, vd x)
{
  vm i = (vm)(x + 0x1p52) - (vm)splat(0x1p52);
#if W == 8
  return (vd)_mm512_set_pd(t[i[7]], t[i[6]], t[i[5]], t[i[4]], t[i[3]],
                           t[i[2]], t[i[1]], t[i[0]]);
#elif W == 4
  return (vd)_mm256_set_pd(t[i[3]], t[i[2]], t[i[1]], t[i[0]]);
#else
  vd v;
  for (int l = 0; l < W; l++)
    v[l] = t[i[l]];
  return v;
#endif
}

/* log x for x > 0 finite and normal: fdlibm's __ieee754_log (x = 2^e (1 +
 * f), log(1 + f) by a polynomial in f / (2 + f)) without its branches,
 * within 1 ulp. */
INLINE vd vlog(vd x)
{
  const double ln2_hi = 6.93147180369123816490e-01;
  const double ln2_lo = 1.90821492927058770002e-10;
  const double lg1 = 6.666666666666735130e-01, lg2 = 3.999999999940941908e-01,
               lg3 = 2.857142874366239149e-01, lg4 = 2.222219843214978396e-01,
               lg5 = 1.818357216161805012e-01, lg6 = 1.531383769920937332e-01,
               lg7 = 1.479819860511658591e-01;
  const vu hx = (vu)x;
  /* The biased exponent as a double: its bits under those of 2^52. */
  vd e = (vd)(((hx >> 52) & 0x7ff) | (vu)splat(0x1p52)) -
         splat(0x1p52 + 1023.0);
  vd f = (vd)((hx & 0x000fffffffffffffULL) | (vu)splat(1.0)); /* [1, 2) */
  vm big = f > 1.4142135623730951;
  f = sel(big, 0.5 * f, f) - 1.0;
  e = sel(big, e + 1.0, e);
  vd s = f / (2.0 + f), z = s * s, w = z * z;
  vd t1 = w * (lg2 + w * (lg4 + w * lg6));
  vd t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
  vd hfsq = 0.5 * f * f;
  return e * ln2_hi - ((hfsq - (s * (hfsq + (t1 + t2)) + e * ln2_lo)) - f);
}

/* exp(a) for a in [-700, 0], within 2 ulp: bandit_kernels.c's, included
 * here once vd, vu and splat exist. */
#include "bk_vexp.h"

/* A BTRD draw's constants (Hormann's names), and the table's log m! and
 * log (n - m)! (m the mode) and log(p / q) for its final test. */
struct btrd {
  vd nd, p, spq, inpq, b, a, c, vr, alpha, top, mode, tm, tn, lpq, mh, ml, nmh,
    nml;
  vm table;
};

/* For n (nd), p <= 1/2, (n + 1) p >= 11. */
INLINE struct btrd btrd_setup(const struct rng_multinomial *m, vd nd, vd p)
{
  struct btrd d;
  vd q = 1.0 - p;
  d.nd = nd;
  d.p = p;
  d.spq = vsqrt(nd * p * q);
  d.inpq = 1.0 / (nd * p * q);
  d.b = 1.15 + 2.53 * d.spq;
  vd ib = 1.0 / d.b;
  d.a = -0.0873 + 0.0248 * d.b + 0.01 * p;
  d.c = nd * p + 0.5;
  d.vr = 0.92 - 4.2 * ib;
  d.alpha = (2.83 + 5.1 * ib) * d.spq;
  d.top = nd + 1.0;
  d.mode = vfloor(d.top * p);
  d.table = nd <= (double)RB_LF_MAX;
  /* m and n where n is within the table, else 0 (lanes not read). */
  d.tm = sel(d.table, d.mode, splat(0.0));
  d.tn = sel(d.table, nd, splat(0.0));
  d.lpq = vlog(p / q);
  d.mh = d.ml = d.nmh = d.nml = splat(0.0);
  if (any(d.table)) {
    d.mh = lf_at(m->lfhi, d.tm);
    d.ml = lf_at(m->lflo, d.tm);
    d.nmh = lf_at(m->lfhi, d.tn - d.tm);
    d.nml = lf_at(m->lflo, d.tn - d.tm);
  }
  return d;
}

/* log(1 + x), x > -1: log of u = 1 + x, less the rounding of u (the
 * usual correction, within 2 ulp). */
INLINE vd vlog1p(vd x)
{
  vd u = 1.0 + x;
  return vlog(u) - ((u - 1.0) - x) / u;
}

/* log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2] for integers
 * k >= 0: rng.c's table below 128, the series' first four terms in 1 / (k
 * + 1) above (exact to 1e-22 there). */
INLINE vd stirling_tail(vd k)
{
  vm small = k < 128.0;
  vd z = 1.0 / (k + 1.0), z2 = z * z;
  vd series =
    (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - z2 / 1680.0) * z2) * z2) * z;
  return sel(small, lf_at(rng_stirling_tail_table, sel(small, k, splat(0.0))),
             series);
}

/* log f(k) / f(m) for Binomial(n, p) past the table, r = p / q, from
 * Stirling's formula with d = k - m, the terms in (m + 1/2) and (n - m +
 * 1/2) as log1p of small ratios so that nothing of size n log n cancels
 * (rng_binomial's step 3.3). */
INLINE vd stirling_ratio(vd n, vd m, vd k, vd r)
{
  vd d = k - m;
  return -(m + 0.5) * vlog1p(d / (m + 1.0)) -
         (n - m + 0.5) * vlog1p(-d / (n - m + 1.0)) +
         d * vlog((n - k + 1.0) * r / (k + 1.0)) + stirling_tail(m) -
         stirling_tail(k) + stirling_tail(n - m) - stirling_tail(n - k);
}

/* One attempt with the uniforms v and w.  Returns the lanes accepted, the
 * count in *k.  The final test: v on the hat's scale, hn / hd = v alpha /
 * (a / us^2 + b), against f(k) / f(m) = exp(log m! + log (n - m)! - log k!
 * - log (n - k)! + (k - m) log(p / q)), from the table of log i! in
 * double-double (a difference of entries exact to about 1e-15); past the
 * table as rng_binomial's steps 3.2 and 3.3: for |k - m| > 15 the squeeze
 * of the normal approximation's bounds, and where it does not decide,
 * Stirling's formula (about 1e-13). */
INLINE vm btrd_try(const struct rng_multinomial *m, const struct btrd *d,
                   vd v, vd w, vd *k)
{
  /* 1: the quick acceptance, for v <= 0.86 vr; else 2: a point of the hat
   * outside the quick region, from v and w. */
  vm quick = v <= 0.86 * d->vr, tail = v >= d->vr;
  vd qv = v / d->vr, um = qv - 0.93;
  vd u = sel(quick, qv - 0.43,
             sel(tail, w - 0.5, sel(um < 0.0, splat(-0.5), splat(0.5)) - um));
  vd us = 0.5 - vabs(u);
  vd kr = (2.0 * d->a / us + d->b) * u + d->c;
  vm in = (kr >= 0.0) & (kr < d->top);
  *k = sel(in, vfloor(kr), d->mode);
  /* 3.0 and 3. */
  vd us2 = us * us;
  vd hn = sel(tail, v, w * d->vr) * d->alpha * us2;
  vd hd = d->a + d->b * us2;
  vm slow = in & ~quick, acc = quick & in;
  if (any(slow & d->table)) {
    vd kk = sel(d->table, *k, splat(0.0));
    vd h = ((d->mh - lf_at(m->lfhi, kk)) + (d->ml - lf_at(m->lflo, kk))) +
           ((d->nmh - lf_at(m->lfhi, d->tn - kk)) +
            (d->nml - lf_at(m->lflo, d->tn - kk))) +
           (kk - d->tm) * d->lpq;
    /* f(k) <= f(m): h <= 0 up to round-off; below -700 the ratio (<
     * 1e-304) is taken as e^-700. */
    h = sel(h > 0.0, splat(0.0), sel(h < -700.0, splat(-700.0), h));
    acc |= slow & d->table & (hn <= bk_exp_nonpos(h) * hd);
  }
  vm past = slow & ~d->table;
  if (!any(past))
    return acc;
  /* 3.2: log v against t = -(k - m)^2 / (2 npq) within rho. */
  vd lv = vlog(hn / hd), km = vabs(*k - d->mode);
  vd rho = (km * d->inpq) *
           (((km * (1.0 / 3.0) + 0.625) * km + 1.0 / 6.0) * d->inpq + 0.5);
  vd t = -(km * km) * (0.5 * d->inpq);
  vm far = past & (km > 15.0);
  vm yes = far & (lv < t - rho), no = far & (lv > t + rho);
  vm open = past & ~yes & ~no;
  acc |= yes;
  /* 3.3: log f(k) / f(m) itself. */
  if (any(open))
    acc |= open & (lv <= stirling_ratio(d->nd, d->mode, *k,
                                        d->p / (1.0 - d->p)));
  return acc;
}

/* ---- a batch ----
 *
 * Where a draw's uniforms come from: its r-th attempt (r = 0, 1, ...)
 * takes the outputs 4 (len r + i) to 4 (len r + i) + 3 after the batch's
 * start (i its place in the batch, len the batch's size), two uniforms v
 * and w (an inversion uses v).  Each output is used by one draw only, and
 * whether a draw makes its r-th attempt depends only on its own earlier
 * ones, so each draw sees independent uniforms, as alone: exact in
 * distribution.  The batch ends after the outputs of its last round R (the
 * most any draw needed, less one): the next batch starts there, never
 * looking at outputs seen before.  A draw whose count is fixed (n = 0, p =
 * 0 or 1) leaves its outputs unused, and a batch of such draws only takes
 * none.  A lane's outputs come from the state at its round's start by a
 * jump (jm4, ja4), so every draw runs its own attempts, in any order, on
 * any vector width, with the same result. */

/* The state at the start of round r, from round 1's (base1). */
static uint64_t round_base(const struct rng_multinomial *m, uint64_t base1,
                           uint64_t inc, size_t len, int r)
{
  uint64_t s = base1;
  for (int j = 1; j < r; j++)
    s = s * m->jm4[len] + inc * m->ja4[len];
  return s;
}

/* The draws 0..len (nd, p; round 0 starts at base0), a vector at a
 * time: fixed counts, and BTRD's attempts, round after round, until each
 * is accepted; inversions are left to batch_inversions (INVERT).  Returns
 * the last round used. */
static int first_pass(struct rng_multinomial *m, size_t len, uint64_t base0,
                      uint64_t base1, uint64_t inc, int *some)
{
  int last = 0;
  for (size_t l = len; l < len + W; l++)
    m->nd[l] = m->p[l] = 0.0;
  for (size_t l = 0; l < len; l += W) {
    vd nd = load(m->nd + l), p = load(m->p + l), q = 1.0 - p;
    /* The rarer outcome's count; 1 - p is exact for p >= 1/2. */
    vd pp = sel(q < p, q, p);
    vm drawn = (nd > 0.0) & (p > 0.0) & (p < 1.0);
    vm small = (nd + 1.0) * pp < RB_INV_MEAN;
    vm bt = drawn & ~small;
    vd count = splat(0.0);
    if (any(bt)) {
      struct btrd d = btrd_setup(m, sel(bt, nd, splat(100.0)),
                                 sel(bt, pp, splat(0.25)));
      vd v, w, k;
      round_uniforms(m, base0, inc, l, &v, &w);
      vm pend = bt;
      uint64_t base = base1;
      for (int r = 0;; r++) {
        vm ok = btrd_try(m, &d, v, w, &k) & pend;
        count = sel(ok, k, count);
        pend &= ~ok;
        if (!any(pend))
          break;
        last = r + 1 > last ? r + 1 : last;
        round_uniforms(m, base, inc, l, &v, &w);
        base = base * m->jm4[len] + inc * m->ja4[len];
      }
    }
    vd fixed = sel(p >= 1.0, nd, splat(0.0));
    store(m->x + l, sel(bt, sel(p > 0.5, nd - count, count), fixed));
    vm st = drawn & small & INVERT;
    memcpy(m->st + l, &st, sizeof st);
    *some |= any(drawn & small);
    /* P(0) past the squarings' reach, before the vector loop (rare). */
    if (any(drawn & small & (nd > 1024.0)))
      for (size_t i = l; i < l + W; i++)
        if (m->st[i] == INVERT && m->nd[i] > 1024.0)
          m->cw[i] = rng_binomial_p0(pp[i - l], (uint32_t)m->nd[i]);
  }
  return last;
}

/* An inversion alone, a lane's operations on one draw: whether found
 * by its last step, the count in *x. */
static int inversion_one(const struct rng_multinomial *m, double p,
                         double nd, double u, double *x)
{
  const double s = p / (1.0 - p);
  const uint32_t n = (uint32_t)nd, last = n < RB_INV_LAST ? n : RB_INV_LAST;
  double f = rng_binomial_p0(p, n);
  for (uint32_t t = 0; t <= last; t++) {
    u -= f;
    if (!(u >= 0.0)) {
      *x = (double)t;
      return 1;
    }
    f = f * ((s * (nd - (double)t)) * m->rcp[t + 1]);
  }
  return 0;
}

/* The inversions (INVERT) with round 0's v, side by side, in place; one
 * not found (round-off, or a tail below 1e-80) alone with the next rounds'.
 * Returns the last round used. */
static int batch_inversions(struct rng_multinomial *m, size_t len,
                            uint64_t base1, uint64_t inc)
{
  int last = 0;
  if (!inversions(m, len))
    return 0;
  for (size_t i = 0; i < len; i++) {
    if (m->st[i] != INVERT || m->cok[i])
      continue;
    double c = m->ck[i], p = m->p[i], pp = p > 0.5 ? 1.0 - p : p;
    for (int r = 1; !m->cok[i]; r++) {
      vd v, w;
      round_uniforms(m, round_base(m, base1, inc, len, r), inc, i, &v, &w);
      m->cok[i] = inversion_one(m, pp, m->nd[i], v[0], &c);
      last = r > last ? r : last;
    }
    m->x[i] = p > 0.5 ? m->nd[i] - c : c;
  }
  return last;
}

/* x[i] ~ Binomial(nd[i], p[i]) for the draws i < len (m->nd, m->p); the
 * generator advanced past the batch's last round. */
void RB_CAT(rb_batch, BK_ISA)(struct rng_multinomial *m, struct rng_pcg32 *g,
                              size_t len)
{
  /* Counts all fixed (n = 0, p = 0 or 1): no uniforms taken. */
  int drawn = 0;
  for (size_t i = 0; i < len; i++)
    drawn |= (m->nd[i] > 0.0) & (m->p[i] > 0.0) & (m->p[i] < 1.0);
  if (!drawn) {
    for (size_t i = 0; i < len; i++)
      m->x[i] = m->p[i] >= 1.0 ? m->nd[i] : 0.0;
    return;
  }
  const uint64_t base0 = g->state, inc = g->inc;
  uniforms(m, g, len, m->ua); /* round 0; g at round 1's start */
  const uint64_t base1 = g->state;
  int some = 0;
  int last = first_pass(m, len, base0, base1, inc, &some);
  int li = some ? batch_inversions(m, len, base1, inc) : 0;
  last = li > last ? li : last;
  g->state = round_base(m, base1, inc, len, last + 1);
}

void RB_CAT(rb_binomials, BK_ISA)(struct rng_multinomial *m,
                                  struct rng_pcg32 *g, size_t count,
                                  const uint32_t *n, const double *p,
                                  uint32_t *x)
{
  for (size_t i = 0; i < count; i++) {
    m->nd[i] = (double)n[i];
    m->p[i] = p[i];
  }
  RB_CAT(rb_batch, BK_ISA)(m, g, count);
  for (size_t i = 0; i < count; i++)
    x[i] = (uint32_t)m->x[i];
}

/* ---- the multinomial ---- */

/* The children's weights of the nodes lo..lo + W, the left ones
 * (sum[2 i]) and the right ones (sum[2 i + 1]): the even and the odd
 * entries of two vectors. */
INLINE void children(const double *sum, size_t lo, vd *left, vd *right)
{
  vd a = load(sum + 2 * lo), b = load(sum + 2 * lo + W);
#if W == 8
  *left = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
  *right = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
#elif W == 4
  *left = __builtin_shufflevector(a, b, 0, 2, 4, 6);
  *right = __builtin_shufflevector(a, b, 1, 3, 5, 7);
#else
  *left = __builtin_shufflevector(a, b, 0, 2);
  *right = __builtin_shufflevector(a, b, 1, 3);
#endif
}

/* The draws of the level's nodes lo..lo + len: n their counts, p their
 * left child's share of their weight (a division per node, W at a time). */
static void level_draws(struct rng_multinomial *m, size_t lo, size_t len)
{
  size_t j = 0;
  for (; j + W <= len; j += W) {
    vd left, right;
    children(m->sum, lo + j, &left, &right);
    store(m->p + j, left / load(m->sum + lo + j));
  }
  for (; j < len; j++)
    m->p[j] = m->sum[2 * (lo + j)] / m->sum[lo + j];
  for (j = 0; j < len; j++)
    m->nd[j] = (double)m->cnt[lo + j];
}

/* A level's batch.  On the AVX-512 path one of at most 4 draws (the top
 * of the tree) goes to the AVX2 copy, on 256-bit vectors: a vector's
 * BTRD takes the same instructions for one lane as for all, and on the
 * Xeons measured a 256-bit one ran them faster (two ports for its
 * arithmetic, where 512-bit arithmetic has one): the multinomial 2-3%
 * faster side by side.  The same bits: no copy's result depends on its
 * width. */
INLINE void small_batch(struct rng_multinomial *m, struct rng_pcg32 *g,
                        size_t len)
{
#if W == 8 && defined(BANDIT_X86_KERNELS)
  if (len <= 4) {
    rb_batch_avx2(m, g, len);
    return;
  }
#endif
  RB_CAT(rb_batch, BK_ISA)(m, g, len);
}

/* The tree's weights for the cells w[0..count), bottom up.  Returns -1
 * for invalid weights. */
static int tree(struct rng_multinomial *m, const double *w, size_t count)
{
  int bad = 0;
  for (size_t i = 0; i < count; i++) {
    bad |= !(w[i] >= 0.0) | !isfinite(w[i]);
    m->sum[count + i] = w[i];
  }
  if (bad)
    return -1;
  /* Node i's weight is its children's sum: W nodes at a time from the
   * last down, while a block's children (2 i >= i + W) lie past it, so
   * are summed already; the first few one by one. */
  size_t i = count - 1;
  for (; i + 1 >= 2 * W; i -= W) {
    vd left, right;
    children(m->sum, i + 1 - W, &left, &right);
    store(m->sum + i + 1 - W, left + right);
  }
  for (; i >= 1; i--)
    m->sum[i] = m->sum[2 * i] + m->sum[2 * i + 1];
  const double root = m->sum[1];
  return isfinite(root) && root > 0.0 ? 0 : -1;
}

int RB_CAT(rb_multinomial, BK_ISA)(struct rng_multinomial *m,
                                   struct rng_pcg32 *g, uint32_t n,
                                   const double *w, size_t count,
                                   uint32_t *counts)
{
  if (count == 0 || count > m->capacity || tree(m, w, count) != 0)
    return -1;
  m->cnt[1] = n;
  /* Level by level from the root (nodes lo..2 lo - 1), a batch each: a
   * node's draws go left with probability its left child's share of its
   * weight (at most 1: the weight is the children's sum rounded).  A node
   * without draws has its count fixed, and its subtree gets zeros. */
  for (size_t lo = 1; lo < count; lo *= 2) {
    size_t hi = 2 * lo < count ? 2 * lo : count, len = hi - lo;
    level_draws(m, lo, len);
    small_batch(m, g, len);
    for (size_t j = 0; j < len; j++) {
      uint32_t x = (uint32_t)m->x[j];
      m->cnt[2 * (lo + j)] = x;
      m->cnt[2 * (lo + j) + 1] = m->cnt[lo + j] - x;
    }
  }
  memcpy(counts, m->cnt + count, count * sizeof *counts);
  return 0;
}
