/* cli: the command table and dispatch.  See include/dposweep/cli.h. */
#include "dposweep/cli.h"

#include "cli_private.h"
#include "dposweep/text.h"
#include "version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every command: its name, the line the main usage shows, its function. */
static const struct cli_command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
} commands[] = {
  {"sim", "run one task, print its trajectory as CSV", cli_sim},
  {"plan", "check a sweep spec, print its tasks, cost and output size",
   cli_plan},
  {"run", "run a sweep (under mpirun for several ranks), resumable", cli_run},
  {"status", "summarize a results file", cli_status},
  {"merge", "merge results files into one (the union of their specs)",
   cli_merge},
  {"verify", "check a results file's checksums, recompute tasks", cli_verify},
};

/* The usage and the help texts are not checked for write errors: a reader
 * that went away has no use for an exit code, and nothing else changes. */
static void print_usage(FILE *f)
{
  fputs("usage: dposweep COMMAND [options]\n"
        "\n"
        "Parameter sweeps of online DPO on bandits, as one MPI job, into one\n"
        "parallel HDF5 file.\n"
        "\n"
        "commands:\n",
        f);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fputs("  --version  print the version and git revision\n"
        "\n"
        "'dposweep COMMAND --help' documents each command.\n"
        "exit codes: 0 success, 1 incomplete, interrupted or damaged (verify),\n"
        "2 usage or input error, 3 runtime failure\n",
        f);
}

/* The engine's instruction-set path, once per process before any task:
 * DPOSWEEP_ISA=baseline|avx2|avx512|auto (unset: auto).  Every path gives
 * the same bits; forcing one is for tests and comparisons. */
static int select_isa(void)
{
  struct err e;
  int rc = bandit_isa_select(getenv("DPOSWEEP_ISA"), &e);
  if (rc != 0) {
    err_prefix(&e, "DPOSWEEP_ISA: ");
    err_print(&e, "dposweep");
  }
  return rc;
}

int cli_main(int argc, char **argv)
{
  if (argc < 2) {
    print_usage(stderr);
    return ERR_EXIT_USAGE;
  }
  int rc = select_isa();
  if (rc != 0)
    return err_exit_code(rc);
  const char *cmd = argv[1];
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(cmd, commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    print_usage(stdout);
    return ERR_EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("dposweep %s (git %s, engine path %s, numerics %d)\n",
           DPOSWEEP_VERSION, DPOSWEEP_GIT_REVISION, bandit_isa_name(),
           BANDIT_NUMERICS_VERSION);
    return ERR_EXIT_OK;
  }
  char word[64];
  snprintf(word, sizeof word, "%s", cmd);
  text_one_line(word);
  fprintf(stderr, "dposweep: unknown command '%s' (see dposweep --help)\n",
          word);
  return ERR_EXIT_USAGE;
}

/* ---- what the commands share (cli_private.h) ---- */

int cli_read_options(const struct cli_options *o, int argc, char **argv,
                     void *ctx, int *help, int *first, struct err *e)
{
  int rc = 0, c;
  optind = 0; /* full reinitialization: a parser may run many times */
  opterr = 0;
  while (rc == 0 &&
         (c = getopt_long(argc, argv, o->shortopts, o->longopts, NULL)) != -1) {
    switch (c) {
    case 'h': *help = 1; break;
    case ':':
      rc = err_set(e, ERR_INPUT, "%s: needs a value", argv[optind - 1]);
      break;
    case '?':
      rc = err_set(e, ERR_INPUT, "%s: unknown option (see dposweep %s --help)",
                   argv[optind - 1], o->cmd);
      break;
    default: rc = o->take(ctx, c, optarg, e);
    }
    if (*help)
      break;
  }
  if (rc == 0)
    *first = optind;
  return rc;
}

int cli_spec_operand(int argc, char **argv, int first, const char **spec,
                     struct err *e)
{
  if (argc - first > 1)
    return err_set(e, ERR_INPUT, "%s: unexpected argument (one SPEC at most)",
                   argv[first + 1]);
  *spec = first < argc ? argv[first] : NULL;
  return 0;
}

int cli_file_operand(const char *cmd, int argc, char **argv, int first,
                     const char **path, struct err *e)
{
  if (argc - first != 1)
    return err_set(e, ERR_INPUT, "%s (usage: dposweep %s OUT.h5)",
                   argc - first < 1 ? "needs a results file"
                                    : "one results file at most",
                   cmd);
  *path = argv[first];
  return 0;
}

int cli_format_arg(const char *arg, int *kv, struct err *e)
{
  if (strcmp(arg, "kv") != 0 && strcmp(arg, "text") != 0)
    return err_set(e, ERR_INPUT, "--format: unknown format '%s' (text, kv)",
                   arg);
  *kv = strcmp(arg, "kv") == 0;
  return 0;
}

int cli_seconds_arg(const char *flag, const char *arg, double *out,
                    struct err *e)
{
  double v;
  if (text_parse_double(arg, &v) != TEXT_OK || !isfinite(v) || v < 0)
    return err_set(e, ERR_INPUT,
                   "%s: must be a number of seconds >= 0 (got '%s')", flag,
                   arg);
  *out = v;
  return 0;
}
