/* bandit: the DPO bandit engine.  See include/dposweep/bandit.h and
 * docs/model.md (section numbers below refer to it).  The vector loops are
 * in bandit_kernels.c, one copy per instruction set. */
#include "dposweep/bandit.h"

#include "bandit_kernels.h"
#include "dposweep/rng.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* exp() arguments are shifted so the largest is 0 and clamped at
 * BK_EXP_FLOOR (-700), so an arm far below the others gets a tiny positive
 * weight instead of 0 and the ratio e[y]/(e[y]+e[y']) never becomes 0/0. */

/* Past this spread of beta*u the policy has arms with probability below
 * e^-700 and S, e^z, overflow: the dynamics have diverged, and going on
 * would write meaningless numbers.  Rewards are limited to the same
 * spread (bandit_params_check). */
#define LOGIT_SPREAD_MAX 700.0

/* Per-arm arrays get PAD extra zeros, so vector loops may read past K. */
#define PAD BK_ARRAY_PAD

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

/* The values v[0..n) of field name (each a what: "reward", "logit") are
 * finite and span at most LOGIT_SPREAD_MAX, so exp() of their
 * differences cannot overflow. */
static int check_values(const double *v, int n, const char *name,
                        const char *what, const char **field, struct err *e)
{
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < n; i++) {
    if (!isfinite(v[i]))
      return fail(field, name, e,
                  "every %s must be a finite number (got %.17g)", what, v[i]);
    lo = fmin(lo, v[i]);
    hi = fmax(hi, v[i]);
  }
  if (hi - lo > LOGIT_SPREAD_MAX)
    return fail(field, name, e,
                "max - min must be at most 700 (got %.17g): exp() of the %s "
                "differences would overflow",
                hi - lo, what);
  return 0;
}

/* The reference: a spread in [0, BANDIT_MAX_REF_SPREAD], or finite
 * logits spanning at most LOGIT_SPREAD_MAX, not both. */
static int check_reference(const struct bandit_params *p, const char **field,
                           struct err *e)
{
  if (!(p->ref_spread >= 0.0 && p->ref_spread <= BANDIT_MAX_REF_SPREAD))
    return fail(field, "ref_spread", e,
                "must be a finite number between 0 and 35 (got %.17g)",
                p->ref_spread);
  if (!p->ref_logits)
    return 0;
  if (p->ref_spread != 0.0)
    return fail(field, "ref_logits", e,
                "not together with ref_spread %.17g (a given reference has "
                "no spread; keep one)",
                p->ref_spread);
  return check_values(p->ref_logits, p->arms, "ref_logits", "logit", field,
                      e);
}

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
    int rc = check_values(p->reward_values, p->arms, "rewards", "reward",
                          field, e);
    if (rc)
      return rc;
  } else if (!bandit_rewards_name(p->rewards)) {
    return fail(field, "rewards", e, "unknown distribution (code %g)",
                (double)p->rewards);
  }
  return check_reference(p, field, e);
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
/* Tags before the reference's values in the noise key, so a spread and a
 * given logit never hash alike. */
#define KEY_REF_SPREAD 0x7370726561640000ULL /* "spread" */
#define KEY_REF_LOGITS 0x6c6f676974730000ULL /* "logits" */

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
  /* Only a reference that is not uniform by default enters: the tasks
   * without one keep the keys (and so the results) they always had. */
  if (p->ref_logits) {
    k = rng_key_mix(k, KEY_REF_LOGITS);
    for (int i = 0; i < p->arms; i++)
      k = rng_key_mix(k, rng_double_bits(p->ref_logits[i]));
  } else if (p->ref_spread != 0.0) {
    k = rng_key_mix(k, KEY_REF_SPREAD);
    k = rng_key_mix(k, rng_double_bits(p->ref_spread));
  }
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
  double *wrow;   /* sampled estimator: a row's cell weights */
  double *sorted; /* metrics scratch */
  double *tref;   /* theta_ref */
  double *wref;   /* sum_z pi_ref(z) sig(r_y - r_z): the win rate's terms */
  double lz0;     /* log sum exp(lpref): 0 up to rounding */
  int has_ref;    /* theta_ref given or drawn (else 0, not added) */
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
  int kpad;       /* K rounded up to BK_TABLE_PAD: whole vectors per row */
  double *prowsum;/* its row sums */
  double *scratch;/* 2 kpad doubles for it */
  const struct bandit_kernels *kern; /* the instruction set's kernels */
  struct bk_pairs pairs;             /* the pair loops' inputs */
  size_t *row;    /* first cell of row y (pairs y < z) */
  /* sampled estimator, many draws: one multinomial over the outcomes (the
   * diagonal, and each pair with either winner) for small K; for larger K
   * one over the rows, then one per row over its outcomes (O(K) memory) */
  struct rng_multinomial *multi;
  int one_tree;      /* small K: all outcomes in one multinomial */
  double *leaf;      /* outcomes' weights: diagonal, then per pair y wins,
                        z wins (one tree), or a row's pairs (per row) */
  uint32_t *leafcnt; /* their draws */
  double *rowmass;   /* per row: the diagonal, then rows 0..K-2's weights */
  uint32_t *rowcnt;  /* their draws */
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

/* 64-byte aligned zeros (whole vectors, no cache-line splits); n
 * doubles, a multiple of BK_TABLE_PAD. */
static double *alloc_aligned(size_t n)
{
  double *a = aligned_alloc(64, n * sizeof *a);
  if (a)
    memset(a, 0, n * sizeof *a);
  return a;
}

/* mix-p's table of the fixed reward sigmoids P and its row sums.
 * Returns 0 or -1 (ENOMEM). */
static int make_table(struct bandit *b)
{
  const int k = b->k;
  b->kpad = (k + BK_TABLE_PAD - 1) / BK_TABLE_PAD * BK_TABLE_PAD;
  if (!(b->ptab = alloc_aligned((size_t)k * (size_t)b->kpad)) ||
      !(b->prowsum = calloc((size_t)k, sizeof *b->prowsum)) ||
      !(b->scratch = alloc_aligned(2 * (size_t)b->kpad)))
    return -1;
  for (int y = 0; y < k; y++)
    for (int z = 0; z < k; z++) {
      double pyz = b->er[y] / (b->er[y] + b->er[z]);
      b->ptab[(size_t)y * (size_t)b->kpad + (size_t)z] = pyz;
      b->prowsum[y] += pyz;
    }
  return 0;
}

/* The product samplers' factors (pi_s1, pi_s2); pi_ref for the others,
 * which do not read them. */
static void product_factors(const struct bandit *b, const double **a,
                            const double **bb)
{
  switch (b->p.regime) {
  case BANDIT_ON_POLICY: *a = b->pi; *bb = b->pi; break;
  case BANDIT_HYBRID: *a = b->pi; *bb = b->pref; break;
  default: *a = b->pref; *bb = b->pref; break;
  }
}

/* The pair loops' inputs: the arrays prepare() refills every step. */
static void set_pairs(struct bandit *b)
{
  struct bk_pairs *q = &b->pairs;
  q->k = b->k;
  q->er = b->er;
  q->ier = b->ier;
  q->e = b->e;
  q->ie = b->ie;
  product_factors(b, &q->a, &q->b);
  q->lo = b->emclip;
  q->hi = b->epclip;
  q->c2k2 = 2.0 * (double)b->k * (double)b->k;
}

/* Up to this K the sampled estimator's counts are one multinomial over
 * all 2 (K(K-1)/2) + 1 outcomes (4033 at K = 64: a deep tree and wide
 * batches); past it, over the rows and then row by row, in O(K) memory. */
#define ONE_TREE_MAX_ARMS 64

/* The sampled estimator's state.  Few draws: an alias table over the
 * cells (O(K^2) memory).  Many draws: multinomials over the outcomes, or
 * over rows and a row's outcomes (O(K) memory).  See sampled_estimate.
 * Returns 0 or -1 (ENOMEM). */
static int make_sampler(struct bandit *b)
{
  const int k = b->k;
  const size_t ncell = (size_t)k * (size_t)(k - 1) / 2 + 1, kk = (size_t)k;
  if ((uint64_t)b->p.samples < (uint64_t)ncell) {
    if (!(b->cells = malloc(ncell * sizeof *b->cells)) ||
        !(b->row = malloc(kk * sizeof *b->row)) ||
        rng_alias_create(ncell, &b->alias) != 0)
      return -1;
    for (int y = 0; y < k; y++)
      b->row[y] = 1 + (size_t)y * (size_t)(2 * k - y - 1) / 2;
    return 0;
  }
  b->one_tree = k <= ONE_TREE_MAX_ARMS;
  const size_t nleaf = b->one_tree ? 2 * ncell - 1 : 2 * kk;
  if (rng_multinomial_create(nleaf, &b->multi) != 0 ||
      !(b->leaf = malloc(nleaf * sizeof *b->leaf)) ||
      !(b->leafcnt = malloc(nleaf * sizeof *b->leafcnt)) ||
      !(b->rowmass = malloc(kk * sizeof *b->rowmass)) ||
      !(b->rowcnt = malloc(kk * sizeof *b->rowcnt)))
    return -1;
  return 0;
}

/* The reference policy (section 1), from the instance stream after the
 * rewards: theta_ref, log pi_ref and pi_ref, V* and the win rate's terms.
 * With no reference theta_ref = 0, nothing is drawn, and the arithmetic is
 * the one every task had before references existed (the same bits). */
static void make_reference(struct bandit *b, struct rng_pcg32 *inst)
{
  const struct bandit_params *p = &b->p;
  const int k = b->k;
  b->has_ref = p->ref_logits != NULL || p->ref_spread != 0.0;
  for (int i = 0; i < k; i++)
    b->tref[i] = p->ref_logits  ? p->ref_logits[i]
                 : b->has_ref ? p->ref_spread * rng_normal(inst)
                              : 0.0;
  memcpy(b->lpref, b->tref, (size_t)k * sizeof *b->lpref);
  double lz = log_sum_exp(b->lpref, k);
  for (int i = 0; i < k; i++) {
    b->lpref[i] -= lz;
    b->pref[i] = exp(b->lpref[i]);
  }
  /* log sum pi_ref, taken as bandit_metrics takes log Z at u: equal at
   * u = 0, so KL(pi(0) || pi_ref) is exactly 0. */
  b->lz0 = log_sum_exp(b->lpref, k);
  /* V* = beta log sum pi_ref exp(r / beta) (section 6). */
  for (int i = 0; i < k; i++)
    b->sorted[i] = b->lpref[i] + b->r[i] / p->beta;
  b->vstar = p->beta * log_sum_exp(b->sorted, k);
  /* The win rate is sum_y pi(y) wref[y]: the reference's side is fixed,
   * so its K^2 sigmoids are summed once here, not at every record. */
  for (int y = 0; y < k; y++) {
    double w = 0.0;
    for (int z = 0; z < k; z++)
      w += b->pref[z] * (b->er[y] / (b->er[y] + b->er[z]));
    b->wref[y] = w;
  }
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
  double **arrays[] = {&b->r,    &b->er,     &b->ier,  &b->lpref, &b->pref,
                       &b->u,    &b->e,      &b->ie,   &b->pi,    &b->g,
                       &b->wrow, &b->sorted, &b->tref, &b->wref};
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
  b->kern = bandit_kernels_active();
  b->kern->shifted_exp(b->r, 1.0, k, b->er, b->ier);
  double rmin = b->r[0], rmax = b->r[0];
  for (int i = 1; i < k; i++) {
    rmin = fmin(rmin, b->r[i]);
    rmax = fmax(rmax, b->r[i]);
  }
  b->emclip = exp(-(rmax - rmin));
  b->epclip = exp(rmax - rmin);

  make_reference(b, &inst);

  b->noise_key = bandit_noise_key(p);
  b->p.reward_values = p->rewards == BANDIT_REWARDS_EXPLICIT ? b->r : NULL;
  b->p.ref_logits = p->ref_logits ? b->tref : NULL;
  rng_pcg32_seed_key(&b->noise, b->noise_key);

  set_pairs(b);
  if (p->regime == BANDIT_MIX_P && k <= PTAB_MAX_ARMS && make_table(b) != 0)
    goto out;

  if (p->samples > 0 && make_sampler(b) != 0)
    goto out;
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
  double *arrays[] = {b->r,    b->er,     b->ier,  b->lpref, b->pref,
                      b->u,    b->e,      b->ie,   b->pi,    b->g,
                      b->wrow, b->sorted, b->tref, b->wref,  b->cells};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
    free(arrays[i]);
  free(b->row);
  free(b->ptab);
  free(b->prowsum);
  free(b->scratch);
  rng_alias_destroy(&b->alias);
  rng_multinomial_destroy(&b->multi);
  free(b->leaf);
  free(b->leafcnt);
  free(b->rowmass);
  free(b->rowcnt);
  free(b);
  *bp = NULL;
}

int bandit_arms(const struct bandit *b) { return b->k; }
const double *bandit_rewards(const struct bandit *b) { return b->r; }
const double *bandit_ref_logits(const struct bandit *b) { return b->tref; }
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
  b->kern->shifted_exp(u, b->p.beta, k, b->e, b->ie);
  if (b->p.regime == BANDIT_ON_POLICY || b->p.regime == BANDIT_HYBRID) {
    /* pi(y) ∝ pi_ref(y) exp(u[y]): softmax(theta), whatever beta. */
    for (int i = 0; i < k; i++)
      b->sorted[i] = b->lpref[i] + u[i];
    double lz = log_sum_exp(b->sorted, k);
    for (int i = 0; i < k; i++)
      b->pi[i] = exp(b->sorted[i] - lz);
  }
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
  /* P_zy = 1 - P_yz, so A = sum(ie) - P^T ie and B = sum(e) - P^T e. */
  b->kern->table_products(b->ptab, k, kp, e, ie, t1, t2);
  for (int y = 0; y < k; y++)
    s[y] = ie[y] * (se - t2[y]) - e[y] * t1[y] +
           (2.0 * b->prowsum[y] - (double)k);
  return 2.0 * se * sie + 2.0 * (double)k * (double)k;
}

/* Exact gradient into g (task scale); returns sum S (theory scale). */
static double exact_gradient(struct bandit *b, double *g)
{
  double sum = b->ptab ? pair_loop_mixp_table(b, g)
                      : b->kern->pair_loop[b->p.regime](&b->pairs, g);
  double c = -b->p.beta;
  if (b->p.scale == BANDIT_NORMALIZED)
    c *= 2.0 / sum;
  for (int y = 0; y < b->k; y++)
    g[y] *= c;
  return sum;
}

/* Row y of the sampled estimator's cells: w[z] = 2 S(y, z) for z > y
 * (both orders of the pair); returns S(y, y). */
static inline __attribute__((always_inline)) double
row_weights_of(const struct bandit *b, enum bandit_regime regime, int y,
               double *restrict w)
{
  const double *fa, *fb;
  product_factors(b, &fa, &fb);
  const double *er = b->er, *ier = b->ier, *e = b->e, *ie = b->ie;
  const double lo = b->emclip, hi = b->epclip;
  const double c2k2 = 2.0 * (double)b->k * (double)b->k;
  for (int z = y + 1; z < b->k; z++)
    w[z] = 2.0 * bk_pair_weight(regime, er[y], ier[y], er[z], ier[z], e[y],
                                ie[y], e[z], ie[z], fa[y], fb[y], fa[z],
                                fb[z], lo, hi, c2k2);
  return bk_pair_weight(regime, er[y], ier[y], er[y], ier[y], e[y], ie[y],
                        e[y], ie[y], fa[y], fb[y], fa[y], fb[y], lo, hi, c2k2);
}

static double row_weights(const struct bandit *b, int y, double *w)
{
  switch (b->p.regime) {
  case BANDIT_UNIFORM: return row_weights_of(b, BANDIT_UNIFORM, y, w);
  case BANDIT_MIX_R: return row_weights_of(b, BANDIT_MIX_R, y, w);
  case BANDIT_MIX_P: return row_weights_of(b, BANDIT_MIX_P, y, w);
  case BANDIT_MIX_P_CLIP: return row_weights_of(b, BANDIT_MIX_P_CLIP, y, w);
  case BANDIT_ON_POLICY: return row_weights_of(b, BANDIT_ON_POLICY, y, w);
  case BANDIT_HYBRID: return row_weights_of(b, BANDIT_HYBRID, y, w);
  default: return row_weights_of(b, BANDIT_REFERENCE, y, w);
  }
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
 * nothing.  So the estimate depends only on how many draws fall on each
 * outcome: the diagonal, and each unordered pair y < z (weight 2 S(y,z))
 * won by y (with probability sig(r_y - r_z)) or by z.  When n is at least
 * the number of cells we draw these counts as one multinomial, at a cost
 * independent of n; otherwise n draws from an alias table over the cells
 * and a Bernoulli label each, as the authors' code does. */
static double pair_term(const struct bandit *b, int y, int z, uint32_t m,
                        uint32_t ywins, double bn)
{
  /* y won ywins times: each adds -bn sig(-beta c) to G[y]; z won the rest:
   * each adds +bn sig(beta c) to G[y]; c = u_y - u_z.  G[z] mirrors. */
  double q = sig_u(b, y, z);
  return bn * ((double)(m - ywins) * q - (double)ywins * (1.0 - q));
}

static void add_pair(struct bandit *b, double *G, int y, int z, uint32_t m,
                     uint32_t ywins, double bn)
{
  double t = pair_term(b, y, z, m, ywins, bn);
  G[y] += t;
  G[z] -= t;
}

/* Row y's outcomes: the weight w[z] = 2 S(y, z) of each pair z > y split
 * by its winner, y with probability sig(r_y - r_z), into out[2j] (y wins)
 * and out[2j + 1], j = z - y - 1.  The two are siblings in the
 * multinomial's tree, so the winner is one binomial of the pair's draws,
 * drawn with the tree's other splits. */
static void row_outcomes(const struct bandit *b, int y, const double *w,
                         double *out)
{
  const double *er = b->er;
  for (int z = y + 1; z < b->k; z++) {
    double t = w[z] / (er[y] + er[z]);
    out[2 * (z - y - 1)] = t * er[y];
    out[2 * (z - y - 1) + 1] = t * er[z];
  }
}

/* Row y's pairs' terms, from their outcomes' counts c (row_outcomes'
 * order). */
static void row_gradient(struct bandit *b, double *restrict G, int y,
                         const uint32_t *c, double bn)
{
  /* G[y]'s terms added in a register, in add_pair's order: through memory
   * (G[y] += t beside G[z] -= t, which might be the same entry for all the
   * compiler knows) each waited on the store before it. */
  double gy = G[y];
  for (int z = y + 1; z < b->k; z++) {
    uint32_t yw = c[2 * (z - y - 1)], zw = c[2 * (z - y - 1) + 1];
    if (yw | zw) {
      double t = pair_term(b, y, z, yw + zw, yw, bn);
      gy += t;
      G[z] -= t;
    }
  }
  G[y] = gy;
}

/* The counts as a multinomial over the outcomes (leaf: the diagonal, then
 * row by row), drawn by the selected path's copy of the batch sampler
 * (src/rng_batch.c).  For K past ONE_TREE_MAX_ARMS in two stages that keep
 * the memory O(K): over the diagonal and the rows (rowmass), then row by
 * row over the row's outcomes.  A row or a subtree without draws costs
 * nothing: the draws end when the n pairs are placed.  Returns 0 or -1 (a
 * weight not finite). */
static int multinomial_estimate(struct bandit *b, double *G, double bn)
{
  const int k = b->k;
  const uint32_t n = (uint32_t)b->p.samples;
  if (b->one_tree) {
    const size_t nleaf = (size_t)k * (size_t)(k - 1) + 1;
    if (b->kern->multinomial(b->multi, &b->noise, n, b->leaf, nleaf,
                             b->leafcnt) != 0)
      return -1;
    for (int y = 0, at = 1; y < k - 1; at += 2 * (k - 1 - y), y++)
      row_gradient(b, G, y, b->leafcnt + at, bn);
    return 0;
  }
  if (b->kern->multinomial(b->multi, &b->noise, n, b->rowmass, (size_t)k,
                           b->rowcnt) != 0)
    return -1;
  for (int y = 0; y < k - 1; y++) {
    if (b->rowcnt[y + 1] == 0)
      continue;
    (void)row_weights(b, y, b->wrow);
    row_outcomes(b, y, b->wrow, b->leaf);
    if (b->kern->multinomial(b->multi, &b->noise, b->rowcnt[y + 1], b->leaf,
                             2 * (size_t)(k - 1 - y), b->leafcnt) != 0)
      return -1;
    row_gradient(b, G, y, b->leafcnt, bn);
  }
  return 0;
}

/* n draws from an alias table over the cells and a Bernoulli label each. */
static int alias_estimate(struct bandit *b, double *G, double diag, double bn)
{
  const int k = b->k;
  const size_t ncell = (size_t)k * (size_t)(k - 1) / 2 + 1;
  b->cells[0] = diag;
  if (rng_alias_build(b->alias, b->cells, ncell) != 0)
    return -1;
  for (int64_t i = 0; i < b->p.samples; i++) {
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
  return 0;
}

static double sampled_estimate(struct bandit *b, double *G)
{
  const int k = b->k;
  const double bn = b->p.beta / (double)b->p.samples;
  for (int y = 0; y < k; y++)
    G[y] = 0.0;
  double diag = 0.0, sum = 0.0;
  for (int y = 0, at = 1; y < k; at += 2 * (k - 1 - y), y++) {
    diag += row_weights(b, y, b->wrow);
    double row = 0.0;
    for (int z = y + 1; z < k; z++) {
      sum += b->wrow[z];
      row += b->wrow[z];
      if (b->cells)
        b->cells[b->row[y] + (size_t)(z - y - 1)] = b->wrow[z];
    }
    if (b->rowmass && y < k - 1)
      b->rowmass[y + 1] = row;
    if (b->one_tree)
      row_outcomes(b, y, b->wrow, b->leaf + at);
  }
  sum += diag;
  int bad = !isfinite(sum) || !(sum > 0.0);
  if (!bad) {
    if (b->cells) {
      bad = alias_estimate(b, G, diag, bn) != 0;
    } else {
      b->rowmass[0] = b->leaf[0] = diag;
      bad = multinomial_estimate(b, G, bn) != 0;
    }
  }
  if (bad)
    for (int y = 0; y < k; y++)
      G[y] = NAN;
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

/* The deltas' metrics: max and mean of |phi[y] - phi[y']|. */
static void delta_metrics(struct bandit *b, const double *u, double *maxd,
                          double *meand)
{
  const int k = b->k;
  double *phi = b->sorted;
  for (int y = 0; y < k; y++)
    phi[y] = b->r[y] - b->p.beta * u[y];
  if (k > 1)
    qsort(phi, (size_t)k, sizeof *phi, cmp_double);
  *maxd = phi[k - 1] - phi[0];
  double s = 0.0;
  for (int i = 0; i < k; i++)
    s += phi[i] * (double)(2 * i - (k - 1));
  *meand = 2.0 * s / ((double)k * (double)k);
}

void bandit_metrics(struct bandit *b, const double *u,
                    double m[BANDIT_NMETRICS])
{
  const int k = b->k;
  delta_metrics(b, u, &m[BANDIT_MAX_ABS_DELTA], &m[BANDIT_MEAN_ABS_DELTA]);

  /* The policy pi(y) = pi_ref(y) exp(u[y]) / Z, Z = sum pi_ref exp(u), so
   * log pi/pi_ref = u - log Z (up to pi_ref's own rounding, lz0). */
  double *phi = b->sorted;
  for (int y = 0; y < k; y++)
    phi[y] = b->lpref[y] + u[y];
  double lz = log_sum_exp(phi, k);
  double v = 0.0, er = 0.0, win = 0.0, kl = 0.0;
  for (int y = 0; y < k; y++) {
    double lr = u[y] - lz, pi = exp(phi[y] - lz);
    /* V(pi) = sum pi (r - beta log(pi/pi_ref)). */
    v += pi * (b->r[y] - b->p.beta * lr);
    er += pi * b->r[y];
    win += pi * b->wref[y];
    kl += pi * (lr + b->lz0);
  }
  m[BANDIT_VALUE_GAP] = b->vstar - v;
  m[BANDIT_EXPECTED_REWARD] = er;
  m[BANDIT_WIN_RATE] = win;
  /* KL >= 0; near pi = pi_ref its terms cancel to a few ulps either
   * way. */
  m[BANDIT_KL_REF] = kl < 0.0 ? 0.0 : kl;
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
    double m[BANDIT_NMETRICS];
    for (int j = 0; j < BANDIT_NMETRICS; j++)
      m[j] = NAN;
    if (rc == BANDIT_OK)
      bandit_metrics(b, b->u, m);
    for (int j = 0; j < BANDIT_NMETRICS; j++)
      if (out->metric[j])
        out->metric[j][i] = m[j];
  }
  /* theta = theta_ref + u; with no reference u itself, so that -0.0 stays
   * -0.0 as it always was. */
  if (out->theta)
    for (int y = 0; y < b->k; y++)
      out->theta[y] = rc != BANDIT_OK ? NAN
                      : b->has_ref    ? b->tref[y] + b->u[y]
                                      : b->u[y];
  return rc;
}
