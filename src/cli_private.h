/* cli_private: what the commands (cli_*.c) share, and no one else: the
 * reading of a command's options and operands, and the values several
 * commands take.  All functions are not collective (no MPI). */
#ifndef DPOSWEEP_CLI_PRIVATE_H
#define DPOSWEEP_CLI_PRIVATE_H

#include "dposweep/err.h"

#include <getopt.h>

/* A command's options: its name (for "see dposweep CMD --help"),
 * getopt_long's short options (starting with ':', with 'h' for -h) and
 * long ones ("help" returning 'h'), and take, which reads every other
 * option c (its value arg, NULL without one) into the command's ctx:
 * 0, or ERR_INPUT with one line in e. */
struct cli_options {
  const char *cmd;
  const char *shortopts;
  const struct option *longopts;
  int (*take)(void *ctx, int c, const char *arg, struct err *e);
};

/* Not collective.  Read the options of argv (argv[0] the command's name)
 * in order, each through o->take, until the first error; --help or -h
 * sets *help and ends the reading (nothing after it is checked).  Returns
 * 0 with *first the index of the first operand, or ERR_INPUT with one
 * line in e: a value missing, an option unknown, or take's error. */
int cli_read_options(const struct cli_options *o, int argc, char **argv,
                     void *ctx, int *help, int *first, struct err *e);

/* Not collective.  The operands argv[first..argc) of a command that takes
 * at most one SPEC: *spec is it, or NULL when there is none.  0, or
 * ERR_INPUT naming the extra one. */
int cli_spec_operand(int argc, char **argv, int first, const char **spec,
                     struct err *e);

/* Not collective.  The operands argv[first..argc) of the command cmd,
 * which takes exactly one results file: *path.  0, or ERR_INPUT. */
int cli_file_operand(const char *cmd, int argc, char **argv, int first,
                     const char **path, struct err *e);

/* Not collective.  --format's value: *kv 1 for "kv", 0 for "text"; 0, or
 * ERR_INPUT for any other. */
int cli_format_arg(const char *arg, int *kv, struct err *e);

/* Not collective.  A duration flag's value: a finite number of seconds
 * >= 0 into *out; 0, or ERR_INPUT naming flag. */
int cli_seconds_arg(const char *flag, const char *arg, double *out,
                    struct err *e);

#endif
