/* cli: the dposweep command line (sim, plan, run, status).
 * Not collective, except cli_main for "run", which initializes MPI. */
#ifndef DPOSWEEP_CLI_H
#define DPOSWEEP_CLI_H

#include "dposweep/bandit.h"

/* Exit codes of every command (design.md). */
enum cli_exit {
  CLI_OK = 0,
  CLI_INCOMPLETE = 1, /* status: not complete; run: interrupted */
  CLI_USAGE = 2,      /* usage or input error */
  CLI_FAILURE = 3     /* runtime failure (I/O, out of memory) */
};

/* Run one dposweep command; returns its exit code. */
int cli_main(int argc, char **argv);

/* "dposweep sim": one task, CSV on stdout. */
int cli_sim(int argc, char **argv);

/* The parsed and checked arguments of "dposweep sim". */
struct cli_sim_args {
  struct bandit_params p; /* p.reward_values points into rewards */
  double *rewards;        /* explicit reward list, or NULL */
  int help;               /* --help was given: nothing else was checked */
};

/* Parse and check sim's arguments: CLI_OK, or CLI_USAGE after printing one
 * line naming the flag.  Free with cli_sim_args_free (also after an
 * error). */
int cli_sim_parse(int argc, char **argv, struct cli_sim_args *a);
void cli_sim_args_free(struct cli_sim_args *a);

/* "dposweep run", "plan", "status"; returns -1 for another command. */
int cli_sweep_command(const char *cmd, int argc, char **argv);

#endif
