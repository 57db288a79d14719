/* text: strict conversions of command-line and spec words to numbers.
 *
 * All functions are not collective (no MPI). */
#ifndef DPOSWEEP_TEXT_H
#define DPOSWEEP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* What a conversion found; every negative value is one reason only. */
enum text_status {
  TEXT_OK = 0,
  TEXT_INVALID = -1, /* not a number of the kind asked for */
  TEXT_RANGE = -2,   /* a number, outside the range asked for */
  TEXT_NOMEM = -3    /* out of memory */
};

/* The whole string must be a number (leading/trailing blanks allowed).
 * Returns TEXT_OK and sets *out, or TEXT_INVALID (overflow included).
 * NaN and infinity parse: the callers reject them with their own
 * messages. */
int text_parse_double(const char *s, double *out);

/* A decimal integer in [lo, hi]: TEXT_OK and *out set, TEXT_INVALID (not
 * an integer) or TEXT_RANGE. */
int text_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* An unsigned 64-bit decimal integer (no sign): TEXT_OK and *out set, or
 * TEXT_INVALID (overflow included). */
int text_parse_u64(const char *s, uint64_t *out);

/* Split a comma-separated list of numbers into a new array (free() it):
 * TEXT_OK with *out and *count set; TEXT_INVALID with *bad pointing into
 * s at the first word that is not a number (empty words included); or
 * TEXT_NOMEM. */
int text_parse_double_list(const char *s, double **out, size_t *count,
                           const char **bad);

/* Replace control characters (newlines, carriage returns, ...) by '?', so
 * a message that quotes user input stays one line. */
void text_one_line(char *s);

#endif
