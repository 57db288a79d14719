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
  "usage: dposweep status OUT.h5 [--format=text|kv]\n"
  "\n"
  "Summarize a results file: done/total, failed, pending, a breakdown by\n"
  "study and regime, and the runs recorded in the file.\n"
  "\n"
  "  --format=text  for people (the default)\n"
  "  --format=kv    for scripts: one key=value per line, in this order:\n"
  "                 file, spec_name, spec_sha256, total, done, failed,\n"
  "                 pending, state (complete|incomplete), runs, then per\n"
  "                 study study.NAME.total, .done, .failed, .pending\n"
  "  -h, --help     print this help\n"
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

/* Task counts of a file: per study and regime, [0] done, [1] failed,
 * [2] pending. */
struct status_counts {
  int nstudies;
  int64_t (*by)[BANDIT_NREGIMES][3];
  int64_t done, failed, pending;
};

static int count_tasks(struct store_reader *r, struct status_counts *c,
                       struct err *e)
{
  const struct spec *s = store_reader_spec(r);
  c->nstudies = spec_nstudies(s);
  if (!(c->by = calloc((size_t)c->nstudies, sizeof *c->by)))
    return err_set(e, ERR_RUNTIME, "out of memory");
  for (int i = 0; i < c->nstudies; i++) {
    const struct spec_study *st = spec_study(s, i);
    uint8_t *status = malloc((size_t)st->ntasks);
    if (!status)
      return err_set(e, ERR_RUNTIME, "out of memory");
    if (store_reader_status(r, i, status, e) != 0) {
      free(status);
      return e->code;
    }
    for (int64_t t = 0; t < st->ntasks; t++) {
      struct spec_coords co;
      spec_coords_of(st, t, &co);
      int k = status[t] == TASK_DONE ? 0 : (status[t] == TASK_FAILED ? 1 : 2);
      c->by[i][st->regime[co.pos[SPEC_AXIS_REGIME]]][k]++;
    }
    free(status);
    for (int g = 0; g < BANDIT_NREGIMES; g++) {
      c->done += c->by[i][g][0];
      c->failed += c->by[i][g][1];
      c->pending += c->by[i][g][2];
    }
  }
  return 0;
}

/* One study's totals: [0] done, [1] failed, [2] pending. */
static void study_totals(const struct status_counts *c, int i, int64_t out[3])
{
  out[0] = out[1] = out[2] = 0;
  for (int g = 0; g < BANDIT_NREGIMES; g++)
    for (int k = 0; k < 3; k++)
      out[k] += c->by[i][g][k];
}

static void print_runs(struct store_reader *r)
{
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
}

static void print_status_text(const char *path, struct store_reader *r,
                              const struct status_counts *c)
{
  const struct spec *s = store_reader_spec(r);
  int64_t total = spec_ntasks(s), finished = c->done + c->failed;
  printf("file: %s\nspec: %s (sha256 %s)\n", path, spec_name(s), spec_sha256(s));
  printf("tasks: %lld/%lld finished (%.1f%%)\n", (long long)finished,
         (long long)total,
         total ? 100.0 * (double)finished / (double)total : 100.0);
  printf("done: %lld\nfailed: %lld\npending: %lld\n", (long long)c->done,
         (long long)c->failed, (long long)c->pending);
  for (int i = 0; i < c->nstudies; i++) {
    const struct spec_study *st = spec_study(s, i);
    int64_t n[3];
    study_totals(c, i, n);
    printf("\nstudy %s: %lld/%lld finished, %lld failed, %lld pending\n",
           st->name, (long long)(n[0] + n[1]), (long long)st->ntasks,
           (long long)n[1], (long long)n[2]);
    for (int q = 0; q < st->len[SPEC_AXIS_REGIME]; q++) {
      const int64_t *g = c->by[i][st->regime[q]];
      printf("  %-11s %lld/%lld finished, %lld failed, %lld pending\n",
             bandit_regime_name(st->regime[q]), (long long)(g[0] + g[1]),
             (long long)(g[0] + g[1] + g[2]), (long long)g[1], (long long)g[2]);
    }
  }
  print_runs(r);
  printf("%s\n", c->pending == 0 ? "complete" : "incomplete");
}

/* --format=kv: the contract with scripts (jobs/); keys never change
 * meaning, new keys are only ever appended. */
static void print_status_kv(const char *path, struct store_reader *r,
                            const struct status_counts *c)
{
  const struct spec *s = store_reader_spec(r);
  struct store_run_info runs[1];
  int nruns = store_reader_runs(r, runs, 1);
  printf("file=%s\nspec_name=%s\nspec_sha256=%s\n", path, spec_name(s),
         spec_sha256(s));
  printf("total=%lld\ndone=%lld\nfailed=%lld\npending=%lld\n",
         (long long)spec_ntasks(s), (long long)c->done, (long long)c->failed,
         (long long)c->pending);
  printf("state=%s\nruns=%d\n", c->pending == 0 ? "complete" : "incomplete",
         nruns < 0 ? 0 : nruns);
  for (int i = 0; i < c->nstudies; i++) {
    const struct spec_study *st = spec_study(s, i);
    int64_t n[3];
    study_totals(c, i, n);
    printf("study.%s.total=%lld\nstudy.%s.done=%lld\nstudy.%s.failed=%lld\n"
           "study.%s.pending=%lld\n",
           st->name, (long long)st->ntasks, st->name, (long long)n[0], st->name,
           (long long)n[1], st->name, (long long)n[2]);
  }
}

static int cli_status(int argc, char **argv)
{
  enum { O_FORMAT = 256 };
  static const struct option opts[] = {
    {"format", required_argument, NULL, O_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  int kv = 0, c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case 'h': fputs(status_usage, stdout); return ERR_EXIT_OK;
    case O_FORMAT:
      if (strcmp(optarg, "kv") == 0 || strcmp(optarg, "text") == 0) {
        kv = strcmp(optarg, "kv") == 0;
        break;
      }
      fprintf(stderr, "dposweep status: --format: unknown format '%s' (text, "
                      "kv)\n", optarg);
      return ERR_EXIT_USAGE;
    case ':':
      fprintf(stderr, "dposweep status: %s: needs a value\n", argv[optind - 1]);
      return ERR_EXIT_USAGE;
    default:
      fprintf(stderr, "dposweep status: %s: unknown option (see dposweep "
                      "status --help)\n", argv[optind - 1]);
      return ERR_EXIT_USAGE;
    }
  }
  if (argc - optind != 1) {
    fprintf(stderr, "dposweep status: %s (usage: dposweep status OUT.h5)\n",
            argc - optind < 1 ? "needs a results file"
                              : "one results file at most");
    return ERR_EXIT_USAGE;
  }
  const char *path = argv[optind];
  struct store_reader *r = NULL;
  struct status_counts counts = {0};
  struct err e;
  /* The reader's messages name the file; a failure reading it says which. */
  int rc = store_reader_open(path, &r, &e);
  if (rc == 0 && (rc = count_tasks(r, &counts, &e)) != 0)
    err_prefix(&e, "%s: ", path);
  if (rc != 0) {
    err_print(&e, "dposweep status");
    rc = ERR_EXIT_USAGE;
  } else {
    if (kv)
      print_status_kv(path, r, &counts);
    else
      print_status_text(path, r, &counts);
    rc = counts.pending == 0 ? ERR_EXIT_OK : ERR_EXIT_INCOMPLETE;
  }
  free(counts.by);
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
