/* fixtures: see fixtures.h. */
#define _XOPEN_SOURCE 700 /* nftw */

#include "fixtures.h"

#include "dposweep/bandit.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

char *unit_temp_dir(char *dir, size_t len, const char *name)
{
  snprintf(dir, len, "/tmp/dposweep-%s-XXXXXX", name);
  return mkdtemp(dir);
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int unit_remove_tree(const char *dir)
{
  return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

void unit_select_isa_from_env(void)
{
  const char *isa = getenv("DPOSWEEP_ISA");
  if (isa && *isa && !bandit_isa_supported(isa)) {
    printf("DPOSWEEP_ISA=%s: not supported here, skipped\n", isa);
    exit(77);
  }
  struct err e;
  if (bandit_isa_select(isa, &e) != 0) {
    fprintf(stderr, "DPOSWEEP_ISA: %s\n", e.msg);
    exit(EXIT_FAILURE);
  }
  printf("instruction set: %s\n", bandit_isa_name());
}
