/* libFuzzer harness for the spec parser (meson -Dfuzz=true, clang).
 * Any input: no crash, no leak, no undefined behaviour; an accepted spec's
 * canonical text parses again to the same hash, and its first and last
 * tasks decode to parameters the engine accepts. */
#include "dposweep/spec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct spec *s = NULL;
  struct err err;
  if (spec_load_text((const char *)data, size, "fuzz.yaml", &s, &err) != 0) {
    if (strchr(err.msg, '\n') || err.msg[0] == '\0')
      abort(); /* every error is one non-empty line */
    return 0;
  }
  struct spec *again = NULL;
  const char *canon = spec_canonical(s);
  if (spec_load_text(canon, strlen(canon), "canonical", &again, &err) != 0 ||
      strcmp(spec_sha256(s), spec_sha256(again)) != 0)
    abort();
  for (int i = 0; i < spec_nstudies(s); i++) {
    const struct spec_study *st = spec_study(s, i);
    int64_t last[2] = {0, st->ntasks - 1};
    for (int j = 0; j < 2; j++) {
      struct bandit_params p;
      spec_task_params(s, i, last[j], &p);
      const char *field;
      struct err why;
      if (bandit_params_check(&p, &field, &why) != 0)
        abort(); /* the spec checks must imply the engine's */
    }
  }
  spec_destroy(&again);
  spec_destroy(&s);
  return 0;
}
