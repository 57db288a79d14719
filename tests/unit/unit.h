/* unit: the one Check runner of the unit suites.  A test file builds its
 * Suite and ends with UNIT_MAIN(its_suite_function); the runner runs it
 * (CK_FORK from the environment, "no" under meson so the tests stay
 * debuggable and valgrind-able) and turns the result into the exit code
 * meson reads. */
#ifndef DPOSWEEP_TESTS_UNIT_H
#define DPOSWEEP_TESTS_UNIT_H

#include <check.h>

/* Run every test of s, print Check's summary, free s; 0 if all passed. */
int unit_run(Suite *s);

/* A suite of one test case named "core" with the given timeout (seconds),
 * the usual shape of a unit suite. */
Suite *unit_suite(const char *name, double timeout, TCase **core);

/* ck_assert_msg for a check repeated over many draws.  Every passing
 * ck_assert has Check record its file and line (a write to Check's message
 * file), which took most of the rng suite's time, ten times more under the
 * sanitizers; this one costs a comparison until it fails, and then fails
 * as ck_assert_msg does, with file, line and message. */
#define UNIT_ASSERT_MSG(expr, ...)                                             \
  do {                                                                         \
    if (!(expr))                                                               \
      ck_abort_msg(__VA_ARGS__);                                               \
  } while (0)

#define UNIT_MAIN(suite_fn)                                                    \
  int main(void) { return unit_run(suite_fn()); }

#endif
