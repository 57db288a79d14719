/* fixtures: what several unit suites set up the same way (linked with the
 * runner, unit.h): a scratch directory, and the engine's instruction-set
 * path chosen from the environment as dposweep chooses it. */
#ifndef DPOSWEEP_TESTS_FIXTURES_H
#define DPOSWEEP_TESTS_FIXTURES_H

#include <stddef.h>

/* A new empty directory /tmp/dposweep-NAME-XXXXXX (mkdtemp), its path in
 * dir (len bytes); returns dir, or NULL with errno set. */
char *unit_temp_dir(char *dir, size_t len, const char *name);

/* Remove dir and everything below it; 0, or -1 when some entry could not
 * be removed. */
int unit_remove_tree(const char *dir);

/* Select the path named by DPOSWEEP_ISA, as dposweep does, and print its
 * name; exit 77 (meson's skip) when this machine lacks it, 1 when the
 * name is unknown. */
void unit_select_isa_from_env(void);

#endif
