/* cli_verify: "dposweep verify".  See include/dposweep/cli.h and
 * include/dposweep/verify.h. */
#include "dposweep/cli.h"
#include "dposweep/defaults.h"
#include "dposweep/text.h"
#include "dposweep/verify.h"

#include "cli_private.h"

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

enum { O_RECOMPUTE = 256, O_SEED, O_PROGRESS };

/* One of verify's options into the struct verify_options at ctx. */
static int verify_option(void *ctx, int c, const char *arg, struct err *e)
{
  struct verify_options *o = ctx;
  switch (c) {
  case O_RECOMPUTE: return recompute_arg(arg, o, e);
  case O_SEED: return seed_arg(arg, o, e);
  case O_PROGRESS:
    return cli_seconds_arg("--progress-interval", arg, &o->progress_interval,
                           e);
  case 'q': o->quiet = 1; return 0;
  }
  return 0; /* getopt_long returns no other option of verify's table */
}

/* verify's arguments into o: 0, or ERR_INPUT with the reason in e.
 * *help: --help came before any error (nothing after it is read). */
static int verify_options(int argc, char **argv, struct verify_options *o,
                          int *help, struct err *e)
{
  static const struct option opts[] = {
    {"recompute", required_argument, NULL, O_RECOMPUTE},
    {"seed", required_argument, NULL, O_SEED},
    {"progress-interval", required_argument, NULL, O_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  static const struct cli_options verify = {"verify", ":qh", opts,
                                            verify_option};
  int first, rc = cli_read_options(&verify, argc, argv, o, help, &first, e);
  if (rc || *help)
    return rc;
  return cli_file_operand("verify", argc, argv, first, &o->path, e);
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
