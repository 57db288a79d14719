/* text: strict conversions of command-line and spec words to numbers.
 * Not collective. */
#ifndef DPOSWEEP_TEXT_H
#define DPOSWEEP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The whole string must be a number (leading/trailing blanks allowed).
 * Returns 0 and sets *out, or -1.  NaN and infinity parse (the callers
 * reject them with their own messages), overflow does not. */
int text_parse_double(const char *s, double *out);

/* A decimal integer in [lo, hi]; returns 0, -1 (not an integer) or -2
 * (out of range). */
int text_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* An unsigned 64-bit decimal integer; returns 0 or -1. */
int text_parse_u64(const char *s, uint64_t *out);

/* Split a comma-separated list of numbers into a new array (free() it).
 * Returns the count, or -1 with *bad pointing into s at the first word
 * that is not a number (empty words included). */
long text_parse_double_list(const char *s, double **out, const char **bad);

/* Replace control characters (newlines, carriage returns, ...) by '?', so
 * a message that quotes user input stays one line. */
void text_one_line(char *s);

#endif
