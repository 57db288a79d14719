/* lock: exclusive ownership of a results file.  See
 * include/dposweep/lock.h for the rules; the names used here:
 *
 *   OUT.h5.lock                 the lock (the owner's record)
 *   OUT.h5.lock.new-TOKEN       a record being made, linked to its name
 *   OUT.h5.lock.takeover-TOKEN  the ticket to take over the stale lock
 *                               TOKEN (a record of the taker); kept until
 *                               the taker releases, so a competitor that
 *                               judged TOKEN stale long ago cannot act on
 *                               that old judgment
 *   OUT.h5.lock.stale-TOKEN     a stale lock being removed by TOKEN
 */
#include "dposweep/lock.h"

#include "dposweep/defaults.h"
#include "dposweep/text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LOCK_RECORD_MAX 4096
#define LOCK_PATH_MAX 4096
/* Tries of acquire's loop (each a link, a read and perhaps a takeover)
 * before it gives up on a lock file that keeps changing. */
#define LOCK_ATTEMPTS 200
/* Takeover tickets of dead takers are taken over at most this deep: a
 * lock stays stuck only if this many takers in a row die between winning
 * their ticket and releasing it (each level adds 26 characters to the
 * ticket's name). */
#define LOCK_TICKET_DEPTH 16

struct lock {
  char path[LOCK_PATH_MAX]; /* the lock file */
  int fd;                   /* our record's inode, for in-place refreshes */
  struct stat id;           /* its device and inode */
  struct lock_owner self;
  double lease, refresh;
  char note[512];
  /* The refresh thread and what it shares with the caller, under mu. */
  pthread_mutex_t mu;
  pthread_cond_t wake;
  pthread_t thread;
  bool thread_started, stop, lost;
  char lost_why[ERR_MSG_LEN];
  void (*on_lost)(void *);
  void *on_lost_arg;
};

/* ---- this process and host ---- */

static int64_t now_s(void)
{
  return (int64_t)time(NULL);
}

/* Copy an identity string, cut to the buffer; a control character would
 * break the record's lines, so it becomes '?'. */
static void copy_word(char *dst, size_t len, const char *src)
{
  snprintf(dst, len, "%s", src ? src : "");
  for (char *p = dst; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
}

/* The first line of a small file, "" if unreadable (optional facts). */
static void first_line_of(const char *file, char *buf, size_t len)
{
  buf[0] = '\0';
  FILE *f = fopen(file, "r");
  if (!f)
    return;
  if (!fgets(buf, (int)len, f))
    buf[0] = '\0';
  fclose(f); /* read-only: nothing to lose */
  buf[strcspn(buf, "\r\n")] = '\0';
}

/* Start time of a process in clock ticks after boot (Linux's
 * /proc/PID/stat, field 22), 0 when unknown. */
static long long start_of(long long pid)
{
  char file[64], line[1024];
  snprintf(file, sizeof file, "/proc/%lld/stat", pid);
  first_line_of(file, line, sizeof line);
  const char *p = strrchr(line, ')'); /* the command may hold blanks */
  if (!p)
    return 0;
  /* Each step lands on the blank before the next field, 3 to 22. */
  for (int field = 3; field <= 22 && p; field++)
    p = strchr(p + 1, ' ');
  return p ? strtoll(p + 1, NULL, 10) : 0;
}

static void host_name(char *buf, size_t len)
{
  char h[LOCK_NAME_LEN] = "";
  if (gethostname(h, sizeof h - 1) != 0)
    snprintf(h, sizeof h, "unknown");
  copy_word(buf, len, h);
}

static void boot_id(char *buf, size_t len)
{
  char b[LOCK_NAME_LEN];
  first_line_of("/proc/sys/kernel/random/boot_id", b, sizeof b);
  copy_word(buf, len, b);
}

/* 16 hex digits, unique per acquisition: the kernel's random bytes, else
 * the clock and the pid mixed (SplitMix64's finalizer). */
static void new_token(char *buf)
{
  unsigned long long x = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  bool got = fd >= 0 && read(fd, &x, sizeof x) == (ssize_t)sizeof x;
  if (fd >= 0)
    close(fd); /* read-only */
  if (!got) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^
        ((unsigned long long)getpid() << 40);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
  }
  snprintf(buf, LOCK_TOKEN_LEN, "%016llx", x);
}

static void fill_self(struct lock_owner *o, const char *command)
{
  memset(o, 0, sizeof *o);
  copy_word(o->command, sizeof o->command, command);
  host_name(o->host, sizeof o->host);
  copy_word(o->node, sizeof o->node, getenv("SLURMD_NODENAME"));
  copy_word(o->job, sizeof o->job, getenv("SLURM_JOB_ID"));
  boot_id(o->boot, sizeof o->boot);
  o->pid = (long long)getpid();
  o->start = start_of(o->pid);
  new_token(o->token);
}

/* ---- the record ---- */

size_t lock_format(const struct lock_owner *o, char *buf, size_t len)
{
  int n = snprintf(buf, len,
                   "dposweep-lock 1\ncommand=%s\nhost=%s\nnode=%s\njob=%s\n"
                   "boot=%s\npid=%lld\nstart=%lld\nsince=%lld\n"
                   "refreshed=%lld\nexpires=%lld\ntoken=%s\nreplaced=%s\n",
                   o->command, o->host, o->node, o->job, o->boot, o->pid,
                   o->start, (long long)o->since, (long long)o->refreshed,
                   (long long)o->expires, o->token, o->replaced);
  return n < 0 ? 0 : (size_t)n;
}

/* One "key=value" line into o.  Returns 0, 1 for a key it does not know
 * (ignored: later versions may add keys), or ERR_INPUT. */
static int parse_field(struct lock_owner *o, const char *key, const char *v,
                       struct err *e)
{
  static const struct { const char *key; size_t off, len; } words[] = {
#define W(f) {#f, offsetof(struct lock_owner, f), sizeof ((struct lock_owner *)0)->f}
    W(command), W(host), W(node), W(job), W(boot), W(token), W(replaced),
#undef W
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strcmp(key, words[i].key) == 0) {
      if (strlen(v) >= words[i].len)
        return err_set(e, ERR_INPUT, "%s: too long", key);
      memcpy((char *)o + words[i].off, v, strlen(v) + 1);
      return 0;
    }
  int64_t x;
  int64_t *t = strcmp(key, "since") == 0       ? &o->since
               : strcmp(key, "refreshed") == 0 ? &o->refreshed
               : strcmp(key, "expires") == 0   ? &o->expires
                                               : NULL;
  bool counts = strcmp(key, "pid") == 0 || strcmp(key, "start") == 0;
  if (!t && !counts)
    return 1;
  if (text_parse_i64(v, counts ? 0 : INT64_MIN, INT64_MAX, &x) != TEXT_OK)
    return err_set(e, ERR_INPUT, "%s: not a number '%s'", key, v);
  if (t)
    *t = x;
  else if (strcmp(key, "pid") == 0)
    o->pid = (long long)x;
  else
    o->start = (long long)x;
  return 0;
}

/* A token: 16 lower-case hex digits (it becomes part of file names). */
static bool is_token(const char *s)
{
  return strlen(s) == LOCK_TOKEN_LEN - 1 &&
         strspn(s, "0123456789abcdef") == LOCK_TOKEN_LEN - 1;
}

int lock_parse(const char *text, struct lock_owner *o, struct err *e)
{
  static const char head[] = "dposweep-lock 1\n";
  if (strncmp(text, head, sizeof head - 1) != 0)
    return err_set(e, ERR_INPUT, "not a dposweep lock record");
  struct lock_owner got;
  memset(&got, 0, sizeof got);
  got.pid = -1;
  const char *p = text + sizeof head - 1;
  while (*p) {
    const char *end = strchr(p, '\n');
    if (!end)
      return err_set(e, ERR_INPUT, "truncated record");
    char line[LOCK_RECORD_MAX];
    size_t n = (size_t)(end - p);
    if (n >= sizeof line)
      return err_set(e, ERR_INPUT, "a line too long");
    memcpy(line, p, n);
    line[n] = '\0';
    char *eq = strchr(line, '=');
    if (!eq)
      return err_set(e, ERR_INPUT, "no '=' in line '%s'", line);
    *eq = '\0';
    if (parse_field(&got, line, eq + 1, e) < 0)
      return ERR_INPUT;
    p = end + 1;
  }
  if (!got.host[0] || got.pid < 1 || !got.expires)
    return err_set(e, ERR_INPUT, "host, pid or expires missing");
  if (!is_token(got.token) || (got.replaced[0] && !is_token(got.replaced)))
    return err_set(e, ERR_INPUT, "token: not 16 hexadecimal digits");
  *o = got;
  return 0;
}

/* A time for people, UTC. */
static void fmt_utc(int64_t t, char *buf, size_t len)
{
  struct tm tm;
  time_t s = (time_t)t;
  if (!gmtime_r(&s, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, len, "%lld", (long long)t);
}

void lock_describe(const struct lock_owner *o, char *buf, size_t len)
{
  char since[40], node[LOCK_NAME_LEN + 32] = "", job[LOCK_NAME_LEN + 32] = "";
  fmt_utc(o->since, since, sizeof since);
  if (o->node[0])
    snprintf(node, sizeof node, " (SLURM node %s)", o->node);
  if (o->job[0])
    snprintf(job, sizeof job, ", SLURM job %s", o->job);
  snprintf(buf, len, "dposweep %s on host %s%s, pid %lld%s, since %s",
           o->command[0] ? o->command : "?", o->host, node, o->pid, job, since);
}

/* ---- judging ---- */

enum lock_state lock_judge(const struct lock_owner *o, int64_t now,
                           const char **why)
{
  static const char *dummy;
  if (!why)
    why = &dummy;
  char host[LOCK_NAME_LEN], boot[LOCK_NAME_LEN];
  host_name(host, sizeof host);
  boot_id(boot, sizeof boot);
  /* The same host: the same name and, where both know it, the same boot
   * (machines that share a name, or a host that rebooted, are judged by
   * the lease like any other host). */
  bool same = strcmp(o->host, host) == 0 &&
              (!o->boot[0] || !boot[0] || strcmp(o->boot, boot) == 0);
  if (same) {
    if (kill((pid_t)o->pid, 0) != 0 && errno == ESRCH) {
      *why = "its process is gone";
      return LOCK_STALE;
    }
    long long start = o->start ? start_of(o->pid) : 0;
    if (start && start != o->start) {
      *why = "its process is gone (the pid is another process's now)";
      return LOCK_STALE;
    }
    return LOCK_HELD; /* alive, or another user's (EPERM) */
  }
  if (now > o->expires) {
    *why = "its lease expired";
    return LOCK_STALE;
  }
  return LOCK_HELD;
}

/* ---- files ---- */

enum { READ_OK = 0, READ_MISSING = 1 };

/* Read a whole small file into buf (NUL-terminated).  READ_OK,
 * READ_MISSING, or ERR_INPUT. */
static int read_once(const char *file, char *buf, size_t len, struct err *e)
{
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? READ_MISSING
                           : err_set(e, ERR_INPUT, "cannot read %s: %s", file,
                                     strerror(errno));
  size_t n = 0;
  ssize_t got = 0;
  while (n + 1 < len && (got = read(fd, buf + n, len - 1 - n)) > 0)
    n += (size_t)got;
  int why = errno;
  bool failed = n + 1 < len && got < 0;
  close(fd); /* read-only */
  if (failed)
    return err_set(e, ERR_INPUT, "cannot read %s: %s", file, strerror(why));
  buf[n] = '\0';
  return READ_OK;
}

/* A record file, read until two reads agree (a read that overlapped an
 * in-place refresh could mix two records).  READ_OK with *o filled,
 * READ_MISSING, or ERR_INPUT. */
static int read_owner(const char *file, struct lock_owner *o, struct err *e)
{
  char a[LOCK_RECORD_MAX], b[LOCK_RECORD_MAX];
  int rc = read_once(file, a, sizeof a, e);
  for (int i = 0; rc == READ_OK && i < 20; i++) {
    rc = read_once(file, b, sizeof b, e);
    if (rc != READ_OK || strcmp(a, b) == 0)
      break;
    memcpy(a, b, sizeof a);
  }
  if (rc != READ_OK)
    return rc;
  if (lock_parse(a, o, e) != 0)
    return err_prefix(e, "%s: ", file);
  return READ_OK;
}

/* The record of o with a fresh lease, written whole at offset 0. */
static int write_record(int fd, struct lock_owner *o, double lease)
{
  o->refreshed = now_s();
  o->expires = o->refreshed + (int64_t)ceil(lease);
  char text[LOCK_RECORD_MAX];
  size_t n = lock_format(o, text, sizeof text);
  if (n >= sizeof text) {
    errno = ENAMETOOLONG;
    return -1;
  }
  ssize_t put = pwrite(fd, text, n, 0);
  if (put != (ssize_t)n) {
    if (put >= 0)
      errno = EIO;
    return -1;
  }
  if (ftruncate(fd, (off_t)n) != 0 || fsync(fd) != 0)
    return -1;
  return 0;
}

/* Create `target` holding our record, atomically: a complete temporary
 * file linked to the name.  link() is atomic on NFS too; a lost reply
 * there makes a link that succeeded report EEXIST, so the temporary's
 * link count decides.  Returns 0 (made; *fd_out the record's descriptor
 * when asked for, else closed), 1 (the name exists), or -1 with errno. */
static int create_linked(const char *target, struct lock_owner *self,
                         double lease, int *fd_out)
{
  char tmp[LOCK_PATH_MAX + 32];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.new-%s", target, self->token) >=
      sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  int rc = -1, why = 0;
  struct stat st;
  if (write_record(fd, self, lease) != 0) {
    why = errno;
  } else if (link(tmp, target) == 0) {
    rc = 0;
  } else {
    why = errno;
    rc = fstat(fd, &st) == 0 && st.st_nlink == 2 ? 0 : (why == EEXIST ? 1 : -1);
  }
  /* The temporary name goes either way; failing to remove it leaves a
   * stray file that lock_release sweeps up later. */
  (void)unlink(tmp);
  if (rc == 0 && fd_out)
    *fd_out = fd;
  else
    close(fd); /* nothing of ours was written through it, or it is done */
  errno = why;
  return rc;
}

/* ---- takeover ---- */

enum { TAKE_DONE = 0, TAKE_BUSY = 1 };

/* Win the ticket to take over the stale record `stale` of `target`.
 * TAKE_DONE (won), TAKE_BUSY (a live competitor holds it), or
 * ERR_RUNTIME.  A ticket whose holder is gone is won by winning its own
 * ticket, at most LOCK_TICKET_DEPTH deep. */
static int win_ticket(struct lock *l, const char *target,
                      const struct lock_owner *stale, int depth,
                      struct err *e)
{
  char ticket[LOCK_PATH_MAX];
  if ((size_t)snprintf(ticket, sizeof ticket, "%s.takeover-%s", target,
                       stale->token) >= sizeof ticket)
    return err_set(e, ERR_RUNTIME, "%s: name too long", target);
  struct lock_owner mine = l->self;
  int made = create_linked(ticket, &mine, l->lease, NULL);
  if (made == 0)
    return TAKE_DONE;
  if (made < 0)
    return err_set(e, ERR_RUNTIME, "cannot create %s: %s", ticket,
                   strerror(errno));
  struct lock_owner holder;
  struct err ignored;
  if (read_owner(ticket, &holder, &ignored) != READ_OK)
    return TAKE_BUSY; /* being removed, or unreadable: look again */
  if (lock_judge(&holder, now_s(), NULL) == LOCK_HELD ||
      depth >= LOCK_TICKET_DEPTH)
    return TAKE_BUSY;
  return win_ticket(l, ticket, &holder, depth + 1, e);
}

/* Holding the ticket: remove the stale record from `target`.  Rename it
 * aside and check that it is the record judged stale; if not (its owner
 * refreshed it after all, or released it and a newcomer took the name),
 * put it back.  Returns 0 or ERR_RUNTIME. */
static int remove_stale(struct lock *l, const char *target,
                        const struct lock_owner *stale, struct err *e)
{
  char aside[LOCK_PATH_MAX + 32];
  snprintf(aside, sizeof aside, "%s.stale-%s", target, l->self.token);
  if (rename(target, aside) != 0)
    return errno == ENOENT ? 0
                           : err_set(e, ERR_RUNTIME, "cannot remove %s: %s",
                                     target, strerror(errno));
  struct lock_owner moved;
  struct err ignored;
  bool same = read_owner(aside, &moved, &ignored) == READ_OK &&
              memcmp(&moved, stale, sizeof moved) == 0;
  /* Not what we judged: back under its name (a newcomer that took the
   * free name meanwhile keeps it, and the moved owner learns at its next
   * refresh that it lost). */
  if (!same && link(aside, target) != 0 && errno != EEXIST)
    return err_set(e, ERR_RUNTIME, "cannot restore %s: %s", target,
                   strerror(errno));
  if (unlink(aside) != 0)
    return err_set(e, ERR_RUNTIME, "cannot remove %s: %s", aside,
                   strerror(errno));
  return 0;
}

/* The stale lock `stale` of l->path: take it over if we win the ticket.
 * TAKE_DONE (removed; acquire competes for the free name), TAKE_BUSY, or
 * ERR_RUNTIME. */
static int take_over(struct lock *l, const struct lock_owner *stale,
                     const char *why, struct err *e)
{
  int rc = win_ticket(l, l->path, stale, 0, e);
  if (rc != TAKE_DONE)
    return rc;
  if ((rc = remove_stale(l, l->path, stale, e)) != 0)
    return rc;
  /* The ticket of the lock that the stale one had itself replaced is
   * garbage now. */
  if (stale->replaced[0]) {
    char old[LOCK_PATH_MAX + 32];
    snprintf(old, sizeof old, "%s.takeover-%s", l->path, stale->replaced);
    (void)unlink(old); /* gone already, or swept by a later release */
  }
  char who[768];
  lock_describe(stale, who, sizeof who);
  snprintf(l->note, sizeof l->note, "took over the stale lock of %s: %s", who,
           why);
  snprintf(l->self.replaced, sizeof l->self.replaced, "%s", stale->token);
  return TAKE_DONE;
}

/* ---- acquiring ---- */

int lock_file_of(const char *path, char *buf, size_t len, struct err *e)
{
  char *copy = strdup(path), *copy2 = strdup(path);
  char *real = NULL;
  int rc = ERR_RUNTIME;
  if (!copy || !copy2) {
    err_set(e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  int n;
  if ((real = realpath(path, NULL))) {
    n = snprintf(buf, len, "%s%s", real, LOCK_SUFFIX);
  } else {
    /* Not there yet: its directory resolved, if that exists. */
    const char *base = basename(copy2);
    real = realpath(dirname(copy), NULL);
    n = real ? snprintf(buf, len, "%s/%s%s", strcmp(real, "/") ? real : "",
                        base, LOCK_SUFFIX)
             : snprintf(buf, len, "%s%s", path, LOCK_SUFFIX);
  }
  if (n < 0 || (size_t)n >= len) {
    err_set(e, ERR_RUNTIME, "%s: name too long for its lock file", path);
    goto out;
  }
  rc = 0;
out:
  free(copy);
  free(copy2);
  free(real);
  return rc;
}

static struct lock *lock_new(const char *command, const struct lock_options *opt)
{
  struct lock *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->fd = -1;
  l->lease = opt ? opt->lease : DPOSWEEP_LOCK_LEASE;
  l->refresh = opt ? opt->refresh : DPOSWEEP_LOCK_REFRESH;
  fill_self(&l->self, command);
  pthread_condattr_t ca;
  /* Waits measured on the monotonic clock: a clock step must not stall
   * or hurry the refreshes.  These calls fail only without memory. */
  bool ok = pthread_condattr_init(&ca) == 0;
  ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
  ok = ok && pthread_cond_init(&l->wake, &ca) == 0;
  ok = ok && pthread_mutex_init(&l->mu, NULL) == 0;
  pthread_condattr_destroy(&ca);
  if (!ok) {
    free(l);
    return NULL;
  }
  return l;
}

static void lock_free(struct lock *l)
{
  if (l->fd >= 0)
    close(l->fd); /* every write through it was fsynced */
  pthread_cond_destroy(&l->wake);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

/* A short pause between tries, so that competitors interleave. */
static void nap(int attempt)
{
  struct timespec ts = {0, (long)(1000000L * (1 + attempt % 10))};
  nanosleep(&ts, NULL);
}

/* One look at the existing lock: 0 (try again), ERR_INPUT (in use, or
 * unreadable), ERR_RUNTIME. */
static int judge_existing(struct lock *l, const char *path, int attempt,
                          struct err *e)
{
  struct lock_owner other;
  struct err re;
  int rc = read_owner(l->path, &other, &re);
  if (rc == READ_MISSING)
    return 0;
  if (rc != READ_OK)
    return err_set(e, ERR_INPUT,
                   "%s; if no dposweep process uses %s, remove that file",
                   re.msg, path);
  const char *why = NULL;
  if (lock_judge(&other, now_s(), &why) == LOCK_HELD) {
    char who[768], until[40];
    lock_describe(&other, who, sizeof who);
    fmt_utc(other.expires, until, sizeof until);
    return err_set(e, ERR_INPUT, "%s is in use by %s (lease until %s)", path,
                   who, until);
  }
  rc = take_over(l, &other, why, e);
  if (rc == TAKE_BUSY)
    nap(attempt);
  return rc < 0 ? rc : 0;
}

int lock_acquire(const char *path, const char *command,
                 const struct lock_options *opt, struct lock **out,
                 struct err *e)
{
  if (opt && !(opt->refresh > 0 && opt->lease > opt->refresh))
    return err_set(e, ERR_INPUT, "lock: the lease must be longer than the "
                                 "refresh period");
  struct lock *l = lock_new(command, opt);
  if (!l)
    return err_set(e, ERR_RUNTIME, "out of memory");
  int rc = lock_file_of(path, l->path, sizeof l->path, e);
  for (int attempt = 0; rc == 0; attempt++) {
    if (attempt == LOCK_ATTEMPTS) {
      rc = err_set(e, ERR_INPUT,
                   "%s: another process is taking over its lock file %s; "
                   "try again in a minute (if no dposweep process uses %s, "
                   "remove %s.takeover-*)", path, l->path, path, l->path);
      break;
    }
    l->self.since = now_s();
    int made = create_linked(l->path, &l->self, l->lease, &l->fd);
    if (made == 0)
      break;
    if (made < 0)
      rc = err_set(e, ERR_RUNTIME, "cannot create the lock file %s: %s",
                   l->path, strerror(errno));
    else
      rc = judge_existing(l, path, attempt, e);
  }
  if (rc == 0 && fstat(l->fd, &l->id) != 0)
    rc = err_set(e, ERR_RUNTIME, "%s: %s", l->path, strerror(errno));
  if (rc != 0) {
    if (l->fd >= 0)
      (void)unlink(l->path); /* ours, made a moment ago */
    lock_free(l);
    return rc;
  }
  *out = l;
  return 0;
}

const char *lock_note(const struct lock *l)
{
  return l->note;
}

const struct lock_owner *lock_self(const struct lock *l)
{
  return &l->self;
}

/* ---- the lease ----
 *
 * The lock's mutex is a default one, locked and unlocked by the same
 * thread, and its condition variable is only waited on under it: these
 * pthread calls cannot fail, and are not checked. */

/* Whether the name still leads to our record. */
static bool still_ours(const struct lock *l)
{
  struct stat st;
  return stat(l->path, &st) == 0 && st.st_dev == l->id.st_dev &&
         st.st_ino == l->id.st_ino;
}

/* Mark the lock lost (under l->mu) with a reason naming the new owner. */
static void mark_lost(struct lock *l)
{
  struct lock_owner other;
  struct err ignored;
  char who[768];
  if (read_owner(l->path, &other, &ignored) == READ_OK) {
    lock_describe(&other, who, sizeof who);
    snprintf(l->lost_why, sizeof l->lost_why,
             "lost the ownership of its output: the lock file %s now names %s",
             l->path, who);
  } else {
    snprintf(l->lost_why, sizeof l->lost_why,
             "lost the ownership of its output: the lock file %s was removed",
             l->path);
  }
  l->lost = true;
}

int lock_refresh(struct lock *l, struct err *e)
{
  int rc = 0;
  pthread_mutex_lock(&l->mu);
  if (l->lost) {
    rc = err_set(e, ERR_RUNTIME, "%s", l->lost_why);
    goto out;
  }
  /* In place, through our own descriptor: if the name is someone else's
   * now, this writes only into our old record. */
  if (write_record(l->fd, &l->self, l->lease) != 0) {
    rc = err_set(e, ERR_RUNTIME, "cannot renew the lease in %s: %s", l->path,
                 strerror(errno));
    goto out;
  }
  if (!still_ours(l)) {
    mark_lost(l);
    rc = err_set(e, ERR_RUNTIME, "%s", l->lost_why);
  }
out:
  pthread_mutex_unlock(&l->mu);
  return rc;
}

/* Sleep until the next refresh or until told to stop; true: stop. */
static bool wait_refresh(struct lock *l)
{
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  double s = floor(l->refresh);
  until.tv_sec += (time_t)s;
  until.tv_nsec += (long)((l->refresh - s) * 1e9);
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&l->mu);
  while (!l->stop &&
         pthread_cond_timedwait(&l->wake, &l->mu, &until) != ETIMEDOUT)
    ;
  bool stop = l->stop;
  pthread_mutex_unlock(&l->mu);
  return stop;
}

static void *keep_thread(void *arg)
{
  struct lock *l = arg;
  /* Signals are the main thread's business (sweep's drain requests);
   * neither call can fail with a full set and SIG_BLOCK. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  while (!wait_refresh(l)) {
    struct err e;
    if (lock_refresh(l, &e) == 0)
      continue;
    pthread_mutex_lock(&l->mu);
    /* A failed write is retried while the lease lasts; past it another
     * host may rightly take the lock over. */
    if (!l->lost && (double)now_s() + l->refresh >= (double)l->self.expires) {
      snprintf(l->lost_why, sizeof l->lost_why, "%s", e.msg);
      l->lost = true;
    }
    bool lost = l->lost;
    pthread_mutex_unlock(&l->mu);
    if (lost) {
      if (l->on_lost)
        l->on_lost(l->on_lost_arg);
      break;
    }
  }
  return NULL;
}

int lock_keep(struct lock *l, void (*on_lost)(void *), void *arg,
              struct err *e)
{
  if (l->thread_started)
    return 0;
  l->on_lost = on_lost;
  l->on_lost_arg = arg;
  int rc = pthread_create(&l->thread, NULL, keep_thread, l);
  if (rc != 0)
    return err_set(e, ERR_RUNTIME, "cannot start the lease thread: %s",
                   strerror(rc));
  l->thread_started = true;
  return 0;
}

int lock_lost(const struct lock *l, char *why, size_t len)
{
  struct lock *m = (struct lock *)l; /* the mutex only */
  pthread_mutex_lock(&m->mu);
  bool lost = l->lost;
  if (lost && why)
    snprintf(why, len, "%s", l->lost_why);
  pthread_mutex_unlock(&m->mu);
  return lost;
}

/* ---- releasing ---- */

/* Whether a record being made (new-) or set aside (stale-) beside the
 * lock belongs to a process that is gone: one killed between making its
 * record and linking or removing it.  Its record says whose it is; a
 * record still being written does not parse and waits for the lease. */
static bool of_dead_process(const char *file, const char *rest)
{
  if (strncmp(rest, "new-", 4) != 0 && strncmp(rest, "stale-", 6) != 0)
    return false;
  struct lock_owner o;
  struct err e;
  return read_owner(file, &o, &e) == READ_OK &&
         lock_judge(&o, now_s(), NULL) == LOCK_STALE;
}

/* Takeover leftovers beside the lock: the tickets of our own takeover
 * (takeover-REPLACED and the tickets of its dead takers, if any), and
 * any older than a lease: tickets (their lock is long gone), records and
 * stale copies of crashed processes; and at once the records of
 * processes known to be gone. */
static void sweep_leftovers(const struct lock *l)
{
  char mine[64] = "";
  if (l->self.replaced[0] && !l->lost)
    snprintf(mine, sizeof mine, "takeover-%s", l->self.replaced);
  /* l->path is absolute (lock_file_of), unless its directory was missing. */
  char dir[LOCK_PATH_MAX], base[LOCK_PATH_MAX];
  const char *slash = strrchr(l->path, '/');
  snprintf(base, sizeof base, "%s.", slash ? slash + 1 : l->path);
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == l->path)
    snprintf(dir, sizeof dir, "/");
  else
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - l->path), l->path);
  DIR *d = opendir(dir);
  if (!d)
    return; /* nothing swept: the files are small and harmless */
  const int64_t old = now_s() - (int64_t)ceil(l->lease);
  struct dirent *ent;
  while ((ent = readdir(d))) {
    const char *rest = ent->d_name + strlen(base);
    if (strncmp(ent->d_name, base, strlen(base)) != 0 ||
        (strncmp(rest, "takeover-", 9) && strncmp(rest, "new-", 4) &&
         strncmp(rest, "stale-", 6)))
      continue;
    char file[2 * LOCK_PATH_MAX];
    snprintf(file, sizeof file, "%s/%s", dir, ent->d_name);
    struct stat st;
    if ((mine[0] && strncmp(rest, mine, strlen(mine)) == 0) ||
        (lstat(file, &st) == 0 && (int64_t)st.st_mtime < old) ||
        of_dead_process(file, rest))
      (void)unlink(file); /* a competitor may have removed it first */
  }
  closedir(d);
}

/* Remove our record from its name: renamed aside first, so that a
 * takeover racing with us never loses its new record. */
static int remove_own(struct lock *l, struct err *e)
{
  if (!still_ours(l))
    return err_set(e, ERR_RUNTIME, "the lock file %s was no longer ours",
                   l->path);
  char aside[LOCK_PATH_MAX + 32];
  snprintf(aside, sizeof aside, "%s.stale-%s", l->path, l->self.token);
  if (rename(l->path, aside) != 0)
    return err_set(e, ERR_RUNTIME, "cannot remove the lock file %s: %s",
                   l->path, strerror(errno));
  /* Between the check and the rename a takeover may have put its own
   * record there: then that goes back. */
  struct stat st;
  bool other = stat(aside, &st) == 0 && (st.st_dev != l->id.st_dev ||
                                         st.st_ino != l->id.st_ino);
  int restored = other ? link(aside, l->path) : 0;
  int why = errno;
  if (unlink(aside) != 0)
    return err_set(e, ERR_RUNTIME, "cannot remove %s: %s", aside,
                   strerror(errno));
  if (other)
    return restored != 0 && why != EEXIST
             ? err_set(e, ERR_RUNTIME, "cannot restore %s: %s", l->path,
                       strerror(why))
             : err_set(e, ERR_RUNTIME, "the lock file %s was no longer ours",
                       l->path);
  return 0;
}

int lock_release(struct lock **lp, struct err *e)
{
  if (!lp || !*lp)
    return 0;
  struct lock *l = *lp;
  *lp = NULL;
  if (l->thread_started) {
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
  }
  int rc = l->lost ? err_set(e, ERR_RUNTIME, "%s", l->lost_why)
                   : remove_own(l, e);
  sweep_leftovers(l);
  lock_free(l);
  return rc;
}

/* ---- inspecting ---- */

int lock_inspect(const char *path, struct lock_owner *o,
                 enum lock_state *state, struct err *e)
{
  char file[LOCK_PATH_MAX];
  if (lock_file_of(path, file, sizeof file, e) != 0)
    return ERR_INPUT;
  struct lock_owner got;
  int rc = read_owner(file, &got, e);
  if (rc < 0)
    return rc;
  if (rc == READ_MISSING) {
    *state = LOCK_FREE;
    return 0;
  }
  *state = lock_judge(&got, now_s(), NULL);
  *o = got;
  return 0;
}
