/* cli_sweep: "dposweep run", "plan" and "status". */
#include "dposweep/cli.h"
#include "dposweep/defaults.h"
#include "dposweep/spec.h"
#include "dposweep/store.h"
#include "dposweep/sweep.h"
#include "dposweep/text.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- run ---- */

static const char run_usage[] =
  "usage: [mpirun -n P] dposweep run [SPEC] [-o OUT.h5] [options]\n"
  "\n"
  "Run every task of the sweep spec SPEC (YAML; without SPEC the embedded\n"
  "default, the paper's study, also shipped as jobs/paper.yaml) and write\n"
  "the results into OUT.h5 (default " DPOSWEEP_DEFAULT_OUTPUT ").  Rank 0\n"
  "coordinates, the other ranks compute; one rank does both.\n"
  "\n"
  "If OUT.h5 exists and holds the same spec, the run continues it: only\n"
  "tasks not yet done are run, so the same command line serves every link\n"
  "of a job chain.  If it holds another spec, or is not a dposweep file,\n"
  "the run refuses and leaves it untouched.\n"
  "\n"
  "  -o, --output FILE        results file (default " DPOSWEEP_DEFAULT_OUTPUT ")\n"
  "  --force                  start over even if FILE holds this spec, or\n"
  "                           replace a dposweep file of another spec\n"
  "  --grace SECONDS          after SIGTERM/SIGINT/SIGUSR1, let tasks in\n"
  "                           flight finish for this long (default\n"
  "                           " DPOSWEEP_STR(DPOSWEEP_DEFAULT_GRACE) "); a\n"
  "                           second signal abandons them at once\n"
  "  --flush-interval SECONDS collective flush of the file (default "
  DPOSWEEP_STR(DPOSWEEP_DEFAULT_FLUSH_INTERVAL) ")\n"
  "  --progress-interval SECONDS  progress lines when stderr is not a\n"
  "                           terminal (default "
  DPOSWEEP_STR(DPOSWEEP_DEFAULT_PROGRESS_INTERVAL) "; a terminal gets a live\n"
  "                           line)\n"
  "  --chunk-seconds SECONDS  target compute time of one chunk of tasks\n"
  "                           (default "
  DPOSWEEP_STR(DPOSWEEP_DEFAULT_CHUNK_SECONDS) ")\n"
  "  -q, --quiet              no progress lines\n"
  "  --stats                  at the end, print wall time, rank 0 CPU time,\n"
  "                           compute efficiency and peak memory\n"
  "  -h, --help               print this help\n"
  "\n"
  "exit codes: 0 complete, 1 interrupted (rerun to continue), 2 bad spec or\n"
  "output holds another spec / is not a dposweep file, 3 I/O failure\n";

static int seconds_arg(const char *flag, const char *arg, double *out,
                       char *err, size_t len)
{
  if (text_parse_double(arg, out) != 0 || !isfinite(*out) || *out < 0) {
    snprintf(err, len, "%s: must be a number of seconds >= 0 (got '%s')", flag,
             arg);
    return -1;
  }
  return 0;
}

static int cli_run(int argc, char **argv)
{
  struct sweep_options o = {
    .output = DPOSWEEP_DEFAULT_OUTPUT,
    .grace = DPOSWEEP_DEFAULT_GRACE,
    .flush_interval = DPOSWEEP_DEFAULT_FLUSH_INTERVAL,
    .progress_interval = DPOSWEEP_DEFAULT_PROGRESS_INTERVAL,
    .chunk_seconds = DPOSWEEP_DEFAULT_CHUNK_SECONDS,
  };
  enum { O_FORCE = 256, O_GRACE, O_FLUSH, O_PROGRESS, O_CHUNK, O_STATS };
  static const struct option opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"force", no_argument, NULL, O_FORCE},
    {"grace", required_argument, NULL, O_GRACE},
    {"flush-interval", required_argument, NULL, O_FLUSH},
    {"progress-interval", required_argument, NULL, O_PROGRESS},
    {"chunk-seconds", required_argument, NULL, O_CHUNK},
    {"quiet", no_argument, NULL, 'q'},
    {"stats", no_argument, NULL, O_STATS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  char err[512] = "";
  optind = 1;
  opterr = 0;
  int c;
  while (!err[0] && (c = getopt_long(argc, argv, ":o:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'o': o.output = optarg; break;
    case O_FORCE: o.force = 1; break;
    case O_GRACE: seconds_arg("--grace", optarg, &o.grace, err, sizeof err); break;
    case O_FLUSH:
      if (!seconds_arg("--flush-interval", optarg, &o.flush_interval, err,
                       sizeof err) &&
          o.flush_interval <= 0)
        snprintf(err, sizeof err, "--flush-interval: must be > 0");
      break;
    case O_PROGRESS:
      seconds_arg("--progress-interval", optarg, &o.progress_interval, err,
                  sizeof err);
      break;
    case O_CHUNK:
      if (!seconds_arg("--chunk-seconds", optarg, &o.chunk_seconds, err,
                       sizeof err) &&
          o.chunk_seconds <= 0)
        snprintf(err, sizeof err, "--chunk-seconds: must be > 0");
      break;
    case 'q': o.quiet = 1; break;
    case O_STATS: o.stats = 1; break;
    case 'h': fputs(run_usage, stdout); return ERR_EXIT_OK;
    case ':': snprintf(err, sizeof err, "%s: needs a value", argv[optind - 1]); break;
    default:
      snprintf(err, sizeof err, "%s: unknown option (see dposweep run --help)",
               argv[optind - 1]);
    }
  }
  if (!err[0] && optind < argc)
    o.spec_path = argv[optind++];
  if (!err[0] && optind < argc)
    snprintf(err, sizeof err, "%s: unexpected argument (one SPEC at most)",
             argv[optind]);
  if (!err[0] && o.output[0] == '\0')
    snprintf(err, sizeof err, "--output: empty file name");
  return sweep_main(&o, err[0] ? err : NULL);
}

/* ---- plan ---- */

static const char plan_usage[] =
  "usage: dposweep plan [SPEC] [--list]\n"
  "\n"
  "Check the sweep spec SPEC (default: the embedded paper spec) and print\n"
  "its size: 'tasks: N' over all studies, then per study its tasks, axes,\n"
  "relative cost (sum of K^2 * iterations, plus samples * iterations for\n"
  "sampled tasks) and output size in bytes.\n"
  "\n"
  "  --list      also print one line per task: study, index, coordinates\n"
  "  -h, --help  print this help\n"
  "\n"
  "A bad spec prints one line naming the study and the key; exit code 2.\n";

static void print_eta(const struct spec_study *st, int i)
{
  if (st->eta_theory[i])
    printf("theory");
  else
    printf("%.17g", st->eta[i]);
}

static int cli_plan(int argc, char **argv)
{
  int list = 0;
  static const struct option opts[] = {
    {"list", no_argument, NULL, 'l'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case 'l': list = 1; break;
    case 'h': fputs(plan_usage, stdout); return ERR_EXIT_OK;
    default:
      fprintf(stderr, "dposweep plan: %s: unknown option (see dposweep plan "
                      "--help)\n",
              argv[optind - 1]);
      return ERR_EXIT_USAGE;
    }
  }
  if (argc - optind > 1) {
    fprintf(stderr, "dposweep plan: %s: unexpected argument (one SPEC at most)\n",
            argv[optind + 1]);
    return ERR_EXIT_USAGE;
  }
  struct spec *s = NULL;
  struct err e;
  int rc = optind < argc
             ? spec_load_file(argv[optind], &s, &e)
             : spec_load_text(spec_default_text(), strlen(spec_default_text()),
                              "(default spec)", &s, &e);
  if (rc != 0) {
    err_print(&e, "dposweep plan");
    return ERR_EXIT_USAGE;
  }
  double total_cost = 0.0;
  for (int i = 0; i < spec_nstudies(s); i++)
    total_cost += spec_study_cost(spec_study(s, i));
  printf("tasks: %lld\n", (long long)spec_ntasks(s));
  printf("spec: %s\nsha256: %s\nmaster_seed: %llu\nstudies: %d\n", spec_name(s),
         spec_sha256(s), (unsigned long long)spec_master_seed(s),
         spec_nstudies(s));
  printf("relative cost: %.6g\n", total_cost);
  printf("output bytes: %lld\n", (long long)store_predicted_size(s));
  printf("axis order: regime, arms, beta, sigma, samples, eta, seed (seed "
         "fastest)\n");
  for (int i = 0; i < spec_nstudies(s); i++) {
    const struct spec_study *st = spec_study(s, i);
    double cost = spec_study_cost(st);
    printf("\nstudy %s:\n", st->name);
    printf("  tasks: %lld\n", (long long)st->ntasks);
    printf("  axes:");
    for (int a = 0; a < SPEC_NAXES; a++)
      printf("%s %s %lld", a ? "," : "", spec_axis_name((enum spec_axis)a),
             (long long)st->len[a]);
    printf("\n");
    printf("  settings: iterations %lld, record_every %lld (%lld records), "
           "scale %s, rewards %s\n",
           (long long)st->iterations, (long long)st->record_every,
           (long long)st->nrec, bandit_scale_name(st->scale),
           bandit_rewards_name(st->rewards));
    printf("  relative cost: %.6g (%.1f%%)\n", cost,
           total_cost > 0 ? 100.0 * cost / total_cost : 0.0);
    printf("  output bytes: %lld\n", (long long)store_study_bytes(st));
  }
  if (list) {
    printf("\nstudy,index,regime,arms,beta,sigma,samples,eta,seed\n");
    for (int i = 0; i < spec_nstudies(s); i++) {
      const struct spec_study *st = spec_study(s, i);
      for (int64_t t = 0; t < st->ntasks; t++) {
        struct spec_coords co;
        spec_coords_of(st, t, &co);
        const int64_t *at = co.pos;
        printf("%s,%lld,%s,%d,%.17g,%.17g,%lld,", st->name, (long long)t,
               bandit_regime_name(st->regime[at[SPEC_AXIS_REGIME]]),
               st->arms[at[SPEC_AXIS_ARMS]], st->beta[at[SPEC_AXIS_BETA]],
               st->sigma[at[SPEC_AXIS_SIGMA]],
               (long long)st->samples[at[SPEC_AXIS_SAMPLES]]);
        print_eta(st, (int)at[SPEC_AXIS_ETA]);
        printf(",%lld\n", (long long)at[SPEC_AXIS_SEED]);
      }
    }
  }
  spec_destroy(&s);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "dposweep plan: cannot write the output\n");
    return ERR_EXIT_RUNTIME;
  }
  return ERR_EXIT_OK;
}

/* ---- status ---- */

static const char status_usage[] =
  "usage: dposweep status OUT.h5\n"
  "\n"
  "Summarize a results file: done/total, failed, pending, a breakdown by\n"
  "study and regime, and the runs recorded in the file.\n"
  "\n"
  "exit codes: 0 complete, 1 not complete, 2 not a readable dposweep file\n";

static void fmt_time(double t, char *buf, size_t len)
{
  if (!isfinite(t)) {
    snprintf(buf, len, "-");
    return;
  }
  time_t s = (time_t)t;
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int cli_status(int argc, char **argv)
{
  if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    fputs(status_usage, stdout);
    return ERR_EXIT_OK;
  }
  if (argc != 2) {
    fprintf(stderr, "dposweep status: %s (usage: dposweep status OUT.h5)\n",
            argc < 2 ? "needs a results file" : "one results file at most");
    return ERR_EXIT_USAGE;
  }
  const char *path = argv[1];
  struct store_reader *r = NULL;
  struct err e;
  if (store_reader_open(path, &r, &e) != 0) {
    err_print(&e, "dposweep status");
    return ERR_EXIT_USAGE;
  }
  const struct spec *s = store_reader_spec(r);
  int nst = spec_nstudies(s);
  int64_t done = 0, failed = 0, pending = 0;
  int64_t (*by)[BANDIT_NREGIMES][3] = calloc((size_t)nst, sizeof *by);
  int rc = ERR_EXIT_USAGE;
  if (!by) {
    fprintf(stderr, "dposweep status: out of memory\n");
    goto out;
  }
  for (int i = 0; i < nst; i++) {
    const struct spec_study *st = spec_study(s, i);
    uint8_t *status = malloc((size_t)st->ntasks);
    if (!status || store_reader_status(r, i, status, &e) != 0) {
      fprintf(stderr, "dposweep status: %s: cannot read the status of study "
                      "'%s' (damaged?)\n",
              path, st->name);
      free(status);
      goto out;
    }
    for (int64_t t = 0; t < st->ntasks; t++) {
      struct spec_coords c;
      spec_coords_of(st, t, &c);
      int k = status[t] == TASK_DONE ? 0 : (status[t] == TASK_FAILED ? 1 : 2);
      by[i][st->regime[c.pos[SPEC_AXIS_REGIME]]][k]++;
    }
    free(status);
  }
  for (int i = 0; i < nst; i++)
    for (int g = 0; g < BANDIT_NREGIMES; g++) {
      done += by[i][g][0];
      failed += by[i][g][1];
      pending += by[i][g][2];
    }
  int64_t total = spec_ntasks(s);
  printf("file: %s\nspec: %s (sha256 %s)\n", path, spec_name(s), spec_sha256(s));
  printf("tasks: %lld/%lld finished (%.1f%%)\n", (long long)(done + failed),
         (long long)total, total ? 100.0 * (double)(done + failed) / (double)total : 100.0);
  printf("done: %lld\nfailed: %lld\npending: %lld\n", (long long)done,
         (long long)failed, (long long)pending);
  for (int i = 0; i < nst; i++) {
    const struct spec_study *st = spec_study(s, i);
    int64_t d = 0, f = 0, p = 0;
    for (int g = 0; g < BANDIT_NREGIMES; g++)
      d += by[i][g][0], f += by[i][g][1], p += by[i][g][2];
    printf("\nstudy %s: %lld/%lld finished, %lld failed, %lld pending\n",
           st->name, (long long)(d + f), (long long)st->ntasks, (long long)f,
           (long long)p);
    for (int q = 0; q < st->len[SPEC_AXIS_REGIME]; q++) {
      int g = st->regime[q];
      printf("  %-11s %lld/%lld finished, %lld failed, %lld pending\n",
             bandit_regime_name((enum bandit_regime)g),
             (long long)(by[i][g][0] + by[i][g][1]),
             (long long)(by[i][g][0] + by[i][g][1] + by[i][g][2]),
             (long long)by[i][g][1], (long long)by[i][g][2]);
    }
  }
  struct store_run_info runs[64];
  int nruns = store_reader_runs(r, runs, 64);
  printf("\nruns: %d\n", nruns < 0 ? 0 : nruns);
  for (int i = 0; i < nruns && i < 64; i++) {
    char a[32], b[32];
    fmt_time(runs[i].start, a, sizeof a);
    fmt_time(runs[i].end, b, sizeof b);
    char after[32] = "?";
    if (runs[i].done_after >= 0)
      snprintf(after, sizeof after, "%lld", (long long)runs[i].done_after);
    printf("  %d: start %s, end %s, %d rank%s on %s, tasks done %lld -> %s\n",
           i + 1, a, isfinite(runs[i].end) ? b : "(not recorded: killed?)",
           runs[i].ranks, runs[i].ranks == 1 ? "" : "s", runs[i].hosts,
           (long long)runs[i].done_before, after);
  }
  printf("%s\n", pending == 0 ? "complete" : "incomplete");
  rc = pending == 0 ? ERR_EXIT_OK : ERR_EXIT_INCOMPLETE;
out:
  free(by);
  store_reader_close(&r);
  return rc;
}

int cli_sweep_command(const char *cmd, int argc, char **argv)
{
  if (strcmp(cmd, "run") == 0)
    return cli_run(argc, argv);
  if (strcmp(cmd, "plan") == 0)
    return cli_plan(argc, argv);
  if (strcmp(cmd, "status") == 0)
    return cli_status(argc, argv);
  return -1;
}
