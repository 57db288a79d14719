/* Unit tests of the bandit engine: golden trajectories, the theorems'
 * bounds, an independent slow reference, unbiased estimators,
 * determinism, and the same bits on every instruction-set path.  The
 * suite runs on the path DPOSWEEP_ISA names (tests/meson.build runs it
 * once per path), and skips (exit 77) when this machine lacks it. */
#include "dposweep/bandit.h"
#include "dposweep/rng.h"

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

/* S(y,z) in the theory scale, exp everywhere, as in the model's table;
 * m = max r - min r (for the clip). */
static double ref_weight(enum bandit_regime regime, const double *r,
                         const double *u, const double *pi, double beta, int k,
                         double m, int y, int z)
{
  double pref = 1.0 / k, kk = 2.0 * k * k;
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
  case BANDIT_HYBRID: return kk * (pi[y] * pref + pi[z] * pref);
  case BANDIT_REFERENCE: return kk * 2.0 * pref * pref;
  default: return NAN;
  }
}

/* g[y] = -beta sum_z S(y,z) Delta(y,z), normalized: S -> 2S / sum S.
 * gabs (if not NULL) gets the same sums of |S Delta|: the size of the
 * terms, against which a sum's round-off is measured. */
static double ref_gradient(enum bandit_regime regime, enum bandit_scale scale,
                           const double *r, const double *u, double beta, int k,
                           double *g, double *gabs)
{
  double *pi = malloc(k * sizeof *pi);
  softmax(u, k, pi);
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
      double term = ref_weight(regime, r, u, pi, beta, k, m, y, z) - comp;
      double next = sum + term;
      comp = (next - sum) - term;
      sum = next;
    }
  for (int y = 0; y < k; y++) {
    double a = 0.0, gy = 0.0, gc = 0.0;
    for (int z = 0; z < k; z++) {
      double delta = sig(r[y] - r[z]) - sig(beta * (u[y] - u[z]));
      double t = ref_weight(regime, r, u, pi, beta, k, m, y, z) * delta - gc;
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
  return sum;
}

static void ref_metrics(const double *r, const double *u, double beta, int k,
                        double *maxd, double *meand, double *gap)
{
  double *phi = malloc(k * sizeof *phi), *pi = malloc(k * sizeof *pi);
  for (int y = 0; y < k; y++)
    phi[y] = r[y] - beta * u[y];
  double mx = phi[0], mn = phi[0], s = 0.0;
  for (int y = 0; y < k; y++) {
    mx = fmax(mx, phi[y]);
    mn = fmin(mn, phi[y]);
    for (int z = 0; z < k; z++)
      s += fabs(phi[y] - phi[z]);
  }
  *maxd = mx - mn;
  *meand = s / ((double)k * k);
  softmax(u, k, pi);
  double vstar = 0.0, v = 0.0;
  for (int y = 0; y < k; y++) {
    vstar += exp(r[y] / beta) / k;
    v += pi[y] * (r[y] - beta * log(pi[y] * k));
  }
  *gap = beta * log(vstar) - v;
  free(phi);
  free(pi);
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

/* ---- the theorems of docs/model.md section 7 ---- */

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
  /* docs/model.md section 7: mix-r with the gaussian estimator, theory scale,
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
    for (int rep = 0; rep < (k > 100 ? 1 : 4); rep++) {
      double beta = 0.1 * pow(50.0, rng_uniform(&g));
      struct bandit_params p = params(regime, scale, k, beta);
      p.rewards = rep % 2 ? BANDIT_REWARDS_NORMAL : BANDIT_REWARDS_UNIFORM;
      p.seed = (uint64_t)rep;
      struct bandit *b = NULL;
      ck_assert_int_eq(bandit_create(&p, &b), 0);
      const double *r = bandit_rewards(b);
      static double u[1030], g1[1030], g2[1030], gabs[1030];
      for (int y = 0; y < k; y++)
        u[y] = (rng_uniform(&g) - 0.5) * 2.0 / beta;
      bandit_gradient(b, u, g1);
      ref_gradient(regime, scale, r, u, beta, k, g2, gabs);
      /* 1e-12 relative to the size of the sums' terms (what round-off in
       * a sum of K terms is measured against). */
      double scalemax = 0.0;
      for (int y = 0; y < k; y++)
        scalemax = fmax(scalemax, gabs[y]);
      for (int y = 0; y < k; y++)
        ck_assert_msg(fabs(g1[y] - g2[y]) <= 1e-12 * scalemax,
                      "%s/%s K=%d y=%d: %.17g vs %.17g",
                      bandit_regime_name(regime), bandit_scale_name(scale), k,
                      y, g1[y], g2[y]);
      /* Metrics against the plain formulas. */
      double a[3], c[3];
      bandit_metrics(b, u, &a[0], &a[1], &a[2]);
      ref_metrics(r, u, beta, k, &c[0], &c[1], &c[2]);
      for (int j = 0; j < 3; j++)
        ck_assert_msg(close_to(a[j], c[j], 1e-12, 1e-13), "metric %d: %.17g vs %.17g",
                      j, a[j], c[j]);
      bandit_destroy(&b);
    }
  }
}
END_TEST

START_TEST(test_trajectory_matches_reference)
{
  /* Whole trajectories: the optimized run against reference steps. */
  enum bandit_scale scale = (enum bandit_scale)(_i % 2);
  enum bandit_regime regime = (enum bandit_regime)(_i / 2);
  int k = 9;
  struct bandit_params p = params(regime, scale, k, 1.5);
  p.eta = 2.0;
  p.iterations = 12;
  p.record_every = 1;
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(&p, &b), 0);
  double m[3][13], th[9];
  struct bandit_trace tr = {.metric = {m[0], m[1], m[2]}, .theta = th};
  ck_assert_int_eq(bandit_run(b, &tr), BANDIT_OK);
  const double *r = bandit_rewards(b);
  double eta = bandit_eta(b);
  double u[9] = {0}, g[9], c[3];
  for (int t = 0; t <= p.iterations; t++) {
    ref_metrics(r, u, p.beta, k, &c[0], &c[1], &c[2]);
    for (int j = 0; j < 3; j++)
      ck_assert_msg(close_to(m[j][t], c[j], 1e-12, 1e-14),
                    "%s/%s t=%d metric %d: %.17g vs %.17g",
                    bandit_regime_name(regime), bandit_scale_name(scale), t, j,
                    m[j][t], c[j]);
    ref_gradient(regime, scale, r, u, p.beta, k, g, NULL);
    for (int y = 0; y < k; y++)
      u[y] -= eta * g[y];
  }
  bandit_destroy(&b);
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

/* ---- determinism and common random numbers ---- */

static void run_all(const struct bandit_params *p, double *out, int nrec)
{
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(p, &b), 0);
  struct bandit_trace tr = {.metric = {out, out + nrec, out + 2 * nrec},
                            .theta = out + 3 * nrec};
  ck_assert_int_eq(bandit_run(b, &tr), BANDIT_OK);
  bandit_destroy(&b);
}

START_TEST(test_determinism)
{
  struct bandit_params p = params(BANDIT_MIX_R, BANDIT_THEORY, 10, 1.0);
  p.iterations = 30;
  p.sigma = 0.01;
  enum { N = 31 };
  double a[3 * N + 10], b[3 * N + 10];
  run_all(&p, a, N);
  run_all(&p, b, N);
  ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
  /* Running the same object twice gives the same result too. */
  struct bandit *o = NULL;
  ck_assert_int_eq(bandit_create(&p, &o), 0);
  struct bandit_trace tr = {.metric = {b, b + N, b + 2 * N}, .theta = b + 3 * N};
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

START_TEST(test_common_random_numbers)
{
  struct bandit_params base = params(BANDIT_UNIFORM, BANDIT_THEORY, 12, 1.0);
  base.seed = 5;
  struct bandit *b0 = NULL;
  ck_assert_int_eq(bandit_create(&base, &b0), 0);
  for (int regime = 0; regime < BANDIT_NREGIMES; regime++)
    for (int j = 0; j < 3; j++) {
      struct bandit_params p = base;
      p.regime = (enum bandit_regime)regime;
      p.beta = j == 0 ? 0.1 : 7.0;
      p.sigma = j == 1 ? 0.5 : 0.0;
      p.samples = j == 2 ? 100 : 0;
      p.scale = j == 2 ? BANDIT_NORMALIZED : BANDIT_THEORY;
      p.eta_theory = p.scale == BANDIT_THEORY;
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
  double s[3 * 11 + 12], l[3 * 21 + 12];
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

/* A run's outputs (three traces and the final theta) and their hash. */
static uint64_t run_hash(const struct bandit_params *p, double *buf)
{
  int64_t nrec = bandit_nrec(p->iterations, p->record_every);
  size_t n = 3 * (size_t)nrec + (size_t)p->arms;
  struct bandit *b = NULL;
  ck_assert_int_eq(bandit_create(p, &b), 0);
  struct bandit_trace tr = {.metric = {buf, buf + nrec, buf + 2 * nrec},
                            .theta = buf + 3 * nrec};
  (void)bandit_run(b, &tr);
  bandit_destroy(&b);
  return fnv1a(buf, n * sizeof *buf, 1469598103934665603ULL);
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
 * every vector width and row group) and K = 1030 (mix-p past its table)
 * for the exact estimator: the same bits on every path this machine has,
 * in one process. */
START_TEST(test_paths_identical)
{
  static const int ks[] = {2, 3, 4, 5, 7, 8, 9, 16, 17, 20, 33, 1030};
  const char *was = bandit_isa_name();
  static double buf[3 * 64 + 1030];
  int compared = 0;
  struct err e;
  for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
    for (int regime = 0; regime < BANDIT_NREGIMES; regime++)
      for (int scale = 0; scale < 2; scale++)
        for (int est = 0; est < NEST; est++) {
          int k = ks[ki];
          if (k > 100 && est != EST_EXACT)
            continue;
          struct bandit_params p = task((enum bandit_regime)regime,
                                        (enum bandit_scale)scale, est, k,
                                        k > 100 ? 2 : 12);
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
            ck_assert_msg(h == first, "%s K=%d %s/%s %s: %s differs from "
                          "baseline", isa_names[i], k,
                          bandit_regime_name(p.regime),
                          bandit_scale_name(p.scale), est_names[est],
                          isa_names[i]);
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
 * scale and estimator at K = 5 and 20, and the exact estimator at K =
 * 1030).  A change that moves any of these bits fails here until the
 * version is bumped and the file regenerated (GOLDEN_WRITE=path runs the
 * test writing it), so results files never mix two engines. */
static int fingerprint_tasks(struct bandit_params *out, const char **label,
                             char (*names)[64])
{
  static const int ks[] = {5, 20, 1030};
  int n = 0;
  for (int ki = 0; ki < 3; ki++)
    for (int regime = 0; regime < BANDIT_NREGIMES; regime++)
      for (int scale = 0; scale < 2; scale++)
        for (int est = 0; est < NEST; est++) {
          if (ks[ki] > 100 && (est != EST_EXACT || scale != 0))
            continue;
          out[n] = task((enum bandit_regime)regime, (enum bandit_scale)scale,
                        est, ks[ki], ks[ki] > 100 ? 2 : 20);
          snprintf(names[n], sizeof names[n], "K=%d/%s/%s/%s", ks[ki],
                   bandit_regime_name(out[n].regime),
                   bandit_scale_name(out[n].scale), est_names[est]);
          label[n] = names[n];
          n++;
        }
  return n;
}

START_TEST(test_numerics_fingerprint)
{
  static struct bandit_params tasks[256];
  static const char *label[256];
  static char names[256][64];
  static double buf[3 * 64 + 1030];
  int n = fingerprint_tasks(tasks, label, names);
  ck_assert_int_le(n, 256);
  const char *out = getenv("GOLDEN_WRITE");
  if (out) {
    FILE *f = fopen(out, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "version %d\n", BANDIT_NUMERICS_VERSION);
    for (int i = 0; i < n; i++)
      fprintf(f, "%s %016llx\n", label[i],
              (unsigned long long)run_hash(&tasks[i], buf));
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
    ck_assert_str_eq(name, label[i]);
    unsigned long long got = run_hash(&tasks[i], buf);
    ck_assert_msg(got == want, "%s: results changed (%016llx, want %016llx) "
                  "at numerics version %d: bump BANDIT_NUMERICS_VERSION",
                  name, got, want, version);
    i++;
  }
  fclose(f);
  ck_assert_int_eq(i, n);
}
END_TEST

/* The path named by DPOSWEEP_ISA, as dposweep takes it; exit 77 (meson's
 * skip) when this machine lacks it. */
static void select_isa_from_env(void)
{
  const char *isa = getenv("DPOSWEEP_ISA");
  if (isa && *isa && !bandit_isa_supported(isa)) {
    printf("DPOSWEEP_ISA=%s: not supported here, skipped\n", isa);
    exit(77);
  }
  struct err e;
  if (bandit_isa_select(isa, &e) != 0) {
    fprintf(stderr, "DPOSWEEP_ISA: %s\n", e.msg);
    exit(EXIT_FAILURE);
  }
  printf("instruction set: %s\n", bandit_isa_name());
}

static Suite *bandit_suite(void)
{
  TCase *tc;
  select_isa_from_env();
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
  tcase_add_test(tc, test_divergence_is_reported);
  tcase_add_test(tc, test_isa_select);
  tcase_add_test(tc, test_paths_identical);
  tcase_add_test(tc, test_numerics_fingerprint);
  return s;
}

UNIT_MAIN(bandit_suite)
