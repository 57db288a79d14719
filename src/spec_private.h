/* spec_private: what spec.c shares with spec_map.c and spec_union.c, and
 * no one else.  All functions are not collective (no MPI). */
#ifndef DPOSWEEP_SPEC_PRIVATE_H
#define DPOSWEEP_SPEC_PRIVATE_H

#include "dposweep/spec.h"

#include <stdio.h>

/* An axis value as a number, so that values compare numerically across
 * studies and specs: 0 and -0.0 are one value, as 1 and 1.0 are.  Seeds
 * are exact 64-bit integers (num 0); regime codes, arms and samples are
 * exact in a double; eta 'theory' is SPEC_VALUE_THEORY, below every valid
 * numeric eta (> 0), so it only equals another 'theory'. */
struct spec_value {
  double num;
  uint64_t seed;
};
#define SPEC_VALUE_THEORY (-1.0)

/* The value at position pos of axis a of st. */
struct spec_value spec_axis_value(const struct spec_study *st,
                                  enum spec_axis a, int64_t pos);

/* Order of values of one axis: < 0, 0 (the same value), > 0. */
int spec_value_cmp(const struct spec_value *x, const struct spec_value *y);

/* A value with its position in its axis; an axis's values sorted by
 * value (then position), for finding values quickly. */
struct spec_placed {
  struct spec_value v;
  int64_t pos;
};

/* The n = st->len[a] values of axis a sorted, in a new array (free() it).
 * 0, or ERR_RUNTIME (out of memory; e says so). */
int spec_axis_sorted(const struct spec_study *st, enum spec_axis a,
                     struct spec_placed **out, struct err *e);

/* The position of the value x in sorted (n entries), or -1. */
int64_t spec_sorted_find(const struct spec_placed *sorted, int64_t n,
                         const struct spec_value *x);

/* 0 when a and b have the same study-level values: iterations, scale,
 * rewards and their values, ref_logits, and record_every too when
 * with_records; else 1, with the first difference as a phrase in why
 * ("iterations differ (200 vs 100)", a's value first). */
int spec_settings_differ(const struct spec_study *a,
                         const struct spec_study *b, int with_records,
                         char *why, size_t len);

/* The canonical text's head (name, master seed, "studies:"), then one
 * spec_write_study per study: what spec_canonical holds.  Write errors
 * stick to f. */
void spec_write_head(FILE *f, const char *name, uint64_t master_seed);
void spec_write_study(FILE *f, const struct spec_study *st);

#endif
