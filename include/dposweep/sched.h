/* sched: which pending tasks go into the next chunk.  The policy of
 * "dposweep run", apart from the MPI protocol that carries it (sweep.c):
 *
 * - Tasks of one study with the same (arms, samples) cost the same
 *   (spec_task_cost); they form a cost class.  Classes are handed out
 *   largest cost first, so the long tasks start early and the short ones
 *   fill the end (longest processing time first).
 * - A chunk takes pending tasks in that order until its cost reaches a
 *   target: with no measurement yet 1/64 of the work per worker (at
 *   least one unit of cost); then the cost of chunk_seconds at the
 *   measured seconds per unit of cost, shrinking near the end to a
 *   quarter of each worker's share of what is left, so the workers
 *   finish together (guided self-scheduling).
 * - A chunk also stays within SCHED_MAX_TASKS tasks, SCHED_MAX_BYTES of
 *   result buffers and SCHED_MAX_RUNS runs, but always takes one task.
 *
 * The scheduler keeps one status byte per task (enum task_status): the
 * file's bytes as loaded, TASK_HANDED once a task is handed out.  A task
 * is handed out at most once per sched.  The caller reports each finished
 * chunk as counts; tasks a chunk abandoned (a drain: signal, write error)
 * are not handed out again by this sched: the caller stops handing out
 * work then, they stay pending in the file, and the next run's sched,
 * loaded from the file, hands them out.  They count as remaining work.
 *
 * Pure: no MPI, no HDF5, no clocks (the caller passes measured seconds).
 * All functions are not collective. */
#ifndef DPOSWEEP_SCHED_H
#define DPOSWEEP_SCHED_H

#include "dposweep/err.h"
#include "dposweep/spec.h"
#include "dposweep/task.h"

#include <stdint.h>

/* The limits of one chunk. */
#define SCHED_MAX_TASKS 65536
#define SCHED_MAX_BYTES (64 << 20)
#define SCHED_MAX_RUNS 1024

/* count consecutive task indices of one study from start.  Three int64
 * values, no padding: an array of runs travels as int64 triples. */
struct sched_run {
  int64_t study, start, count;
};

/* What the caller reports about a finished chunk. */
struct sched_report {
  int64_t finished;  /* tasks run to the end (status done or failed) */
  int64_t failed;    /* of which diverged */
  int64_t abandoned; /* tasks of the chunk not run (a drain) */
  double compute;    /* seconds spent computing the finished tasks */
  double cost;       /* their cost (spec_task_cost), the same accounting */
};

/* Where the sweep stands; "this run" means since sched_create. */
struct sched_progress {
  int64_t total;            /* tasks of the sweep */
  int64_t done_before;      /* done or failed when loaded */
  int64_t pending_at_start; /* to run when loaded: total - done_before */
  int64_t handed;           /* handed out by this run */
  int64_t finished;         /* reported finished by this run */
  int64_t failed;           /* of which diverged */
  int64_t abandoned;        /* reported abandoned by this run */
  double compute;           /* reported compute seconds of this run */
  double cost_done;         /* cost of the tasks finished in this run */
  double remaining_cost;    /* cost of the tasks not finished (abandoned
                               ones included); 0 once none is left */
};

struct sched;

/* Plan the cost classes of spec (which must outlive the sched), every
 * task pending.  chunk_seconds is the target compute time of a chunk,
 * workers the number of processes running chunks.  Returns 0, ERR_INPUT
 * for workers < 1 or chunk_seconds <= 0, ERR_RUNTIME out of memory. */
int sched_create(const struct spec *spec, double chunk_seconds, int workers,
                 struct sched **out, struct err *e);

/* Free a sched; accepts NULL and clears *s. */
void sched_destroy(struct sched **s);

/* Take a study's status bytes as stored (spec_study(spec, study)->ntasks
 * of them, copied); a byte that is not done or failed is pending.  Load
 * every study with something stored before the first sched_next_chunk.
 * Returns 0, or ERR_INPUT for a bad study or once tasks are handed out. */
int sched_load_status(struct sched *s, int study, const uint8_t *status,
                      struct err *e);

/* The target cost of the next chunk (see the top of this file). */
double sched_target_cost(const struct sched *s);

/* Hand out the next chunk: marks its tasks TASK_HANDED and writes its
 * runs to runs[0 .. SCHED_MAX_RUNS), sorted by study and start.  Returns
 * the number of runs, 0 when no pending task is left.  *ntasks and *cost
 * (each may be NULL) receive the chunk's task count and cost. */
int sched_next_chunk(struct sched *s, struct sched_run *runs, int64_t *ntasks,
                     double *cost);

/* Account a finished chunk: its counts, compute seconds and cost. */
void sched_report(struct sched *s, const struct sched_report *r);

/* A task's status byte: as loaded, or TASK_HANDED. */
enum task_status sched_task_status(const struct sched *s, int study,
                                   int64_t index);

/* Where the sweep stands, from the loaded status and the reports. */
void sched_progress(const struct sched *s, struct sched_progress *p);

/* Seconds still to go at the rate measured over elapsed wall seconds
 * (cost finished per second): 0 when no task is left, NaN before the
 * first finished task. */
double sched_eta_seconds(const struct sched *s, double elapsed);

#endif
