/* mpi_check: the one checking macro for MPI calls.  Private to the
 * library (sweep.c; store.c may use it too).
 *
 *     MPI_CHECK(e, out, MPI_Send(...));
 *
 * runs the call; if it does not return MPI_SUCCESS, fills e with
 * ERR_RUNTIME and one line naming the MPI function and MPI's reason
 * ("MPI failure in MPI_Send: ..."), records the call site for
 * DPOSWEEP_DEBUG=1, and jumps to the label.  Whether the job can go on
 * after that is the caller's decision: in general ranks that disagree
 * about an MPI failure cannot agree on anything any more, so sweep_main
 * aborts the job.
 *
 * (With MPI's default error handler, MPI_ERRORS_ARE_FATAL, a failing call
 * aborts inside MPI and never returns; the checks matter under a handler
 * that returns, and they keep every call's failure visible in the code.)
 *
 * Not collective (it only inspects a return code). */
#ifndef DPOSWEEP_MPI_CHECK_H
#define DPOSWEEP_MPI_CHECK_H

#include "dposweep/err.h"

#include <mpi.h>
#include <string.h>

/* Fill e for MPI return code rc of call (its source text); returns
 * ERR_RUNTIME. */
static inline int mpi_check_fail(struct err *e, int rc, const char *call,
                                 const char *file, int line)
{
  char reason[MPI_MAX_ERROR_STRING] = "unknown MPI error";
  int len = 0;
  /* If even the error string cannot be had, the default says enough. */
  if (MPI_Error_string(rc, reason, &len) != MPI_SUCCESS)
    strcpy(reason, "unknown MPI error");
  const size_t name = strcspn(call, "(");
  return err_set_at(e, ERR_RUNTIME, file, line, "MPI failure in %.*s: %s",
                    (int)name, call, reason);
}

#define MPI_CHECK(e, label, call)                                              \
  do {                                                                         \
    int mpi_check_rc_ = (call);                                                \
    if (mpi_check_rc_ != MPI_SUCCESS) {                                        \
      mpi_check_fail((e), mpi_check_rc_, #call, __FILE__, __LINE__);           \
      goto label;                                                              \
    }                                                                          \
  } while (0)

#endif
