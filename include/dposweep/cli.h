/* cli: the dposweep command line (sim, plan, run, status).
 * Not collective, except cli_main for "run", which initializes MPI. */
#ifndef DPOSWEEP_CLI_H
#define DPOSWEEP_CLI_H

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

/* "dposweep run", "plan", "status"; returns -1 for another command. */
int cli_sweep_command(const char *cmd, int argc, char **argv);

#endif
