/* bandit: online DPO on a tabular-softmax bandit, as defined in
 * docs/model.md.  One task: an instance (rewards and a reference policy),
 * a sampler (regime), a scale, an estimator and a step size, run for T
 * steps with its metrics recorded every k steps.  Knows nothing of MPI or
 * HDF5.
 *
 * All functions are not collective (no MPI). */
#ifndef DPOSWEEP_BANDIT_H
#define DPOSWEEP_BANDIT_H

#include "dposweep/err.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

enum bandit_regime {
  BANDIT_UNIFORM = 0,
  BANDIT_MIX_R = 1,
  BANDIT_MIX_P = 2,
  BANDIT_MIX_P_CLIP = 3,
  BANDIT_ON_POLICY = 4,
  BANDIT_HYBRID = 5,
  BANDIT_REFERENCE = 6,
  BANDIT_NREGIMES = 7
};

enum bandit_scale { BANDIT_THEORY = 0, BANDIT_NORMALIZED = 1 };

enum bandit_rewards {
  BANDIT_REWARDS_UNIFORM = 0, /* U[0,1] per arm */
  BANDIT_REWARDS_NORMAL = 1,  /* N(0,1) per arm */
  BANDIT_REWARDS_EXPLICIT = 2 /* a given vector */
};

/* Everything that defines one task.  eta <= 0 is not allowed; eta_theory
 * selects 1/(beta^2 K) (theory scale only). */
struct bandit_params {
  enum bandit_regime regime;
  enum bandit_scale scale;
  enum bandit_rewards rewards;
  const double *reward_values; /* EXPLICIT: arms values, else NULL */
  int arms;
  double beta;
  double sigma;     /* > 0: gaussian estimator */
  int64_t samples;  /* > 0: sampled estimator, n pairs per step */
  double eta;
  int eta_theory;
  int64_t iterations; /* T >= 1 */
  int64_t record_every;
  uint64_t master_seed;
  uint64_t seed;
  /* The reference policy pi_ref = softmax(theta_ref): theta_ref =
   * ref_spread * z with z standard normal per arm, drawn from the instance
   * stream after the rewards (0: uniform, nothing drawn), or the explicit
   * ref_logits (arms values; then ref_spread is 0), or NULL.  A task with
   * neither has the keys and results it had before these fields existed.
   * Adding a field here?  Give it its place in task_same (task.c): the
   * build (or the unit test test_task) stops until it has one. */
  double ref_spread;
  const double *ref_logits;
};

/* The numerics version: an integer that changes with every change to
 * dposweep that changes any result bit of any task (a trajectory value,
 * a final theta).  Results files record it, and a file is only ever
 * resumed or grown by a dposweep of the same version, so one file never
 * mixes the results of two engines.  History (docs/model.md): 1, the
 * first engine; 2, the sampled estimator's counts for n >= K(K-1)/2 + 1
 * pairs drawn by an exact tree multinomial (over the outcomes, the winner
 * split included) whose levels are batches of inversion/BTRD binomials
 * instead of GSL's sequential ones (other draws, same distribution; exact,
 * gaussian and fewer-pair sampled results keep their bits). */
#define BANDIT_NUMERICS_VERSION 2

/* The metrics recorded every k steps, in the order of the results file's
 * traj/ datasets, the checksum and sim's CSV columns.  New metrics are
 * appended before BANDIT_NMETRICS; everything stored follows this table. */
enum bandit_metric {
  BANDIT_MAX_ABS_DELTA = 0,   /* max over pairs of |delta|, the theorems' */
  BANDIT_MEAN_ABS_DELTA = 1,  /* mean over pairs of |delta| ("Param Diff") */
  BANDIT_VALUE_GAP = 2,       /* V* - V(pi) */
  BANDIT_EXPECTED_REWARD = 3, /* sum_y pi(y) r(y) */
  BANDIT_WIN_RATE = 4,        /* P(an answer of pi beats one of pi_ref),
                                 Bradley-Terry: 1/2 at pi = pi_ref */
  BANDIT_KL_REF = 5,          /* KL(pi || pi_ref) */
  BANDIT_NMETRICS = 6
};

/* The metric's name as in files and CSV headers: "max_abs_delta", ...;
 * NULL for out-of-range. */
const char *bandit_metric_name(enum bandit_metric m);

/* Limits shared by every front end (sim flags, spec keys). */
#define BANDIT_MAX_ARMS 1000000
#define BANDIT_MAX_SAMPLES 4000000000LL
#define BANDIT_MAX_ITERATIONS 1000000000LL
/* A drawn reference's largest spread: the generator's normals are below 10
 * in absolute value, so theta_ref = ref_spread z spans at most 700, the
 * limit of rewards and ref_logits (exp of any difference stays finite). */
#define BANDIT_MAX_REF_SPREAD 35.0

/* Canonical names: "uniform", "mix-r", ...; NULL for out-of-range. */
const char *bandit_regime_name(enum bandit_regime r);
const char *bandit_scale_name(enum bandit_scale s);
const char *bandit_rewards_name(enum bandit_rewards r);

/* Parse a name; returns 0 and sets *out, or -1 if unknown. */
int bandit_regime_parse(const char *name, enum bandit_regime *out);
int bandit_scale_parse(const char *name, enum bandit_scale *out);
int bandit_rewards_parse(const char *name, enum bandit_rewards *out);

/* Validate params.  Returns 0, or ERR_INPUT with *field set to the
 * offending parameter's name ("arms", "beta", "eta", "sigma", ...) and e
 * saying what is wrong, e.g. "must be > 0 (got -1)". */
int bandit_params_check(const struct bandit_params *p, const char **field,
                        struct err *e);

/* Number of recorded steps for T iterations recorded every k: t = 0, k,
 * 2k, ... and always T. */
int64_t bandit_nrec(int64_t iterations, int64_t record_every);

/* The i-th recorded step. */
int64_t bandit_rec_step(int64_t i, int64_t iterations, int64_t record_every);

/* Relative cost of a task of K arms, n samples per step (0: not sampled)
 * and T steps: T (K^2 + n), the work of its pair loops and draws.  Used to
 * order tasks and to estimate time left; not a time itself.  The one
 * definition of a task's cost. */
double bandit_cost_of(int arms, int64_t samples, int64_t iterations);
double bandit_cost(const struct bandit_params *p);

/* The theory scale's default step size 1/(beta^2 K) ("eta: theory"). */
double bandit_theory_eta(double beta, int arms);

/* Stream keys: the instance key depends on (master seed, seed, arms,
 * reward distribution or the explicit vector), so the rewards and the
 * reference's z are shared by every regime, beta, sigma and ref_spread;
 * the noise key on every value that shapes the task, never on grid
 * positions (ref_spread and ref_logits only when non-zero or given, so
 * the tasks with a uniform reference keep the keys they always had). */
uint64_t bandit_instance_key(const struct bandit_params *p);
uint64_t bandit_noise_key(const struct bandit_params *p);

struct bandit;

/* Build a task: validates params, draws the instance (rewards, then the
 * reference's z), sets theta(0) = theta_ref.  Returns 0, -1 on invalid
 * params, -2 on ENOMEM. */
int bandit_create(const struct bandit_params *p, struct bandit **out);
void bandit_destroy(struct bandit **b);

/* Status of a run. */
enum bandit_outcome { BANDIT_OK = 0, BANDIT_DIVERGED = 1, BANDIT_STOPPED = 2 };

/* Make bandit_run check *stop between steps and return BANDIT_STOPPED
 * when it is non-zero (a caller's cancellation, e.g. from a signal
 * handler).  NULL: never stop. */
void bandit_set_stop(struct bandit *b, const volatile sig_atomic_t *stop);

/* Outputs of a run: per metric (enum bandit_metric) an array of
 * bandit_nrec() entries, and the final theta = theta_ref + u (arms
 * entries; with no reference, u itself, to the bit).  Any pointer may be
 * NULL.  Entries not reached before a divergence are set to NaN. */
struct bandit_trace {
  double *metric[BANDIT_NMETRICS];
  double *theta;
};

/* Run all iterations from theta(0).  Returns BANDIT_OK, or
 * BANDIT_DIVERGED when the parameters became non-finite; then
 * bandit_failure() says at which step and why. */
int bandit_run(struct bandit *b, const struct bandit_trace *out);

/* After BANDIT_DIVERGED: a one-line reason, e.g. "diverged at step 12:
 * non-finite gradient". */
const char *bandit_failure(const struct bandit *b);

/* Read-only views, for tests and reports. */
int bandit_arms(const struct bandit *b);
const double *bandit_rewards(const struct bandit *b);
const double *bandit_ref_logits(const struct bandit *b); /* theta_ref */
double bandit_eta(const struct bandit *b);

/* Instruction-set paths.  The engine's vector loops (the pair loops, the
 * per-step exponentials, mix-p's table products) are compiled for baseline
 * x86-64, AVX2 and AVX-512 (other machines: baseline only), and every path
 * gives the same bits: the same IEEE operations per element, in the same
 * order, with reductions in one fixed order whatever the vector width.  A
 * task runs on the path in force when it is created (bandit_create). */

/* Choose the path, once at start-up, from DPOSWEEP_ISA: "baseline",
 * "avx2", "avx512", or "auto" (also NULL or ""): the best this CPU
 * supports, which is also what runs without a call.  Returns 0, or
 * ERR_INPUT with e saying in one line that the name is unknown or that this
 * CPU (or build) lacks that instruction set; the path is then unchanged.
 * Not collective. */
int bandit_isa_select(const char *name, struct err *e);

/* The path in use: "baseline", "avx2" or "avx512", for `dposweep
 * --version` and the /runs record.  Not collective. */
const char *bandit_isa_name(void);

/* 1 if bandit_isa_select(name) would succeed on this machine, else 0.
 * Not collective. */
int bandit_isa_supported(const char *name);

/* Exposed for tests and benchmarks. */

/* Exact gradient at u = theta - theta_ref, in the task's scale. */
void bandit_gradient(struct bandit *b, const double *u, double *g);

/* One draw of the task's estimator G at u (exact: G = g).  Consumes the
 * task's noise stream. */
void bandit_estimate(struct bandit *b, const double *u, double *G);

/* Every metric at u, into m indexed by enum bandit_metric. */
void bandit_metrics(struct bandit *b, const double *u,
                    double m[BANDIT_NMETRICS]);

/* Take `steps` steps from the current state (no recording) and copy the
 * state u to u_out (arms entries). */
int bandit_advance(struct bandit *b, int64_t steps, double *u_out);

#endif
