/* cli_merge: "dposweep merge", results files combined into one.  The
 * work is grow's (include/dposweep/grow.h); this is the command: its
 * arguments, the ownership of the output (lock.h) for the whole merge,
 * the refusals, and putting the merged file (and the union spec) in
 * place.  Not collective (no MPI). */
#include "dposweep/cli.h"
#include "dposweep/grow.h"
#include "dposweep/lock.h"
#include "dposweep/sig.h"
#include "dposweep/spec.h"
#include "dposweep/store.h"
#include "dposweep/text.h"

#include "cli_private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char merge_usage[] =
  "usage: dposweep merge A.h5 B.h5 [...] -o OUT.h5 [--force]\n"
  "                      [--spec-out FILE]\n"
  "\n"
  "Merge results files into one.  OUT.h5 holds the union of the inputs'\n"
  "specs (studies with equal settings merged into one whose axes are the\n"
  "union of their values, in first-seen order, seeds ascending; other\n"
  "studies side by side; name and master seed the first input's) and every\n"
  "task finished (done or failed) in any input.  A task finished in two\n"
  "inputs must agree bit for bit, and every finished task must match its\n"
  "checksum; otherwise nothing is written.  Tasks of the union that no\n"
  "input ran are pending: 'dposweep run UNION.yaml -o OUT.h5' runs them\n"
  "(--spec-out writes UNION.yaml).\n"
  "\n"
  "  -o, --output FILE   the merged file (required; not one of the inputs)\n"
  "  --force             replace FILE, and the --spec-out file, if they\n"
  "                      exist (never a file in use or not a dposweep file)\n"
  "  --spec-out FILE     also write the union spec (its canonical text,\n"
  "                      a spec 'dposweep run' reads) to FILE\n"
  "  -h, --help          print this help\n"
  "\n"
  "exit codes: 0 merged, 1 interrupted (nothing written), 2 bad input (an\n"
  "input that is not a readable results file, of another numerics version\n"
  "or master seed, studies of one name with different settings, inputs\n"
  "that disagree on a task, a task that fails its checksum; OUT.h5 exists\n"
  "or is in use), 3 I/O failure\n";

struct merge_options {
  const char **inputs; /* argc entries of room */
  int ninputs;
  const char *output, *spec_out;
  int force;
};

enum { O_FORCE = 256, O_SPEC_OUT };

/* One of merge's options into the struct merge_options at ctx. */
static int merge_option(void *ctx, int c, const char *arg, struct err *e)
{
  struct merge_options *o = ctx;
  (void)e; /* every value is taken as it is */
  switch (c) {
  case 'o': o->output = arg; break;
  case O_FORCE: o->force = 1; break;
  case O_SPEC_OUT: o->spec_out = arg; break;
  }
  return 0;
}

/* merge's arguments: 0, or ERR_INPUT with the reason in e.  *help:
 * --help came before any error. */
static int merge_options(int argc, char **argv, struct merge_options *o,
                         int *help, struct err *e)
{
  static const struct option opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"force", no_argument, NULL, O_FORCE},
    {"spec-out", required_argument, NULL, O_SPEC_OUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  static const struct cli_options merge = {"merge", ":o:h", opts,
                                           merge_option};
  int first, rc = cli_read_options(&merge, argc, argv, o, help, &first, e);
  if (rc || *help)
    return rc;
  for (; first < argc; first++)
    o->inputs[o->ninputs++] = argv[first];
  if (!o->output || !o->output[0])
    return err_set(e, ERR_INPUT, "needs -o OUT.h5, the merged file");
  if (o->ninputs < 1)
    return err_set(e, ERR_INPUT,
                   "needs the files to merge (usage: dposweep merge A.h5 "
                   "B.h5 [...] -o OUT.h5)");
  if (o->spec_out && !o->spec_out[0])
    return err_set(e, ERR_INPUT, "--spec-out: empty file name");
  return 0;
}

/* Whether a and b name one existing file (any of its names). */
static bool same_file(const char *a, const char *b)
{
  struct stat x, y;
  return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev &&
         x.st_ino == y.st_ino;
}

/* The outputs are not inputs: a merge never writes what it reads. */
static int check_paths(const struct merge_options *o, struct err *e)
{
  for (int i = 0; i < o->ninputs; i++) {
    if (same_file(o->inputs[i], o->output))
      return err_set(e, ERR_INPUT,
                     "%s is one of the inputs; merge into a new file (-o)",
                     o->output);
    if (o->spec_out && same_file(o->inputs[i], o->spec_out))
      return err_set(e, ERR_INPUT, "--spec-out: %s is one of the inputs",
                     o->spec_out);
  }
  if (o->spec_out && (same_file(o->spec_out, o->output) ||
                      strcmp(o->spec_out, o->output) == 0))
    return err_set(e, ERR_INPUT, "--spec-out: %s is the merged file itself",
                   o->spec_out);
  return 0;
}

/* ---- signals and ownership ---- */

/* The first SIGINT, SIGTERM or SIGUSR1 stops the merge between batches
 * (nothing is written); the lease thread sets g_lost when the output's
 * lock is taken from this process. */
static volatile sig_atomic_t g_stop = 0;
static atomic_int g_lost = 0;

static void on_signal(int sig)
{
  (void)sig;
  g_stop = 1;
}

static void on_lost(void *arg)
{
  (void)arg;
  atomic_store(&g_lost, 1);
}

static int install_signals(struct err *e)
{
  static const int sigs[] = {SIGINT, SIGTERM, SIGUSR1};
  return sig_catch(sigs, sizeof sigs / sizeof sigs[0], on_signal, e);
}

/* Own the output for the whole merge (lock.h), kept by a lease thread. */
static int take_output(const char *out, struct lock **l, struct err *e)
{
  int rc = lock_acquire(out, "merge", NULL, l, e);
  if (rc == ERR_INPUT) {
    char why[ERR_MSG_LEN];
    snprintf(why, sizeof why, "%s", e->msg);
    return err_set(e, ERR_INPUT, "%s; refusing to touch it", why);
  }
  if (rc != 0)
    return err_prefix(e, "cannot create %s: ", out);
  if (lock_note(*l)[0]) {
    char note[ERR_MSG_LEN];
    snprintf(note, sizeof note, "%s", lock_note(*l));
    text_one_line(note);
    fprintf(stderr, "dposweep merge: %s\n", note);
  }
  return lock_keep(*l, on_lost, NULL, e);
}

/* An existing output is replaced only with --force, and only when it is
 * a dposweep file (checked under the lock: nobody writes it now). */
static int check_output(const struct merge_options *o, struct err *e)
{
  struct err what;
  switch (store_probe(o->output, "", &what)) {
  case STORE_MISSING:
    break;
  case STORE_NOT_DPOSWEEP:
  case STORE_NOT_HDF5:
    return err_set(e, ERR_INPUT, "%s; refusing to touch it", what.msg);
  default:
    if (!o->force)
      return err_set(e, ERR_INPUT,
                     "%s exists; refusing to replace it (--force replaces "
                     "it)", o->output);
  }
  struct stat sb;
  if (o->spec_out && stat(o->spec_out, &sb) == 0) {
    if (S_ISDIR(sb.st_mode))
      return err_set(e, ERR_INPUT, "--spec-out: %s is a directory",
                     o->spec_out);
    if (!o->force)
      return err_set(e, ERR_INPUT,
                     "--spec-out: %s exists; refusing to replace it "
                     "(--force replaces it)", o->spec_out);
  }
  return 0;
}

/* ---- writing ---- */

/* text into path, whole or not at all: a temporary beside it, synced,
 * renamed into place. */
static int write_spec(const char *path, const char *text, struct err *e)
{
  size_t len = strlen(path) + 32;
  char *tmp = malloc(len);
  if (!tmp)
    return err_set(e, ERR_RUNTIME, "out of memory");
  snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
  int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    rc = err_set(e, ERR_RUNTIME, "cannot write %s: %s", path, strerror(errno));
    goto out;
  }
  size_t n = strlen(text), done = 0;
  while (done < n) {
    ssize_t w = write(fd, text + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      break;
    done += (size_t)w;
  }
  if (done < n || fsync(fd) != 0)
    rc = err_set(e, ERR_RUNTIME, "cannot write %s: %s", path,
                 strerror(errno));
  if (close(fd) != 0 && rc == 0)
    rc = err_set(e, ERR_RUNTIME, "cannot write %s: %s", path,
                 strerror(errno));
  if (rc == 0 && rename(tmp, path) != 0)
    rc = err_set(e, ERR_RUNTIME, "cannot write %s: %s", path,
                 strerror(errno));
  if (rc != 0)
    (void)unlink(tmp); /* a leftover's name says what it is */
out:
  free(tmp);
  return rc;
}

/* The one line saying what the merge made, and where the union spec is
 * when tasks are left to run. */
static void summarize(const struct merge_options *o, const struct spec *u,
                      const struct grow_tally *tally)
{
  int64_t finished = 0;
  for (int i = 0; i < o->ninputs; i++)
    finished += tally[i].provided;
  const int64_t pending = spec_ntasks(u) - finished;
  char line[4096];
  size_t n = (size_t)snprintf(
    line, sizeof line, "%s: %d stud%s, %lld tasks: %lld finished, %lld "
    "pending; provided by",
    o->output, spec_nstudies(u), spec_nstudies(u) == 1 ? "y" : "ies",
    (long long)spec_ntasks(u), (long long)finished, (long long)pending);
  for (int i = 0; i < o->ninputs && n < sizeof line; i++) {
    n += (size_t)snprintf(line + n, sizeof line - n, "%s %s %lld",
                          i ? "," : "", o->inputs[i],
                          (long long)tally[i].provided);
    if (tally[i].agreed > 0 && n < sizeof line)
      n += (size_t)snprintf(line + n, sizeof line - n,
                            " (and %lld equal to an earlier input's)",
                            (long long)tally[i].agreed);
  }
  text_one_line(line);
  fprintf(stderr, "dposweep merge: %s\n", line);
  if (pending == 0)
    return;
  if (o->spec_out)
    snprintf(line, sizeof line,
             "the union spec is in %s: 'dposweep run %s -o %s' runs the "
             "%lld pending tasks", o->spec_out, o->spec_out, o->output,
             (long long)pending);
  else
    snprintf(line, sizeof line,
             "the union spec is stored in %s (attribute spec_canonical); "
             "merge again with --spec-out UNION.yaml to get it as a file, "
             "then 'dposweep run UNION.yaml -o %s' runs the %lld pending "
             "tasks", o->output, o->output, (long long)pending);
  text_one_line(line);
  fprintf(stderr, "dposweep merge: %s\n", line);
}

/* Build the merged file under a temporary name, write the union spec,
 * and put the file in place if this process still owns it and was not
 * interrupted (g_stop: then ERR_RUNTIME, "interrupted").  Closes the
 * inputs; *u is the union spec. */
static int merge_into(const struct merge_options *o, struct grow_inputs **in,
                      struct spec **u, struct lock *l, struct err *e)
{
  int rc = grow_union(*in, u, e);
  if (rc != 0)
    return err_prefix(e, "cannot merge: ");
  struct grow_tally *tally = calloc((size_t)o->ninputs, sizeof *tally);
  char *tmp = NULL;
  if (!tally)
    return err_set(e, ERR_RUNTIME, "out of memory");
  rc = grow_build(o->output, *u, *in, GROW_MERGE, &g_stop, tally, &tmp, e);
  if (rc == ERR_INPUT) {
    char why[ERR_MSG_LEN];
    snprintf(why, sizeof why, "%s", e->msg);
    err_set(e, ERR_INPUT, "cannot merge: %s; %s not written", why,
            o->output);
  }
  grow_inputs_close(in);
  if (rc == 0 && o->spec_out)
    rc = write_spec(o->spec_out, spec_canonical(*u), e);
  /* A last refresh checks the lock file itself (failing to write it
   * while it is ours changes nothing): a lock lost while building (a
   * frozen node) means the output may be another's now. */
  struct err le;
  if (rc == 0)
    (void)lock_refresh(l, &le);
  if (rc == 0 && (atomic_load(&g_lost) || lock_lost(l, NULL, 0)))
    rc = err_set(e, ERR_RUNTIME,
                 "lost the ownership of %s during the merge: nothing "
                 "written", o->output);
  if (rc == 0 && g_stop)
    rc = err_set(e, ERR_RUNTIME, "interrupted");
  if (rc == 0 && (rc = store_commit(tmp, o->output, e)) == 0)
    summarize(o, *u, tally);
  if (rc != 0 && tmp)
    store_discard_temp(tmp);
  free(tmp);
  free(tally);
  return rc;
}

int cli_merge(int argc, char **argv)
{
  struct merge_options o = {.inputs = calloc((size_t)argc + 1,
                                             sizeof *o.inputs)};
  struct grow_inputs *in = NULL;
  struct spec *u = NULL;
  struct lock *l = NULL;
  int help = 0, rc;
  struct err e;
  err_clear(&e);
  if (!o.inputs) {
    rc = err_set(&e, ERR_RUNTIME, "out of memory");
    goto out;
  }
  rc = merge_options(argc, argv, &o, &help, &e);
  if (help) {
    fputs(merge_usage, stdout);
    goto out;
  }
  if (rc == 0)
    rc = check_paths(&o, &e);
  if (rc == 0)
    rc = install_signals(&e);
  if (rc == 0)
    rc = take_output(o.output, &l, &e);
  if (rc == 0)
    rc = check_output(&o, &e);
  if (rc == 0)
    rc = grow_inputs_open(o.inputs, o.ninputs, &in, &e);
  if (rc == 0)
    rc = merge_into(&o, &in, &u, l, &e);
out:
  grow_inputs_close(&in);
  spec_destroy(&u);
  struct err le;
  if (l && lock_release(&l, &le) != 0 && !atomic_load(&g_lost))
    fprintf(stderr, "dposweep merge: warning: %s\n", le.msg);
  free(o.inputs);
  if (rc == 0)
    return ERR_EXIT_OK;
  if (g_stop && rc == ERR_RUNTIME) {
    fprintf(stderr, "dposweep merge: interrupted: %s not written\n",
            o.output);
    return ERR_EXIT_INCOMPLETE;
  }
  err_print(&e, "dposweep merge");
  return err_exit_code(rc);
}
