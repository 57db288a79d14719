/* Unit tests of the bandit engine: golden trajectories, the theorems'
 * bounds, an independent slow reference, unbiased estimators,
 * determinism, and the same bits on every instruction-set path.  The
 * suite runs on the path DPOSWEEP_ISA names (tests/meson.build runs it
 * once per path), and skips (exit 77) when this machine lacks it. */
#include "dposweep/bandit.h"
#include "dposweep/rng.h"

#include "fixtures.h"
#include "unit.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- An independent, straightforward O(K^2) reference (docs/model.md) ---- */

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

static void softmax(const double *x, int k, double *out)
{
  double m = x[0];
  for (int i = 1; i < k; i++)
    m = fmax(m, x[i]);
  double z = 0.0;
  for (int i = 0; i < k; i++)
    z += exp(x[i] - m);
  for (int i = 0; i < k; i++)
    out[i] = exp(x[i] - m) / z;
}

/* The reference policy of a task: pi_ref = softmax(tref) (tref NULL:
 * uniform, theta_ref = 0). */
static void ref_policy(const double *tref, int k, double *pref)
{
  if (!tref) {
    for (int i = 0; i < k; i++)
      pref[i] = 1.0 / k;
    return;
  }
  softmax(tref, k, pref);
}

/* pi = softmax(theta_ref + u). */
static void ref_current(const double *tref, const double *u, int k,
                        double *pi)
{
  double *theta = malloc(k * sizeof *theta);
  for (int i = 0; i < k; i++)
    theta[i] = (tref ? tref[i] : 0.0) + u[i];
  softmax(theta, k, pi);
  free(theta);
}

/* S(y,z) in the theory scale, exp everywhere, as in the model's table;
 * m = max r - min r (for the clip). */
static double ref_weight(enum bandit_regime regime, const double *r,
                         const double *u, const double *pi,
                         const double *pref, double beta, int k, double m,
                         int y, int z)
{
  double kk = 2.0 * k * k;
  double zz;
  switch (regime) {
  case BANDIT_UNIFORM: return 4.0;
  case BANDIT_MIX_R: zz = r[y] - r[z]; return 2.0 + exp(zz) + exp(-zz);
  case BANDIT_MIX_P: zz = beta * (u[y] - u[z]); return 2.0 + exp(zz) + exp(-zz);
  case BANDIT_MIX_P_CLIP: {
    zz = beta * (u[y] - u[z]);
    zz = zz < -m ? -m : (zz > m ? m : zz);
    return 2.0 + exp(zz) + exp(-zz);
  }
  case BANDIT_ON_POLICY: return kk * 2.0 * pi[y] * pi[z];
  case BANDIT_HYBRID: return kk * (pi[y] * pref[z] + pi[z] * pref[y]);
  case BANDIT_REFERENCE: return kk * 2.0 * pref[y] * pref[z];
  default: return NAN;
  }
}

/* g[y] = -beta sum_z S(y,z) Delta(y,z), normalized: S -> 2S / sum S, with
 * the reference theta_ref = tref (NULL: 0).  gabs (if not NULL) gets the
 * same sums of |S Delta|: the size of the terms, against which a sum's
 * round-off is measured. */
static double ref_gradient(enum bandit_regime regime, enum bandit_scale scale,
                           const double *r, const double *tref,
                           const double *u, double beta, int k, double *g,
                           double *gabs)
{
  double *pi = malloc(k * sizeof *pi), *pref = malloc(k * sizeof *pref);
  ref_current(tref, u, k, pi);
  ref_policy(tref, k, pref);
  double rmax = r[0], rmin = r[0];
  for (int i = 1; i < k; i++) {
    rmax = fmax(rmax, r[i]);
    rmin = fmin(rmin, r[i]);
  }
  /* Compensated (Kahan) sums: with K^2 = 10^6 terms a plain sum would
   * itself be off by more than the 1e-12 we test to. */
  double m = rmax - rmin, sum = 0.0, comp = 0.0;
  for (int y = 0; y < k; y++)
    for (int z = 0; z < k; z++) {
      double term =
        ref_weight(regime, r, u, pi, pref, beta, k, m, y, z) - comp;
      double next = sum + term;
      comp = (next - sum) - term;
      sum = next;
    }
  for (int y = 0; y < k; y++) {
    double a = 0.0, gy = 0.0, gc = 0.0;
    for (int z = 0; z < k; z++) {
      double delta = sig(r[y] - r[z]) - sig(beta * (u[y] - u[z]));
      double t =
        ref_weight(regime, r, u, pi, pref, beta, k, m, y, z) * delta - gc;
      double next = gy + t;
      gc = (next - gy) - t;
      gy = next;
      a += fabs(t);
    }
    g[y] = gy;
    double c = scale == BANDIT_NORMALIZED ? -beta * 2.0 / sum : -beta;
    g[y] *= c;
    if (gabs)
      gabs[y] = fabs(c) * a;
  }
  free(pi);
  free(pref);
  return sum;
}

/* Every metric of docs/model.md section 6 by its plain formula, into c
 * (indexed by enum bandit_metric); reference theta_ref = tref (NULL: 0). */
static void ref_metrics(const double *r, const double *tref, const double *u,
                        double beta, int k, double *c)
{
  double *phi = malloc(k * sizeof *phi), *pi = malloc(k * sizeof *pi);
  double *pref = malloc(k * sizeof *pref);
  for (int y = 0; y < k; y++)
    phi[y] = r[y] - beta * u[y];
  double mx = phi[0], mn = phi[0], s = 0.0;
  for (int y = 0; y < k; y++) {
    mx = fmax(mx, phi[y]);
    mn = fmin(mn, phi[y]);
    for (int z = 0; z < k; z++)
      s += fabs(phi[y] - phi[z]);
  }
  c[BANDIT_MAX_ABS_DELTA] = mx - mn;
  c[BANDIT_MEAN_ABS_DELTA] = s / ((double)k * k);
  ref_current(tref, u, k, pi);
  ref_policy(tref, k, pref);
  double vstar = 0.0, v = 0.0, er = 0.0, win = 0.0, kl = 0.0;
  for (int y = 0; y < k; y++) {
    vstar += pref[y] * exp(r[y] / beta);
    v += pi[y] * (r[y] - beta * log(pi[y] / pref[y]));
    er += pi[y] * r[y];
    kl += pi[y] * log(pi[y] / pref[y]);
    for (int z = 0; z < k; z++)
      win += pi[y] * pref[z] * sig(r[y] - r[z]);
  }
  c[BANDIT_VALUE_GAP] = beta * log(vstar) - v;
  c[BANDIT_EXPECTED_REWARD] = er;
  c[BANDIT_WIN_RATE] = win;
  c[BANDIT_KL_REF] = kl;
  free(phi);
  free(pi);
  free(pref);
}

/* ---- helpers ---- */

static struct bandit_params params(enum bandit_regime regime,
                                   enum bandit_scale scale, int k, double beta)
{
  struct bandit_params p = {
    .regime = regime,
    .scale = scale,
    .rewards = BANDIT_REWARDS_UNIFORM,
    .arms = k,
    .beta = beta,
    .eta = 10.0,
    .eta_theory = scale == BANDIT_THEORY,
    .iterations = 20,
    .record_every = 1,
    .master_seed = 99,
    .seed = 0,
  };
  return p;
}

/* A new engine of p run to its end (BANDIT_OK), metric j recorded at m +
 * j * nrec and the final theta in theta (NULL: not kept); the caller reads
 * it and destroys it. */
static struct bandit *run_traced(const struct bandit_params *p, double *m,
                                 int64_t nrec, double *theta)
{
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(p, &b), 0);
  struct bandit_trace tr = {.theta = theta};
  for (int j = 0; j < BANDIT_NMETRICS; j++)
    tr.metric[j] = m + j * nrec;
  ck_assert_int_eq(bandit_run(b, &tr), BANDIT_OK);
  return b;
}

static int close_to(double got, double want, double rel, double abs_floor)
{
  return fabs(got - want) <= rel * fabs(want) + abs_floor;
}

/* ---- golden trajectories ---- */

static int read_golden(const char *name, double rows[][4], int maxrows)
{
  char path[1024];
  const char *dir = getenv("GOLDEN_DIR");
  snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/golden", name);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char line[512];
  int n = 0;
  ck_assert_ptr_nonnull(fgets(line, sizeof line, f)); /* header */
  while (n < maxrows && fgets(line, sizeof line, f))
    if (sscanf(line, "%lf,%lf,%lf,%lf", &rows[n][0], &rows[n][1], &rows[n][2],
               &rows[n][3]) == 4)
      n++;
  fclose(f);
  return n;
}

static const double golden_theory_r[] = {0.675831, 0.214323, 0.309452,
                                         0.799466, 0.995802};
static const double golden_norm_r[] = {0.067196, 0.861351, 0.509187, 1.810286,
                                       0.750843, 0.63976,  -0.731323, -1.107717,
                                       1.484406, 0.048912, 0.81152,  -1.376423};

START_TEST(test_golden)
{
  enum bandit_regime regime = (enum bandit_regime)(_i / 2);
  enum bandit_scale scale = (enum bandit_scale)(_i % 2);
  char name[64];
  snprintf(name, sizeof name, "%s_%s.csv", bandit_regime_name(regime),
           bandit_scale_name(scale));
  double rows[64][4];
  int n = read_golden(name, rows, 64);
  ck_assert_int_eq(n, 21);
  struct bandit_params p = params(regime, scale, 5, 0.5);
  p.rewards = BANDIT_REWARDS_EXPLICIT;
  p.reward_values = golden_theory_r;
  if (scale == BANDIT_NORMALIZED) {
    p.arms = 12;
    p.beta = 3.0;
    p.eta = 10.0;
    p.reward_values = golden_norm_r;
  }
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(&p, &b), 0);
  double m[3][21];
  struct bandit_trace tr = {.metric = {m[0], m[1], m[2]}};
  ck_assert_int_eq(bandit_run(b, &tr), BANDIT_OK);
  /* 1e-12 relative until round-off: phi is O(1), so differences of a few
   * ulps of it (1e-14 absolute) are round-off.  The normalized cases do
   * not converge (eta = 10 overshoots at K = 12); their oscillation
   * amplifies round-off about 1.6x per step, so after step 10 they get
   * 1e-10. */
  for (int t = 0; t < n; t++)
    for (int j = 0; j < 3; j++)
      ck_assert_msg(close_to(m[j][t], rows[t][j + 1],
                             scale == BANDIT_NORMALIZED && t > 10 ? 1e-10
                                                                  : 1e-12,
                             1e-14),
                    "%s: t=%d metric %d: got %.17g want %.17g", name, t, j,
                    m[j][t], rows[t][j + 1]);
  bandit_destroy(&b);
}
END_TEST

/* ---- the theorems of docs/model.md section 8 ---- */

static double bound(enum bandit_regime regime, int t)
{
  switch (regime) {
  case BANDIT_UNIFORM: return pow(0.588, t);
  case BANDIT_MIX_P: return pow(0.611, pow(2.0, t) - 1.0);
  default: return pow(0.5, pow(2.0, t) - 1.0);
  }
}

START_TEST(test_theorem_bounds)
{
  const enum bandit_regime regimes[] = {BANDIT_UNIFORM, BANDIT_MIX_R,
                                        BANDIT_MIX_P, BANDIT_MIX_P_CLIP};
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 2025);
  int checked = 0, steps_below_bound = 0;
  for (int inst = 0; inst < 120; inst++) {
    int k = 2 + (int)(rng_uniform(&g) * 63.0);                 /* 2..64 */
    double beta = 0.05 * pow(200.0, rng_uniform(&g));          /* 0.05..10 */
    for (size_t ri = 0; ri < 4; ri++) {
      enum bandit_regime regime = regimes[ri];
      struct bandit_params p = params(regime, BANDIT_THEORY, k, beta);
      p.seed = (uint64_t)inst;
      p.iterations = regime == BANDIT_UNIFORM ? 70 : 8;
      struct bandit *b = NULL;
      ck_assert_int_eq(bandit_create(&p, &b), 0);
      double m[71];
      struct bandit_trace tr = {.metric = {[BANDIT_MAX_ABS_DELTA] = m}};
      ck_assert_int_eq(bandit_run(b, &tr), BANDIT_OK);
      for (int t = 0; t <= p.iterations; t++) {
        /* Under the bound, or at round-off (phi is O(1)). */
        double bd = bound(regime, t);
        ck_assert_msg(m[t] <= bd * (1.0 + 1e-9) || m[t] <= 1e-13,
                      "%s K=%d beta=%g seed=%d t=%d: %.3g > bound %.3g",
                      bandit_regime_name(regime), k, beta, inst, t, m[t], bd);
        steps_below_bound += m[t] > 1e-13;
      }
      checked++;
      bandit_destroy(&b);
    }
  }
  ck_assert_int_eq(checked, 480);
  ck_assert_int_gt(steps_below_bound, 480 * 2);
}
END_TEST

START_TEST(test_gaussian_theorem)
{
  /* docs/model.md section 8: mix-r with the gaussian estimator, theory scale,
   * after T = log(1/sigma) steps sqrt(E[delta(y,y')^2]) <= 14 sigma. */
  const double sigmas[] = {1e-2, 1e-3, 1e-4};
  for (int si = 0; si < 3; si++) {
    double sigma = sigmas[si], sum2 = 0.0;
    long n = 0;
    int T = (int)ceil(log(1.0 / sigma));
    for (int seed = 0; seed < 200; seed++) {
      struct bandit_params p = params(BANDIT_MIX_R, BANDIT_THEORY, 10, 1.0);
      p.sigma = sigma;
      p.seed = (uint64_t)seed;
      struct bandit *b = NULL;
      ck_assert_int_eq(bandit_create(&p, &b), 0);
      double u[10];
      ck_assert_int_eq(bandit_advance(b, T, u), BANDIT_OK);
      const double *r = bandit_rewards(b);
      for (int y = 0; y < 10; y++)
        for (int z = 0; z < 10; z++) {
          double d = (r[y] - r[z]) - p.beta * (u[y] - u[z]);
          sum2 += d * d;
          n++;
        }
      bandit_destroy(&b);
    }
    double rms = sqrt(sum2 / (double)n);
    ck_assert_msg(rms <= 14.0 * sigma, "sigma %g: rms delta %g > 14 sigma", sigma,
                  rms);
    ck_assert_msg(rms >= 0.1 * sigma, "sigma %g: rms delta %g: no noise?", sigma,
                  rms);
  }
}
END_TEST

/* ---- optimized step against the reference ---- */

/* The references the comparisons run with: none (uniform, theta_ref = 0),
 * drawn (ref_spread) and given (ref_logits). */
enum { REF_NONE, REF_SPREAD, REF_LOGITS, NREF };
static const char *const ref_names[NREF] = {"uniform", "spread", "logits"};

/* Give p the reference of kind ref; a given one is written to logits
 * (arms entries), which must outlive p's use. */
static void with_reference(struct bandit_params *p, int ref, double *logits)
{
  p->ref_spread = ref == REF_SPREAD ? 1.5 : 0.0;
  p->ref_logits = NULL;
  if (ref == REF_LOGITS) {
    for (int i = 0; i < p->arms; i++)
      logits[i] = 2.0 * sin(0.7 * i + 0.3);
    p->ref_logits = logits;
  }
}

/* theta_ref as the slow reference takes it: NULL for none (its own
 * uniform pi_ref), the given logits, or the engine's draw (whose law the
 * common-random-numbers test checks). */
static const double *ref_logits_of(const struct bandit *b,
                                   const struct bandit_params *p, int ref)
{
  return ref == REF_NONE ? NULL : ref == REF_LOGITS ? p->ref_logits
                                                    : bandit_ref_logits(b);
}

START_TEST(test_gradient_matches_reference)
{
  enum bandit_scale scale = (enum bandit_scale)(_i % 2);
  enum bandit_regime regime = (enum bandit_regime)(_i / 2);
  struct rng_pcg32 g;
  rng_pcg32_seed_key(&g, 77 + (uint64_t)_i);
  /* 1030: past the mix-p table, so both of its code paths are checked. */
  const int ks[] = {2, 3, 7, 20, 64, 1030};
  for (size_t ki = 0; ki < 6; ki++) {
    int k = ks[ki];
    for (int rep = 0; rep < (k > 100 ? 1 : 4); rep++)
      for (int ref = 0; ref < NREF; ref++) {
        double beta = 0.1 * pow(50.0, rng_uniform(&g));
        static double u[1030], g1[1030], g2[1030], gabs[1030], logits[1030];
        struct bandit_params p = params(regime, scale, k, beta);
        p.rewards = rep % 2 ? BANDIT_REWARDS_NORMAL : BANDIT_REWARDS_UNIFORM;
        p.seed = (uint64_t)rep;
        with_reference(&p, ref, logits);
        struct bandit *b = NULL;
        ck_assert_int_eq(bandit_create(&p, &b), 0);
        const double *r = bandit_rewards(b), *tref = ref_logits_of(b, &p, ref);
        for (int y = 0; y < k; y++)
          u[y] = (rng_uniform(&g) - 0.5) * 2.0 / beta;
        bandit_gradient(b, u, g1);
        ref_gradient(regime, scale, r, tref, u, beta, k, g2, gabs);
        /* 1e-12 relative to the size of the sums' terms (what round-off in
         * a sum of K terms is measured against). */
        double scalemax = 0.0;
        for (int y = 0; y < k; y++)
          scalemax = fmax(scalemax, gabs[y]);
        for (int y = 0; y < k; y++)
          ck_assert_msg(fabs(g1[y] - g2[y]) <= 1e-12 * scalemax,
                        "%s/%s K=%d %s y=%d: %.17g vs %.17g",
                        bandit_regime_name(regime), bandit_scale_name(scale),
                        k, ref_names[ref], y, g1[y], g2[y]);
        /* Every metric against the plain formulas. */
        double a[BANDIT_NMETRICS], c[BANDIT_NMETRICS];
        bandit_metrics(b, u, a);
        ref_metrics(r, tref, u, beta, k, c);
        for (int j = 0; j < BANDIT_NMETRICS; j++)
          ck_assert_msg(close_to(a[j], c[j], 1e-12, 1e-13),
                        "K=%d %s %s: %.17g vs %.17g", k, ref_names[ref],
                        bandit_metric_name((enum bandit_metric)j), a[j], c[j]);
        bandit_destroy(&b);
      }
  }
}
END_TEST

START_TEST(test_trajectory_matches_reference)
{
  /* Whole trajectories: the optimized run against reference steps, with
   * each kind of reference, every metric and the final theta. */
  enum bandit_scale scale = (enum bandit_scale)(_i % 2);
  enum bandit_regime regime = (enum bandit_regime)(_i / 2);
  enum { K = 9, T = 12 };
  for (int ref = 0; ref < NREF; ref++) {
    double logits[K];
    struct bandit_params p = params(regime, scale, K, 1.5);
    p.eta = 2.0;
    p.iterations = T;
    p.record_every = 1;
    with_reference(&p, ref, logits);
    double m[BANDIT_NMETRICS][T + 1], th[K];
    struct bandit *b = run_traced(&p, m[0], T + 1, th);
    const double *r = bandit_rewards(b), *tref = ref_logits_of(b, &p, ref);
    double eta = bandit_eta(b);
    double u[K] = {0}, g[K], c[BANDIT_NMETRICS];
    for (int t = 0; t <= T; t++) {
      ref_metrics(r, tref, u, p.beta, K, c);
      for (int j = 0; j < BANDIT_NMETRICS; j++)
        ck_assert_msg(close_to(m[j][t], c[j], 1e-12, 1e-14),
                      "%s/%s %s t=%d %s: %.17g vs %.17g",
                      bandit_regime_name(regime), bandit_scale_name(scale),
                      ref_names[ref], t,
                      bandit_metric_name((enum bandit_metric)j), m[j][t],
                      c[j]);
      if (t == T)
        break;
      ref_gradient(regime, scale, r, tref, u, p.beta, K, g, NULL);
      for (int y = 0; y < K; y++)
        u[y] -= eta * g[y];
    }
    /* The final theta is theta_ref + u. */
    for (int y = 0; y < K; y++)
      ck_assert_msg(close_to(th[y], (tref ? tref[y] : 0.0) + u[y], 1e-12,
                             1e-14),
                    "%s theta[%d]: %.17g vs %.17g", ref_names[ref], y, th[y],
                    (tref ? tref[y] : 0.0) + u[y]);
    bandit_destroy(&b);
  }
}
END_TEST

/* ---- estimators are unbiased ---- */

static void check_unbiased(struct bandit_params p, int draws)
{
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(&p, &b), 0);
  int k = p.arms;
  double u[8], g[8], G[8], s1[8] = {0}, s2[8] = {0};
  for (int y = 0; y < k; y++)
    u[y] = 0.3 * sin(1.0 + y) / p.beta;
  bandit_gradient(b, u, g);
  int differs = 0;
  for (int i = 0; i < draws; i++) {
    bandit_estimate(b, u, G);
    for (int y = 0; y < k; y++) {
      s1[y] += G[y];
      s2[y] += G[y] * G[y];
      differs += G[y] != g[y];
    }
  }
  ck_assert_int_gt(differs, 0); /* it is noisy */
  for (int y = 0; y < k; y++) {
    double mean = s1[y] / draws;
    double var = s2[y] / draws - mean * mean;
    double se = sqrt(fmax(var, 0.0) / draws);
    /* 5 standard errors: with fixed seeds this is deterministic, and a
     * biased estimator would sit many standard errors away. */
    ck_assert_msg(fabs(mean - g[y]) <= 5.0 * se + 1e-12 * fabs(g[y]),
                  "%s/%s sigma=%g n=%lld y=%d: mean %.6g, exact %.6g, se %.3g",
                  bandit_regime_name(p.regime), bandit_scale_name(p.scale),
                  p.sigma, (long long)p.samples, y, mean, g[y], se);
  }
  bandit_destroy(&b);
}

START_TEST(test_gaussian_unbiased)
{
  enum bandit_regime regime = (enum bandit_regime)(_i / 2);
  struct bandit_params p = params(regime, (enum bandit_scale)(_i % 2), 6, 2.0);
  p.sigma = 0.3;
  check_unbiased(p, 20000);
}
END_TEST

START_TEST(test_sampled_unbiased)
{
  /* K = 6 has 16 cells: n = 5 takes the alias path, n = 40 the
   * multinomial path; both must be unbiased, in both scales. */
  enum bandit_regime regime = (enum bandit_regime)(_i / 4);
  struct bandit_params p =
    params(regime, (enum bandit_scale)(_i % 2), 6, 2.0);
  p.samples = (_i / 2) % 2 ? 40 : 5;
  check_unbiased(p, 30000);
}
END_TEST

START_TEST(test_sampled_unbiased_reference)
{
  /* The product samplers read pi_ref: with a drawn reference too, both
   * sampling paths stay unbiased for the exact gradient (itself checked
   * against the slow reference above). */
  enum bandit_regime regime = (enum bandit_regime)(BANDIT_ON_POLICY + _i / 4);
  struct bandit_params p =
    params(regime, (enum bandit_scale)(_i % 2), 6, 2.0);
  p.samples = (_i / 2) % 2 ? 40 : 5;
  p.ref_spread = 1.0;
  check_unbiased(p, 30000);
}
END_TEST

/* ---- determinism and common random numbers ---- */

/* A run's outputs laid out in buf (BANDIT_NMETRICS nrec + arms doubles):
 * the first three metrics' traces, the final theta, then the later
 * metrics' traces.  The first part is what the numerics fingerprints of
 * the engine before the later metrics hashed (numerics.txt). */
static struct bandit_trace trace_in(double *buf, int64_t nrec, int arms)
{
  struct bandit_trace tr;
  double *q = buf;
  for (int j = 0; j < BANDIT_NMETRICS; j++) {
    if (j == BANDIT_VALUE_GAP + 1) {
      tr.theta = q;
      q += arms;
    }
    tr.metric[j] = q;
    q += nrec;
  }
  return tr;
}

static void run_all(const struct bandit_params *p, double *out, int nrec)
{
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(p, &b), 0);
  struct bandit_trace tr = trace_in(out, nrec, p->arms);
  ck_assert_int_eq(bandit_run(b, &tr), BANDIT_OK);
  bandit_destroy(&b);
}

START_TEST(test_determinism)
{
  struct bandit_params p = params(BANDIT_MIX_R, BANDIT_THEORY, 10, 1.0);
  p.iterations = 30;
  p.sigma = 0.01;
  enum { N = 31 };
  double a[BANDIT_NMETRICS * N + 10], b[BANDIT_NMETRICS * N + 10];
  run_all(&p, a, N);
  run_all(&p, b, N);
  ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
  /* Running the same object twice gives the same result too. */
  struct bandit *o = NULL;
  ck_assert_int_eq(bandit_create(&p, &o), 0);
  struct bandit_trace tr = trace_in(b, N, 10);
  bandit_run(o, &tr);
  bandit_run(o, &tr);
  ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
  bandit_destroy(&o);
  /* Another seed: other noise and another instance. */
  p.seed = 1;
  run_all(&p, b, N);
  ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
  /* Another sigma, same seed: same rewards, other noise. */
  p.seed = 0;
  p.sigma = 0.02;
  run_all(&p, b, N);
  ck_assert(a[0] == b[0]); /* t = 0 depends only on the instance */
  ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
}
END_TEST

/* base with every setting that must leave a task's random numbers alone
 * changed: the regime, and by j the step size's beta (0), a gaussian
 * estimator (1) or a sampled one in the normalized scale (2); j = 3 only
 * the regime and beta = 7. */
static struct bandit_params varied(struct bandit_params base, int regime,
                                   int j)
{
  struct bandit_params p = base;
  p.regime = (enum bandit_regime)regime;
  p.beta = j == 0 ? 0.1 : 7.0;
  p.sigma = j == 1 ? 0.5 : 0.0;
  p.samples = j == 2 ? 100 : 0;
  p.scale = j == 2 ? BANDIT_NORMALIZED : BANDIT_THEORY;
  p.eta_theory = p.scale == BANDIT_THEORY;
  return p;
}

START_TEST(test_common_random_numbers)
{
  struct bandit_params base = params(BANDIT_UNIFORM, BANDIT_THEORY, 12, 1.0);
  base.seed = 5;
  struct bandit *b0 = NULL;
  ck_assert_int_eq(bandit_create(&base, &b0), 0);
  for (int regime = 0; regime < BANDIT_NREGIMES; regime++)
    for (int j = 0; j < 3; j++) {
      struct bandit_params p = varied(base, regime, j);
      struct bandit *b = NULL;
      ck_assert_int_eq(bandit_create(&p, &b), 0);
      ck_assert_int_eq(memcmp(bandit_rewards(b0), bandit_rewards(b),
                              12 * sizeof(double)),
                       0);
      ck_assert_uint_ne(bandit_noise_key(&p), bandit_noise_key(&base));
      bandit_destroy(&b);
    }
  /* Another seed or master seed: another instance. */
  struct bandit_params p = base;
  p.seed = 6;
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(&p, &b), 0);
  ck_assert_int_ne(memcmp(bandit_rewards(b0), bandit_rewards(b), 96), 0);
  bandit_destroy(&b);
  p = base;
  p.master_seed = 100;
  ck_assert_int_eq(bandit_create(&p, &b), 0);
  ck_assert_int_ne(memcmp(bandit_rewards(b0), bandit_rewards(b), 96), 0);
  bandit_destroy(&b);
  /* The number of iterations is not part of the key: a longer run extends
   * the same trajectory. */
  p = base;
  p.sigma = 0.1;
  p.iterations = 10;
  double s[BANDIT_NMETRICS * 11 + 12], l[BANDIT_NMETRICS * 21 + 12];
  run_all(&p, s, 11);
  p.iterations = 20;
  run_all(&p, l, 21);
  for (int t = 0; t <= 10; t++)
    ck_assert(s[t] == l[t]);
  bandit_destroy(&b0);
}
END_TEST

START_TEST(test_records_and_checks)
{
  ck_assert_int_eq(bandit_nrec(10, 3), 5); /* 0 3 6 9 10 */
  ck_assert_int_eq(bandit_nrec(9, 3), 4);  /* 0 3 6 9 */
  ck_assert_int_eq(bandit_nrec(1, 1), 2);
  ck_assert_int_eq(bandit_nrec(5, 100), 2); /* 0 5 */
  ck_assert_int_eq(bandit_rec_step(4, 10, 3), 10);
  ck_assert_int_eq(bandit_rec_step(2, 10, 3), 6);

  struct bandit_params p = params(BANDIT_UNIFORM, BANDIT_THEORY, 4, 1.0);
  const char *field = NULL;
  struct err e;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), 0);
  p.arms = 1;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
  ck_assert_str_eq(field, "arms");
  p.arms = 4;
  p.beta = 0.0;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
  ck_assert_str_eq(field, "beta");
  p.beta = NAN;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
  ck_assert_str_eq(field, "beta");
  p.beta = 1.0;
  p.sigma = 0.1;
  p.samples = 3;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
  ck_assert_str_eq(field, "samples");
  p.sigma = 0.0;
  p.scale = BANDIT_NORMALIZED;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
  ck_assert_str_eq(field, "eta");
  p.eta_theory = 0;
  p.eta = -1.0;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
  ck_assert_str_eq(field, "eta");
  p.eta = 1.0;
  p.iterations = 0;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
  ck_assert_str_eq(field, "iterations");
}
END_TEST

START_TEST(test_divergence_is_reported)
{
  /* A huge step makes the dynamics blow up: the run says so and the
   * unreached records are NaN, not garbage. */
  struct bandit_params p = params(BANDIT_MIX_P, BANDIT_THEORY, 8, 3.0);
  p.eta_theory = 0;
  p.eta = 1.0; /* 72 times the theory step */
  p.iterations = 50;
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(&p, &b), 0);
  double m[51];
  struct bandit_trace tr = {.metric = {[BANDIT_MAX_ABS_DELTA] = m}};
  ck_assert_int_eq(bandit_run(b, &tr), BANDIT_DIVERGED);
  ck_assert_ptr_nonnull(strstr(bandit_failure(b), "diverged at step"));
  ck_assert(isfinite(m[0]));
  ck_assert(isnan(m[50]));
  bandit_destroy(&b);
}
END_TEST

/* ---- instruction-set paths ---- */

static const char *const isa_names[] = {"baseline", "avx2", "avx512"};

/* FNV-1a over the bytes of a run's outputs. */
static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++) {
    h ^= c[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* The estimators of the paths and fingerprint tests: exact, gaussian,
 * sampled with fewer pairs than cells (alias table) and with more
 * (multinomial). */
enum { EST_EXACT, EST_GAUSSIAN, EST_FEW, EST_MANY, NEST };
static const char *const est_names[NEST] = {"exact", "gaussian", "few", "many"};

static struct bandit_params task(enum bandit_regime regime,
                                 enum bandit_scale scale, int est, int k,
                                 int64_t iterations)
{
  struct bandit_params p = params(regime, scale, k, 0.7 + 0.3 * regime);
  p.rewards = k % 2 ? BANDIT_REWARDS_NORMAL : BANDIT_REWARDS_UNIFORM;
  p.eta = 0.5;
  p.iterations = iterations;
  p.seed = (uint64_t)k;
  p.sigma = est == EST_GAUSSIAN ? 0.05 : 0.0;
  p.samples = est == EST_FEW ? 7 : est == EST_MANY ? 100000 : 0;
  return p;
}

/* Which of a run's outputs (trace_in's layout) a fingerprint hashes: the
 * first three metrics and the final theta (what numerics version 2's
 * first fingerprints hashed), the later metrics, or all. */
enum fp_part { FP_FIRST, FP_LATER, FP_ALL };
static const char *const fp_suffix[] = {"", "/metrics", ""};

/* Run p and hash part of its outputs; buf holds BANDIT_NMETRICS nrec +
 * arms doubles. */
static uint64_t run_hash_part(const struct bandit_params *p, double *buf,
                              enum fp_part part)
{
  int64_t nrec = bandit_nrec(p->iterations, p->record_every);
  size_t first = 3 * (size_t)nrec + (size_t)p->arms;
  size_t all = BANDIT_NMETRICS * (size_t)nrec + (size_t)p->arms;
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(p, &b), 0);
  struct bandit_trace tr = trace_in(buf, nrec, p->arms);
  (void)bandit_run(b, &tr);
  bandit_destroy(&b);
  const uint64_t basis = 1469598103934665603ULL;
  switch (part) {
  case FP_FIRST: return fnv1a(buf, first * sizeof *buf, basis);
  case FP_LATER:
    return fnv1a(buf + first, (all - first) * sizeof *buf, basis);
  default: return fnv1a(buf, all * sizeof *buf, basis);
  }
}

/* Every output of a run, hashed. */
static uint64_t run_hash(const struct bandit_params *p, double *buf)
{
  return run_hash_part(p, buf, FP_ALL);
}

START_TEST(test_isa_select)
{
  struct err e;
  const char *was = bandit_isa_name();
  ck_assert_int_eq(bandit_isa_select("auto", &e), 0);
  ck_assert_int_eq(bandit_isa_select(NULL, &e), 0);
  ck_assert_int_eq(bandit_isa_select("", &e), 0);
  ck_assert(bandit_isa_supported("baseline"));
  for (int i = 0; i < 3; i++) {
    const char *n = isa_names[i];
    if (bandit_isa_supported(n)) {
      ck_assert_int_eq(bandit_isa_select(n, &e), 0);
      ck_assert_str_eq(bandit_isa_name(), n);
    } else {
      /* Refused in one line, the path unchanged. */
      ck_assert_int_eq(bandit_isa_select("baseline", &e), 0);
      ck_assert_int_eq(bandit_isa_select(n, &e), ERR_INPUT);
      ck_assert_ptr_nonnull(strstr(e.msg, n));
      ck_assert_ptr_null(strchr(e.msg, '\n'));
      ck_assert_str_eq(bandit_isa_name(), "baseline");
    }
  }
  ck_assert_int_eq(bandit_isa_select("sse9", &e), ERR_INPUT);
  ck_assert_str_eq(e.msg, "unknown instruction set 'sse9': expected baseline, "
                          "avx2, avx512 or auto");
  ck_assert(!bandit_isa_supported("sse9"));
  ck_assert_int_eq(bandit_isa_select(was, &e), 0);
}
END_TEST

/* Every regime, scale and estimator, K from 2 to 33 (below, at and past
 * every vector width and row group), K = 70 (the sampled estimator's
 * counts row by row, past ONE_TREE_MAX_ARMS) and K = 1030 (mix-p past its
 * table) for the exact estimator: the same bits on every path this machine
 * has, in one process. */
START_TEST(test_paths_identical)
{
  static const int ks[] = {2, 3, 4, 5, 7, 8, 9, 16, 17, 20, 33, 70, 1030};
  const char *was = bandit_isa_name();
  static double buf[BANDIT_NMETRICS * 64 + 1030], logits[1030];
  int compared = 0;
  struct err e;
  for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
    for (int regime = 0; regime < BANDIT_NREGIMES; regime++)
      for (int scale = 0; scale < 2; scale++)
        for (int est = 0; est < NEST * NREF; est++) {
          int k = ks[ki];
          if ((k > 100 && est % NEST != EST_EXACT) ||
              (k == 70 && est % NEST != EST_MANY))
            continue;
          struct bandit_params p = task((enum bandit_regime)regime,
                                        (enum bandit_scale)scale, est % NEST,
                                        k, k > 100 ? 2 : k > 40 ? 4 : 12);
          with_reference(&p, est / NEST, logits);
          uint64_t first = 0;
          for (int i = 0; i < 3; i++) {
            if (!bandit_isa_supported(isa_names[i]))
              continue;
            ck_assert_int_eq(bandit_isa_select(isa_names[i], &e), 0);
            uint64_t h = run_hash(&p, buf);
            if (i == 0)
              first = h;
            else
              compared++;
            ck_assert_msg(h == first, "%s K=%d %s/%s %s %s: %s differs "
                          "from baseline", isa_names[i], k,
                          bandit_regime_name(p.regime),
                          bandit_scale_name(p.scale), est_names[est % NEST],
                          ref_names[est / NEST], isa_names[i]);
          }
        }
  ck_assert_int_eq(bandit_isa_select(was, &e), 0);
  /* On x86-64 at least the AVX2 path was compared (these machines). */
#if defined(__x86_64__)
  if (bandit_isa_supported("avx2"))
    ck_assert_int_gt(compared, 0);
#endif
}
END_TEST

/* ---- the numerics version's promise ----
 *
 * tests/golden/numerics.txt holds, for the BANDIT_NUMERICS_VERSION it
 * names, a hash of the outputs of a fixed set of tasks (every regime,
 * scale and estimator at K = 5 and 20, the exact estimator at K = 1030
 * and the sampled one with many pairs at K = 70).  A change that moves
 * any of these bits fails here until the version is bumped and the file
 * regenerated (GOLDEN_WRITE=path runs the test writing it), so results
 * files never mix two engines. */
struct fp_task {
  struct bandit_params p;
  enum fp_part part;
  char label[64];
};

/* The fingerprinted tasks, in the file's order: numerics version 2's
 * first list (the first three metrics and theta of tasks with a uniform
 * reference; K = 70 last, added with the batch sampler), then, added with
 * the later metrics, those metrics of the same tasks, and every output of
 * the K = 5 and 20 tasks with a drawn and with a given reference.
 * Returns their number (at most max). */
static int fingerprint_tasks(struct fp_task *out, int max)
{
  static const int ks[] = {5, 20, 1030, 70};
  static double logits[20];
  int n = 0;
  for (int pass = 0; pass < 2 + 2; pass++)
    for (int ki = 0; ki < 4; ki++)
      for (int regime = 0; regime < BANDIT_NREGIMES; regime++)
        for (int scale = 0; scale < 2; scale++)
          for (int est = 0; est < NEST; est++) {
            int k = ks[ki], ref = pass < 2 ? REF_NONE : pass - 1;
            if (k > 100 && (est != EST_EXACT || scale != 0 || ref != REF_NONE))
              continue;
            if (k == 70 && (est != EST_MANY || ref != REF_NONE))
              continue;
            ck_assert_int_lt(n, max);
            struct fp_task *f = &out[n++];
            f->p = task((enum bandit_regime)regime, (enum bandit_scale)scale,
                        est, k, k > 100 ? 2 : k > 40 ? 4 : 20);
            with_reference(&f->p, ref, logits);
            f->part = pass == 0 ? FP_FIRST : pass == 1 ? FP_LATER : FP_ALL;
            snprintf(f->label, sizeof f->label, "K=%d/%s/%s/%s%s%s%s", k,
                     bandit_regime_name(f->p.regime),
                     bandit_scale_name(f->p.scale), est_names[est],
                     fp_suffix[f->part], ref == REF_NONE ? "" : "/ref-",
                     ref == REF_NONE ? "" : ref_names[ref]);
          }
  return n;
}

START_TEST(test_numerics_fingerprint)
{
  static struct fp_task tasks[512];
  static double buf[BANDIT_NMETRICS * 64 + 1030];
  int n = fingerprint_tasks(tasks, 512);
  const char *out = getenv("GOLDEN_WRITE");
  if (out) {
    FILE *f = fopen(out, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "version %d\n", BANDIT_NUMERICS_VERSION);
    for (int i = 0; i < n; i++)
      fprintf(f, "%s %016llx\n", tasks[i].label,
              (unsigned long long)run_hash_part(&tasks[i].p, buf,
                                                tasks[i].part));
    ck_assert_int_eq(fclose(f), 0);
    return;
  }
  char path[1024], line[256];
  const char *dir = getenv("GOLDEN_DIR");
  snprintf(path, sizeof path, "%s/numerics.txt", dir ? dir : "tests/golden");
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  int version = -1;
  ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
  ck_assert_int_eq(sscanf(line, "version %d", &version), 1);
  ck_assert_msg(version == BANDIT_NUMERICS_VERSION,
                "%s is for numerics version %d, the engine is %d: regenerate "
                "it (GOLDEN_WRITE) if the change of results is intended",
                path, version, BANDIT_NUMERICS_VERSION);
  int i = 0;
  while (fgets(line, sizeof line, f)) {
    char name[64];
    unsigned long long want;
    ck_assert_int_eq(sscanf(line, "%63s %llx", name, &want), 2);
    ck_assert_int_lt(i, n);
    ck_assert_str_eq(name, tasks[i].label);
    unsigned long long got = run_hash_part(&tasks[i].p, buf, tasks[i].part);
    ck_assert_msg(got == want, "%s: results changed (%016llx, want %016llx) "
                  "at numerics version %d: bump BANDIT_NUMERICS_VERSION",
                  name, got, want, version);
    i++;
  }
  fclose(f);
  ck_assert_int_eq(i, n);
}
END_TEST

/* ---- the reference policy and the metrics it brings ---- */

START_TEST(test_reference_checks)
{
  struct bandit_params p = params(BANDIT_HYBRID, BANDIT_THEORY, 4, 1.0);
  const char *field = NULL;
  struct err e;
  const double bad_spreads[] = {-1.0, NAN, INFINITY, 35.000001};
  for (size_t i = 0; i < 4; i++) {
    p.ref_spread = bad_spreads[i];
    field = NULL;
    ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
    ck_assert_str_eq(field, "ref_spread");
    ck_assert_ptr_null(strchr(e.msg, '\n'));
  }
  const double good_spreads[] = {0.0, -0.0, 1e-300, 2.0, 35.0};
  for (size_t i = 0; i < 5; i++) {
    p.ref_spread = good_spreads[i];
    ck_assert_int_eq(bandit_params_check(&p, &field, &e), 0);
  }
  double logits[4] = {0.0, 1.0, -2.0, 0.5};
  p.ref_spread = 0.0;
  p.ref_logits = logits;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), 0);
  p.ref_spread = 1.0; /* given and drawn: not both */
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
  ck_assert_str_eq(field, "ref_logits");
  p.ref_spread = 0.0;
  const double bad_logits[] = {NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < 3; i++) {
    logits[2] = bad_logits[i];
    field = NULL;
    ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
    ck_assert_str_eq(field, "ref_logits");
    ck_assert_ptr_nonnull(strstr(e.msg, "finite"));
  }
  /* Spread limited like the rewards'. */
  logits[2] = -700.0;
  logits[1] = 0.0;
  logits[3] = 0.0;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), 0);
  logits[1] = 1e-9;
  ck_assert_int_eq(bandit_params_check(&p, &field, &e), ERR_INPUT);
  ck_assert_str_eq(field, "ref_logits");
  ck_assert_ptr_nonnull(strstr(e.msg, "700"));
}
END_TEST

/* The reference is drawn from the instance stream right after the
 * rewards: theta_ref = ref_spread z, z = the next K standard normals. */
START_TEST(test_reference_draw)
{
  for (int rw = 0; rw < 2; rw++) {
    struct bandit_params p = params(BANDIT_HYBRID, BANDIT_THEORY, 11, 1.0);
    p.rewards = rw ? BANDIT_REWARDS_NORMAL : BANDIT_REWARDS_UNIFORM;
    p.seed = 3;
    p.ref_spread = 0.75;
    struct rng_pcg32 g;
    rng_pcg32_seed_key(&g, bandit_instance_key(&p));
    double r[11], tref[11];
    for (int i = 0; i < 11; i++)
      r[i] = rw ? rng_normal(&g) : rng_uniform(&g);
    for (int i = 0; i < 11; i++)
      tref[i] = 0.75 * rng_normal(&g);
    struct bandit *b = NULL;
    ck_assert_int_eq(bandit_create(&p, &b), 0);
    ck_assert_int_eq(memcmp(bandit_rewards(b), r, sizeof r), 0);
    ck_assert_int_eq(memcmp(bandit_ref_logits(b), tref, sizeof tref), 0);
    bandit_destroy(&b);
  }
  /* An explicit reference is taken as given; none is zeros. */
  struct bandit_params p = params(BANDIT_REFERENCE, BANDIT_THEORY, 5, 1.0);
  double logits[5] = {0.5, -1.0, 2.0, 0.0, 1.25}, zeros[5] = {0};
  p.ref_logits = logits;
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(&p, &b), 0);
  ck_assert_int_eq(memcmp(bandit_ref_logits(b), logits, sizeof logits), 0);
  bandit_destroy(&b);
  p.ref_logits = NULL;
  ck_assert_int_eq(bandit_create(&p, &b), 0);
  ck_assert_int_eq(memcmp(bandit_ref_logits(b), zeros, sizeof zeros), 0);
  bandit_destroy(&b);
}
END_TEST

/* theta_ref of a task, copied (arms entries), and its rewards. */
static void reference_of(const struct bandit_params *p, double *tref,
                         double *r)
{
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(p, &b), 0);
  memcpy(tref, bandit_ref_logits(b), (size_t)p->arms * sizeof *tref);
  if (r)
    memcpy(r, bandit_rewards(b), (size_t)p->arms * sizeof *r);
  bandit_destroy(&b);
}

START_TEST(test_reference_common_random_numbers)
{
  enum { K = 12 };
  struct bandit_params base = params(BANDIT_UNIFORM, BANDIT_THEORY, K, 1.0);
  base.seed = 5;
  base.rewards = BANDIT_REWARDS_NORMAL;
  base.ref_spread = 1.0;
  double t0[K], r0[K], t[K], r[K];
  reference_of(&base, t0, r0);
  /* Same seed and arms: the same reference (and rewards) for every
   * regime, beta, sigma, samples and scale; the spread only scales z. */
  for (int regime = 0; regime < BANDIT_NREGIMES; regime++)
    for (int j = 0; j < 4; j++) {
      struct bandit_params p = varied(base, regime, j);
      p.ref_spread = j == 3 ? 2.0 : 1.0;
      reference_of(&p, t, r);
      ck_assert_int_eq(memcmp(r, r0, sizeof r), 0);
      for (int y = 0; y < K; y++)
        ck_assert(t[y] == p.ref_spread * t0[y]);
      ck_assert_uint_ne(bandit_noise_key(&p), bandit_noise_key(&base));
    }
  /* The reference leaves the rewards alone. */
  struct bandit_params p = base;
  p.ref_spread = 0.0;
  reference_of(&p, t, r);
  ck_assert_int_eq(memcmp(r, r0, sizeof r), 0);
  /* Another seed or master seed: another reference. */
  p = base;
  p.seed = 6;
  reference_of(&p, t, NULL);
  for (int y = 0; y < K; y++)
    ck_assert(t[y] != t0[y]);
  p = base;
  p.master_seed = 100;
  reference_of(&p, t, NULL);
  ck_assert_int_ne(memcmp(t, t0, sizeof t), 0);
}
END_TEST

START_TEST(test_reference_noise_key)
{
  /* Only a reference that is there enters the noise key: ref_spread 0
   * (or -0.0) and no logits keep the key every such task always had. */
  struct bandit_params a = params(BANDIT_HYBRID, BANDIT_THEORY, 4, 1.0), b = a;
  double l1[4] = {0, 1, 2, 3}, l2[4] = {0, 1, 2, 3.5}, l0[4] = {0};
  const uint64_t plain = bandit_noise_key(&a);
  b.ref_spread = -0.0;
  ck_assert_uint_eq(bandit_noise_key(&b), plain);
  b.ref_spread = 1.0;
  uint64_t s1 = bandit_noise_key(&b);
  b.ref_spread = 2.0;
  uint64_t s2 = bandit_noise_key(&b);
  ck_assert_uint_ne(s1, plain);
  ck_assert_uint_ne(s2, plain);
  ck_assert_uint_ne(s1, s2);
  b.ref_spread = 0.0;
  b.ref_logits = l1;
  uint64_t k1 = bandit_noise_key(&b);
  b.ref_logits = l2;
  uint64_t k2 = bandit_noise_key(&b);
  b.ref_logits = l0; /* a given uniform reference is still a given one */
  uint64_t k0 = bandit_noise_key(&b);
  ck_assert_uint_ne(k1, plain);
  ck_assert_uint_ne(k1, k2);
  ck_assert_uint_ne(k0, plain);
  ck_assert_uint_ne(k1, s1);
  /* The instance key never sees the reference. */
  ck_assert_uint_eq(bandit_instance_key(&b), bandit_instance_key(&a));
}
END_TEST

START_TEST(test_zero_reference_same_bits)
{
  /* ref_spread -0.0 is no reference: the same bits, every output; and
   * the final theta is u itself, to the bit, not 0 + u (which would turn
   * a -0.0 into +0.0). */
  static double buf[BANDIT_NMETRICS * 64 + 64];
  for (int regime = 0; regime < BANDIT_NREGIMES; regime++) {
    struct bandit_params p = task((enum bandit_regime)regime, BANDIT_THEORY,
                                  EST_GAUSSIAN, 7, 20);
    uint64_t h = run_hash(&p, buf);
    p.ref_spread = -0.0;
    ck_assert_uint_eq(run_hash(&p, buf), h);
    double u[7];
    struct bandit *b = NULL;
    ck_assert_int_eq(bandit_create(&p, &b), 0);
    ck_assert_int_eq(bandit_advance(b, 20, u), BANDIT_OK);
    bandit_destroy(&b);
    struct bandit_trace tr = trace_in(buf, 21, 7);
    ck_assert_int_eq(memcmp(tr.theta, u, sizeof u), 0);
  }
}
END_TEST

/* The metrics at t = 0 (pi = pi_ref): expected reward sum pi_ref r, win
 * rate 1/2 (sum pi_ref(y) pi_ref(y') sig(r_y - r_y'): the terms of (y, y')
 * and (y', y) add to pi_ref(y) pi_ref(y')), KL 0 exactly. */
START_TEST(test_metrics_at_start)
{
  static const int ks[] = {2, 5, 20, 300};
  for (size_t ki = 0; ki < 4; ki++)
    for (int ref = 0; ref < NREF; ref++) {
      int k = ks[ki];
      static double logits[300], pref[300];
      struct bandit_params p = params(BANDIT_HYBRID, BANDIT_NORMALIZED, k, 3.0);
      p.rewards = BANDIT_REWARDS_NORMAL;
      p.iterations = 1;
      with_reference(&p, ref, logits);
      double m[BANDIT_NMETRICS][2];
      struct bandit *b = run_traced(&p, m[0], 2, NULL);
      const double *r = bandit_rewards(b);
      ref_policy(ref == REF_NONE ? NULL : bandit_ref_logits(b), k, pref);
      double er = 0.0, win = 0.0, rabs = 0.0;
      for (int y = 0; y < k; y++) {
        er += pref[y] * r[y];
        rabs += pref[y] * fabs(r[y]);
        for (int z = 0; z < k; z++)
          win += pref[y] * pref[z] * sig(r[y] - r[z]);
      }
      ck_assert_msg(fabs(m[BANDIT_EXPECTED_REWARD][0] - er) <= 1e-14 * rabs,
                    "K=%d %s: expected reward %.17g, want %.17g", k,
                    ref_names[ref], m[BANDIT_EXPECTED_REWARD][0], er);
      ck_assert_msg(fabs(win - 0.5) <= 1e-14 &&
                      fabs(m[BANDIT_WIN_RATE][0] - 0.5) <= 1e-14,
                    "K=%d %s: win rate %.17g (plain sum %.17g), want 1/2", k,
                    ref_names[ref], m[BANDIT_WIN_RATE][0], win);
      ck_assert_msg(m[BANDIT_KL_REF][0] == 0.0, "K=%d %s: KL %.17g", k,
                    ref_names[ref], m[BANDIT_KL_REF][0]);
      /* The first step moves pi away from pi_ref: KL > 0 after it. */
      ck_assert(m[BANDIT_KL_REF][1] > 0.0);
      bandit_destroy(&b);
    }
}
END_TEST

/* At the optimum of the exact estimator, pi* = pi_ref exp(r/beta) / Z,
 * the metrics take their analytic values: expected reward sum pi* r, win
 * rate sum pi*(y) pi_ref(y') sig(r_y - r_y'), KL = sum pi* r / beta -
 * log Z, and value gap 0.  mix-r in the theory scale gets there in a few
 * steps (quadratically) whatever the reference. */
START_TEST(test_metrics_at_optimum)
{
  static const int ks[] = {5, 20};
  static const double betas[] = {0.5, 2.0};
  for (size_t ki = 0; ki < 2; ki++)
    for (size_t bi = 0; bi < 2; bi++)
      for (int ref = 0; ref < NREF; ref++) {
        int k = ks[ki];
        double beta = betas[bi], logits[20], pref[20], ps[20];
        struct bandit_params p = params(BANDIT_MIX_R, BANDIT_THEORY, k, beta);
        p.iterations = 12;
        p.seed = (uint64_t)(ki * 7 + bi);
        with_reference(&p, ref, logits);
        double m[BANDIT_NMETRICS][13];
        struct bandit *b = run_traced(&p, m[0], 13, NULL);
        const double *r = bandit_rewards(b);
        ref_policy(ref == REF_NONE ? NULL : bandit_ref_logits(b), k, pref);
        double z = 0.0;
        for (int y = 0; y < k; y++)
          z += pref[y] * exp(r[y] / beta);
        double er = 0.0, win = 0.0, kl = -log(z);
        for (int y = 0; y < k; y++) {
          ps[y] = pref[y] * exp(r[y] / beta) / z;
          er += ps[y] * r[y];
          kl += ps[y] * r[y] / beta;
          for (int x = 0; x < k; x++)
            win += ps[y] * pref[x] * sig(r[y] - r[x]);
        }
        const double want[BANDIT_NMETRICS] = {
          [BANDIT_VALUE_GAP] = 0.0, [BANDIT_EXPECTED_REWARD] = er,
          [BANDIT_WIN_RATE] = win, [BANDIT_KL_REF] = kl};
        for (int j = BANDIT_VALUE_GAP; j < BANDIT_NMETRICS; j++)
          ck_assert_msg(close_to(m[j][12], want[j], 1e-12, 1e-13),
                        "K=%d beta=%g %s %s: %.17g, want %.17g", k, beta,
                        ref_names[ref],
                        bandit_metric_name((enum bandit_metric)j), m[j][12],
                        want[j]);
        /* It did move: the optimum is not the start. */
        ck_assert(m[BANDIT_KL_REF][12] > 1e-3);
        ck_assert(m[BANDIT_WIN_RATE][12] > 0.5);
        bandit_destroy(&b);
      }
}
END_TEST

static Suite *bandit_suite(void)
{
  TCase *tc;
  unit_select_isa_from_env();
  Suite *s = unit_suite("bandit", 120, &tc);
  tcase_add_loop_test(tc, test_golden, 0, 2 * BANDIT_NREGIMES);
  tcase_add_test(tc, test_theorem_bounds);
  tcase_add_test(tc, test_gaussian_theorem);
  tcase_add_loop_test(tc, test_gradient_matches_reference, 0,
                      2 * BANDIT_NREGIMES);
  tcase_add_loop_test(tc, test_trajectory_matches_reference, 0,
                      2 * BANDIT_NREGIMES);
  tcase_add_loop_test(tc, test_gaussian_unbiased, 0, 2 * BANDIT_NREGIMES);
  tcase_add_loop_test(tc, test_sampled_unbiased, 0, 4 * BANDIT_NREGIMES);
  tcase_add_test(tc, test_determinism);
  tcase_add_test(tc, test_common_random_numbers);
  tcase_add_test(tc, test_records_and_checks);
  tcase_add_test(tc, test_reference_checks);
  tcase_add_test(tc, test_reference_draw);
  tcase_add_test(tc, test_reference_common_random_numbers);
  tcase_add_test(tc, test_reference_noise_key);
  tcase_add_test(tc, test_zero_reference_same_bits);
  tcase_add_test(tc, test_metrics_at_start);
  tcase_add_test(tc, test_metrics_at_optimum);
  tcase_add_loop_test(tc, test_sampled_unbiased_reference, 0, 12);
  tcase_add_test(tc, test_divergence_is_reported);
  tcase_add_test(tc, test_isa_select);
  tcase_add_test(tc, test_paths_identical);
  tcase_add_test(tc, test_numerics_fingerprint);
  return s;
}

UNIT_MAIN(bandit_suite)
