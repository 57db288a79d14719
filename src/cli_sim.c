/* cli_sim: "dposweep sim", one task as CSV on stdout. */
#include "dposweep/bandit.h"
#include "dposweep/cli.h"
#include "dposweep/defaults.h"
#include "dposweep/text.h"

#include "cli_private.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sim_usage[] =
  "usage: dposweep sim --regime R --arms K --beta B --iterations T [options]\n"
  "\n"
  "Run one online-DPO bandit task (docs/model.md) and print its\n"
  "trajectory as CSV on stdout: t,max_abs_delta,mean_abs_delta,value_gap,\n"
  "expected_reward,win_rate,kl_ref (17 significant digits), one row per\n"
  "recorded step.\n"
  "\n"
  "  --regime R         sampler: uniform, mix-r, mix-p, mix-p-clip,\n"
  "                     on-policy, hybrid, reference (required)\n"
  "  --arms K           number of arms |Y| >= 2 (required unless --rewards\n"
  "                     gives a list; then it must match its length)\n"
  "  --beta B           KL coefficient beta > 0 (required)\n"
  "  --iterations T     number of steps T >= 1 (required)\n"
  "  --scale S          theory (S as in the paper; default) or normalized\n"
  "                     (pairs drawn from a distribution, the authors' code)\n"
  "  --eta E            step size > 0, or 'theory' = 1/(beta^2 K) (the\n"
  "                     default with --scale theory; required with normalized)\n"
  "  --sigma S          gaussian estimator with noise level S >= 0 (default 0)\n"
  "  --samples N        sampled estimator with N >= 0 pairs per step\n"
  "                     (default 0; not together with --sigma > 0)\n"
  "                     with --sigma 0 and --samples 0 the gradient is exact\n"
  "  --rewards D        uniform (U[0,1], default), normal (N(0,1)), or an\n"
  "                     explicit list r0,r1,... of finite numbers\n"
  "  --ref-spread S     reference policy pi_ref = softmax(theta_ref) with\n"
  "                     theta_ref = S z, z standard normal per arm;\n"
  "                     0 <= S <= 35 (default 0: the uniform reference)\n"
  "  --ref-logits L     an explicit theta_ref l0,l1,... of finite numbers,\n"
  "                     one per arm (not together with --ref-spread)\n"
  "  --seed I           instance and noise seed, integer >= 0 (default 0)\n"
  "  --master-seed M    master seed, integer >= 0 (default " DPOSWEEP_STR(DPOSWEEP_DEFAULT_MASTER_SEED) ", the\n"
  "                     embedded default sweep's)\n"
  "  --every k          record every k-th step (t = 0, k, 2k, ... and T;\n"
  "                     default 1)\n"
  "  -h, --help         print this help\n"
  "\n"
  "Bad input prints one line naming the flag and exits with code 2.\n";

/* ---- the flags ---- */

enum sim_flag_id {
  F_REGIME,
  F_ARMS,
  F_BETA,
  F_SIGMA,
  F_SAMPLES,
  F_ITERATIONS,
  F_ETA,
  F_SCALE,
  F_REWARDS,
  F_REF_SPREAD,
  F_REF_LOGITS,
  F_SEED,
  F_MASTER_SEED,
  F_EVERY,
  NFLAGS
};

/* The task being assembled, and what the finishing check needs. */
struct sim_parse {
  struct bandit_params p;
  double *rewards; /* --rewards r0,r1,...: the list; else NULL */
  size_t nrewards;
  double *logits; /* --ref-logits l0,l1,...; else NULL */
  size_t nlogits;
  int given[NFLAGS];
};

/* How a flag's value is read: into a bandit_params field of the kind's
 * type, or by the flag's own handler. */
enum flag_kind {
  KIND_NUMBER, /* double, any (the engine's check judges it) */
  KIND_INT,    /* int, in [lo, hi] */
  KIND_I64,    /* int64_t, in [lo, hi] */
  KIND_U64,    /* uint64_t */
  KIND_HANDLER
};

typedef int (*flag_handler)(struct sim_parse *ps, const char *arg,
                            struct err *e);

static int regime_flag(struct sim_parse *ps, const char *arg, struct err *e);
static int eta_flag(struct sim_parse *ps, const char *arg, struct err *e);
static int scale_flag(struct sim_parse *ps, const char *arg, struct err *e);
static int rewards_flag(struct sim_parse *ps, const char *arg, struct err *e);
static int ref_spread_flag(struct sim_parse *ps, const char *arg,
                           struct err *e);
static int ref_logits_flag(struct sim_parse *ps, const char *arg,
                           struct err *e);

static const struct sim_flag {
  const char *name;  /* the long option, "--" + name */
  const char *param; /* the field bandit_params_check names for it */
  enum flag_kind kind;
  size_t field; /* offsetof(struct bandit_params, ...), plain kinds */
  int64_t lo, hi;
  flag_handler handle;
} sim_flags[NFLAGS] = {
#define FIELD(f) .field = offsetof(struct bandit_params, f)
  [F_REGIME] = {"regime", "regime", KIND_HANDLER, .handle = regime_flag},
  [F_ARMS] = {"arms", "arms", KIND_INT, FIELD(arms), .lo = 2,
              .hi = BANDIT_MAX_ARMS},
  [F_BETA] = {"beta", "beta", KIND_NUMBER, FIELD(beta)},
  [F_SIGMA] = {"sigma", "sigma", KIND_NUMBER, FIELD(sigma)},
  [F_SAMPLES] = {"samples", "samples", KIND_I64, FIELD(samples), .lo = 0,
                 .hi = BANDIT_MAX_SAMPLES},
  [F_ITERATIONS] = {"iterations", "iterations", KIND_I64, FIELD(iterations),
                    .lo = 1, .hi = BANDIT_MAX_ITERATIONS},
  [F_ETA] = {"eta", "eta", KIND_HANDLER, .handle = eta_flag},
  [F_SCALE] = {"scale", "scale", KIND_HANDLER, .handle = scale_flag},
  [F_REWARDS] = {"rewards", "rewards", KIND_HANDLER, .handle = rewards_flag},
  [F_REF_SPREAD] = {"ref-spread", "ref_spread", KIND_HANDLER,
                    .handle = ref_spread_flag},
  [F_REF_LOGITS] = {"ref-logits", "ref_logits", KIND_HANDLER,
                    .handle = ref_logits_flag},
  [F_SEED] = {"seed", "seed", KIND_U64, FIELD(seed)},
  [F_MASTER_SEED] = {"master-seed", "master_seed", KIND_U64,
                     FIELD(master_seed)},
  [F_EVERY] = {"every", "record_every", KIND_I64, FIELD(record_every),
               .lo = 1, .hi = BANDIT_MAX_ITERATIONS},
#undef FIELD
};

/* getopt_long's values: a flag's is FLAG_VAL(its enum sim_flag_id), above
 * every character getopt_long returns; --help's is 'h', as -h. */
#define FLAG_VAL(id) (256 + (id))
#define OPT_HELP 'h'

static int regime_flag(struct sim_parse *ps, const char *arg, struct err *e)
{
  if (bandit_regime_parse(arg, &ps->p.regime) == 0)
    return 0;
  return err_set(e, ERR_INPUT,
                 "--regime: unknown regime '%s' (uniform, mix-r, mix-p, "
                 "mix-p-clip, on-policy, hybrid, reference)",
                 arg);
}

static int eta_flag(struct sim_parse *ps, const char *arg, struct err *e)
{
  double eta;
  if (strcmp(arg, "theory") == 0) {
    ps->p.eta_theory = 1;
    return 0;
  }
  if (text_parse_double(arg, &eta) != TEXT_OK)
    return err_set(e, ERR_INPUT, "--eta: not a number: '%s'", arg);
  ps->p.eta_theory = 0;
  ps->p.eta = eta;
  return 0;
}

static int scale_flag(struct sim_parse *ps, const char *arg, struct err *e)
{
  if (bandit_scale_parse(arg, &ps->p.scale) == 0)
    return 0;
  return err_set(e, ERR_INPUT, "--scale: unknown scale '%s' (theory, "
                               "normalized)", arg);
}

/* A list of finite numbers for flag (a new array in *out, replacing what
 * was there: the last flag counts); `hint` says what the flag takes,
 * `each` names one entry in messages ("reward 2 is not finite"). */
static int number_list(const char *flag, const char *arg, const char *hint,
                       const char *each, double **out, size_t *n,
                       struct err *e)
{
  const char *bad = NULL;
  free(*out);
  *out = NULL;
  *n = 0;
  int rc = text_parse_double_list(arg, out, n, &bad);
  if (rc == TEXT_NOMEM)
    return err_set(e, ERR_RUNTIME, "%s: out of memory", flag);
  if (rc != TEXT_OK) {
    const char *comma = strchr(bad, ',');
    int len = comma ? (int)(comma - bad) : (int)strlen(bad);
    return err_set(e, ERR_INPUT, "%s: not a number: '%.*s' (%s)", flag, len,
                   bad, hint);
  }
  for (size_t i = 0; i < *n; i++)
    if (!isfinite((*out)[i]))
      return err_set(e, ERR_INPUT, "%s: %s %zu is not finite: %g", flag, each,
                     i, (*out)[i]);
  return 0;
}

/* A distribution's name, or an explicit list of finite numbers; the last
 * --rewards counts. */
static int rewards_flag(struct sim_parse *ps, const char *arg, struct err *e)
{
  free(ps->rewards);
  ps->rewards = NULL;
  ps->nrewards = 0;
  if (bandit_rewards_parse(arg, &ps->p.rewards) == 0)
    return 0;
  int rc = number_list("--rewards", arg,
                       "give uniform, normal or a list r0,r1,...", "reward",
                       &ps->rewards, &ps->nrewards, e);
  if (rc == 0)
    ps->p.rewards = BANDIT_REWARDS_EXPLICIT;
  return rc;
}

/* The spread of a drawn reference: a finite number >= 0 (-0.0 is 0). */
static int ref_spread_flag(struct sim_parse *ps, const char *arg,
                           struct err *e)
{
  double v;
  if (text_parse_double(arg, &v) != TEXT_OK)
    return err_set(e, ERR_INPUT, "--ref-spread: not a number: '%s'", arg);
  if (!isfinite(v) || !(v >= 0.0))
    return err_set(e, ERR_INPUT,
                   "--ref-spread: must be a finite number >= 0 (got %s)", arg);
  ps->p.ref_spread = v == 0.0 ? 0.0 : v;
  return 0;
}

/* An explicit theta_ref; its length is checked against the arms once
 * they are known (sim_finish). */
static int ref_logits_flag(struct sim_parse *ps, const char *arg,
                           struct err *e)
{
  return number_list("--ref-logits", arg, "give a list l0,l1,...", "logit",
                     &ps->logits, &ps->nlogits, e);
}

/* One flag's value, by its kind. */
static int read_flag(struct sim_parse *ps, const struct sim_flag *f,
                     const char *arg, struct err *e)
{
  char *field = (char *)&ps->p + f->field;
  int64_t v;
  int rc;
  switch (f->kind) {
  case KIND_NUMBER:
    if (text_parse_double(arg, (double *)field) != TEXT_OK)
      return err_set(e, ERR_INPUT, "--%s: not a number: '%s'", f->name, arg);
    return 0;
  case KIND_INT:
  case KIND_I64:
    rc = text_parse_i64(arg, f->lo, f->hi, &v);
    if (rc == TEXT_INVALID)
      return err_set(e, ERR_INPUT, "--%s: not an integer: '%s'", f->name, arg);
    if (rc == TEXT_RANGE)
      return err_set(e, ERR_INPUT, "--%s: must be between %lld and %lld (got "
                                   "%s)",
                     f->name, (long long)f->lo, (long long)f->hi, arg);
    if (f->kind == KIND_INT)
      *(int *)field = (int)v; /* in [lo, hi], which fit an int */
    else
      *(int64_t *)field = v;
    return 0;
  case KIND_U64:
    if (text_parse_u64(arg, (uint64_t *)field) != TEXT_OK)
      return err_set(e, ERR_INPUT, "--%s: not an integer >= 0: '%s'", f->name,
                     arg);
    return 0;
  case KIND_HANDLER:
    break;
  }
  return f->handle(ps, arg, e);
}

/* The flag bandit_params_check's field stands for. */
static const char *flag_name_of(const char *param)
{
  for (int i = 0; i < NFLAGS; i++)
    if (strcmp(sim_flags[i].param, param) == 0)
      return sim_flags[i].name;
  return param;
}

/* ---- parsing ---- */

/* The reference: drawn (--ref-spread) or given (--ref-logits, one value
 * per arm), not both. */
static int finish_reference(struct sim_parse *ps, struct err *e)
{
  struct bandit_params *p = &ps->p;
  if (!ps->given[F_REF_LOGITS])
    return 0;
  if (ps->given[F_REF_SPREAD])
    return err_set(e, ERR_INPUT, "--ref-logits: not together with "
                                 "--ref-spread (a given reference has no "
                                 "spread; keep one)");
  if (ps->nlogits != (size_t)p->arms)
    return err_set(e, ERR_INPUT, "--ref-logits: lists %zu values but %s %d",
                   ps->nlogits,
                   p->rewards == BANDIT_REWARDS_EXPLICIT
                     ? "--rewards lists"
                     : "--arms is",
                   p->arms);
  p->ref_logits = ps->logits;
  return 0;
}

/* After the last flag: an explicit list fixes the arms, the required
 * flags are there, and the engine accepts the whole task. */
static int sim_finish(struct sim_parse *ps, struct err *e)
{
  static const struct {
    enum sim_flag_id id;
    const char *why;
  } required[] = {
    {F_REGIME, "required (see dposweep sim --help)"},
    {F_ARMS, "required unless --rewards gives a list"},
    {F_BETA, "required"},
    {F_ITERATIONS, "required"},
  };
  struct bandit_params *p = &ps->p;
  if (p->rewards == BANDIT_REWARDS_EXPLICIT) {
    if (ps->given[F_ARMS] && (size_t)p->arms != ps->nrewards)
      return err_set(e, ERR_INPUT, "--arms: is %d but --rewards lists %zu "
                                   "values",
                     p->arms, ps->nrewards);
    if (ps->nrewards < 2 || ps->nrewards > BANDIT_MAX_ARMS)
      return err_set(e, ERR_INPUT, "--rewards: needs between 2 and %d values "
                                   "(got %zu)",
                     BANDIT_MAX_ARMS, ps->nrewards);
    p->arms = (int)ps->nrewards;
    p->reward_values = ps->rewards;
    ps->given[F_ARMS] = 1;
  }
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!ps->given[required[i].id])
      return err_set(e, ERR_INPUT, "--%s: %s", sim_flags[required[i].id].name,
                     required[i].why);
  int rc = finish_reference(ps, e);
  if (rc)
    return rc;
  if (!ps->given[F_ETA] && p->scale == BANDIT_NORMALIZED)
    return err_set(e, ERR_INPUT, "--eta: required with --scale normalized (a "
                                 "number > 0)");
  const char *param;
  struct err why;
  if (bandit_params_check(p, &param, &why) != 0)
    return err_set(e, ERR_INPUT, "--%s: %s", flag_name_of(param), why.msg);
  return 0;
}

/* One flag (c, FLAG_VAL of its id) into the struct sim_parse at ctx. */
static int sim_option(void *ctx, int c, const char *arg, struct err *e)
{
  struct sim_parse *ps = ctx;
  int id = c - FLAG_VAL(0), rc = read_flag(ps, &sim_flags[id], arg, e);
  if (rc == 0)
    ps->given[id] = 1;
  return rc;
}

void cli_sim_args_free(struct cli_sim_args *a)
{
  free(a->rewards);
  a->rewards = NULL;
  free(a->ref_logits);
  a->ref_logits = NULL;
}

int cli_sim_parse(int argc, char **argv, struct cli_sim_args *a, struct err *e)
{
  struct sim_parse ps = {
    .p = {
      .scale = BANDIT_THEORY,
      .rewards = BANDIT_REWARDS_UNIFORM,
      .eta_theory = 1,
      .record_every = 1,
      .master_seed = DPOSWEEP_DEFAULT_MASTER_SEED,
    },
  };
  struct option opts[NFLAGS + 2];
  for (int i = 0; i < NFLAGS; i++)
    opts[i] = (struct option){sim_flags[i].name, required_argument, NULL,
                              FLAG_VAL(i)};
  opts[NFLAGS] = (struct option){"help", no_argument, NULL, OPT_HELP};
  opts[NFLAGS + 1] = (struct option){NULL, 0, NULL, 0};
  const struct cli_options sim = {"sim", ":h", opts, sim_option};
  int first;

  memset(a, 0, sizeof *a);
  err_clear(e);
  /* After --help nothing else is checked. */
  int rc = cli_read_options(&sim, argc, argv, &ps, &a->help, &first, e);
  if (rc || a->help)
    goto out;
  if (first < argc) {
    rc = err_set(e, ERR_INPUT, "%s: unexpected argument (see dposweep sim "
                               "--help)", argv[first]);
    goto out;
  }
  if ((rc = sim_finish(&ps, e)))
    goto out;
  a->p = ps.p;
  a->rewards = ps.rewards;
  a->ref_logits = ps.logits;
  ps.rewards = NULL;
  ps.logits = NULL;
out:
  free(ps.rewards);
  free(ps.logits);
  return rc;
}

/* ---- running ---- */

int cli_sim(int argc, char **argv)
{
  struct cli_sim_args a;
  struct bandit *b = NULL;
  double *buf = NULL;
  struct err e;
  int rc = cli_sim_parse(argc, argv, &a, &e);
  if (rc)
    goto out;
  if (a.help) {
    fputs(sim_usage, stdout);
    goto out;
  }
  const struct bandit_params *pp = &a.p;
  /* The parameters passed the engine's check: only memory can fail. */
  if (bandit_create(pp, &b) != 0) {
    rc = err_set(&e, ERR_RUNTIME, "out of memory for %d arms", pp->arms);
    goto out;
  }
  int64_t nrec = bandit_nrec(pp->iterations, pp->record_every);
  if (!(buf = malloc((size_t)nrec * BANDIT_NMETRICS * sizeof *buf))) {
    rc = err_set(&e, ERR_RUNTIME, "out of memory for %lld records",
                 (long long)nrec);
    goto out;
  }
  struct bandit_trace tr = {.theta = NULL};
  for (int j = 0; j < BANDIT_NMETRICS; j++)
    tr.metric[j] = buf + (size_t)j * (size_t)nrec;
  int outcome = bandit_run(b, &tr);
  /* Write errors stick to stdout; the fflush and ferror below catch them
   * all.  The columns: t, then the metrics in the table's order. */
  fputs("t", stdout);
  for (int j = 0; j < BANDIT_NMETRICS; j++)
    printf(",%s", bandit_metric_name((enum bandit_metric)j));
  putchar('\n');
  for (int64_t i = 0; i < nrec; i++) {
    printf("%lld",
           (long long)bandit_rec_step(i, pp->iterations, pp->record_every));
    for (int j = 0; j < BANDIT_NMETRICS; j++)
      printf(",%.17g", tr.metric[j][i]);
    putchar('\n');
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    rc = err_set(&e, ERR_RUNTIME, "cannot write the output");
    goto out;
  }
  if (outcome != BANDIT_OK)
    rc = err_set(&e, ERR_RUNTIME, "%s", bandit_failure(b));
out:
  if (rc)
    err_print(&e, "dposweep sim");
  bandit_destroy(&b);
  free(buf);
  cli_sim_args_free(&a);
  return err_exit_code(rc);
}
