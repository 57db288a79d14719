/* defaults: every default value of dposweep, in one place.  The command
 * line, its --help texts and the sweep engine all take them from here
 * (DPOSWEEP_STR turns a value into the text a help message shows).
 *
 * Not collective (declarations only). */
#ifndef DPOSWEEP_DEFAULTS_H
#define DPOSWEEP_DEFAULTS_H

#define DPOSWEEP_STR_(x) #x
#define DPOSWEEP_STR(x) DPOSWEEP_STR_(x)

/* The embedded default sweep's master seed (jobs/paper.yaml says the same;
 * a unit test checks that they agree); "dposweep sim" uses it too, so sim
 * reproduces the default sweep's tasks without extra flags. */
#define DPOSWEEP_DEFAULT_MASTER_SEED 1234567

/* Output file of "dposweep run" when -o is not given. */
#define DPOSWEEP_DEFAULT_OUTPUT "dposweep.h5"

/* "dposweep run": seconds after the first signal before the tasks in
 * flight are abandoned; between collective flushes; between progress
 * lines when stderr is not a terminal; of work in one chunk. */
#define DPOSWEEP_DEFAULT_GRACE 60
#define DPOSWEEP_DEFAULT_FLUSH_INTERVAL 60
#define DPOSWEEP_DEFAULT_PROGRESS_INTERVAL 5
#define DPOSWEEP_DEFAULT_CHUNK_SECONDS 0.5

/* "dposweep verify --recompute N": the seed that chooses the N tasks when
 * --seed is not given (any fixed value: the same file, N and seed always
 * choose the same tasks). */
#define DPOSWEEP_DEFAULT_VERIFY_SEED 1

/* The lock of a results file (lock.h, README "Reliability"): each refresh
 * announces a lease of DPOSWEEP_LOCK_LEASE seconds, and the owner
 * refreshes every DPOSWEEP_LOCK_REFRESH seconds; clock skew between nodes
 * and a stall of the owner must stay below their difference. */
#define DPOSWEEP_LOCK_LEASE 120
#define DPOSWEEP_LOCK_REFRESH 10

#endif
