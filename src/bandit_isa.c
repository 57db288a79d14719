/* bandit_isa: which compiled copy of the engine's vector kernels runs.  See
 * bandit_isa_select in include/dposweep/bandit.h and src/bandit_kernels.h. */
#include "bandit_kernels.h"

#include <string.h>

/* Best first: "auto" takes the first this CPU supports. */
static const struct bandit_kernels *const paths[] = {
#ifdef BANDIT_X86_KERNELS
  &bk_avx512,
  &bk_avx2,
#endif
  &bk_baseline,
};
#define NPATHS (sizeof paths / sizeof paths[0])

static const struct bandit_kernels *active;

/* Whether the CPU (and the OS, which must save the wider registers) can
 * run a path.  libgcc's cpu model checks both. */
static int cpu_has(const struct bandit_kernels *k)
{
#ifdef BANDIT_X86_KERNELS
  __builtin_cpu_init();
  if (k == &bk_avx512) /* its small batches run the AVX2 copy */
    return __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
  if (k == &bk_avx2)
    return __builtin_cpu_supports("avx2");
#endif
  return k == &bk_baseline;
}

static const struct bandit_kernels *best(void)
{
  for (size_t i = 0; i < NPATHS; i++)
    if (cpu_has(paths[i]))
      return paths[i];
  return &bk_baseline;
}

/* The path named, or NULL when no path has that name. */
static const struct bandit_kernels *lookup(const char *name)
{
  for (size_t i = 0; i < NPATHS; i++)
    if (strcmp(name, paths[i]->name) == 0)
      return paths[i];
  return NULL;
}

static int is_auto(const char *name)
{
  return !name || !*name || strcmp(name, "auto") == 0;
}

int bandit_isa_supported(const char *name)
{
  if (is_auto(name))
    return 1;
  const struct bandit_kernels *k = lookup(name);
  return k && cpu_has(k);
}

int bandit_isa_select(const char *name, struct err *e)
{
  if (is_auto(name)) {
    active = best();
    return 0;
  }
  const struct bandit_kernels *k = lookup(name);
  if (!k) {
    if (strcmp(name, "avx2") == 0 || strcmp(name, "avx512") == 0)
      return err_set(e, ERR_INPUT,
                     "instruction set '%s' is not built into this dposweep "
                     "(not an x86-64 build): use baseline or auto",
                     name);
    return err_set(e, ERR_INPUT,
                   "unknown instruction set '%s': expected baseline, avx2, "
                   "avx512 or auto",
                   name);
  }
  if (!cpu_has(k))
    return err_set(e, ERR_INPUT,
                   "instruction set '%s' is not supported by this CPU: use "
                   "auto (here: %s)",
                   name, best()->name);
  active = k;
  return 0;
}

const struct bandit_kernels *bandit_kernels_active(void)
{
  if (!active)
    active = best();
  return active;
}

const char *bandit_isa_name(void) { return bandit_kernels_active()->name; }
