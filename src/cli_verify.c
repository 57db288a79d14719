/* cli_verify: "dposweep verify".  See include/dposweep/cli.h and
 * include/dposweep/verify.h. */
#include "dposweep/cli.h"
#include "dposweep/defaults.h"
#include "dposweep/text.h"
#include "dposweep/verify.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char verify_usage[] =
  "usage: [mpirun -n P] dposweep verify OUT.h5 [--recompute N|all]\n"
  "                                [--seed S] [options]\n"
  "\n"
  "Check that the results file OUT.h5 still holds the results that were\n"
  "computed: every finished task (done or failed) against its checksum\n"
  "(a CRC-32 of its rows, written with them), and that every task marked\n"
  "finished has rows.  Each failing task is named on its own line (study,\n"
  "index, coordinates, what failed), then a summary line.  Pending tasks\n"
  "are counted, not checked; on a file a run is writing, the tasks it\n"
  "finishes after verify has read the status bytes are not checked.\n"
  "Under mpirun the work is split among the ranks.\n"
  "\n"
  "  --recompute N|all        also recompute N finished tasks chosen at\n"
  "                           random (all: every one) with this dposweep's\n"
  "                           engine and compare them bit for bit with\n"
  "                           the stored rows (every metric at every\n"
  "                           recorded step, the final theta, the outcome);\n"
  "                           refused for a file of another numerics\n"
  "                           version\n"
  "  --seed S                 which tasks --recompute N chooses (default\n"
  "                           " DPOSWEEP_STR(DPOSWEEP_DEFAULT_VERIFY_SEED)
  "; the same seed, the same tasks)\n"
  "  --progress-interval SECONDS  progress lines when stderr is not a\n"
  "                           terminal (default "
  DPOSWEEP_STR(DPOSWEEP_DEFAULT_PROGRESS_INTERVAL) "; a terminal gets a live\n"
  "                           line)\n"
  "  -q, --quiet              no progress lines\n"
  "  -h, --help               print this help\n"
  "\n"
  "exit codes: 0 every finished task intact, 1 some task failed a check,\n"
  "2 bad arguments, or OUT.h5 is not a readable dposweep file (or\n"
  "--recompute on a file of another numerics version), 3 runtime failure\n";

/* --recompute's value: a count >= 0, or "all". */
static int recompute_arg(const char *arg, struct verify_options *o,
                         struct err *e)
{
  int64_t n;
  if (strcmp(arg, "all") == 0) {
    o->recompute_all = 1;
    return 0;
  }
  if (text_parse_i64(arg, 0, INT64_MAX, &n) != TEXT_OK)
    return err_set(e, ERR_INPUT,
                   "--recompute: must be a number of tasks >= 0 or 'all' "
                   "(got '%s')", arg);
  o->recompute_all = 0;
  o->recompute = n;
  return 0;
}

static int seed_arg(const char *arg, struct verify_options *o, struct err *e)
{
  if (text_parse_u64(arg, &o->seed) != TEXT_OK)
    return err_set(e, ERR_INPUT,
                   "--seed: must be an integer from 0 to 2^64-1 (got '%s')",
                   arg);
  return 0;
}

static int interval_arg(const char *arg, struct verify_options *o,
                        struct err *e)
{
  double v;
  if (text_parse_double(arg, &v) != TEXT_OK || !isfinite(v) || v < 0)
    return err_set(e, ERR_INPUT,
                   "--progress-interval: must be a number of seconds >= 0 "
                   "(got '%s')", arg);
  o->progress_interval = v;
  return 0;
}

/* verify's arguments into o: 0, or ERR_INPUT with the reason in e.
 * *help: --help came before any error (nothing after it is read). */
static int verify_options(int argc, char **argv, struct verify_options *o,
                          int *help, struct err *e)
{
  enum { O_RECOMPUTE = 256, O_SEED, O_PROGRESS };
  static const struct option opts[] = {
    {"recompute", required_argument, NULL, O_RECOMPUTE},
    {"seed", required_argument, NULL, O_SEED},
    {"progress-interval", required_argument, NULL, O_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  int rc = 0, c;
  optind = 1;
  opterr = 0;
  while (rc == 0 && (c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
    switch (c) {
    case O_RECOMPUTE: rc = recompute_arg(optarg, o, e); break;
    case O_SEED: rc = seed_arg(optarg, o, e); break;
    case O_PROGRESS: rc = interval_arg(optarg, o, e); break;
    case 'q': o->quiet = 1; break;
    case 'h': *help = 1; return 0;
    case ':':
      rc = err_set(e, ERR_INPUT, "%s: needs a value", argv[optind - 1]);
      break;
    default:
      rc = err_set(e, ERR_INPUT,
                   "%s: unknown option (see dposweep verify --help)",
                   argv[optind - 1]);
    }
  }
  if (rc)
    return rc;
  if (argc - optind != 1)
    return err_set(e, ERR_INPUT, "%s (usage: dposweep verify OUT.h5)",
                   argc - optind < 1 ? "needs a results file"
                                     : "one results file at most");
  o->path = argv[optind];
  return 0;
}

int cli_verify(int argc, char **argv)
{
  struct verify_options o = {
    .seed = DPOSWEEP_DEFAULT_VERIFY_SEED,
    .progress_interval = DPOSWEEP_DEFAULT_PROGRESS_INTERVAL,
  };
  struct err e;
  int help = 0;
  err_clear(&e);
  int rc = verify_options(argc, argv, &o, &help, &e);
  if (help) {
    fputs(verify_usage, stdout);
    return ERR_EXIT_OK;
  }
  if (rc == 0 && o.path[0] == '\0')
    rc = err_set(&e, ERR_INPUT, "OUT.h5: empty file name");
  /* Every rank parses the same arguments; verify_main has rank 0 alone
   * print a usage error, once MPI is up. */
  return verify_main(&o, rc ? e.msg : NULL);
}
