/* cli: the dposweep command line (sim, plan, run, status, merge, verify).
 *
 * Every command takes its own argv (argv[0] is the command's name),
 * prints any error as one line "dposweep CMD: ..." on stderr and returns
 * its exit code (enum err_exit).  Not collective, except cli_run and
 * cli_verify (and cli_main for them), which initialize MPI and are
 * collective over the job. */
#ifndef DPOSWEEP_CLI_H
#define DPOSWEEP_CLI_H

#include "dposweep/bandit.h"
#include "dposweep/err.h"

/* Run the command argv[1] (or print the usage); returns its exit code. */
int cli_main(int argc, char **argv);

/* "dposweep sim": one task, CSV on stdout.  Not collective. */
int cli_sim(int argc, char **argv);

/* "dposweep plan": check a spec, print its size.  Not collective. */
int cli_plan(int argc, char **argv);

/* "dposweep run": the sweep.  Collective over the MPI job. */
int cli_run(int argc, char **argv);

/* "dposweep status": summarize a results file.  Not collective. */
int cli_status(int argc, char **argv);

/* "dposweep merge": results files merged into one.  Not collective. */
int cli_merge(int argc, char **argv);

/* "dposweep verify": check a results file's finished tasks (verify.h).
 * Collective over the MPI job. */
int cli_verify(int argc, char **argv);

/* The parsed and checked arguments of "dposweep sim". */
struct cli_sim_args {
  struct bandit_params p; /* p.reward_values points into rewards,
                             p.ref_logits into ref_logits */
  double *rewards;        /* explicit reward list, or NULL */
  double *ref_logits;     /* --ref-logits, or NULL */
  int help;               /* --help was given: nothing else was checked */
};

/* Not collective.  Parse and check sim's arguments: 0, or ERR_INPUT with
 * one line in e naming the flag ("--beta: must be a finite number > 0
 * (got -1)"), or ERR_RUNTIME when memory runs out.  *a is always
 * initialized: free it with cli_sim_args_free, also after an error. */
int cli_sim_parse(int argc, char **argv, struct cli_sim_args *a,
                  struct err *e);

/* Not collective.  Free what cli_sim_parse allocated in a (NULL-safe). */
void cli_sim_args_free(struct cli_sim_args *a);

#endif
