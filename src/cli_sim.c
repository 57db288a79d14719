/* cli_sim: "dposweep sim", one task as CSV on stdout. */
#include "dposweep/bandit.h"
#include "dposweep/cli.h"
#include "dposweep/defaults.h"
#include "dposweep/text.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sim_usage[] =
  "usage: dposweep sim --regime R --arms K --beta B --iterations T [options]\n"
  "\n"
  "Run one online-DPO bandit task (shared/spec/model.md) and print its\n"
  "trajectory as CSV on stdout: t,max_abs_delta,mean_abs_delta,value_gap\n"
  "(17 significant digits), one row per recorded step.\n"
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
  "  --seed I           instance and noise seed, integer >= 0 (default 0)\n"
  "  --master-seed M    master seed, integer >= 0 (default " DPOSWEEP_STR(DPOSWEEP_DEFAULT_MASTER_SEED) ", the\n"
  "                     embedded default sweep's)\n"
  "  --every k          record every k-th step (t = 0, k, 2k, ... and T;\n"
  "                     default 1)\n"
  "  -h, --help         print this help\n"
  "\n"
  "Bad input prints one line naming the flag and exits with code 2.\n";

static int usage_error(const char *flag, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

static int usage_error(const char *flag, const char *fmt, ...)
{
  char msg[512];
  int n = snprintf(msg, sizeof msg, "dposweep sim: %s: ", flag);
  va_list ap;
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < sizeof msg)
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  text_one_line(msg); /* it may quote what the user typed */
  fprintf(stderr, "%s\n", msg);
  return ERR_EXIT_USAGE;
}

enum {
  OPT_REGIME = 256,
  OPT_ARMS,
  OPT_BETA,
  OPT_SIGMA,
  OPT_SAMPLES,
  OPT_ITER,
  OPT_ETA,
  OPT_SCALE,
  OPT_REWARDS,
  OPT_SEED,
  OPT_MASTER,
  OPT_EVERY
};

static const struct option sim_options[] = {
  {"regime", required_argument, NULL, OPT_REGIME},
  {"arms", required_argument, NULL, OPT_ARMS},
  {"beta", required_argument, NULL, OPT_BETA},
  {"sigma", required_argument, NULL, OPT_SIGMA},
  {"samples", required_argument, NULL, OPT_SAMPLES},
  {"iterations", required_argument, NULL, OPT_ITER},
  {"eta", required_argument, NULL, OPT_ETA},
  {"scale", required_argument, NULL, OPT_SCALE},
  {"rewards", required_argument, NULL, OPT_REWARDS},
  {"seed", required_argument, NULL, OPT_SEED},
  {"master-seed", required_argument, NULL, OPT_MASTER},
  {"every", required_argument, NULL, OPT_EVERY},
  {"help", no_argument, NULL, 'h'},
  {NULL, 0, NULL, 0},
};

/* Flag names for the fields bandit_params_check reports. */
static const char *flag_of(const char *field)
{
  if (strcmp(field, "record_every") == 0)
    return "--every";
  static char buf[32];
  snprintf(buf, sizeof buf, "--%s", field);
  return buf;
}

static int parse_number(const char *flag, const char *arg, double *out)
{
  if (text_parse_double(arg, out) != 0)
    return usage_error(flag, "not a number: '%s'", arg);
  return 0;
}

static int parse_integer(const char *flag, const char *arg, int64_t lo,
                         int64_t hi, int64_t *out)
{
  int rc = text_parse_i64(arg, lo, hi, out);
  if (rc == TEXT_INVALID)
    return usage_error(flag, "not an integer: '%s'", arg);
  if (rc == TEXT_RANGE)
    return usage_error(flag, "must be between %lld and %lld (got %s)",
                       (long long)lo, (long long)hi, arg);
  return 0;
}

void cli_sim_args_free(struct cli_sim_args *a)
{
  free(a->rewards);
  a->rewards = NULL;
}

int cli_sim_parse(int argc, char **argv, struct cli_sim_args *a)
{
  struct bandit_params p = {
    .scale = BANDIT_THEORY,
    .rewards = BANDIT_REWARDS_UNIFORM,
    .eta_theory = 1,
    .record_every = 1,
    .master_seed = DPOSWEEP_DEFAULT_MASTER_SEED,
  };
  int have_regime = 0, have_arms = 0, have_beta = 0, have_iter = 0;
  int have_eta = 0;
  double *rewards = NULL;
  long nrewards = 0;
  int status = ERR_EXIT_USAGE;
  int64_t v;
  double d;

  memset(a, 0, sizeof *a);
  optind = 0; /* full reinitialization: the parser may run many times */
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", sim_options, NULL)) != -1) {
    const char *arg = optarg;
    switch (c) {
    case 'h':
      a->help = 1;
      status = ERR_EXIT_OK;
      goto out;
    case OPT_REGIME:
      if (bandit_regime_parse(arg, &p.regime) != 0) {
        usage_error("--regime",
                    "unknown regime '%s' (uniform, mix-r, mix-p, mix-p-clip, "
                    "on-policy, hybrid, reference)",
                    arg);
        goto out;
      }
      have_regime = 1;
      break;
    case OPT_ARMS:
      if (parse_integer("--arms", arg, 2, BANDIT_MAX_ARMS, &v))
        goto out;
      p.arms = (int)v;
      have_arms = 1;
      break;
    case OPT_BETA:
      if (parse_number("--beta", arg, &p.beta))
        goto out;
      have_beta = 1;
      break;
    case OPT_SIGMA:
      if (parse_number("--sigma", arg, &p.sigma))
        goto out;
      break;
    case OPT_SAMPLES:
      if (parse_integer("--samples", arg, 0, BANDIT_MAX_SAMPLES, &v))
        goto out;
      p.samples = v;
      break;
    case OPT_ITER:
      if (parse_integer("--iterations", arg, 1, BANDIT_MAX_ITERATIONS, &v))
        goto out;
      p.iterations = v;
      have_iter = 1;
      break;
    case OPT_ETA:
      have_eta = 1;
      if (strcmp(arg, "theory") == 0) {
        p.eta_theory = 1;
      } else {
        if (parse_number("--eta", arg, &d))
          goto out;
        p.eta_theory = 0;
        p.eta = d;
      }
      break;
    case OPT_SCALE:
      if (bandit_scale_parse(arg, &p.scale) != 0) {
        usage_error("--scale", "unknown scale '%s' (theory, normalized)", arg);
        goto out;
      }
      break;
    case OPT_REWARDS:
      free(rewards);
      rewards = NULL;
      nrewards = 0;
      if (bandit_rewards_parse(arg, &p.rewards) == 0)
        break;
      {
        const char *bad = NULL;
        size_t n = 0;
        int rc = text_parse_double_list(arg, &rewards, &n, &bad);
        if (rc == TEXT_NOMEM) {
          fprintf(stderr, "dposweep sim: --rewards: out of memory\n");
          status = ERR_EXIT_RUNTIME;
          goto out;
        }
        nrewards = (long)n;
        if (rc != TEXT_OK) {
          const char *comma = strchr(bad, ',');
          int len = comma ? (int)(comma - bad) : (int)strlen(bad);
          usage_error("--rewards",
                      "not a number: '%.*s' (give uniform, normal or a list "
                      "r0,r1,...)",
                      len, bad);
          goto out;
        }
        for (long i = 0; i < nrewards; i++)
          if (!isfinite(rewards[i])) {
            usage_error("--rewards", "reward %ld is not finite: %g", i,
                        rewards[i]);
            goto out;
          }
        p.rewards = BANDIT_REWARDS_EXPLICIT;
      }
      break;
    case OPT_SEED:
      if (text_parse_u64(arg, &p.seed) != 0) {
        usage_error("--seed", "not an integer >= 0: '%s'", arg);
        goto out;
      }
      break;
    case OPT_MASTER:
      if (text_parse_u64(arg, &p.master_seed) != 0) {
        usage_error("--master-seed", "not an integer >= 0: '%s'", arg);
        goto out;
      }
      break;
    case OPT_EVERY:
      if (parse_integer("--every", arg, 1, BANDIT_MAX_ITERATIONS, &v))
        goto out;
      p.record_every = v;
      break;
    case ':':
      usage_error(argv[optind - 1], "needs a value");
      goto out;
    default:
      usage_error(argv[optind - 1], "unknown option (see dposweep sim --help)");
      goto out;
    }
  }
  if (optind < argc) {
    usage_error(argv[optind], "unexpected argument (see dposweep sim --help)");
    goto out;
  }

  if (p.rewards == BANDIT_REWARDS_EXPLICIT) {
    if (have_arms && p.arms != nrewards) {
      usage_error("--arms", "is %d but --rewards lists %ld values", p.arms,
                  nrewards);
      goto out;
    }
    if (nrewards < 2 || nrewards > BANDIT_MAX_ARMS) {
      usage_error("--rewards", "needs between 2 and %d values (got %ld)",
                  BANDIT_MAX_ARMS, nrewards);
      goto out;
    }
    p.arms = (int)nrewards;
    p.reward_values = rewards;
    have_arms = 1;
  }
  if (!have_regime) {
    usage_error("--regime", "required (see dposweep sim --help)");
    goto out;
  }
  if (!have_arms) {
    usage_error("--arms", "required unless --rewards gives a list");
    goto out;
  }
  if (!have_beta) {
    usage_error("--beta", "required");
    goto out;
  }
  if (!have_iter) {
    usage_error("--iterations", "required");
    goto out;
  }
  if (!have_eta && p.scale == BANDIT_NORMALIZED) {
    usage_error("--eta", "required with --scale normalized (a number > 0)");
    goto out;
  }
  const char *field;
  struct err e;
  if (bandit_params_check(&p, &field, &e) != 0) {
    usage_error(flag_of(field), "%s", e.msg);
    goto out;
  }

  a->p = p;
  a->rewards = rewards;
  rewards = NULL;
  status = ERR_EXIT_OK;
out:
  free(rewards);
  return status;
}

int cli_sim(int argc, char **argv)
{
  struct cli_sim_args a;
  struct bandit *b = NULL;
  double *buf = NULL;
  int status = cli_sim_parse(argc, argv, &a);
  if (status != ERR_EXIT_OK)
    goto out;
  if (a.help) {
    fputs(sim_usage, stdout);
    goto out;
  }
  const struct bandit_params *pp = &a.p;
  status = ERR_EXIT_RUNTIME;
  if (bandit_create(pp, &b) != 0) {
    fprintf(stderr, "dposweep sim: out of memory for %d arms\n", pp->arms);
    goto out;
  }
  int64_t nrec = bandit_nrec(pp->iterations, pp->record_every);
  if (!(buf = malloc((size_t)nrec * 3 * sizeof *buf))) {
    fprintf(stderr, "dposweep sim: out of memory for %lld records\n",
            (long long)nrec);
    goto out;
  }
  struct bandit_trace tr = {buf, buf + nrec, buf + 2 * nrec, NULL};
  int outcome = bandit_run(b, &tr);
  printf("t,max_abs_delta,mean_abs_delta,value_gap\n");
  for (int64_t i = 0; i < nrec; i++)
    printf("%lld,%.17g,%.17g,%.17g\n",
           (long long)bandit_rec_step(i, pp->iterations, pp->record_every),
           tr.max_abs_delta[i], tr.mean_abs_delta[i], tr.value_gap[i]);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "dposweep sim: cannot write the output\n");
    goto out;
  }
  if (outcome != BANDIT_OK) {
    fprintf(stderr, "dposweep sim: %s\n", bandit_failure(b));
    goto out;
  }
  status = ERR_EXIT_OK;
out:
  bandit_destroy(&b);
  free(buf);
  cli_sim_args_free(&a);
  return status;
}
