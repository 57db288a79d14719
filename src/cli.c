/* cli: command dispatch. */
#include "dposweep/cli.h"

#include "dposweep/text.h"
#include "version.h"

#include <stdio.h>
#include <string.h>

static const char main_usage[] =
  "usage: dposweep COMMAND [options]\n"
  "\n"
  "Parameter sweeps of online DPO on bandits, as one MPI job, into one\n"
  "parallel HDF5 file.\n"
  "\n"
  "commands:\n"
  "  sim      run one task, print its trajectory as CSV\n"
  "  plan     check a sweep spec, print its tasks, cost and output size\n"
  "  run      run a sweep (under mpirun for several ranks), resumable\n"
  "  status   summarize a results file\n"
  "  --version  print the version and git revision\n"
  "\n"
  "'dposweep COMMAND --help' documents each command.\n"
  "exit codes: 0 success, 1 incomplete or interrupted, 2 usage or input\n"
  "error, 3 runtime failure\n";

int cli_main(int argc, char **argv)
{
  if (argc < 2) {
    fputs(main_usage, stderr);
    return ERR_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "sim") == 0)
    return cli_sim(argc - 1, argv + 1);
  int rc = cli_sweep_command(cmd, argc - 1, argv + 1);
  if (rc >= 0)
    return rc;
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    fputs(main_usage, stdout);
    return ERR_EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("dposweep %s (git %s)\n", DPOSWEEP_VERSION, DPOSWEEP_GIT_REVISION);
    return ERR_EXIT_OK;
  }
  char word[64];
  snprintf(word, sizeof word, "%s", cmd);
  text_one_line(word);
  fprintf(stderr, "dposweep: unknown command '%s' (see dposweep --help)\n",
          word);
  return ERR_EXIT_USAGE;
}
