/* err: the one error idiom of dposweep, and its exit codes.
 *
 * A fallible function returns 0 on success or a negative enum err_code on
 * failure, and then has filled the caller's struct err with one line that
 * says what went wrong in the user's terms ("study 'a': grid.beta[1]:
 * invalid number 'high'", "cannot create out.h5: No space left on
 * device").  Out-parameters are written only on success; cleanup goes
 * through one forward `goto out` label.  Callers add context with
 * err_prefix and print with err_print; the command's exit code is
 * err_exit_code(code).  Source locations are kept apart from the message
 * and shown only with DPOSWEEP_DEBUG=1.
 *
 * All functions are not collective (no MPI). */
#ifndef DPOSWEEP_ERR_H
#define DPOSWEEP_ERR_H

#include <stddef.h>

/* Exit codes of every command (README "Commands"). */
enum err_exit {
  ERR_EXIT_OK = 0,         /* success; status: the sweep is complete */
  ERR_EXIT_INCOMPLETE = 1, /* status: not complete; run: interrupted */
  ERR_EXIT_USAGE = 2,      /* usage or input error, nothing changed */
  ERR_EXIT_RUNTIME = 3     /* runtime failure: I/O, memory, MPI, HDF5 */
};

/* What a failing function returns: the negated exit code it leads to. */
enum err_code {
  ERR_OK = 0,
  ERR_INPUT = -ERR_EXIT_USAGE,   /* the user's input is wrong */
  ERR_RUNTIME = -ERR_EXIT_RUNTIME /* the system failed us */
};

#define ERR_MSG_LEN 1024

/* The error context: the code and one line (control characters replaced,
 * so a message quoting user input stays one line). */
struct err {
  enum err_code code;
  char msg[ERR_MSG_LEN];
  char where[64]; /* "store.c:412", shown only with DPOSWEEP_DEBUG=1 */
};

/* Clear e (code ERR_OK, empty message). */
void err_clear(struct err *e);

/* Set the code and the message, record the caller's location, and return
 * code, so a failure reads `return err_set(e, ERR_INPUT, "...", ...);`.
 * e may be NULL (the message is dropped). */
#define err_set(e, code, ...) err_set_at((e), (code), __FILE__, __LINE__, __VA_ARGS__)
int err_set_at(struct err *e, enum err_code code, const char *file, int line,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Prepend context to the message ("cannot open x.h5: " + msg) and return
 * e->code. */
int err_prefix(struct err *e, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

/* The exit code a status leads to: 0 for ERR_OK, else -code. */
int err_exit_code(int code);

/* Print "prog: msg" (and " [where]" under DPOSWEEP_DEBUG=1) on stderr. */
void err_print(const struct err *e, const char *prog);

#endif
