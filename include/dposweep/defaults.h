/* defaults: values shared by the command line and the embedded sweep. */
#ifndef DPOSWEEP_DEFAULTS_H
#define DPOSWEEP_DEFAULTS_H

/* The embedded default sweep's master seed; "dposweep sim" uses it too, so
 * sim reproduces the default sweep's tasks without extra flags. */
#define DPOSWEEP_DEFAULT_MASTER_SEED 1234567ULL
#define DPOSWEEP_DEFAULT_MASTER_SEED_STR "1234567"

/* Output file of "dposweep run" when -o is not given. */
#define DPOSWEEP_DEFAULT_OUTPUT "dposweep.h5"

#endif
