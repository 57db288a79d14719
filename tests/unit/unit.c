/* unit: see unit.h. */
#include "unit.h"

#include <stdlib.h>

int unit_run(Suite *s)
{
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

Suite *unit_suite(const char *name, double timeout, TCase **core)
{
  Suite *s = suite_create(name);
  *core = tcase_create("core");
  tcase_set_timeout(*core, timeout);
  suite_add_tcase(s, *core);
  return s;
}
