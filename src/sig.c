/* sig: see include/dposweep/sig.h. */
#include "dposweep/sig.h"

#include "dposweep/err.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

int sig_catch(const int *sigs, size_t n, void (*handler)(int), struct err *e)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask); /* cannot fail on a valid set */
  sa.sa_flags = SA_RESTART;
  for (size_t i = 0; i < n; i++)
    if (sigaction(sigs[i], &sa, NULL) != 0)
      return err_set(e, ERR_RUNTIME, "cannot install the handler of signal %d: %s",
                     sigs[i], strerror(errno));
  return 0;
}
