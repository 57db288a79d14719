/* err: see include/dposweep/err.h. */
#include "dposweep/err.h"

#include "dposweep/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void err_clear(struct err *e)
{
  e->code = ERR_OK;
  e->msg[0] = '\0';
  e->where[0] = '\0';
}

int err_set_at(struct err *e, enum err_code code, const char *file, int line,
               const char *fmt, ...)
{
  if (!e)
    return code;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  text_one_line(e->msg);
  const char *base = strrchr(file, '/');
  snprintf(e->where, sizeof e->where, "%s:%d", base ? base + 1 : file, line);
  return code;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
  char head[ERR_MSG_LEN], rest[ERR_MSG_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  snprintf(rest, sizeof rest, "%s", e->msg);
  snprintf(e->msg, sizeof e->msg, "%s%s", head, rest);
  text_one_line(e->msg);
  return e->code;
}

int err_exit_code(int code)
{
  return code >= 0 ? ERR_EXIT_OK : -code;
}

void err_print(const struct err *e, const char *prog)
{
  const char *debug = getenv("DPOSWEEP_DEBUG");
  if (debug && strcmp(debug, "1") == 0 && e->where[0])
    fprintf(stderr, "%s: %s [%s]\n", prog, e->msg, e->where);
  else
    fprintf(stderr, "%s: %s\n", prog, e->msg);
}
