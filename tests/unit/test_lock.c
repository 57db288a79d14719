/* Unit tests of the lock module: the owner record (format, parse, every
 * kind of damage), the staleness rules (same host: the process decides;
 * another host: the lease), acquiring, refusing and taking over in a
 * directory of its own, losing a lock to a takeover, and the takeover
 * race between fork()ed competitors: exactly one of them ever owns. */
#include "dposweep/lock.h"

#include "fixtures.h"
#include "unit.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_dir[64];

static void setup(void)
{
  ck_assert_ptr_nonnull(unit_temp_dir(g_dir, sizeof g_dir, "lock"));
}

/* A directory left behind in /tmp fails no test. */
static void teardown(void) { (void)unit_remove_tree(g_dir); }

static void path_in(char *buf, size_t len, const char *name)
{
  snprintf(buf, len, "%s/%s", g_dir, name);
}

/* How many entries g_dir holds (. and .. aside). */
static int entries(void)
{
  DIR *d = opendir(g_dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *ent;
  while ((ent = readdir(d)))
    n += strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0;
  closedir(d);
  return n;
}

static char g_host[256];

static const char *this_host(void)
{
  gethostname(g_host, sizeof g_host - 1);
  return g_host;
}

/* A record of host and pid, its lease ending at expires. */
static struct lock_owner record(const char *host, long long pid,
                                int64_t expires, const char *token)
{
  struct lock_owner o;
  memset(&o, 0, sizeof o);
  snprintf(o.command, sizeof o.command, "run");
  snprintf(o.host, sizeof o.host, "%s", host);
  snprintf(o.job, sizeof o.job, "4242");
  o.pid = pid;
  o.since = expires - 200;
  o.refreshed = expires - 120;
  o.expires = expires;
  snprintf(o.token, sizeof o.token, "%s", token);
  return o;
}

/* Write o into file. */
static void plant_at(const char *file, const struct lock_owner *o)
{
  char text[4096];
  size_t n = lock_format(o, text, sizeof text);
  FILE *f = fopen(file, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

/* Write o as the lock of results file out. */
static void plant(const char *out, const struct lock_owner *o)
{
  char file[512];
  snprintf(file, sizeof file, "%s.lock", out);
  plant_at(file, o);
}

/* A pid that certainly names no process: a child that has been reaped. */
static long long dead_pid(void)
{
  pid_t p = fork();
  ck_assert_int_ge(p, 0);
  if (p == 0)
    _exit(0);
  ck_assert_int_eq(waitpid(p, NULL, 0), p);
  return (long long)p;
}

START_TEST(test_record_round_trip)
{
  struct lock_owner o = record("node-a.example", 123, 1700000120, "0123456789abcdef");
  snprintf(o.node, sizeof o.node, "n2");
  snprintf(o.boot, sizeof o.boot, "b00t");
  snprintf(o.replaced, sizeof o.replaced, "fedcba9876543210");
  o.start = 99;
  char text[4096];
  size_t n = lock_format(&o, text, sizeof text);
  ck_assert_uint_eq(n, strlen(text));
  struct lock_owner back;
  struct err e;
  ck_assert_int_eq(lock_parse(text, &back, &e), 0);
  ck_assert_int_eq(memcmp(&o, &back, sizeof o), 0);
  /* A key from a later version is ignored. */
  char more[4200];
  snprintf(more, sizeof more, "%sfuture=1\n", text);
  ck_assert_int_eq(lock_parse(more, &back, &e), 0);
  ck_assert_int_eq(memcmp(&o, &back, sizeof o), 0);

  char line[512];
  lock_describe(&o, line, sizeof line);
  ck_assert_str_eq(line, "dposweep run on host node-a.example (SLURM node n2), "
                         "pid 123, SLURM job 4242, since 2023-11-14T22:12:00Z");
}
END_TEST

START_TEST(test_record_damage)
{
  struct lock_owner o = record("h", 7, 1700000000, "0123456789abcdef"), back;
  back.pid = 555;
  char good[4096], bad[4200];
  lock_format(&o, good, sizeof good);
  struct err e;
  static const struct { const char *from, *to, *msg; } cases[] = {
    {"dposweep-lock 1", "dposweep-lock 2", "not a dposweep lock record"},
    {"pid=7", "pid=7x", "pid: not a number '7x'"},
    {"pid=7", "pid=-7", "pid: not a number '-7'"},
    {"pid=7", "pid", "no '=' in line 'pid'"},
    {"expires=1700000000", "expires=soon", "expires: not a number 'soon'"},
    {"host=h", "host=", "host, pid or expires missing"},
    {"token=0123456789abcdef", "token=../../etc/x", "token: not 16 hexadecimal digits"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *at = strstr(good, cases[i].from);
    ck_assert_ptr_nonnull(at);
    snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - good), good, cases[i].to,
             at + strlen(cases[i].from));
    ck_assert_int_eq(lock_parse(bad, &back, &e), ERR_INPUT);
    ck_assert_str_eq(e.msg, cases[i].msg);
  }
  /* Cut short: the last line has no end. */
  snprintf(bad, sizeof bad, "%.*s", (int)strlen(good) - 1, good);
  ck_assert_int_eq(lock_parse(bad, &back, &e), ERR_INPUT);
  ck_assert_str_eq(e.msg, "truncated record");
  ck_assert_int_eq(back.pid, 555); /* never written on failure */
}
END_TEST

START_TEST(test_judge)
{
  const int64_t now = 1700000000;
  const char *why = NULL;
  /* This host: the process decides, whatever the lease says. */
  struct lock_owner o = record(this_host(), (long long)getpid(), now - 1000,
                               "0123456789abcdef");
  ck_assert_int_eq(lock_judge(&o, now, &why), LOCK_HELD);
  o.pid = dead_pid();
  o.expires = now + 1000;
  ck_assert_int_eq(lock_judge(&o, now, &why), LOCK_STALE);
  ck_assert_str_eq(why, "its process is gone");
  /* Alive, but started at another time: the pid was reused. */
  o.pid = (long long)getppid();
  o.start = 1;
  ck_assert_int_eq(lock_judge(&o, now, &why), LOCK_STALE);
  ck_assert_str_eq(why, "its process is gone (the pid is another process's now)");
  /* The same name after another boot, or another machine of the same
   * name: judged by the lease. */
  o.start = 0;
  snprintf(o.boot, sizeof o.boot, "another-boot");
  o.expires = now + 1;
  ck_assert_int_eq(lock_judge(&o, now, &why), LOCK_HELD);
  o.expires = now - 1;
  ck_assert_int_eq(lock_judge(&o, now, &why), LOCK_STALE);
  ck_assert_str_eq(why, "its lease expired");
  /* Another host: the lease, by this host's clock; its end is still
   * valid. */
  o = record("elsewhere.invalid", 1, now, "0123456789abcdef");
  ck_assert_int_eq(lock_judge(&o, now, &why), LOCK_HELD);
  ck_assert_int_eq(lock_judge(&o, now + 1, &why), LOCK_STALE);
}
END_TEST

START_TEST(test_acquire_refuse_release)
{
  char out[256];
  path_in(out, sizeof out, "out.h5");
  struct lock *l = NULL, *again = NULL;
  struct err e;
  ck_assert_msg(lock_acquire(out, "run", NULL, &l, &e) == 0, "%s", e.msg);
  ck_assert_str_eq(lock_note(l), "");
  ck_assert_int_eq(entries(), 1); /* the lock alone, no temporaries */

  struct lock_owner o;
  enum lock_state st;
  ck_assert_int_eq(lock_inspect(out, &o, &st, &e), 0);
  ck_assert_int_eq(st, LOCK_HELD);
  ck_assert_int_eq(o.pid, (long long)getpid());
  ck_assert_str_eq(o.token, lock_self(l)->token);

  /* A second owner is refused, naming the first. */
  ck_assert_int_eq(lock_acquire(out, "merge", NULL, &again, &e), ERR_INPUT);
  ck_assert_ptr_null(again);
  char pid[64];
  snprintf(pid, sizeof pid, ", pid %lld", (long long)getpid());
  ck_assert_msg(strstr(e.msg, " is in use by dposweep run on host ") &&
                  strstr(e.msg, pid) && strstr(e.msg, "(lease until "),
                "%s", e.msg);
  ck_assert_int_eq(entries(), 1);

  ck_assert_int_eq(lock_release(&l, &e), 0);
  ck_assert_ptr_null(l);
  ck_assert_int_eq(lock_release(&l, &e), 0); /* NULL: nothing */
  ck_assert_int_eq(entries(), 0);
  ck_assert_int_eq(lock_inspect(out, &o, &st, &e), 0);
  ck_assert_int_eq(st, LOCK_FREE);
}
END_TEST

START_TEST(test_one_lock_per_file)
{
  /* Every name of a file shares its lock: a symbolic link, a path with
   * "..", a file not made yet. */
  char out[256], link_path[256], dotted[256], a[4096], b[4096], c[4096];
  path_in(out, sizeof out, "out.h5");
  path_in(link_path, sizeof link_path, "other-name.h5");
  snprintf(dotted, sizeof dotted, "%s/../%s/out.h5", g_dir, strrchr(g_dir, '/') + 1);
  struct err e;
  ck_assert_int_eq(lock_file_of(out, a, sizeof a, &e), 0);
  ck_assert_int_eq(lock_file_of(dotted, c, sizeof c, &e), 0);
  ck_assert_str_eq(a, c);
  FILE *f = fopen(out, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ck_assert_int_eq(symlink(out, link_path), 0);
  ck_assert_int_eq(lock_file_of(link_path, b, sizeof b, &e), 0);
  ck_assert_str_eq(a, b);
  ck_assert_str_eq(a + strlen(a) - 12, "/out.h5.lock");
}
END_TEST

START_TEST(test_stale_taken_over)
{
  char out[256];
  path_in(out, sizeof out, "out.h5");
  struct lock *l = NULL;
  struct err e;
  /* A SIGKILLed owner of this host. */
  struct lock_owner dead = record(this_host(), dead_pid(), time(NULL) + 1000,
                                  "00000000000000aa");
  plant(out, &dead);
  ck_assert_msg(lock_acquire(out, "run", NULL, &l, &e) == 0, "%s", e.msg);
  ck_assert_msg(strstr(lock_note(l), "took over the stale lock of dposweep run "
                                     "on host ") &&
                  strstr(lock_note(l), ": its process is gone"),
                "%s", lock_note(l));
  ck_assert_str_eq(lock_self(l)->replaced, "00000000000000aa");
  ck_assert_int_eq(entries(), 2); /* the lock and its takeover ticket */
  ck_assert_int_eq(lock_release(&l, &e), 0);
  ck_assert_int_eq(entries(), 0);

  /* Another host's owner: refused while its lease lasts. */
  struct lock_owner remote = record("elsewhere.invalid", 1, time(NULL) + 60,
                                    "00000000000000bb");
  plant(out, &remote);
  ck_assert_int_eq(lock_acquire(out, "run", NULL, &l, &e), ERR_INPUT);
  ck_assert_msg(strstr(e.msg, "in use by dposweep run on host elsewhere.invalid, "
                              "pid 1, SLURM job 4242, since "),
                "%s", e.msg);
  /* ... and taken over once it has expired. */
  remote.expires = time(NULL) - 1;
  plant(out, &remote);
  ck_assert_msg(lock_acquire(out, "run", NULL, &l, &e) == 0, "%s", e.msg);
  ck_assert_msg(strstr(lock_note(l), ": its lease expired"), "%s", lock_note(l));
  ck_assert_int_eq(lock_release(&l, &e), 0);

  /* A taker that died holding its ticket, before it removed the stale
   * lock: its ticket is taken over in turn. */
  remote.expires = time(NULL) - 1;
  plant(out, &remote);
  char ticket[400];
  snprintf(ticket, sizeof ticket, "%s.lock.takeover-%s", out, remote.token);
  struct lock_owner taker = record(this_host(), dead_pid(), time(NULL) + 100,
                                   "00000000000000ee");
  plant_at(ticket, &taker);
  ck_assert_msg(lock_acquire(out, "run", NULL, &l, &e) == 0, "%s", e.msg);
  ck_assert_msg(strstr(lock_note(l), "host elsewhere.invalid"), "%s", lock_note(l));
  ck_assert_int_eq(entries(), 3); /* the lock, the dead taker's ticket, ours */
  ck_assert_int_eq(lock_release(&l, &e), 0);
  ck_assert_int_eq(entries(), 0);

  /* Three takers in a row that died holding their tickets (each won the
   * ticket of the one before): the chain is followed, not a wedge. */
  plant(out, &remote);
  const char *tokens[] = {"00000000000000e1", "00000000000000e2",
                          "00000000000000e3"};
  snprintf(ticket, sizeof ticket, "%s.lock", out);
  const char *holds = remote.token;
  for (int i = 0; i < 3; i++) {
    char next[400];
    snprintf(next, sizeof next, "%s.takeover-%s", ticket, holds);
    snprintf(ticket, sizeof ticket, "%s", next);
    struct lock_owner t = record(this_host(), dead_pid(), time(NULL) + 100,
                                 tokens[i]);
    plant_at(ticket, &t);
    holds = tokens[i];
  }
  ck_assert_int_eq(entries(), 4);
  ck_assert_msg(lock_acquire(out, "run", NULL, &l, &e) == 0, "%s", e.msg);
  ck_assert_msg(strstr(lock_note(l), "host elsewhere.invalid"), "%s", lock_note(l));
  ck_assert_int_eq(entries(), 5); /* the lock, three dead tickets, ours */
  ck_assert_int_eq(lock_release(&l, &e), 0);
  ck_assert_int_eq(entries(), 0);
}
END_TEST

/* A process killed while it made its record (new-) or set its record
 * aside (stale-) leaves that file; the next release removes it at once,
 * not only a lease later, while a live process's and a half-written one
 * stay. */
START_TEST(test_records_of_dead_processes_swept)
{
  char out[256], file[400];
  path_in(out, sizeof out, "out.h5");
  struct lock *l = NULL;
  struct err e;
  struct lock_owner dead = record(this_host(), dead_pid(), time(NULL) + 1000,
                                  "00000000000000d1");
  snprintf(file, sizeof file, "%s.lock.new-%s", out, dead.token);
  plant_at(file, &dead);
  snprintf(dead.token, sizeof dead.token, "00000000000000d2");
  snprintf(file, sizeof file, "%s.lock.stale-%s", out, dead.token);
  plant_at(file, &dead);
  struct lock_owner alive = record(this_host(), (long long)getpid(),
                                   time(NULL) + 1000, "00000000000000a1");
  snprintf(file, sizeof file, "%s.lock.new-%s", out, alive.token);
  plant_at(file, &alive);
  char half[400];
  snprintf(half, sizeof half, "%s.lock.new-00000000000000a2", out);
  FILE *f = fopen(half, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fputs("command=run\nhost=", f) >= 0, 1);
  ck_assert_int_eq(fclose(f), 0);
  ck_assert_int_eq(entries(), 4);
  ck_assert_msg(lock_acquire(out, "run", NULL, &l, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(lock_release(&l, &e), 0);
  ck_assert_int_eq(entries(), 2); /* the live one and the half-written one */
  ck_assert_int_eq(access(file, F_OK), 0);
  ck_assert_int_eq(access(half, F_OK), 0);
  ck_assert_int_eq(unlink(file), 0);
  ck_assert_int_eq(unlink(half), 0);
}
END_TEST

START_TEST(test_unreadable_lock_refused)
{
  char out[256], file[300];
  path_in(out, sizeof out, "out.h5");
  snprintf(file, sizeof file, "%s.lock", out);
  FILE *f = fopen(file, "w");
  ck_assert_ptr_nonnull(f);
  fputs("garbage\n", f);
  fclose(f);
  struct lock *l = NULL;
  struct err e;
  ck_assert_int_eq(lock_acquire(out, "run", NULL, &l, &e), ERR_INPUT);
  ck_assert_msg(strstr(e.msg, "out.h5.lock: not a dposweep lock record; if no "
                              "dposweep process uses ") != NULL,
                "%s", e.msg);
  struct lock_owner o;
  enum lock_state st;
  ck_assert_int_eq(lock_inspect(out, &o, &st, &e), ERR_INPUT);
  /* A directory that cannot hold the lock: a runtime failure. */
  char missing[300];
  path_in(missing, sizeof missing, "no-such-dir/out.h5");
  ck_assert_int_eq(lock_acquire(missing, "run", NULL, &l, &e), ERR_RUNTIME);
  ck_assert_msg(strstr(e.msg, "cannot create the lock file ") &&
                  strstr(e.msg, "No such file or directory"),
                "%s", e.msg);
}
END_TEST

static volatile int g_lost_calls;

static void on_lost(void *arg)
{
  (void)arg;
  g_lost_calls++;
}

START_TEST(test_refresh_and_loss)
{
  char out[256];
  path_in(out, sizeof out, "out.h5");
  struct lock *l = NULL;
  struct err e;
  const struct lock_options fast = {2.0, 0.1};
  ck_assert_int_eq(lock_acquire(out, "run", &fast, &l, &e), 0);
  ck_assert_int_eq(lock_refresh(l, &e), 0);
  ck_assert_int_eq(lock_self(l)->expires, lock_self(l)->refreshed + 2);
  g_lost_calls = 0;
  ck_assert_int_eq(lock_keep(l, on_lost, NULL, &e), 0);
  /* The refreshes are visible to others. */
  struct lock_owner o;
  enum lock_state st;
  ck_assert_int_eq(lock_inspect(out, &o, &st, &e), 0);
  const int64_t first = o.refreshed;
  for (int i = 0; i < 40 && o.refreshed == first; i++) {
    usleep(100000);
    ck_assert_int_eq(lock_inspect(out, &o, &st, &e), 0);
  }
  ck_assert_int_gt(o.refreshed, first);
  ck_assert_int_eq(lock_lost(l, NULL, 0), 0);

  /* Another process takes the name over (as after an expired lease). */
  char file[300];
  snprintf(file, sizeof file, "%s.lock", out);
  ck_assert_int_eq(unlink(file), 0);
  struct lock_owner thief = record("thief.invalid", 77, time(NULL) + 100,
                                   "00000000000000cc");
  plant(out, &thief);
  for (int i = 0; i < 50 && !g_lost_calls; i++)
    usleep(20000);
  ck_assert_int_eq(g_lost_calls, 1);
  char why[1024];
  ck_assert_int_eq(lock_lost(l, why, sizeof why), 1);
  ck_assert_msg(strstr(why, "lost the ownership of its output: the lock file ") &&
                  strstr(why, "now names dposweep run on host thief.invalid"),
                "%s", why);
  ck_assert_int_eq(lock_refresh(l, &e), ERR_RUNTIME);
  /* Releasing leaves the new owner's lock alone. */
  ck_assert_int_eq(lock_release(&l, &e), ERR_RUNTIME);
  ck_assert_int_eq(lock_inspect(out, &o, &st, &e), 0);
  ck_assert_str_eq(o.token, "00000000000000cc");
}
END_TEST

/* Competitors for one file, released together: each child tries once and
 * exits 0 (owner), 2 (refused) or 3 (failed).  An owner keeps the lock
 * until every other competitor has exited (so none can find it stale
 * early), then dies without releasing it, leaving a stale lock. */
static void race(const char *out, int n, int *won, int *refused)
{
  int gate[2], hold[2];
  ck_assert_int_eq(pipe(gate), 0);
  ck_assert_int_eq(pipe(hold), 0);
  for (int i = 0; i < n; i++) {
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
      close(gate[1]);
      close(hold[1]);
      char c;
      if (read(gate[0], &c, 1) < 0)
        _exit(4);
      struct lock *l = NULL;
      struct err e;
      int rc = lock_acquire(out, "run", NULL, &l, &e);
      if (rc == 0 && read(hold[0], &c, 1) < 0)
        _exit(4);
      _exit(rc == 0 ? 0 : rc == ERR_INPUT ? 2 : 3);
    }
  }
  close(gate[0]);
  close(hold[0]);
  close(gate[1]); /* everyone goes */
  *won = *refused = 0;
  for (int done = 0, waited = 0; done < n;) {
    int status;
    pid_t p = waitpid(-1, &status, WNOHANG);
    ck_assert_int_ge(p, 0);
    if (p == 0) {
      usleep(10000);
      /* Every other one is done (or 20 s went by): the owner may go. */
      if (++waited == 2000 || done == n - 1) {
        close(hold[1]);
        hold[1] = -1;
      }
      continue;
    }
    ck_assert(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    ck_assert_msg(code == 0 || code == 2, "competitor exit %d", code);
    *won += code == 0;
    *refused += code == 2;
    done++;
  }
  if (hold[1] >= 0)
    close(hold[1]);
}

START_TEST(test_takeover_race)
{
  char out[256];
  path_in(out, sizeof out, "out.h5");
  /* A free file, then rounds over the stale lock the last winner left
   * (its process gone) and over an expired remote lease: always exactly
   * one owner. */
  for (int round = 0; round < 12; round++) {
    if (round % 4 == 3) {
      char file[300];
      snprintf(file, sizeof file, "%s.lock", out);
      ck_assert_int_eq(unlink(file), 0);
      /* A token names one acquisition, so each round's remote owner has
       * its own: a takeover's ticket is named by the stale token, and an
       * earlier round's tickets (left when another competitor took the
       * freed name first) must not stand for this round's. */
      char token[17];
      snprintf(token, sizeof token, "00000000000000%02x", 0xd0 + round);
      struct lock_owner remote = record("elsewhere.invalid", 1,
                                        time(NULL) - 5, token);
      plant(out, &remote);
    }
    int won, refused;
    race(out, 8, &won, &refused);
    ck_assert_msg(won == 1, "round %d: %d owners", round, won);
    ck_assert_int_eq(refused, 7);
  }
  /* The last owner is gone: a new one takes over and, releasing, sweeps
   * away the earlier rounds' tickets once they are old (here: a lease of
   * 2 s, and tickets made 3 s before). */
  sleep(3);
  struct lock *l = NULL;
  struct err e;
  const struct lock_options shortlease = {2.0, 1.0};
  ck_assert_msg(lock_acquire(out, "run", &shortlease, &l, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(lock_release(&l, &e), 0);
  ck_assert_int_eq(entries(), 0);
}
END_TEST

static Suite *lock_suite(void)
{
  TCase *tc;
  Suite *s = unit_suite("lock", 120, &tc);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_record_round_trip);
  tcase_add_test(tc, test_record_damage);
  tcase_add_test(tc, test_judge);
  tcase_add_test(tc, test_acquire_refuse_release);
  tcase_add_test(tc, test_one_lock_per_file);
  tcase_add_test(tc, test_stale_taken_over);
  tcase_add_test(tc, test_records_of_dead_processes_swept);
  tcase_add_test(tc, test_unreadable_lock_refused);
  tcase_add_test(tc, test_refresh_and_loss);
  tcase_add_test(tc, test_takeover_race);
  return s;
}

UNIT_MAIN(lock_suite)
