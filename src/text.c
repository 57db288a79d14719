/* text: strict number parsing.  See include/dposweep/text.h. */
#include "dposweep/text.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int only_blanks(const char *s)
{
  while (*s && isspace((unsigned char)*s))
    s++;
  return *s == '\0';
}

int text_parse_double(const char *s, double *out)
{
  if (!s || only_blanks(s))
    return TEXT_INVALID;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  /* ERANGE on underflow (denormals) is harmless; on overflow it is not. */
  if (end == s || !only_blanks(end) ||
      (errno == ERANGE && (v > 1.0 || v < -1.0)))
    return TEXT_INVALID;
  *out = v;
  return TEXT_OK;
}

int text_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
  if (!s || only_blanks(s))
    return TEXT_INVALID;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || !only_blanks(end))
    return TEXT_INVALID;
  if (errno == ERANGE || v < lo || v > hi)
    return TEXT_RANGE;
  *out = v;
  return TEXT_OK;
}

int text_parse_u64(const char *s, uint64_t *out)
{
  if (!s || only_blanks(s))
    return TEXT_INVALID;
  while (isspace((unsigned char)*s))
    s++;
  if (*s == '-') /* strtoull would wrap it around */
    return TEXT_INVALID;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || !only_blanks(end) || errno == ERANGE)
    return TEXT_INVALID;
  *out = v;
  return TEXT_OK;
}

int text_parse_double_list(const char *s, double **out, size_t *count,
                           const char **bad)
{
  size_t n = 1;
  for (const char *c = s; *c; c++)
    n += *c == ',';
  double *v = malloc(n * sizeof *v);
  char *word = malloc(strlen(s) + 1);
  int rc = TEXT_NOMEM;
  if (!v || !word)
    goto out;
  const char *p = s;
  for (size_t i = 0; i < n; i++) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    memcpy(word, p, len);
    word[len] = '\0';
    if (text_parse_double(word, &v[i]) != TEXT_OK) {
      *bad = p;
      rc = TEXT_INVALID;
      goto out;
    }
    p += len + 1;
  }
  *out = v;
  *count = n;
  v = NULL;
  rc = TEXT_OK;
out:
  free(v);
  free(word);
  return rc;
}

void text_one_line(char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      *s = '?';
}
