/* bk_vexp: the vector exponential of the per-ISA kernels (bandit_kernels.c
 * and rng_batch.c), written once.  Not a module of its own: each of those
 * files includes it after defining its vectors (vd of W doubles, vu of W
 * uint64_t), splat() and INLINE, so the one definition is compiled into
 * every instruction-set copy at that copy's width (src/meson.build).  The
 * lanes are independent, so the bits do not depend on the width. */
#ifndef DPOSWEEP_BK_VEXP_H
#define DPOSWEEP_BK_VEXP_H

/* exp(a) for a in [-700, 0] (BK_EXP_FLOOR and above).  glibc's scalar exp
 * made a third of an engine step at K = 20; this one vectorizes: a = k
 * ln2 + r with |r| <= ln2/2 (k by the round-to-nearest trick of adding 1.5
 * * 2^52, ln2 split so k ln2 is exact), exp(r) by its Taylor series to r^13
 * (truncation below 2e-16 relative), 2^k from the exponent bits (k >= -1010:
 * always a normal number).  Within 2 ulp of the true value. */
INLINE vd bk_exp_nonpos(vd a)
{
  const double shifter = 0x1.8p52;
  const double inv_ln2 = 0x1.71547652b82fep0;
  const double ln2_hi = 0x1.62e42fee00000p-1; /* 32 bits: k ln2_hi exact */
  const double ln2_lo = 0x1.a39ef35793c76p-33;
  vd t = a * inv_ln2 + shifter;
  vd kf = t - shifter;
  vd r = (a - kf * ln2_hi) - kf * ln2_lo;
  vd p = splat(1.0 / 6227020800.0);       /* 1/13! */
  p = p * r + 1.0 / 479001600.0;          /* 1/12! */
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  /* The low bits of t hold k (two's complement): shift them into the
   * exponent field. */
  vu kb = ((vu)t + 1023u) << 52;
  return p * (vd)kb;
}

#endif
