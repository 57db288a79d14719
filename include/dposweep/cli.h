/* cli: the dposweep command line (sim, plan, run, status).
 * Not collective, except cli_main for "run", which initializes MPI. */
#ifndef DPOSWEEP_CLI_H
#define DPOSWEEP_CLI_H

#include "dposweep/bandit.h"
#include "dposweep/err.h"

/* Run one dposweep command; returns its exit code (enum err_exit). */
int cli_main(int argc, char **argv);

/* "dposweep sim": one task, CSV on stdout. */
int cli_sim(int argc, char **argv);

/* The parsed and checked arguments of "dposweep sim". */
struct cli_sim_args {
  struct bandit_params p; /* p.reward_values points into rewards */
  double *rewards;        /* explicit reward list, or NULL */
  int help;               /* --help was given: nothing else was checked */
};

/* Parse and check sim's arguments: ERR_EXIT_OK, or ERR_EXIT_USAGE after printing one
 * line naming the flag.  Free with cli_sim_args_free (also after an
 * error). */
int cli_sim_parse(int argc, char **argv, struct cli_sim_args *a);
void cli_sim_args_free(struct cli_sim_args *a);

/* "dposweep run", "plan", "status"; returns -1 for another command. */
int cli_sweep_command(const char *cmd, int argc, char **argv);

#endif
