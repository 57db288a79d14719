/* sig: the stop signals of the commands that write a results file (run,
 * merge).  A handler only sets a flag the command polls; SA_RESTART keeps
 * the interrupted system calls (HDF5 writes, MPI progress) going.
 *
 * Not collective (no MPI). */
#ifndef DPOSWEEP_SIG_H
#define DPOSWEEP_SIG_H

#include <stddef.h>

struct err;

/* Install `handler` for each of the n signals in `sigs`.  Returns 0, or
 * ERR_RUNTIME naming the signal that could not be caught. */
int sig_catch(const int *sigs, size_t n, void (*handler)(int), struct err *e);

#endif
