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

/* Write st as one entry of the canonical text's studies list (what
 * spec_canonical holds).  Write errors stick to f. */
void spec_write_study(FILE *f, const struct spec_study *st);

#endif
