/* Engine micro-benchmark, driven by bench_engine.py.  DPOSWEEP_ISA picks
 * the instruction-set path as in dposweep (unsupported: exit 2).
 *
 *   bench_engine step REGIME K STEPS SAMPLES BETA ETA REWARDS_FILE
 *       run STEPS steps (normalized scale) from theta = 0 on the rewards in
 *       the file; print "ns_per_step X" (CPU time), "status S", the final
 *       u, one per line, and "wall_ns_per_step X"
 *   bench_engine isa
 *       the path in use
 *   bench_engine divlimit
 *       the machine's throughput for the pair loop's one division, in ns
 *       per division (vectorized, in cache): the floor for ns per pair of
 *       the loop that computes the sigmoids on the fly
 *   bench_engine streamlimit
 *       the machine's read bandwidth for an 8 MiB array read again and
 *       again, in ns per 16 bytes: the floor for ns per unordered pair of
 *       mix-p's tabulated loop at K = 1000 (two 8-byte table entries per
 *       unordered pair, an 8 MiB table) */
#include "dposweep/bandit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t c)
{
  struct timespec t;
  clock_gettime(c, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* This process's CPU time: on a shared machine, the time it ran, not the
 * time it waited for a core. */
static double cpu_now(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int step_mode(char **argv)
{
  struct bandit_params p = {
    .scale = BANDIT_NORMALIZED,
    .rewards = BANDIT_REWARDS_EXPLICIT,
    .arms = atoi(argv[3]),
    .beta = atof(argv[6]),
    .eta = atof(argv[7]),
    .iterations = 1,
    .record_every = 1,
    .samples = atoll(argv[5]),
  };
  long steps = atol(argv[4]);
  if (bandit_regime_parse(argv[2], &p.regime) != 0 || p.arms < 2)
    return 2;
  double *r = malloc((size_t)p.arms * sizeof *r);
  double *u = malloc((size_t)p.arms * sizeof *u);
  FILE *f = fopen(argv[8], "r");
  if (!r || !u || !f)
    return 3;
  for (int i = 0; i < p.arms; i++)
    if (fscanf(f, "%lf", &r[i]) != 1)
      return 3;
  fclose(f);
  p.reward_values = r;
  struct bandit *b = NULL;
  if (bandit_create(&p, &b) != 0)
    return 3;
  double t0 = now(), c0 = cpu_now();
  int rc = bandit_advance(b, steps, u);
  double t = now() - t0, c = cpu_now() - c0;
  printf("ns_per_step %.6g\nstatus %d\n", 1e9 * c / (double)steps, rc);
  for (int i = 0; i < p.arms; i++)
    printf("%.17g\n", u[i]);
  printf("wall_ns_per_step %.6g\n", 1e9 * t / (double)steps);
  bandit_destroy(&b);
  free(r);
  free(u);
  return 0;
}

static int divlimit_mode(void)
{
  enum { N = 2048 };
  static double a[N], b[N], out[N];
  for (int i = 0; i < N; i++) {
    a[i] = 1.0 + i * 1e-3;
    b[i] = 2.0 + i * 1e-4;
  }
  long reps = 20000;
  double sink = 0.0, t0 = cpu_now();
  for (long r = 0; r < reps; r++) {
    double c = 1e-9 * (double)r;
#pragma omp simd
    for (int i = 0; i < N; i++)
      out[i] = a[i] / (b[i] + c);
    sink += out[r % N];
  }
  double t = cpu_now() - t0;
  printf("ns_per_division %.6g\nsink %g\n", 1e9 * t / ((double)reps * N), sink);
  return 0;
}

static int streamlimit_mode(void)
{
  /* 8 MiB of doubles: the size of mix-p's table at K = 1000, read over
   * and over like it (from the last-level cache where it fits). */
  size_t n = (size_t)1 << 20;
  double *a = malloc(n * sizeof *a);
  if (!a)
    return 3;
  for (size_t i = 0; i < n; i++)
    a[i] = 1.0 / (double)(i + 1);
  double best = 1e30, sink = 0.0;
  for (int rep = 0; rep < 40; rep++) {
    double s0 = 0.0, s1 = 0.0, t0 = cpu_now();
#pragma omp simd reduction(+ : s0, s1)
    for (size_t i = 0; i < n; i += 2) {
      s0 += a[i];
      s1 += a[i + 1];
    }
    double t = cpu_now() - t0;
    sink += s0 + s1;
    best = t < best ? t : best;
  }
  printf("ns_per_16_bytes %.6g\nsink %g\n", 1e9 * best / ((double)n / 2.0), sink);
  free(a);
  return 0;
}

int main(int argc, char **argv)
{
  /* The instruction-set path, as dposweep takes it. */
  struct err e;
  if (bandit_isa_select(getenv("DPOSWEEP_ISA"), &e) != 0) {
    fprintf(stderr, "bench_engine: DPOSWEEP_ISA: %s\n", e.msg);
    return 2;
  }
  if (argc == 9 && strcmp(argv[1], "step") == 0)
    return step_mode(argv);
  if (argc == 2 && strcmp(argv[1], "isa") == 0) {
    printf("%s\n", bandit_isa_name());
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "divlimit") == 0)
    return divlimit_mode();
  if (argc == 2 && strcmp(argv[1], "streamlimit") == 0)
    return streamlimit_mode();
  fprintf(stderr, "usage: bench_engine step REGIME K STEPS SAMPLES BETA ETA "
                  "REWARDS_FILE | isa | divlimit | streamlimit\n");
  return 2;
}
