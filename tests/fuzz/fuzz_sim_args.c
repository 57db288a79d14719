/* libFuzzer harness for the `dposweep sim` argument parser.  The input is
 * split at newlines into arguments.  Any input: no crash, no leak; an
 * accepted argument list gives parameters the engine accepts. */
#include "dposweep/cli.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  enum { MAX_ARGS = 64 };
  char *text = malloc(size + 1);
  char *argv[MAX_ARGS + 2];
  int argc = 0;
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  argv[argc++] = "sim";
  for (char *p = text; argc <= MAX_ARGS;) {
    argv[argc++] = p;
    char *nl = strchr(p, '\n');
    if (!nl)
      break;
    *nl = '\0';
    p = nl + 1;
  }
  argv[argc] = NULL;
  struct cli_sim_args a;
  struct err e;
  int rc = cli_sim_parse(argc, argv, &a, &e);
  if (rc == 0 && !a.help) {
    const char *field;
    struct err why;
    if (bandit_params_check(&a.p, &field, &why) != 0)
      abort();
  }
  cli_sim_args_free(&a);
  free(text);
  return 0;
}
