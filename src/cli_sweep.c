/* cli_sweep: "dposweep run", "plan" and "status".  See
 * include/dposweep/cli.h. */
#include "dposweep/cli.h"
#include "dposweep/defaults.h"
#include "dposweep/lock.h"
#include "dposweep/spec.h"
#include "dposweep/store.h"
#include "dposweep/sweep.h"
#include "dposweep/task.h"
#include "dposweep/text.h"

#include "cli_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- run ---- */

static const char run_usage[] =
  "usage: [mpirun -n P] dposweep run [SPEC] [-o OUT.h5] [--reuse OLD.h5 ...]\n"
  "                                  [options]\n"
  "\n"
  "Run every task of the sweep spec SPEC (YAML; without SPEC the embedded\n"
  "default, the paper's study, also shipped as jobs/paper.yaml) and write\n"
  "the results into OUT.h5 (default " DPOSWEEP_DEFAULT_OUTPUT ").  Rank 0\n"
  "coordinates, the other ranks compute; one rank does both.\n"
  "\n"
  "If OUT.h5 exists and holds the same spec, the run continues it: only\n"
  "tasks not yet done are run, so the same command line serves every link\n"
  "of a job chain.  If it holds another spec, or is not a dposweep file,\n"
  "the run refuses and leaves it untouched; so it does, --force or not,\n"
  "while another run owns it (the lock file OUT.h5.lock).\n"
  "\n"
  "Growing a sweep: with --reuse OLD.h5, a new OUT.h5 starts with every task\n"
  "of SPEC that is the same task as a finished task of OLD.h5 (same values,\n"
  "whatever the study names; its steps recorded there) copied, and runs\n"
  "the rest.  OLD.h5 may be OUT.h5 itself: it is then grown in place, the\n"
  "new file built under a temporary name and renamed over it when\n"
  "complete.  An OUT.h5 that already holds SPEC is resumed.\n"
  "\n"
  "  -o, --output FILE        results file (default " DPOSWEEP_DEFAULT_OUTPUT ")\n"
  "  --reuse FILE             copy the finished tasks of SPEC that FILE holds\n"
  "                           (a results file, also OUT.h5 itself); may be\n"
  "                           given several times, the first file that has a\n"
  "                           task provides it\n"
  "  --force                  start over even if OUT.h5 holds this spec, or\n"
  "                           replace a dposweep file of another spec (still\n"
  "                           reusing from the --reuse files)\n"
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
  "output holds another spec / is not a dposweep file / is in use, or a\n"
  "--reuse file is not a readable results file, 3 I/O\n"
  "failure (or the output was replaced, or its lock taken, during the run)\n";

/* A duration that must also be > 0. */
static int positive_seconds_arg(const char *flag, const char *arg,
                                double *out, struct err *e)
{
  int rc = cli_seconds_arg(flag, arg, out, e);
  if (rc == 0 && *out <= 0)
    return err_set(e, ERR_INPUT, "%s: must be > 0", flag);
  return rc;
}

/* What run's options go into. */
struct run_parse {
  struct sweep_options *o;
  const char **reuse; /* room for every --reuse */
};

enum { O_FORCE = 256, O_GRACE, O_FLUSH, O_PROGRESS, O_CHUNK, O_STATS,
       O_REUSE, O_LIST, O_FORMAT };

/* One of run's options into the struct run_parse at ctx. */
static int run_option(void *ctx, int c, const char *arg, struct err *e)
{
  struct run_parse *rp = ctx;
  struct sweep_options *o = rp->o;
  switch (c) {
  case 'o': o->output = arg; return 0;
  case O_REUSE:
    rp->reuse[o->nreuse++] = arg;
    return arg[0] ? 0 : err_set(e, ERR_INPUT, "--reuse: empty file name");
  case O_FORCE: o->force = 1; return 0;
  case O_GRACE: return cli_seconds_arg("--grace", arg, &o->grace, e);
  case O_FLUSH:
    return positive_seconds_arg("--flush-interval", arg, &o->flush_interval,
                                e);
  case O_PROGRESS:
    return cli_seconds_arg("--progress-interval", arg, &o->progress_interval,
                           e);
  case O_CHUNK:
    return positive_seconds_arg("--chunk-seconds", arg, &o->chunk_seconds, e);
  case 'q': o->quiet = 1; return 0;
  case O_STATS: o->stats = 1; return 0;
  }
  return 0; /* getopt_long returns no other option of run's table */
}

/* run's arguments into o: 0, or ERR_INPUT with the reason in e.  *help:
 * --help came before any error (nothing after it is read). */
static int run_options(int argc, char **argv, struct sweep_options *o,
                       const char **reuse, int *help, struct err *e)
{
  static const struct option opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"reuse", required_argument, NULL, O_REUSE},
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
  static const struct cli_options run = {"run", ":o:qh", opts, run_option};
  struct run_parse rp = {o, reuse};
  int first, rc = cli_read_options(&run, argc, argv, &rp, help, &first, e);
  if (rc || *help)
    return rc;
  if ((rc = cli_spec_operand(argc, argv, first, &o->spec_path, e)))
    return rc;
  if (o->output[0] == '\0')
    return err_set(e, ERR_INPUT, "--output: empty file name");
  return 0;
}

int cli_run(int argc, char **argv)
{
  struct sweep_options o = {
    .output = DPOSWEEP_DEFAULT_OUTPUT,
    .grace = DPOSWEEP_DEFAULT_GRACE,
    .flush_interval = DPOSWEEP_DEFAULT_FLUSH_INTERVAL,
    .progress_interval = DPOSWEEP_DEFAULT_PROGRESS_INTERVAL,
    .chunk_seconds = DPOSWEEP_DEFAULT_CHUNK_SECONDS,
  };
  struct err e;
  int help = 0;
  err_clear(&e);
  /* Each --reuse takes an argument: at most argc of them. */
  const char **reuse = calloc((size_t)argc + 1, sizeof *reuse);
  if (!reuse) {
    err_set(&e, ERR_RUNTIME, "out of memory");
    err_print(&e, "dposweep run");
    return ERR_EXIT_RUNTIME;
  }
  int rc = run_options(argc, argv, &o, reuse, &help, &e);
  o.reuse = reuse;
  if (help) {
    fputs(run_usage, stdout);
    free(reuse);
    return ERR_EXIT_OK;
  }
  /* Every rank parses the same arguments; sweep_main has rank 0 alone
   * print a usage error, once MPI is up. */
  rc = sweep_main(&o, rc ? e.msg : NULL);
  free(reuse);
  return rc;
}

/* ---- plan ---- */

static const char plan_usage[] =
  "usage: dposweep plan [SPEC] [--list] [--format=text|kv]\n"
  "\n"
  "Check the sweep spec SPEC (default: the embedded paper spec) and print\n"
  "its size: 'tasks: N' over all studies, then per study its tasks, axes,\n"
  "relative cost (sum of K^2 * iterations, plus samples * iterations for\n"
  "sampled tasks) and output size in bytes.\n"
  "\n"
  "  --list         also print one CSV line per task: study, index,\n"
  "                 regime, arms, beta, sigma, samples, eta, ref_spread,\n"
  "                 seed (the seed's value)\n"
  "  --format=text  for people (the default)\n"
  "  --format=kv    for scripts: one key=value per line, in this order:\n"
  "                 tasks, spec_name, sha256, master_seed, studies,\n"
  "                 relative_cost, output_bytes, then per study\n"
  "                 study.NAME.tasks, .relative_cost, .output_bytes\n"
  "  -h, --help     print this help\n"
  "\n"
  "A bad spec prints one line naming the study and the key; exit code 2.\n";

/* What plan prints. */
struct plan_options {
  int list; /* --list */
  int kv;   /* --format=kv */
  const char *spec_path; /* SPEC, or NULL for the embedded default */
};

/* One of plan's options into the struct plan_options at ctx. */
static int plan_option(void *ctx, int c, const char *arg, struct err *e)
{
  struct plan_options *o = ctx;
  if (c == O_LIST) {
    o->list = 1;
    return 0;
  }
  return cli_format_arg(arg, &o->kv, e); /* O_FORMAT */
}

/* plan's arguments: 0, or ERR_INPUT with the reason in e.  *help: --help
 * came before any error. */
static int plan_options(int argc, char **argv, struct plan_options *o,
                        int *help, struct err *e)
{
  static const struct option opts[] = {
    {"list", no_argument, NULL, O_LIST},
    {"format", required_argument, NULL, O_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  static const struct cli_options plan = {"plan", ":h", opts, plan_option};
  int first, rc = cli_read_options(&plan, argc, argv, o, help, &first, e);
  if (rc || *help)
    return rc;
  return cli_spec_operand(argc, argv, first, &o->spec_path, e);
}

/* The spec at path, or the embedded default when path is NULL. */
static int load_spec(const char *path, struct spec **s, struct err *e)
{
  if (path)
    return spec_load_file(path, s, e);
  const char *text = spec_default_text();
  return spec_load_text(text, strlen(text), "(default spec)", s, e);
}

static double total_cost(const struct spec *s)
{
  double cost = 0.0;
  for (int i = 0; i < spec_nstudies(s); i++)
    cost += spec_study_cost(spec_study(s, i));
  return cost;
}

/* The sweep's totals, then one block per study. */
static void print_plan(const struct spec *s)
{
  const double total = total_cost(s);
  printf("tasks: %lld\n", (long long)spec_ntasks(s));
  printf("spec: %s\nsha256: %s\nmaster_seed: %llu\nstudies: %d\n", spec_name(s),
         spec_sha256(s), (unsigned long long)spec_master_seed(s),
         spec_nstudies(s));
  printf("relative cost: %.6g\n", total);
  printf("output bytes: %lld\n", (long long)store_predicted_size(s));
  printf("axis order:");
  for (int a = 0; a < SPEC_NAXES; a++)
    printf("%s %s", a ? "," : "", spec_axis_name((enum spec_axis)a));
  printf(" (%s fastest)\n", spec_axis_name(SPEC_NAXES - 1));
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
           total > 0 ? 100.0 * cost / total : 0.0);
    printf("  output bytes: %lld\n", (long long)store_study_bytes(st));
  }
}

/* --format=kv: the contract with scripts; keys never change meaning, new
 * keys are only ever appended.  Costs with 17 digits (they round-trip). */
static void print_plan_kv(const struct spec *s)
{
  printf("tasks=%lld\nspec_name=%s\nsha256=%s\nmaster_seed=%llu\n"
         "studies=%d\n",
         (long long)spec_ntasks(s), spec_name(s), spec_sha256(s),
         (unsigned long long)spec_master_seed(s), spec_nstudies(s));
  printf("relative_cost=%.17g\noutput_bytes=%lld\n", total_cost(s),
         (long long)store_predicted_size(s));
  for (int i = 0; i < spec_nstudies(s); i++) {
    const struct spec_study *st = spec_study(s, i);
    printf("study.%s.tasks=%lld\nstudy.%s.relative_cost=%.17g\n"
           "study.%s.output_bytes=%lld\n",
           st->name, (long long)st->ntasks, st->name, spec_study_cost(st),
           st->name, (long long)store_study_bytes(st));
  }
}

/* --list: one CSV line per task, its coordinates as values; ref_spread
 * came later than the other columns and sits before seed, in index
 * order. */
static void print_task_list(const struct spec *s)
{
  printf("\nstudy,index,regime,arms,beta,sigma,samples,eta,ref_spread,seed\n");
  for (int i = 0; i < spec_nstudies(s); i++) {
    const struct spec_study *st = spec_study(s, i);
    for (int64_t t = 0; t < st->ntasks; t++) {
      struct spec_coords c;
      spec_coords_of(st, t, &c);
      const int64_t *pos = c.pos;
      printf("%s,%lld,%s,%d,%.17g,%.17g,%lld,", st->name, (long long)t,
             bandit_regime_name(st->regime[pos[SPEC_AXIS_REGIME]]),
             st->arms[pos[SPEC_AXIS_ARMS]], st->beta[pos[SPEC_AXIS_BETA]],
             st->sigma[pos[SPEC_AXIS_SIGMA]],
             (long long)st->samples[pos[SPEC_AXIS_SAMPLES]]);
      if (st->eta_theory[pos[SPEC_AXIS_ETA]])
        printf("theory");
      else
        printf("%.17g", st->eta[pos[SPEC_AXIS_ETA]]);
      printf(",%.17g,%llu\n", st->ref_spread[pos[SPEC_AXIS_REF_SPREAD]],
             (unsigned long long)spec_seed(st, pos[SPEC_AXIS_SEED]));
    }
  }
}

int cli_plan(int argc, char **argv)
{
  struct spec *s = NULL;
  struct plan_options o = {.list = 0};
  int help = 0;
  struct err e;
  err_clear(&e);
  int rc = plan_options(argc, argv, &o, &help, &e);
  if (help) {
    fputs(plan_usage, stdout);
    return ERR_EXIT_OK;
  }
  if (rc == 0)
    rc = load_spec(o.spec_path, &s, &e);
  if (rc)
    goto out;
  if (o.kv)
    print_plan_kv(s);
  else
    print_plan(s);
  if (o.list)
    print_task_list(s);
  /* Write errors stick to stdout: one check at the end sees them all. */
  if (fflush(stdout) != 0 || ferror(stdout))
    rc = err_set(&e, ERR_RUNTIME, "cannot write the output");
out:
  if (rc)
    err_print(&e, "dposweep plan");
  spec_destroy(&s);
  return err_exit_code(rc);
}

/* ---- status ---- */

static const char status_usage[] =
  "usage: dposweep status OUT.h5 [--format=text|kv]\n"
  "\n"
  "Summarize a results file: done/total, failed, pending, a breakdown by\n"
  "study and regime, the numerics version of its results, the files it was\n"
  "built from (by a run reusing their tasks, or a merge) and how many tasks\n"
  "each provided, the runs recorded in the file, and its owner (the run\n"
  "writing it now, if any).\n"
  "\n"
  "  --format=text  for people (the default)\n"
  "  --format=kv    for scripts: one key=value per line, in this order:\n"
  "                 file, spec_name, spec_sha256, total, done, failed,\n"
  "                 pending, state (complete|incomplete), runs, then per\n"
  "                 study study.NAME.total, .done, .failed, .pending,\n"
  "                 then owner (who is writing the file now, empty when\n"
  "                 nobody), owner_job and owner_expires (its SLURM job\n"
  "                 and lease end, seconds since the epoch), then numerics\n"
  "                 (the numerics version of the file's results), then\n"
  "                 sources (how many files it was built from)\n"
  "  -h, --help     print this help\n"
  "\n"
  "exit codes: 0 complete, 1 not complete, 2 not a readable dposweep file\n";

/* A run's time (seconds since the epoch) in UTC, ISO 8601; "-" for one
 * not recorded (NaN) or out of the calendar's range (a damaged file). */
static void fmt_time(double t, char *buf, size_t len)
{
  const double year_10000 = 253402300800.0;
  struct tm tm;
  if (!isfinite(t) || fabs(t) >= year_10000) {
    snprintf(buf, len, "-");
    return;
  }
  time_t s = (time_t)t;
  if (!gmtime_r(&s, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, len, "-");
}

/* How many tasks are in each state. */
struct task_counts {
  int64_t done, failed, pending;
};

/* A file's task counts: per study and regime, and over all. */
struct status_counts {
  int nstudies;
  struct task_counts (*by_regime)[BANDIT_NREGIMES]; /* [study][regime] */
  struct task_counts all;
};

static void count_one(struct task_counts *c, uint8_t status)
{
  if (status == TASK_DONE)
    c->done++;
  else if (status == TASK_FAILED)
    c->failed++;
  else /* TASK_PENDING; a file never holds TASK_HANDED */
    c->pending++;
}

static void add_counts(struct task_counts *sum, const struct task_counts *c)
{
  sum->done += c->done;
  sum->failed += c->failed;
  sum->pending += c->pending;
}

static int count_tasks(struct store_reader *r, struct status_counts *c,
                       struct err *e)
{
  const struct spec *s = store_reader_spec(r);
  c->nstudies = spec_nstudies(s);
  if (!(c->by_regime = calloc((size_t)c->nstudies, sizeof *c->by_regime)))
    return err_set(e, ERR_RUNTIME, "out of memory");
  for (int i = 0; i < c->nstudies; i++) {
    const struct spec_study *st = spec_study(s, i);
    uint8_t *status = malloc((size_t)st->ntasks);
    if (!status)
      return err_set(e, ERR_RUNTIME, "out of memory");
    int rc = store_reader_status(r, i, status, e);
    if (rc) {
      free(status);
      return rc;
    }
    for (int64_t t = 0; t < st->ntasks; t++) {
      struct spec_coords co;
      spec_coords_of(st, t, &co);
      count_one(&c->by_regime[i][st->regime[co.pos[SPEC_AXIS_REGIME]]],
                status[t]);
    }
    free(status);
    for (int g = 0; g < BANDIT_NREGIMES; g++)
      add_counts(&c->all, &c->by_regime[i][g]);
  }
  return 0;
}

/* One study's counts, over its regimes. */
static struct task_counts study_counts(const struct status_counts *c, int i)
{
  struct task_counts sum = {0, 0, 0};
  for (int g = 0; g < BANDIT_NREGIMES; g++)
    add_counts(&sum, &c->by_regime[i][g]);
  return sum;
}

/* The text format lists at most this many runs (the count is complete). */
#define STATUS_RUNS_SHOWN 64

static void print_runs(struct store_reader *r)
{
  struct store_run_info runs[STATUS_RUNS_SHOWN];
  int nruns = store_reader_runs(r, runs, STATUS_RUNS_SHOWN);
  printf("\nruns: %d\n", nruns < 0 ? 0 : nruns);
  for (int i = 0; i < nruns && i < STATUS_RUNS_SHOWN; i++) {
    char start[32], end[32];
    fmt_time(runs[i].start, start, sizeof start);
    fmt_time(runs[i].end, end, sizeof end);
    char after[32] = "?";
    if (runs[i].done_after >= 0)
      snprintf(after, sizeof after, "%lld", (long long)runs[i].done_after);
    printf("  %d: start %s, end %s, %d rank%s on %s, tasks done %lld -> %s\n",
           i + 1, start,
           isfinite(runs[i].end) ? end : "(not recorded: killed?)",
           runs[i].ranks, runs[i].ranks == 1 ? "" : "s", runs[i].hosts,
           (long long)runs[i].done_before, after);
    printf("     nodes %s, engine %s\n", runs[i].nodes[0] ? runs[i].nodes : "-",
           runs[i].isa[0] ? runs[i].isa : "-");
  }
}

/* The files a file was built from (/sources: run --reuse, merge), and
 * how many of its finished tasks each provided (tasks/origin_source). */
struct source_counts {
  int n;
  struct store_source src[STORE_MAX_SOURCES];
  int64_t tasks[STORE_MAX_SOURCES];
};

/* Add one study's finished tasks to the counts of their sources. */
static int count_study_sources(struct store_reader *r, int study,
                               struct source_counts *c, struct err *e)
{
  const struct spec_study *st = spec_study(store_reader_spec(r), study);
  uint8_t *status = malloc((size_t)st->ntasks + 1);
  int32_t *origin = malloc(((size_t)st->ntasks + 1) * sizeof *origin);
  int rc = status && origin ? 0 : err_set(e, ERR_RUNTIME, "out of memory");
  if (rc == 0)
    rc = store_reader_status(r, study, status, e);
  if (rc == 0)
    rc = store_reader_origins(r, study, origin, e);
  for (int64_t t = 0; rc == 0 && t < st->ntasks; t++)
    if ((status[t] == TASK_DONE || status[t] == TASK_FAILED) &&
        origin[t] >= 0 && origin[t] < c->n)
      c->tasks[origin[t]]++;
  free(status);
  free(origin);
  return rc;
}

static int count_sources(struct store_reader *r, struct source_counts *c,
                         struct err *e)
{
  int rc = store_reader_sources(r, c->src, STORE_MAX_SOURCES, &c->n, e);
  if (c->n > STORE_MAX_SOURCES)
    c->n = STORE_MAX_SOURCES;
  /* A file made from no other has no task to count. */
  const int nstudies = spec_nstudies(store_reader_spec(r));
  for (int i = 0; rc == 0 && c->n > 0 && i < nstudies; i++)
    rc = count_study_sources(r, i, c, e);
  return rc;
}

static void print_sources(const struct source_counts *c)
{
  if (c->n == 0)
    return;
  printf("\nsources: %d\n", c->n);
  for (int i = 0; i < c->n; i++) {
    const struct store_source *s = &c->src[i];
    printf("  %d: %s: %lld tasks (spec sha256 %s, dposweep %s, git %s, "
           "numerics %d)\n",
           i + 1, s->path, (long long)c->tasks[i], s->spec_sha256,
           s->dposweep_version[0] ? s->dposweep_version : "?",
           s->git_revision[0] ? s->git_revision : "?", (int)s->numerics);
  }
}

/* The file's owner (lock.h): who is writing it now. */
struct owner_info {
  enum lock_state state;
  struct lock_owner o;
  char line[1024]; /* the owner, for people; or why it is unknown */
  int unreadable;
};

static void owner_of(const char *path, struct owner_info *w)
{
  struct err e;
  memset(w, 0, sizeof *w);
  if (lock_inspect(path, &w->o, &w->state, &e) != 0) {
    w->unreadable = 1;
    snprintf(w->line, sizeof w->line, "unknown (%s)", e.msg);
  } else if (w->state != LOCK_FREE) {
    lock_describe(&w->o, w->line, sizeof w->line);
  }
}

static void print_owner_text(const char *path)
{
  struct owner_info w;
  owner_of(path, &w);
  if (w.unreadable || w.state == LOCK_FREE) {
    printf("owner: %s\n", w.unreadable ? w.line : "none");
  } else if (w.state == LOCK_HELD) {
    char until[32];
    fmt_time((double)w.o.expires, until, sizeof until);
    printf("owner: %s, lease until %s (in use)\n", w.line, until);
  } else {
    const char *why = "";
    lock_judge(&w.o, (int64_t)time(NULL), &why);
    printf("owner: none (a stale lock of %s: %s; the next run takes it "
           "over)\n", w.line, why);
  }
}

/* owner=, owner_job=, owner_expires=: empty unless the file is in use
 * (or its lock cannot be read: then owner says why). */
static void print_owner_kv(const char *path)
{
  struct owner_info w;
  owner_of(path, &w);
  int held = !w.unreadable && w.state == LOCK_HELD;
  printf("owner=%s\nowner_job=%s\n", held || w.unreadable ? w.line : "",
         held ? w.o.job : "");
  if (held)
    printf("owner_expires=%lld\n", (long long)w.o.expires);
  else
    printf("owner_expires=\n");
}

/* The file's numerics version, and whether this dposweep can resume it. */
static void print_numerics(const struct store_reader *r)
{
  int v = store_reader_numerics(r);
  if (v == BANDIT_NUMERICS_VERSION)
    printf("numerics: %d\n", v);
  else
    printf("numerics: %d (this dposweep computes version %d: run refuses to "
           "resume it)\n", v, BANDIT_NUMERICS_VERSION);
}

static void print_status_text(const char *path, struct store_reader *r,
                              const struct status_counts *c,
                              const struct source_counts *sc)
{
  const struct spec *s = store_reader_spec(r);
  int64_t total = spec_ntasks(s), finished = c->all.done + c->all.failed;
  printf("file: %s\nspec: %s (sha256 %s)\n", path, spec_name(s), spec_sha256(s));
  print_owner_text(path);
  print_numerics(r);
  printf("tasks: %lld/%lld finished (%.1f%%)\n", (long long)finished,
         (long long)total,
         total ? 100.0 * (double)finished / (double)total : 100.0);
  printf("done: %lld\nfailed: %lld\npending: %lld\n", (long long)c->all.done,
         (long long)c->all.failed, (long long)c->all.pending);
  for (int i = 0; i < c->nstudies; i++) {
    const struct spec_study *st = spec_study(s, i);
    struct task_counts n = study_counts(c, i);
    printf("\nstudy %s: %lld/%lld finished, %lld failed, %lld pending\n",
           st->name, (long long)(n.done + n.failed), (long long)st->ntasks,
           (long long)n.failed, (long long)n.pending);
    for (int q = 0; q < st->len[SPEC_AXIS_REGIME]; q++) {
      const struct task_counts *g = &c->by_regime[i][st->regime[q]];
      printf("  %-11s %lld/%lld finished, %lld failed, %lld pending\n",
             bandit_regime_name(st->regime[q]), (long long)(g->done + g->failed),
             (long long)(g->done + g->failed + g->pending),
             (long long)g->failed, (long long)g->pending);
    }
  }
  print_sources(sc);
  print_runs(r);
  printf("%s\n", c->all.pending == 0 ? "complete" : "incomplete");
}

/* --format=kv: the contract with scripts (jobs/); keys never change
 * meaning, new keys are only ever appended. */
static void print_status_kv(const char *path, struct store_reader *r,
                            const struct status_counts *c,
                            const struct source_counts *sc)
{
  const struct spec *s = store_reader_spec(r);
  struct store_run_info runs[1];
  int nruns = store_reader_runs(r, runs, 1);
  printf("file=%s\nspec_name=%s\nspec_sha256=%s\n", path, spec_name(s),
         spec_sha256(s));
  printf("total=%lld\ndone=%lld\nfailed=%lld\npending=%lld\n",
         (long long)spec_ntasks(s), (long long)c->all.done,
         (long long)c->all.failed, (long long)c->all.pending);
  printf("state=%s\nruns=%d\n", c->all.pending == 0 ? "complete" : "incomplete",
         nruns < 0 ? 0 : nruns);
  for (int i = 0; i < c->nstudies; i++) {
    const struct spec_study *st = spec_study(s, i);
    struct task_counts n = study_counts(c, i);
    printf("study.%s.total=%lld\nstudy.%s.done=%lld\nstudy.%s.failed=%lld\n"
           "study.%s.pending=%lld\n",
           st->name, (long long)st->ntasks, st->name, (long long)n.done,
           st->name, (long long)n.failed, st->name, (long long)n.pending);
  }
  print_owner_kv(path);
  printf("numerics=%d\n", store_reader_numerics(r));
  printf("sources=%d\n", sc->n);
}

/* status's one option, --format, into the int at ctx. */
static int status_option(void *ctx, int c, const char *arg, struct err *e)
{
  (void)c; /* O_FORMAT */
  return cli_format_arg(arg, ctx, e);
}

/* status's arguments: 0, or ERR_INPUT with the reason in e.  *help:
 * --help came before any error. */
static int status_options(int argc, char **argv, int *kv, const char **path,
                          int *help, struct err *e)
{
  static const struct option opts[] = {
    {"format", required_argument, NULL, O_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  static const struct cli_options status = {"status", ":h", opts,
                                            status_option};
  int first, rc = cli_read_options(&status, argc, argv, kv, help, &first, e);
  if (rc || *help)
    return rc;
  return cli_file_operand("status", argc, argv, first, path, e);
}

int cli_status(int argc, char **argv)
{
  const char *path = NULL;
  struct store_reader *r = NULL;
  struct status_counts counts = {0};
  struct source_counts *sources = NULL;
  int kv = 0, help = 0;
  struct err e;
  err_clear(&e);
  int rc = status_options(argc, argv, &kv, &path, &help, &e);
  if (help) {
    fputs(status_usage, stdout);
    return ERR_EXIT_OK;
  }
  if (rc)
    goto out;
  /* The reader's messages name the file; a failure counting says which. */
  if ((rc = store_reader_open(path, &r, &e)))
    goto out;
  if ((rc = count_tasks(r, &counts, &e))) {
    err_prefix(&e, "%s: ", path);
    goto out;
  }
  if (!(sources = calloc(1, sizeof *sources))) {
    rc = err_set(&e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  if ((rc = count_sources(r, sources, &e))) {
    err_prefix(&e, "%s: ", path);
    goto out;
  }
  /* Write errors on stdout are not checked: the exit code alone (0 or 1)
   * carries the answer, and status changes nothing. */
  if (kv)
    print_status_kv(path, r, &counts, sources);
  else
    print_status_text(path, r, &counts, sources);
out:
  free(sources);
  free(counts.by_regime);
  store_reader_close(&r);
  if (rc) {
    err_print(&e, "dposweep status");
    /* The documented code of every failure here: 2, this is not a
     * readable dposweep file (jobs/ scripts rely on 0, 1 and 2 only). */
    return ERR_EXIT_USAGE;
  }
  return counts.all.pending == 0 ? ERR_EXIT_OK : ERR_EXIT_INCOMPLETE;
}
