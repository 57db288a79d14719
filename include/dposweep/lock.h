/* lock: exclusive ownership of a results file by one process at a time,
 * across the nodes of a shared file system, without POSIX or flock locks
 * (unreliable on NFS and on Lustre mounted without flock).
 *
 * The owner of OUT.h5 is named by a lock file beside it, OUT.h5.lock,
 * holding a text record (lock_format): what holds it (run, merge, grow),
 * host, SLURM node and job, pid, since when, and a lease expiry.  It is
 * created atomically by link() of a complete temporary file (atomic on
 * NFS too, where O_EXCL was not always), and refreshed in place through
 * the owner's own descriptor, so a refresh never touches a lock that is
 * no longer its own.
 *
 * A lock is stale when its owner is certainly gone: on the same host
 * (same host name and boot) its process no longer exists (kill(pid, 0)
 * fails with ESRCH, or the pid now belongs to a process started at
 * another time); on another host its lease has expired by this host's
 * clock.  A stale lock is taken over, race-free against competitors: one
 * of them wins a takeover ticket (a file named after the stale lock's
 * token, created by link()), renames the stale lock aside, checks that
 * it moved the very record it judged stale (else puts it back), and then
 * competes for the free name like any newcomer.  A ticket whose winner
 * died is itself taken over the same way.
 *
 * The lease: an owner refreshes its record every `refresh` seconds and
 * announces `lease` seconds of validity each time; a lock_keep thread
 * does this for the owner's whole life.  Judges on other hosts compare
 * the expiry with their own clock, so clock skew between nodes must stay
 * below lease - refresh (README "Reliability").  An owner that finds its
 * lock file gone or replaced (its lease expired while it was frozen, and
 * another process took over) has lost ownership: lock_keep calls its
 * on_lost callback once and refreshes no more.
 *
 * Users: `dposweep run` holds the lock of its output for its whole life
 * (rank 0); merge and the rebuild of a grown file hold their output the
 * same way; `status` reads the owner with lock_inspect.
 *
 * Pure POSIX (and pthreads): no MPI, no HDF5.  Every function is not
 * collective. */
#ifndef DPOSWEEP_LOCK_H
#define DPOSWEEP_LOCK_H

#include "dposweep/err.h"

#include <stddef.h>
#include <stdint.h>

/* The lock file of OUT.h5 is OUT.h5 LOCK_SUFFIX, beside the file the
 * path resolves to. */
#define LOCK_SUFFIX ".lock"
#define LOCK_NAME_LEN 256
#define LOCK_TOKEN_LEN 17 /* 16 hex digits and the NUL */

/* An owner record.  Strings are "" when unknown; times are seconds since
 * the epoch on the owner's clock. */
struct lock_owner {
  char command[32];          /* what holds the file: "run", "merge", ... */
  char host[LOCK_NAME_LEN];  /* gethostname() */
  char node[LOCK_NAME_LEN];  /* SLURMD_NODENAME */
  char job[LOCK_NAME_LEN];   /* SLURM_JOB_ID */
  char boot[LOCK_NAME_LEN];  /* Linux boot id: a reboot frees the host's locks */
  long long pid;
  long long start;           /* process start, clock ticks after boot (Linux); 0 unknown */
  int64_t since;             /* acquired */
  int64_t refreshed;         /* last refresh */
  int64_t expires;           /* lease end */
  char token[LOCK_TOKEN_LEN];    /* unique per acquisition */
  char replaced[LOCK_TOKEN_LEN]; /* token of the stale lock taken over */
};

/* What a lock file says about its path. */
enum lock_state {
  LOCK_FREE = 0,  /* no lock file */
  LOCK_HELD = 1,  /* a live owner (or one that cannot be judged gone) */
  LOCK_STALE = 2  /* its owner is gone: the next acquirer takes it over */
};

/* Lease timing in seconds; NULL options mean the defaults
 * (DPOSWEEP_LOCK_LEASE and DPOSWEEP_LOCK_REFRESH, defaults.h). */
struct lock_options {
  double lease;   /* validity announced by each refresh, > refresh */
  double refresh; /* period of lock_keep's refreshes, > 0 */
};

struct lock;

/* Not collective.  Make this process the owner of `path` (the results
 * file; it need not exist) for `command` ("run", "merge", "grow").
 * Takes a stale lock over (lock_note says whose).  Returns 0 and sets
 * *out; ERR_INPUT when the file is in use ("in use by dposweep run on
 * host ..., since ...") or its lock file is unreadable; ERR_RUNTIME when
 * the lock file cannot be made (its directory is not writable, ...).
 * Never changes the results file. */
int lock_acquire(const char *path, const char *command,
                 const struct lock_options *opt, struct lock **out,
                 struct err *e);

/* Not collective.  "" or one line saying whose stale lock was taken over
 * and why it was stale. */
const char *lock_note(const struct lock *l);

/* Not collective.  This owner's own record. */
const struct lock_owner *lock_self(const struct lock *l);

/* Not collective.  Renew the lease now and check that the lock file is
 * still this owner's.  Returns 0; ERR_RUNTIME when ownership is lost (the
 * lock file is gone or another owner's; the message names it) or the
 * record cannot be written. */
int lock_refresh(struct lock *l, struct err *e);

/* Not collective.  Refresh in a background thread every refresh seconds
 * (signals blocked there) until lock_release.  When ownership is lost, or
 * refreshing has failed until the lease is about to end, on_lost(arg) is
 * called once from that thread (it must be async-safe in the caller's
 * sense: set a flag) and refreshing stops.  Returns 0 or ERR_RUNTIME. */
int lock_keep(struct lock *l, void (*on_lost)(void *), void *arg,
              struct err *e);

/* Not collective.  Whether ownership was lost; if so, why (one line). */
int lock_lost(const struct lock *l, char *why, size_t len);

/* Not collective.  Stop the thread, remove the lock file if it is still
 * this owner's (and takeover leftovers older than a lease), free the lock
 * and clear *l.  NULL or *l NULL: nothing.  Returns 0, or ERR_RUNTIME
 * when the lock file could not be removed (or was no longer ours). */
int lock_release(struct lock **l, struct err *e);

/* Not collective.  Who owns `path` (the results file): LOCK_FREE (no
 * lock file; *o untouched), LOCK_HELD or LOCK_STALE with *o filled.
 * Returns 0, or ERR_INPUT when the lock file cannot be read or parsed. */
int lock_inspect(const char *path, struct lock_owner *o,
                 enum lock_state *state, struct err *e);

/* Not collective.  Judge a record from this host at time now (seconds
 * since the epoch): LOCK_HELD or LOCK_STALE (rules above); *why (may be
 * NULL) says why a stale one is stale. */
enum lock_state lock_judge(const struct lock_owner *o, int64_t now,
                           const char **why);

/* Not collective.  Parse a record (the text of a lock file).  Returns 0
 * and fills *o, or ERR_INPUT saying what is wrong. */
int lock_parse(const char *text, struct lock_owner *o, struct err *e);

/* Not collective.  The record of o as text (what lock_parse reads);
 * returns its length, or the length it needed when len was too small. */
size_t lock_format(const struct lock_owner *o, char *buf, size_t len);

/* Not collective.  One line naming an owner for people: "dposweep run on
 * host h (SLURM node n2), pid 123, SLURM job 45, since
 * 2026-01-02T03:04:05Z". */
void lock_describe(const struct lock_owner *o, char *buf, size_t len);

/* Not collective.  The lock file's path for a results file path (symbolic
 * links resolved, so every name of the file shares one lock).  Returns 0
 * or ERR_RUNTIME (out of memory, a name too long). */
int lock_file_of(const char *path, char *buf, size_t len, struct err *e);

#endif
