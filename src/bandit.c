/* bandit: the DPO bandit engine.  See include/dposweep/bandit.h and
 * shared/spec/model.md (section numbers below refer to it). */
#include "dposweep/bandit.h"

#include "dposweep/rng.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* exp() arguments are shifted so the largest is 0 and clamped here, so an
 * arm far below the others gets a tiny positive weight instead of 0 and
 * the ratio e[y]/(e[y]+e[y']) never becomes 0/0. */
#define EXP_FLOOR (-700.0)

/* Past this spread of beta*u the policy has arms with probability below
 * e^-700 and S, e^z, overflow: the dynamics have diverged, and going on
 * would write meaningless numbers.  Rewards are limited to the same
 * spread (bandit_params_check). */
#define LOGIT_SPREAD_MAX 700.0

/* Per-arm arrays get PAD extra zeros, so padded loops read zeros. */
#define PAD 2

/* mix-p tabulates the reward sigmoids up to this K (an 8 MiB table that
 * streams at memory speed, faster than the triangular loop's one division
 * per pair on the machines measured); beyond it the table would cost more
 * memory than it is worth. */
#define PTAB_MAX_ARMS 1024

static const char *const regime_names[BANDIT_NREGIMES] = {
  "uniform", "mix-r", "mix-p", "mix-p-clip", "on-policy", "hybrid", "reference",
};

static const char *const scale_names[] = {"theory", "normalized"};
static const char *const rewards_names[] = {"uniform", "normal", "explicit"};

const char *bandit_regime_name(enum bandit_regime r)
{
  return (r >= 0 && r < BANDIT_NREGIMES) ? regime_names[r] : NULL;
}

const char *bandit_scale_name(enum bandit_scale s)
{
  return (s == BANDIT_THEORY || s == BANDIT_NORMALIZED) ? scale_names[s] : NULL;
}

const char *bandit_rewards_name(enum bandit_rewards r)
{
  return (r >= 0 && r <= BANDIT_REWARDS_EXPLICIT) ? rewards_names[r] : NULL;
}

int bandit_regime_parse(const char *name, enum bandit_regime *out)
{
  for (int i = 0; i < BANDIT_NREGIMES; i++)
    if (strcmp(name, regime_names[i]) == 0) {
      *out = (enum bandit_regime)i;
      return 0;
    }
  return -1;
}

int bandit_scale_parse(const char *name, enum bandit_scale *out)
{
  for (int i = 0; i < 2; i++)
    if (strcmp(name, scale_names[i]) == 0) {
      *out = (enum bandit_scale)i;
      return 0;
    }
  return -1;
}

int bandit_rewards_parse(const char *name, enum bandit_rewards *out)
{
  /* "explicit" is not a name a user types: it means a vector was given. */
  for (int i = 0; i < 2; i++)
    if (strcmp(name, rewards_names[i]) == 0) {
      *out = (enum bandit_rewards)i;
      return 0;
    }
  return -1;
}

/* Name the offending field; the message goes to e. */
#define fail(field, name, e, ...) (*(field) = (name), err_set((e), ERR_INPUT, __VA_ARGS__))

int bandit_params_check(const struct bandit_params *p, const char **field,
                        struct err *e)
{
  if (!bandit_regime_name(p->regime))
    return fail(field, "regime", e, "unknown regime (code %g)",
                (double)p->regime);
  if (!bandit_scale_name(p->scale))
    return fail(field, "scale", e, "unknown scale (code %g)",
                (double)p->scale);
  if (p->arms < 2 || p->arms > BANDIT_MAX_ARMS)
    return fail(field, "arms", e,
                "must be between 2 and " "1000000 (got %.17g)",
                (double)p->arms);
  if (!(p->beta > 0.0) || !isfinite(p->beta))
    return fail(field, "beta", e,
                "must be a finite number > 0 (got %.17g)", p->beta);
  if (!(p->sigma >= 0.0) || !isfinite(p->sigma))
    return fail(field, "sigma", e,
                "must be a finite number >= 0 (got %.17g)", p->sigma);
  if (p->samples < 0 || p->samples > BANDIT_MAX_SAMPLES)
    return fail(field, "samples", e,
                "must be between 0 and 4000000000 (got %.17g)",
                (double)p->samples);
  if (p->sigma > 0.0 && p->samples > 0)
    return fail(field, "samples", e,
                "cannot be > 0 together with sigma > 0 (sigma %g): choose "
                "one estimator",
                p->sigma);
  if (p->iterations < 1 || p->iterations > BANDIT_MAX_ITERATIONS)
    return fail(field, "iterations", e,
                "must be between 1 and 1000000000 (got %.17g)",
                (double)p->iterations);
  if (p->record_every < 1)
    return fail(field, "record_every", e, "must be >= 1 (got %.17g)",
                (double)p->record_every);
  if (p->eta_theory) {
    if (p->scale != BANDIT_THEORY)
      return fail(field, "eta", e,
                  "'theory' needs scale theory; give a number for scale "
                  "normalized");
  } else if (!(p->eta > 0.0) || !isfinite(p->eta)) {
    return fail(field, "eta", e,
                "must be a finite number > 0 or 'theory' (got %.17g)", p->eta);
  }
  if (p->rewards == BANDIT_REWARDS_EXPLICIT) {
    if (!p->reward_values)
      return fail(field, "rewards", e, "no reward values given");
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < p->arms; i++) {
      if (!isfinite(p->reward_values[i]))
        return fail(field, "rewards", e,
                    "every reward must be a finite number (got %.17g)",
                    p->reward_values[i]);
      lo = fmin(lo, p->reward_values[i]);
      hi = fmax(hi, p->reward_values[i]);
    }
    if (hi - lo > LOGIT_SPREAD_MAX)
      return fail(field, "rewards", e,
                  "max - min must be at most 700 (got %.17g): exp() of the "
                  "reward differences would overflow",
                  hi - lo);
  } else if (!bandit_rewards_name(p->rewards)) {
    return fail(field, "rewards", e, "unknown distribution (code %g)",
                (double)p->rewards);
  }
  return 0;
}

int64_t bandit_nrec(int64_t iterations, int64_t every)
{
  return iterations / every + 1 + (iterations % every != 0);
}

int64_t bandit_rec_step(int64_t i, int64_t iterations, int64_t every)
{
  int64_t t = i * every;
  return t > iterations ? iterations : t;
}

double bandit_cost_of(int arms, int64_t samples, int64_t iterations)
{
  double k = (double)arms;
  return (double)iterations * (k * k + (double)samples);
}

double bandit_cost(const struct bandit_params *p)
{
  return bandit_cost_of(p->arms, p->samples, p->iterations);
}

double bandit_theory_eta(double beta, int arms)
{
  return 1.0 / (beta * beta * (double)arms);
}

/* Stream domains, so the instance and noise streams never coincide. */
#define KEY_INSTANCE 0x696e7374616e6365ULL /* "instance" */
#define KEY_NOISE 0x6e6f697365000000ULL    /* "noise" */

static uint64_t rewards_key(const struct bandit_params *p, uint64_t k)
{
  k = rng_key_mix(k, (uint64_t)p->rewards);
  if (p->rewards == BANDIT_REWARDS_EXPLICIT)
    for (int i = 0; i < p->arms; i++)
      k = rng_key_mix(k, rng_double_bits(p->reward_values[i]));
  return k;
}

uint64_t bandit_instance_key(const struct bandit_params *p)
{
  uint64_t k = rng_key_mix(KEY_INSTANCE, p->master_seed);
  k = rng_key_mix(k, p->seed);
  k = rng_key_mix(k, (uint64_t)p->arms);
  return rewards_key(p, k);
}

uint64_t bandit_noise_key(const struct bandit_params *p)
{
  uint64_t k = rng_key_mix(KEY_NOISE, p->master_seed);
  k = rng_key_mix(k, p->seed);
  k = rng_key_mix(k, (uint64_t)p->arms);
  k = rewards_key(p, k);
  k = rng_key_mix(k, (uint64_t)p->regime);
  k = rng_key_mix(k, (uint64_t)p->scale);
  k = rng_key_mix(k, rng_double_bits(p->beta));
  k = rng_key_mix(k, rng_double_bits(p->sigma));
  k = rng_key_mix(k, (uint64_t)p->samples);
  /* 'theory' hashes as eta 0, which no numeric eta can be. */
  k = rng_key_mix(k, p->eta_theory ? 0 : rng_double_bits(p->eta));
  return k;
}

struct bandit {
  struct bandit_params p;
  int k;
  double eta;
  double *r;      /* rewards */
  double *er;     /* exp(r - max r) */
  double *ier;    /* 1 / er */
  double *lpref;  /* log pi_ref */
  double *pref;   /* pi_ref */
  double *u;      /* theta - theta_ref: the state */
  double *e;      /* exp(beta u - max), per step */
  double *ie;     /* 1 / e */
  double *pi;     /* current policy, for policy-dependent samplers */
  double *g;      /* gradient / estimate */
  double *xi;     /* normals */
  double *sorted; /* metrics scratch */
  double emclip;  /* exp(-m), m = max r - min r (mix-p-clip) */
  double epclip;  /* exp(m) */
  double vstar;   /* V* */
  struct rng_pcg32 noise;
  uint64_t noise_key;
  const volatile sig_atomic_t *stop;
  /* sampled estimator */
  struct rng_alias *alias;
  double *cells;  /* cell weights for the alias table; NULL: multinomial */
  double *ptab;   /* mix-p, small K: sig(r_y - r_z), K x kpad, zero padded */
  int kpad;       /* K rounded up to PAD: rows 16-byte aligned, no remainder */
  double *prowsum;/* its row sums */
  double *scratch;/* 2 kpad doubles for it */
  size_t *row;    /* first cell of row y (pairs y < z) */
  char failure[128];
};

static double *alloc_doubles(size_t n)
{
  return calloc(n, sizeof(double));
}

static double log_sum_exp(const double *x, int n)
{
  double m = -INFINITY;
  for (int i = 0; i < n; i++)
    if (x[i] > m)
      m = x[i];
  double s = 0.0;
  for (int i = 0; i < n; i++)
    s += exp(x[i] - m);
  return m + log(s);
}

/* exp(x - max x) clamped below, and its inverse. */
/* exp(a) for a in [EXP_FLOOR, 0], the per-step exponentials.  glibc's
 * scalar exp made a third of a step at K = 20; this one vectorizes: a =
 * k ln2 + r with |r| <= ln2/2 (k by the round-to-nearest trick of adding
 * 1.5 * 2^52, ln2 split so k ln2 is exact), exp(r) by its Taylor series to
 * r^13 (truncation below 2e-16 relative), 2^k from the exponent bits (k >=
 * -1010: always a normal number).  Within 2 ulp of the true value. */
static inline double exp_nonpos(double a)
{
  const double shifter = 0x1.8p52;
  const double inv_ln2 = 0x1.71547652b82fep0;
  const double ln2_hi = 0x1.62e42fee00000p-1; /* 32 bits: k ln2_hi exact */
  const double ln2_lo = 0x1.a39ef35793c76p-33;
  double t = a * inv_ln2 + shifter;
  double kf = t - shifter;
  double r = (a - kf * ln2_hi) - kf * ln2_lo;
  double p = 1.0 / 6227020800.0;          /* 1/13! */
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
  uint64_t tb, kb;
  memcpy(&tb, &t, sizeof tb);
  kb = (tb + 1023u) << 52;
  double two_k;
  memcpy(&two_k, &kb, sizeof two_k);
  return p * two_k;
}

static void shifted_exp(const double *x, double scale, int n, double *e,
                        double *ie)
{
  double m = -INFINITY, lo = INFINITY;
  for (int i = 0; i < n; i++) {
    double v = scale * x[i];
    m = v > m ? v : m;
    lo = v < lo ? v : lo;
  }
  if (lo - m >= EXP_FLOOR) {
    /* The usual case (a spread over 700 stops a run as diverged): no
     * clamp, which would keep the loop from vectorizing. */
#pragma omp simd
    for (int i = 0; i < n; i++)
      e[i] = exp_nonpos(scale * x[i] - m);
  } else {
    for (int i = 0; i < n; i++) {
      double a = scale * x[i] - m;
      e[i] = exp_nonpos(a < EXP_FLOOR ? EXP_FLOOR : a);
    }
  }
  if (ie)
#pragma omp simd
    for (int i = 0; i < n; i++)
      ie[i] = 1.0 / e[i];
}

int bandit_create(const struct bandit_params *p, struct bandit **out)
{
  const char *field;
  struct err e;
  if (bandit_params_check(p, &field, &e) != 0)
    return -1;
  int status = -2;
  struct bandit *b = calloc(1, sizeof *b);
  if (!b)
    goto out;
  b->p = *p;
  int k = b->k = p->arms;
  b->eta = p->eta_theory ? bandit_theory_eta(p->beta, k) : p->eta;
  double **arrays[] = {&b->r,  &b->er, &b->ier, &b->lpref, &b->pref,
                       &b->u,  &b->e,  &b->ie,  &b->pi,    &b->g,
                       &b->xi, &b->sorted};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
    if (!(*arrays[i] = alloc_doubles((size_t)k + PAD)))
      goto out;

  /* The instance (section 1): its own stream, keyed without the regime,
   * beta, sigma, ... so every such variant sees the same rewards. */
  struct rng_pcg32 inst;
  rng_pcg32_seed_key(&inst, bandit_instance_key(p));
  for (int i = 0; i < k; i++) {
    switch (p->rewards) {
    case BANDIT_REWARDS_UNIFORM: b->r[i] = rng_uniform(&inst); break;
    case BANDIT_REWARDS_NORMAL: b->r[i] = rng_normal(&inst); break;
    case BANDIT_REWARDS_EXPLICIT: b->r[i] = p->reward_values[i]; break;
    }
  }
  shifted_exp(b->r, 1.0, k, b->er, b->ier);
  double rmin = b->r[0], rmax = b->r[0];
  for (int i = 1; i < k; i++) {
    rmin = fmin(rmin, b->r[i]);
    rmax = fmax(rmax, b->r[i]);
  }
  b->emclip = exp(-(rmax - rmin));
  b->epclip = exp(rmax - rmin);

  /* theta_ref = 0: pi_ref uniform.  Kept general in the arithmetic. */
  for (int i = 0; i < k; i++)
    b->lpref[i] = 0.0;
  double lz = log_sum_exp(b->lpref, k);
  for (int i = 0; i < k; i++) {
    b->lpref[i] -= lz;
    b->pref[i] = exp(b->lpref[i]);
  }
  /* V* = beta log sum pi_ref exp(r / beta) (section 6). */
  for (int i = 0; i < k; i++)
    b->sorted[i] = b->lpref[i] + b->r[i] / p->beta;
  b->vstar = p->beta * log_sum_exp(b->sorted, k);

  b->noise_key = bandit_noise_key(p);
  b->p.reward_values = p->rewards == BANDIT_REWARDS_EXPLICIT ? b->r : NULL;
  rng_pcg32_seed_key(&b->noise, b->noise_key);

  if (p->regime == BANDIT_MIX_P && k <= PTAB_MAX_ARMS) {
    b->kpad = (k + PAD - 1) / PAD * PAD;
    if (!(b->ptab = calloc((size_t)k * (size_t)b->kpad, sizeof *b->ptab)) ||
        !(b->prowsum = calloc((size_t)k, sizeof *b->prowsum)) ||
        !(b->scratch = calloc(2 * (size_t)b->kpad, sizeof *b->scratch)))
      goto out;
    for (int y = 0; y < k; y++)
      for (int z = 0; z < k; z++) {
        double pyz = b->er[y] / (b->er[y] + b->er[z]);
        b->ptab[(size_t)y * (size_t)b->kpad + (size_t)z] = pyz;
        b->prowsum[y] += pyz;
      }
  }

  if (p->samples > 0) {
    /* Few draws: an alias table over the cells (O(K^2) memory).  Many
     * draws: a multinomial with O(K) memory.  See sampled_estimate. */
    size_t ncell = (size_t)k * (size_t)(k - 1) / 2 + 1;
    if ((uint64_t)p->samples < (uint64_t)ncell) {
      if (!(b->cells = malloc(ncell * sizeof *b->cells)) ||
          !(b->row = malloc((size_t)k * sizeof *b->row)))
        goto out;
      if (rng_alias_create(ncell, &b->alias) != 0)
        goto out;
      for (int y = 0; y < k; y++)
        b->row[y] = 1 + (size_t)y * (size_t)(2 * k - y - 1) / 2;
    }
  }
  *out = b;
  b = NULL;
  status = 0;
out:
  bandit_destroy(&b);
  return status;
}

void bandit_destroy(struct bandit **bp)
{
  if (!bp || !*bp)
    return;
  struct bandit *b = *bp;
  double *arrays[] = {b->r,  b->er, b->ier, b->lpref, b->pref,  b->u, b->e,
                      b->ie, b->pi, b->g,   b->xi,    b->sorted, b->cells};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
    free(arrays[i]);
  free(b->row);
  free(b->ptab);
  free(b->prowsum);
  free(b->scratch);
  rng_alias_destroy(&b->alias);
  free(b);
  *bp = NULL;
}

int bandit_arms(const struct bandit *b) { return b->k; }
const double *bandit_rewards(const struct bandit *b) { return b->r; }
double bandit_eta(const struct bandit *b) { return b->eta; }
const char *bandit_failure(const struct bandit *b) { return b->failure; }

void bandit_set_stop(struct bandit *b, const volatile sig_atomic_t *stop)
{
  b->stop = stop;
}

/* Per-step quantities at u: e = exp(beta u - max), ie = 1/e and, for the
 * policy-dependent product samplers, pi = softmax(theta). */
static void prepare(struct bandit *b, const double *u)
{
  int k = b->k;
  shifted_exp(u, b->p.beta, k, b->e, b->ie);
  if (b->p.regime == BANDIT_ON_POLICY || b->p.regime == BANDIT_HYBRID) {
    /* pi(y) ∝ pi_ref(y) exp(u[y]); reuse e when beta = 1. */
    for (int i = 0; i < k; i++)
      b->sorted[i] = b->lpref[i] + u[i];
    double lz = log_sum_exp(b->sorted, k);
    for (int i = 0; i < k; i++)
      b->pi[i] = exp(b->sorted[i] - lz);
  }
}

/* The symmetric pair weight S(y, y') of section 3, theory scale.  Inlined
 * into the pair loops with a constant regime, so each loop is specialized.
 * For the product samplers S = 2K^2 (a[y] b[y'] + a[y'] b[y]). */
static inline __attribute__((always_inline)) double
pair_weight(enum bandit_regime regime, double er_y, double ier_y, double er_z,
            double ier_z, double e_y, double ie_y, double e_z, double ie_z,
            double a_y, double b_y, double a_z, double b_z, double lo,
            double hi, double c2k2)
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

/* The product samplers' factors (pi_s1, pi_s2). */
static void product_factors(const struct bandit *b, const double **a,
                            const double **bb)
{
  switch (b->p.regime) {
  case BANDIT_ON_POLICY: *a = b->pi; *bb = b->pi; break;
  case BANDIT_HYBRID: *a = b->pi; *bb = b->pref; break;
  case BANDIT_REFERENCE: *a = b->pref; *bb = b->pref; break;
  default: *a = b->pref; *bb = b->pref; break; /* unused */
  }
}

/* Accumulate s[y] = sum_{y'} S(y,y') Delta(y,y') over unordered pairs and
 * return sum over all ordered pairs of S (diagonal included).
 *
 * Delta(y,y') = sig(r_y - r_y') - sig(beta(u_y - u_y'))
 *             = (er_y e_y' - er_y' e_y) / ((er_y + er_y') (e_y + e_y')),
 * one division per pair and no exp (section 2). */
static inline __attribute__((always_inline)) double
pair_loop(struct bandit *b, enum bandit_regime regime, double *restrict s)
{
  const int k = b->k;
  const double *restrict er = b->er, *restrict ier = b->ier;
  const double *restrict e = b->e, *restrict ie = b->ie;
  const double *fa, *fb;
  product_factors(b, &fa, &fb);
  const double *restrict a = fa, *restrict bb = fb;
  const double lo = b->emclip, hi = b->epclip;
  const double c2k2 = 2.0 * (double)k * (double)k;
  double diag = 0.0, off = 0.0;
  for (int y = 0; y < k; y++)
    s[y] = 0.0;
  for (int y = 0; y < k; y++) {
    const double ery = er[y], iery = ier[y], ey = e[y], iey = ie[y];
    const double ay = a[y], by = bb[y];
    diag += pair_weight(regime, ery, iery, ery, iery, ey, iey, ey, iey, ay, by,
                        ay, by, lo, hi, c2k2);
    double acc = 0.0, sacc = 0.0;
#pragma omp simd reduction(+ : acc, sacc)
    for (int z = y + 1; z < k; z++) {
      double w = pair_weight(regime, ery, iery, er[z], ier[z], ey, iey, e[z],
                             ie[z], ay, by, a[z], bb[z], lo, hi, c2k2);
      double d = (ery * e[z] - er[z] * ey) / ((ery + er[z]) * (ey + e[z]));
      double t = w * d;
      acc += t;
      s[z] -= t;
      sacc += w;
    }
    s[y] += acc;
    off += sacc;
  }
  return diag + 2.0 * off;
}

/* mix-p for small K.  With S = 2 + e_y ie_y' + e_y' ie_y and Delta =
 * P - Q, Q = e_y / (e_y + e_y'), P = sig(r_y - r_y') tabulated:
 *   S P   = (e_y ie_y' + 2 + e_y' ie_y) P
 *   S Q   = (e_y + e_y') ie_y' = e_y ie_y' + 1
 * so s_y = sum_y' S Delta = e_y A_y + ie_y B_y + 2 c_y - e_y sum(ie) - K
 * with A = P ie, B = P e (two matrix-vector products in one pass over P)
 * and c_y = sum_y' P_yy' fixed; and sum S = 2 sum(e) sum(ie) + 2 K^2.
 * Two multiply-adds per ordered pair and no division.  The terms cancel
 * to S Delta as in the pairwise form, with the same O(K S eps) error. */
static double pair_loop_mixp_table(struct bandit *b, double *restrict s)
{
  const int k = b->k, kp = b->kpad;
  const double *restrict e = b->e, *restrict ie = b->ie;
  double *restrict t1 = b->scratch, *restrict t2 = b->scratch + kp;
  double se = 0.0, sie = 0.0;
  for (int z = 0; z < k; z++) {
    se += e[z];
    sie += ie[z];
  }
  for (int y = 0; y < kp; y++)
    t1[y] = t2[y] = 0.0;
  /* P_zy = 1 - P_yz, so A = sum(ie) - P^T ie and B = sum(e) - P^T e.
   * Walking P by rows accumulates P^T x with K independent sums instead
   * of one long dependent chain per row. */
  for (int z = 0; z < k; z++) {
    const double *restrict pz = b->ptab + (size_t)z * (size_t)kp;
    const double iez = ie[z], ez = e[z];
#pragma omp simd aligned(pz, t1, t2 : 16)
    for (int y = 0; y < kp; y++) {
      t1[y] += pz[y] * iez;
      t2[y] += pz[y] * ez;
    }
  }
  for (int y = 0; y < k; y++)
    s[y] = ie[y] * (se - t2[y]) - e[y] * t1[y] +
           (2.0 * b->prowsum[y] - (double)k);
  return 2.0 * se * sie + 2.0 * (double)k * (double)k;
}

/* Exact gradient into g (task scale); returns sum S (theory scale). */
static double exact_gradient(struct bandit *b, double *g)
{
  double sum;
  switch (b->p.regime) {
  case BANDIT_UNIFORM: sum = pair_loop(b, BANDIT_UNIFORM, g); break;
  case BANDIT_MIX_R: sum = pair_loop(b, BANDIT_MIX_R, g); break;
  case BANDIT_MIX_P:
    sum = b->ptab ? pair_loop_mixp_table(b, g) : pair_loop(b, BANDIT_MIX_P, g);
    break;
  case BANDIT_MIX_P_CLIP: sum = pair_loop(b, BANDIT_MIX_P_CLIP, g); break;
  case BANDIT_ON_POLICY: sum = pair_loop(b, BANDIT_ON_POLICY, g); break;
  case BANDIT_HYBRID: sum = pair_loop(b, BANDIT_HYBRID, g); break;
  default: sum = pair_loop(b, BANDIT_REFERENCE, g); break;
  }
  double c = -b->p.beta;
  if (b->p.scale == BANDIT_NORMALIZED)
    c *= 2.0 / sum;
  for (int y = 0; y < b->k; y++)
    g[y] *= c;
  return sum;
}

/* S(y, z) for the sampled estimator, outside the hot loop. */
static double weight_at(const struct bandit *b, int y, int z)
{
  const double *fa, *fb;
  product_factors(b, &fa, &fb);
  double c2k2 = 2.0 * (double)b->k * (double)b->k;
  return pair_weight(b->p.regime, b->er[y], b->ier[y], b->er[z], b->ier[z],
                     b->e[y], b->ie[y], b->e[z], b->ie[z], fa[y], fb[y], fa[z],
                     fb[z], b->emclip, b->epclip, c2k2);
}

/* sig(r_y - r_z) and sig(beta(u_y - u_z)) from the cached exponentials. */
static double sig_r(const struct bandit *b, int y, int z)
{
  return b->er[y] / (b->er[y] + b->er[z]);
}

static double sig_u(const struct bandit *b, int y, int z)
{
  return b->e[y] / (b->e[y] + b->e[z]);
}

/* The sampled estimator (section 5), normalized scale; returns sum S.
 *
 * Only the unordered pair and the winner of a draw matter: a draw (a1, a2)
 * won by a1 adds the same as (a2, a1) lost by a2, and diagonal draws add
 * nothing.  So the estimate depends only on how many draws fall in each
 * cell: the diagonal (cell 0) and the unordered pairs y < z (cells 1..,
 * row by row), each with weight 2 S(y,z), split by a binomial for the
 * winner.  When n is at least the number of cells we draw the counts as
 * one multinomial (sequential binomials), at a cost independent of n;
 * otherwise n draws from an alias table over the cells and a Bernoulli
 * label each, as the authors' code does. */
static void add_pair(struct bandit *b, double *G, int y, int z, uint32_t m,
                     uint32_t ywins, double bn)
{
  /* y won ywins times: each adds -bn sig(-beta c) to G[y]; z won the rest:
   * each adds +bn sig(beta c) to G[y]; c = u_y - u_z.  G[z] mirrors. */
  double q = sig_u(b, y, z);
  double t = bn * ((double)(m - ywins) * q - (double)ywins * (1.0 - q));
  G[y] += t;
  G[z] -= t;
}

static double sampled_estimate(struct bandit *b, double *G)
{
  const int k = b->k;
  const int64_t n = b->p.samples;
  const size_t ncell = (size_t)k * (size_t)(k - 1) / 2 + 1;
  const double bn = b->p.beta / (double)n;
  for (int y = 0; y < k; y++)
    G[y] = 0.0;
  double diag = 0.0, sum = 0.0;
  for (int y = 0; y < k; y++) {
    diag += weight_at(b, y, y);
    for (int z = y + 1; z < k; z++) {
      double w = 2.0 * weight_at(b, y, z);
      sum += w;
      if (b->cells)
        b->cells[b->row[y] + (size_t)(z - y - 1)] = w;
    }
  }
  sum += diag;
  if (!isfinite(sum) || !(sum > 0.0)) {
    for (int y = 0; y < k; y++)
      G[y] = NAN;
    return sum;
  }

  if (!b->cells) {
    /* Multinomial: cell c gets Bin(left, w_c / mass left).  The last pair
     * takes whatever is left, so round-off in the running mass loses no
     * draw. */
    double left_mass = sum;
    uint32_t left = (uint32_t)n;
    left -= rng_binomial(&b->noise, diag / left_mass, left);
    left_mass -= diag;
    for (int y = 0; y < k && left > 0; y++)
      for (int z = y + 1; z < k && left > 0; z++) {
        double w = 2.0 * weight_at(b, y, z);
        int last = (y == k - 2);
        uint32_t m = last ? left : rng_binomial(&b->noise, w / left_mass, left);
        left -= m;
        left_mass -= w;
        if (m > 0)
          add_pair(b, G, y, z, m, rng_binomial(&b->noise, sig_r(b, y, z), m),
                   bn);
      }
  } else {
    b->cells[0] = diag;
    if (rng_alias_build(b->alias, b->cells, ncell) != 0) {
      for (int y = 0; y < k; y++)
        G[y] = NAN;
      return sum;
    }
    for (int64_t i = 0; i < n; i++) {
      size_t c = rng_alias_draw(b->alias, &b->noise);
      if (c == 0)
        continue; /* diagonal: no gradient */
      /* The row of cell c: the last y with row[y] <= c. */
      int lo = 0, hi = k - 2;
      while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (b->row[mid] <= c)
          lo = mid;
        else
          hi = mid - 1;
      }
      int y = lo, z = lo + 1 + (int)(c - b->row[lo]);
      add_pair(b, G, y, z, 1, (uint32_t)rng_bernoulli(&b->noise, sig_r(b, y, z)),
               bn);
    }
  }
  return sum;
}

void bandit_gradient(struct bandit *b, const double *u, double *g)
{
  prepare(b, u);
  (void)exact_gradient(b, g);
}

/* G at the prepared u (non-finite when the dynamics diverged). */
static void estimate(struct bandit *b, double *G)
{
  const int k = b->k;
  const struct bandit_params *p = &b->p;
  if (p->samples > 0) {
    double sum = sampled_estimate(b, G);
    if (p->scale == BANDIT_THEORY)
      for (int y = 0; y < k; y++)
        G[y] *= sum / 2.0;
  } else {
    double sum = exact_gradient(b, G);
    if (p->sigma > 0.0) {
      double c = p->scale == BANDIT_THEORY ? 1.0 : 2.0 / sum;
      double amp = c * p->beta * (double)k * p->sigma;
      for (int y = 0; y < k; y++)
        G[y] += amp * rng_normal(&b->noise);
    }
  }
}

void bandit_estimate(struct bandit *b, const double *u, double *G)
{
  prepare(b, u);
  estimate(b, G);
}

/* sum_{y,y'} |x_y - x_y'| / K^2 in O(K log K): with x sorted ascending,
 * each x_(i) enters with weight 2i - (K - 1). */
static int cmp_double(const void *pa, const void *pb)
{
  double a = *(const double *)pa, b = *(const double *)pb;
  return (a > b) - (a < b);
}

void bandit_metrics(struct bandit *b, const double *u, double *maxd,
                    double *meand, double *gap)
{
  const int k = b->k;
  double *phi = b->sorted;
  for (int y = 0; y < k; y++)
    phi[y] = b->r[y] - b->p.beta * u[y];
  qsort(phi, (size_t)k, sizeof *phi, cmp_double);
  *maxd = phi[k - 1] - phi[0];
  double s = 0.0;
  for (int i = 0; i < k; i++)
    s += phi[i] * (double)(2 * i - (k - 1));
  *meand = 2.0 * s / ((double)k * (double)k);

  /* V(pi) = sum pi (r - beta log(pi/pi_ref)); log pi/pi_ref = u - log Z,
   * Z = sum pi_ref exp(u). */
  for (int y = 0; y < k; y++)
    phi[y] = b->lpref[y] + u[y];
  double lz = log_sum_exp(phi, k);
  double v = 0.0;
  for (int y = 0; y < k; y++) {
    double lr = u[y] - lz;
    v += exp(phi[y] - lz) * (b->r[y] - b->p.beta * lr);
  }
  *gap = b->vstar - v;
}

/* One step from b->u; returns 0, or -1 (non-finite) or -2 (logit spread
 * beyond LOGIT_SPREAD_MAX) with the reason in b->failure. */
static int step(struct bandit *b, int64_t t)
{
  const int k = b->k;
  const double eta = b->eta, beta = b->p.beta;
  double *restrict u = b->u;
  const double *restrict g = b->g;
  prepare(b, u);
  estimate(b, b->g);
  /* NaN and infinity propagate into the sum, so one check covers all. */
  double lo = INFINITY, hi = -INFINITY, sum = 0.0;
  for (int y = 0; y < k; y++) {
    u[y] -= eta * g[y];
    double z = beta * u[y];
    lo = z < lo ? z : lo;
    hi = z > hi ? z : hi;
    sum += z;
  }
  int bad = !isfinite(sum) ? -1 : (hi - lo > LOGIT_SPREAD_MAX ? -2 : 0);
  if (bad)
    snprintf(b->failure, sizeof b->failure, "diverged at step %lld: %s",
             (long long)t,
             bad == -1 ? "non-finite parameters"
                       : "beta*theta spread beyond 700 (exp would overflow)");
  return bad;
}

static void reset(struct bandit *b)
{
  for (int y = 0; y < b->k; y++)
    b->u[y] = 0.0;
  rng_pcg32_seed_key(&b->noise, b->noise_key);
  b->failure[0] = '\0';
}

int bandit_advance(struct bandit *b, int64_t steps, double *u_out)
{
  int rc = BANDIT_OK;
  for (int64_t t = 0; t < steps; t++)
    if (step(b, t + 1) != 0) {
      rc = BANDIT_DIVERGED;
      break;
    }
  if (u_out)
    memcpy(u_out, b->u, (size_t)b->k * sizeof *u_out);
  return rc;
}

int bandit_run(struct bandit *b, const struct bandit_trace *out)
{
  const int64_t T = b->p.iterations, every = b->p.record_every;
  const int64_t nrec = bandit_nrec(T, every);
  int rc = BANDIT_OK;
  reset(b);
  int64_t t = 0;
  for (int64_t i = 0; i < nrec; i++) {
    int64_t target = bandit_rec_step(i, T, every);
    for (; rc == BANDIT_OK && t < target; t++) {
      if (b->stop && *b->stop) {
        snprintf(b->failure, sizeof b->failure, "stopped at step %lld",
                 (long long)t);
        rc = BANDIT_STOPPED;
        break;
      }
      if (step(b, t + 1) != 0) {
        rc = BANDIT_DIVERGED;
        break;
      }
    }
    double m1 = NAN, m2 = NAN, m3 = NAN;
    if (rc == BANDIT_OK)
      bandit_metrics(b, b->u, &m1, &m2, &m3);
    if (out->max_abs_delta)
      out->max_abs_delta[i] = m1;
    if (out->mean_abs_delta)
      out->mean_abs_delta[i] = m2;
    if (out->value_gap)
      out->value_gap[i] = m3;
  }
  if (out->theta)
    for (int y = 0; y < b->k; y++)
      out->theta[y] = rc == BANDIT_OK ? b->u[y] : NAN; /* theta_ref = 0 */
  return rc;
}
