/* Unit tests of the text module: a word is a number only if all of it
 * is, and each failure has its own status. */
#include "dposweep/text.h"

#include "unit.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_double)
{
  double v = -1.0;
  ck_assert_int_eq(text_parse_double(" 0.25 ", &v), TEXT_OK);
  ck_assert(v == 0.25);
  ck_assert_int_eq(text_parse_double("1e-320", &v), TEXT_OK); /* denormal */
  ck_assert_int_eq(text_parse_double("nan", &v), TEXT_OK);
  ck_assert(isnan(v));
  v = 7.0;
  /* Trailing text, nothing, overflow: refused, *out untouched. */
  ck_assert_int_eq(text_parse_double("0.7- 0.3", &v), TEXT_INVALID);
  ck_assert_int_eq(text_parse_double("  ", &v), TEXT_INVALID);
  ck_assert_int_eq(text_parse_double("1e999", &v), TEXT_INVALID);
  ck_assert_int_eq(text_parse_double(NULL, &v), TEXT_INVALID);
  ck_assert(v == 7.0);
}
END_TEST

START_TEST(test_integers)
{
  int64_t i = 5;
  ck_assert_int_eq(text_parse_i64("-3", -5, 5, &i), TEXT_OK);
  ck_assert_int_eq(i, -3);
  ck_assert_int_eq(text_parse_i64("8.5", 0, 10, &i), TEXT_INVALID);
  ck_assert_int_eq(text_parse_i64("0x14", 0, 100, &i), TEXT_INVALID);
  ck_assert_int_eq(text_parse_i64("11", 0, 10, &i), TEXT_RANGE);
  ck_assert_int_eq(text_parse_i64("99999999999999999999", 0, INT64_MAX, &i),
                   TEXT_RANGE);
  ck_assert_int_eq(i, -3);

  uint64_t u = 0;
  ck_assert_int_eq(text_parse_u64("18446744073709551615", &u), TEXT_OK);
  ck_assert_uint_eq(u, UINT64_MAX);
  ck_assert_int_eq(text_parse_u64("18446744073709551616", &u), TEXT_INVALID);
  ck_assert_int_eq(text_parse_u64(" -1", &u), TEXT_INVALID);
  ck_assert_int_eq(text_parse_u64("12x", &u), TEXT_INVALID);
  ck_assert_uint_eq(u, UINT64_MAX);
}
END_TEST

START_TEST(test_double_list)
{
  const char *words = "0.1,0.7,-3";
  double *v = NULL;
  size_t n = 0;
  const char *bad = NULL;
  ck_assert_int_eq(text_parse_double_list(words, &v, &n, &bad), TEXT_OK);
  ck_assert_uint_eq(n, 3);
  ck_assert(v[0] == 0.1 && v[1] == 0.7 && v[2] == -3.0);
  free(v);

  /* The first bad word, an empty one included, is pointed at. */
  const char *bad_words[] = {"0.1,abc,0.3", "0.1,,0.3", "1,2,", ""};
  const size_t at[] = {4, 4, 4, 0};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    v = NULL;
    n = 99;
    ck_assert_int_eq(text_parse_double_list(bad_words[i], &v, &n, &bad),
                     TEXT_INVALID);
    ck_assert_ptr_eq(bad, bad_words[i] + at[i]);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 99);
  }
}
END_TEST

START_TEST(test_one_line)
{
  char s[] = "a\nb\rc\td\x7f";
  text_one_line(s);
  ck_assert_str_eq(s, "a?b?c?d?");
}
END_TEST

static Suite *text_suite(void)
{
  TCase *tc;
  Suite *s = unit_suite("text", 30, &tc);
  tcase_add_test(tc, test_double);
  tcase_add_test(tc, test_integers);
  tcase_add_test(tc, test_double_list);
  tcase_add_test(tc, test_one_line);
  return s;
}

UNIT_MAIN(text_suite)
