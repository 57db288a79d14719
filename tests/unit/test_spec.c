/* Unit tests of the spec module: every error names the study and the
 * key; grids enumerate as documented; the hash ignores formatting. */
#include "dposweep/defaults.h"
#include "dposweep/spec.h"

#include "unit.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char good[] =
  "name: t\n"
  "master_seed: 7\n"
  "studies:\n"
  "  - name: a\n"
  "    iterations: 10\n"
  "    record_every: 3\n"
  "    scale: theory\n"
  "    eta: theory\n"
  "    rewards: uniform\n"
  "    seeds: 4\n"
  "    grid:\n"
  "      regime: [uniform, mix-p]\n"
  "      arms: [2, 5, 9]\n"
  "      beta: [0.5, 1.0]\n"
  "      sigma: [0.0, 0.1]\n"
  "  - name: b\n"
  "    iterations: 5\n"
  "    scale: normalized\n"
  "    rewards: normal\n"
  "    seeds: 2\n"
  "    grid:\n"
  "      regime: [mix-r]\n"
  "      arms: [20]\n"
  "      beta: [3]\n"
  "      sigma: [0]\n"
  "      samples: [0, 64]\n"
  "      eta: [0.05, 1]\n";

static struct spec *load(const char *text, char *err, size_t len)
{
  struct spec *s = NULL;
  struct err e;
  if (spec_load_text(text, strlen(text), "t.yaml", &s, &e) != 0) {
    ck_assert_int_eq(e.code, ERR_INPUT);
    snprintf(err, len, "%s", e.msg);
    return NULL;
  }
  return s;
}

START_TEST(test_good_spec)
{
  char err[512];
  struct spec *s = load(good, err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  ck_assert_int_eq(spec_nstudies(s), 2);
  const struct spec_study *a = spec_study(s, 0), *b = spec_study(s, 1);
  ck_assert_int_eq(a->ntasks, 2 * 3 * 2 * 2 * 4);
  ck_assert_int_eq(b->ntasks, 1 * 1 * 1 * 1 * 2 * 2 * 2);
  ck_assert_int_eq(spec_ntasks(s), 96 + 8);
  ck_assert_int_eq(a->nrec, 5); /* 0 3 6 9 10 */
  ck_assert_int_eq(b->record_every, 1);
  ck_assert_int_eq(a->max_arms, 9);
  ck_assert_int_eq(b->len[SPEC_AXIS_ETA], 2);
  ck_assert(!b->eta_theory[0] && b->eta[0] == 0.05);
  ck_assert(a->eta_theory[0]);
  ck_assert_uint_eq(spec_master_seed(s), 7);
  ck_assert_int_eq((int)strlen(spec_sha256(s)), 64);
  spec_destroy(&s);
  ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_index_order)
{
  /* Mixed radix: regime, arms, beta, sigma, samples, eta, seed (fastest). */
  char err[512];
  struct spec *s = load(good, err, sizeof err);
  ck_assert_ptr_nonnull(s);
  const struct spec_study *a = spec_study(s, 0);
  int64_t idx = 0;
  for (int r = 0; r < 2; r++)
    for (int k = 0; k < 3; k++)
      for (int be = 0; be < 2; be++)
        for (int si = 0; si < 2; si++)
          for (int seed = 0; seed < 4; seed++, idx++) {
            struct spec_coords c;
            spec_coords_of(a, idx, &c);
            ck_assert_int_eq(c.pos[SPEC_AXIS_REGIME], r);
            ck_assert_int_eq(c.pos[SPEC_AXIS_ARMS], k);
            ck_assert_int_eq(c.pos[SPEC_AXIS_BETA], be);
            ck_assert_int_eq(c.pos[SPEC_AXIS_SIGMA], si);
            ck_assert_int_eq(c.pos[SPEC_AXIS_SAMPLES], 0);
            ck_assert_int_eq(c.pos[SPEC_AXIS_ETA], 0);
            ck_assert_int_eq(c.pos[SPEC_AXIS_SEED], seed);
            ck_assert_int_eq(spec_index_of(a, &c), idx);
          }
  struct bandit_params p;
  spec_task_params(s, 0, 95, &p);
  ck_assert_int_eq(p.regime, BANDIT_MIX_P);
  ck_assert_int_eq(p.arms, 9);
  ck_assert(p.beta == 1.0 && p.sigma == 0.1 && p.eta_theory);
  ck_assert_uint_eq(p.seed, 3);
  ck_assert_uint_eq(p.master_seed, 7);
  /* Study b: samples axis before eta. */
  const struct spec_study *b = spec_study(s, 1);
  struct spec_coords c;
  spec_coords_of(b, 5, &c); /* samples 1, eta 0, seed 1 */
  ck_assert_int_eq(c.pos[SPEC_AXIS_SAMPLES], 1);
  ck_assert_int_eq(c.pos[SPEC_AXIS_ETA], 0);
  ck_assert_int_eq(c.pos[SPEC_AXIS_SEED], 1);
  ck_assert_int_eq(spec_index_of(b, &c), 5);
  spec_task_params(s, 1, 5, &p);
  ck_assert_int_eq(p.samples, 64);
  ck_assert(p.eta == 0.05 && !p.eta_theory && p.scale == BANDIT_NORMALIZED);
  ck_assert_double_eq(spec_task_cost(b, &c), 5.0 * (400.0 + 64.0));
  /* The study's cost: 2 seeds x 2 etas per samples value. */
  ck_assert_double_eq(spec_study_cost(b), 4 * 5.0 * 400.0 + 4 * 5.0 * 464.0);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_hash_ignores_formatting)
{
  char err[512];
  struct spec *s1 = load(good, err, sizeof err);
  /* Same content: comments, flow style, an axis eta instead of a study
   * eta, 1.0 spelled 1, record_every 1 spelled out. */
  const char *same =
    "# a comment\n"
    "name: t\n"
    "master_seed: 7\n"
    "studies:\n"
    "- {name: a, iterations: 10, record_every: 3, scale: theory,\n"
    "   rewards: uniform, seeds: 4,\n"
    "   grid: {regime: [uniform, mix-p], arms: [2, 5, 9], beta: [0.5, 1],\n"
    "          sigma: [0, 0.1], eta: [theory]}}\n"
    "- name: b\n"
    "  iterations: 5\n"
    "  record_every: 1\n"
    "  scale: normalized\n"
    "  rewards: normal\n"
    "  seeds: 2\n"
    "  grid: {regime: [mix-r], arms: [20], beta: [3.0], sigma: [0.0],\n"
    "         samples: [0, 64], eta: [0.05, 1.0]}\n";
  struct spec *s2 = load(same, err, sizeof err);
  ck_assert_msg(s2 != NULL, "%s", err);
  ck_assert_str_eq(spec_sha256(s1), spec_sha256(s2));
  ck_assert_str_eq(spec_canonical(s1), spec_canonical(s2));
  /* A different value: a different hash. */
  char *other = strdup(good);
  char *p = strstr(other, "seeds: 4");
  p[7] = '5';
  struct spec *s3 = load(other, err, sizeof err);
  ck_assert_ptr_nonnull(s3);
  ck_assert_str_ne(spec_sha256(s1), spec_sha256(s3));
  /* The canonical text parses to the same spec. */
  struct spec *s4 = load(spec_canonical(s1), err, sizeof err);
  ck_assert_msg(s4 != NULL, "%s", err);
  ck_assert_str_eq(spec_sha256(s1), spec_sha256(s4));
  free(other);
  spec_destroy(&s1);
  spec_destroy(&s2);
  spec_destroy(&s3);
  spec_destroy(&s4);
}
END_TEST

START_TEST(test_sha256_known_answer)
{
  char hex[65];
  spec_sha256_hex("abc", 3, hex);
  ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_default_spec)
{
  char err[512];
  struct spec *s = load(spec_default_text(), err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  ck_assert_int_eq(spec_nstudies(s), 5);
  ck_assert_str_eq(spec_study(s, 0)->name, "authors-exact");
  ck_assert_str_eq(spec_study(s, 1)->name, "authors-sampled");
  ck_assert_str_eq(spec_study(s, 3)->name, "theory-gaussian");
  ck_assert_str_eq(spec_study(s, 4)->name, "samplers");
  ck_assert_int_eq(spec_study(s, 4)->len[SPEC_AXIS_REF_SPREAD], 3);
  ck_assert_int_ge(spec_study(s, 1)->len[SPEC_AXIS_SEED], 20);
  ck_assert_int_eq(spec_study(s, 1)->len[SPEC_AXIS_REGIME], 7);
  /* sim's default master seed is the default sweep's. */
  ck_assert_uint_eq(spec_master_seed(s), DPOSWEEP_DEFAULT_MASTER_SEED);
  ck_assert_int_eq(spec_study(s, 1)->samples[0], 8192);
  spec_destroy(&s);
}
END_TEST

/* Replace the first occurrence of `from` in good with `to`. */
static char *edit(const char *from, const char *to)
{
  const char *p = strstr(good, from);
  ck_assert_msg(p != NULL, "template has no '%s'", from);
  size_t n = strlen(good) - strlen(from) + strlen(to) + 1;
  char *out = malloc(n);
  size_t pre = (size_t)(p - good);
  memcpy(out, good, pre);
  strcpy(out + pre, to);
  strcat(out, p + strlen(from));
  return out;
}

/* Specs that use none of the keys added later (seeds lists, ref_spread,
 * ref_logits), with the SHA-256 that dposweep before them computed: their
 * canonical text is unchanged, so their results files still resume. */
static const struct {
  const char *text, *sha256;
} known[] = {
  {good, "c6d55a3feabec706a5ce07bdeacc7db5dfdb3689a9ecd99da9de92293f1fa010"},
  {"name: e\n"
   "master_seed: 3\n"
   "studies:\n"
   "  - {name: x, iterations: 5, record_every: 2, scale: normalized, rewards: explicit,\n"
   "     reward_values: [0.1, 0.7, 0.3], seeds: 2,\n"
   "     grid: {regime: [mix-p-clip], arms: [3], beta: [1e-3, 1e3], sigma: [0.1],\n"
   "            eta: [0.5, 2]}}\n",
   "0342de66457556f66f55ed4605214becc2f2ea860d61ce41fa6751308a100678"},
  {"name: mpi-test\nmaster_seed: 4242\nstudies:\n"
   "  - name: exact\n    iterations: 20\n    record_every: 3\n    scale: theory\n"
   "    eta: theory\n    rewards: uniform\n    seeds: 3\n    grid:\n"
   "      regime: [uniform, mix-r, mix-p]\n      arms: [3, 8]\n"
   "      beta: [0.5, 2.0]\n      sigma: [0.0]\n"
   "  - name: noisy\n    iterations: 30\n    scale: normalized\n"
   "    rewards: normal\n    seeds: 4\n    grid:\n"
   "      regime: [mix-p-clip, on-policy]\n      arms: [5]\n      beta: [1.0]\n"
   "      sigma: [0.0, 0.05]\n      eta: [0.5, 1.0]\n"
   "  - name: sampled\n    iterations: 25\n    record_every: 5\n"
   "    scale: normalized\n    eta: 0.5\n    rewards: normal\n    seeds: 3\n"
   "    grid:\n      regime: [hybrid, reference, mix-r]\n      arms: [4]\n"
   "      beta: [2.0]\n      sigma: [0.0]\n      samples: [5, 500]\n",
   "935b122e55b356673486f36084ce3b7efe2909f2e02c4a527d79c26ea2818416"},
  /* -0.0 spelled out, the largest master seed, theory and a number. */
  {"name: odd-1\nmaster_seed: 18446744073709551615\nstudies:\n"
   "  - name: z\n    iterations: 7\n    scale: theory\n    rewards: explicit\n"
   "    reward_values: [-0.0, 1e-3, 0.25]\n    seeds: 1\n    grid:\n"
   "      regime: [reference, on-policy]\n      arms: [3]\n"
   "      beta: [1e1, 0.1]\n      sigma: [-0.0, 0.3]\n"
   "      eta: [theory, 0.125]\n",
   "014931dee1449f02e7e5cc76f3963975b129c7b7a0511f04243dfd447156e278"},
};

START_TEST(test_known_hashes)
{
  char err[512];
  struct spec *s = load(known[_i].text, err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  ck_assert_str_eq(spec_sha256(s), known[_i].sha256);
  ck_assert_ptr_null(strstr(spec_canonical(s), "ref_"));
  spec_destroy(&s);
}
END_TEST

/* good with one replacement, loaded; the test fails when it does not
 * load. */
static struct spec *load_edit(const char *from, const char *to)
{
  char *text = edit(from, to);
  char err[512];
  struct spec *s = load(text, err, sizeof err);
  ck_assert_msg(s != NULL, "%s\n%s", err, text);
  free(text);
  return s;
}

START_TEST(test_seeds_list)
{
  struct spec *count = load_edit("seeds: 4", "seeds: 4");
  /* 0 .. N-1 listed is seeds: N: same text, same hash, no list kept. */
  struct spec *range = load_edit("seeds: 4", "seeds: [0, 1, 2, 3]");
  ck_assert_str_eq(spec_sha256(range), spec_sha256(count));
  ck_assert_str_eq(spec_canonical(range), spec_canonical(count));
  ck_assert_ptr_null(spec_study(range, 0)->seed_list);
  /* Any other list is kept in its order. */
  struct spec *l = load_edit("seeds: 4", "seeds: [5, 9223372036854775807, 2]");
  const struct spec_study *a = spec_study(l, 0);
  ck_assert_int_eq(a->len[SPEC_AXIS_SEED], 3);
  ck_assert_int_eq(a->ntasks, 2 * 3 * 2 * 2 * 3);
  ck_assert_uint_eq(spec_seed(a, 0), 5);
  ck_assert_uint_eq(spec_seed(a, 1), 9223372036854775807ULL);
  ck_assert_uint_eq(spec_seed(a, 2), 2);
  ck_assert_uint_eq(spec_seed(spec_study(count, 0), 3), 3);
  struct bandit_params p;
  spec_task_params(l, 0, 4, &p); /* seed position 1 */
  ck_assert_uint_eq(p.seed, 9223372036854775807ULL);
  ck_assert_ptr_nonnull(
    strstr(spec_canonical(l), "seeds: [5, 9223372036854775807, 2]\n"));
  ck_assert_str_ne(spec_sha256(l), spec_sha256(count));
  char err[512];
  struct spec *again = load(spec_canonical(l), err, sizeof err);
  ck_assert_msg(again != NULL, "%s", err);
  ck_assert_str_eq(spec_sha256(again), spec_sha256(l));
  /* A permutation of 0 .. N-1 is not the range: another task order. */
  struct spec *perm = load_edit("seeds: 4", "seeds: [1, 0, 2, 3]");
  ck_assert_str_ne(spec_sha256(perm), spec_sha256(count));
  ck_assert_uint_eq(spec_seed(spec_study(perm, 0), 0), 1);
  spec_destroy(&count);
  spec_destroy(&range);
  spec_destroy(&l);
  spec_destroy(&again);
  spec_destroy(&perm);
}
END_TEST

/* seeds: N allocates nothing per seed: 80 million seeds (1.9e9 tasks)
 * load at once. */
START_TEST(test_seed_count_is_not_a_list)
{
  struct spec *s = load_edit("seeds: 4", "seeds: 80000000");
  const struct spec_study *b = spec_study(s, 1);
  ck_assert_ptr_null(spec_study(s, 0)->seed_list);
  ck_assert_uint_eq(spec_seed(spec_study(s, 0), 79999999), 79999999);
  struct bandit_params p;
  spec_task_params(s, 0, spec_study(s, 0)->ntasks - 1, &p);
  ck_assert_uint_eq(p.seed, 79999999);
  ck_assert_int_eq(b->len[SPEC_AXIS_SEED], 2);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_ref_spread_axis)
{
  struct spec *plain = load_edit("seeds: 4", "seeds: 4");
  /* [0] (or -0.0) is the default: the same spec. */
  struct spec *zero = load_edit("      sigma: [0.0, 0.1]\n",
                                "      sigma: [0.0, 0.1]\n"
                                "      ref_spread: [-0.0]\n");
  ck_assert_str_eq(spec_sha256(zero), spec_sha256(plain));
  ck_assert(spec_study(zero, 0)->ref_spread[0] == 0.0 &&
            !signbit(spec_study(zero, 0)->ref_spread[0]));
  struct spec *s = load_edit("      sigma: [0.0, 0.1]\n",
                             "      sigma: [0.0, 0.1]\n"
                             "      ref_spread: [0, 0.5, 2]\n");
  const struct spec_study *a = spec_study(s, 0);
  ck_assert_int_eq(a->len[SPEC_AXIS_REF_SPREAD], 3);
  ck_assert_int_eq(a->ntasks, 2 * 3 * 2 * 2 * 3 * 4);
  ck_assert_int_eq(spec_study(s, 1)->len[SPEC_AXIS_REF_SPREAD], 1);
  ck_assert_str_eq(spec_axis_name(SPEC_AXIS_REF_SPREAD), "ref_spread");
  /* Between eta and seed: seed fastest, then ref_spread. */
  struct spec_coords c;
  spec_coords_of(a, 4 * 2 + 1, &c);
  ck_assert_int_eq(c.pos[SPEC_AXIS_SEED], 1);
  ck_assert_int_eq(c.pos[SPEC_AXIS_REF_SPREAD], 2);
  ck_assert_int_eq(c.pos[SPEC_AXIS_ETA], 0);
  ck_assert_int_eq(c.pos[SPEC_AXIS_SIGMA], 0);
  spec_coords_of(a, 12, &c);
  ck_assert_int_eq(c.pos[SPEC_AXIS_SIGMA], 1);
  ck_assert_int_eq(c.pos[SPEC_AXIS_REF_SPREAD], 0);
  struct bandit_params p;
  spec_task_params(s, 0, 4 * 2 + 1, &p);
  ck_assert(p.ref_spread == 2.0 && p.seed == 1 && p.ref_logits == NULL);
  ck_assert_ptr_nonnull(strstr(spec_canonical(s),
                               "      eta: [theory]\n      ref_spread: [0, "
                               "0.5, 2]\n"));
  ck_assert_str_ne(spec_sha256(s), spec_sha256(plain));
  spec_destroy(&plain);
  spec_destroy(&zero);
  spec_destroy(&s);
}
END_TEST

START_TEST(test_ref_logits)
{
  struct spec *s = load_edit("      arms: [2, 5, 9]\n",
                             "      arms: [3]\n");
  struct spec *r = load_edit("    seeds: 4\n    grid:\n      regime: [uniform, mix-p]\n      arms: [2, 5, 9]\n",
                             "    ref_logits: [0.5, -0.0, 2e0]\n"
                             "    seeds: 4\n    grid:\n      regime: [uniform, mix-p]\n      arms: [3]\n");
  const struct spec_study *a = spec_study(r, 0);
  ck_assert_ptr_nonnull(a->ref_logits);
  ck_assert(a->ref_logits[0] == 0.5 && a->ref_logits[2] == 2.0);
  ck_assert_ptr_null(spec_study(r, 1)->ref_logits);
  struct bandit_params p;
  spec_task_params(r, 0, 0, &p);
  ck_assert_ptr_eq(p.ref_logits, a->ref_logits);
  ck_assert(p.ref_spread == 0.0);
  ck_assert_ptr_nonnull(
    strstr(spec_canonical(r), "    ref_logits: [0.5, -0, 2]\n    seeds: 4\n"));
  ck_assert_str_ne(spec_sha256(r), spec_sha256(s));
  char err[512];
  struct spec *again = load(spec_canonical(r), err, sizeof err);
  ck_assert_msg(again != NULL, "%s", err);
  ck_assert_str_eq(spec_sha256(again), spec_sha256(r));
  spec_destroy(&s);
  spec_destroy(&r);
  spec_destroy(&again);
}
END_TEST

/* Every error: load fails, and the one-line message contains each
 * expected piece (the study, the key, what is wrong). */
static const struct {
  const char *from, *to;
  const char *want[3];
} bad[] = {
  /* libcyaml-level: wrong types, unknown and duplicate keys */
  {"beta: [0.5, 1.0]", "beta: [0.5, high]",
   {"t.yaml: study 'a': grid.beta[1]", "invalid number 'high'", ""}},
  {"beta: [0.5, 1.0]", "beta: [0.5, 0.7- 0.3]",
   {"study 'a'", "grid.beta[1]", "invalid number '0.7- 0.3'"}},
  {"arms: [2, 5, 9]", "arms: [2, five]",
   {"study 'a'", "grid.arms[1]", "invalid integer"}},
  {"arms: [2, 5, 9]", "arms: 5", {"study 'a'", "grid.arms", "expected a list"}},
  {"arms: [2, 5, 9]", "arms: [2, 8.5]", {"study 'a'", "grid.arms[1]", "invalid integer '8.5'"}},
  {"seeds: 4", "seeds: 4.9", {"study 'a'", "seeds", "invalid integer '4.9'"}},
  {"samples: [0, 64]", "samples: [0, 1e3]", {"study 'b'", "grid.samples[1]", "invalid integer"}},
  {"seeds: 4", "seeds: 4\n    colour: red",
   {"t.yaml:1", "study 'a'", "unknown key 'colour'"}},
  {"seeds: 4", "seeds: 4\n    seeds: 5",
   {"study 'a'", "duplicate key 'seeds'", ":"}},
  {"      sigma: [0.0, 0.1]", "      sigma: [0.0, 0.1]\n      temperature: [1]",
   {"study 'a'", "unknown key 'temperature'", ""}},
  {"name: t\n", "name: t\nversion: 2\n", {"unknown key 'version'", "", ""}},
  {"iterations: 10", "iterations: 99999999999999999999999",
   {"study 'a'", "iterations", "invalid integer"}},
  {"    grid:\n      regime: [uniform, mix-p]\n      arms: [2, 5, 9]\n      beta: [0.5, 1.0]\n      sigma: [0.0, 0.1]\n",
   "    grid: [1, 2]\n", {"study 'a'", "grid", "expected a mapping"}},
  /* our checks */
  {"name: a\n", "name: b\n", {"study 'b'", "name", "duplicate study name"}},
  {"name: a\n", "name: 'a b'\n", {"studies[0]", "name", "letters"}},
  {"    iterations: 10\n", "", {"study 'a'", "missing key 'iterations'", ""}},
  {"    seeds: 4\n", "", {"study 'a'", "missing key 'seeds'", ""}},
  {"      regime: [uniform, mix-p]\n", "", {"study 'a'", "grid", "missing key 'regime'"}},
  {"regime: [uniform, mix-p]", "regime: []", {"study 'a'", "grid.regime", "empty"}},
  {"arms: [2, 5, 9]", "arms: []", {"study 'a'", "grid.arms", "empty"}},
  {"samples: [0, 64]", "samples: []", {"study 'b'", "grid.samples", "empty"}},
  {"regime: [uniform, mix-p]", "regime: [uniform, greedy]",
   {"study 'a'", "grid.regime[1]", "unknown regime 'greedy'"}},
  {"arms: [2, 5, 9]", "arms: [2, 1]", {"study 'a'", "grid.arms[1]", "between 2"}},
  {"beta: [0.5, 1.0]", "beta: [0.5, 0]", {"study 'a'", "grid.beta[1]", "> 0"}},
  {"beta: [0.5, 1.0]", "beta: [-1]", {"study 'a'", "grid.beta[0]", "> 0"}},
  {"beta: [0.5, 1.0]", "beta: [nan]", {"study 'a'", "grid.beta[0]", "finite"}},
  {"beta: [0.5, 1.0]", "beta: [inf]", {"study 'a'", "grid.beta[0]", "finite"}},
  {"beta: [0.5, 1.0]", "beta: [1e400]", {"study 'a'", "grid.beta[0]", "invalid number"}},
  {"sigma: [0.0, 0.1]", "sigma: [-0.1]", {"study 'a'", "grid.sigma[0]", ">= 0"}},
  {"samples: [0, 64]", "samples: [-3]", {"study 'b'", "grid.samples[0]", "between 0"}},
  {"sigma: [0]", "sigma: [0.2]", {"study 'b'", "grid.samples[1]", "sigma"}},
  {"iterations: 10", "iterations: 0", {"study 'a'", "iterations", "between 1"}},
  {"iterations: 10", "iterations: -4", {"study 'a'", "iterations", "between 1"}},
  {"record_every: 3", "record_every: 0", {"study 'a'", "record_every", ">= 1"}},
  {"seeds: 4", "seeds: 0", {"study 'a'", "seeds", "between 1"}},
  {"seeds: 4", "seeds: 3000000000", {"study 'a'", "seeds", "between 1"}},
  {"scale: theory", "scale: log", {"study 'a'", "scale", "unknown scale 'log'"}},
  {"eta: theory", "eta: fast", {"study 'a'", "eta", "not a number"}},
  {"eta: theory", "eta: -1", {"study 'a'", "eta", "> 0"}},
  {"eta: [0.05, 1]", "eta: [0.05, theory]", {"study 'b'", "grid.eta[1]", "theory"}},
  {"eta: [0.05, 1]", "eta: [0.05, 0.05]", {"study 'b'", "grid.eta[1]", "duplicate"}},
  {"    rewards: normal\n", "    rewards: normal\n    eta: 1\n",
   {"study 'b'", "eta", "both"}},
  {"      eta: [0.05, 1]\n", "", {"study 'b'", "missing key 'eta'", ""}},
  {"beta: [0.5, 1.0]", "beta: [0.5, 0.5]", {"study 'a'", "grid.beta[1]", "duplicate"}},
  {"rewards: uniform", "rewards: cauchy", {"study 'a'", "rewards", "unknown distribution"}},
  {"rewards: uniform", "rewards: explicit", {"study 'a'", "reward_values", "missing"}},
  {"rewards: uniform", "rewards: uniform\n    reward_values: [1, 2]",
   {"study 'a'", "reward_values", "only with rewards: explicit"}},
  {"rewards: uniform", "rewards: explicit\n    reward_values: [0.1, 0.5]",
   {"study 'a'", "grid.arms[1]", "reward_values lists 2"}},
  {"master_seed: 7", "master_seed: -1", {"master_seed", "between 0", ""}},
  {"master_seed: 7", "master_seed: 12x", {"master_seed", "integer", ""}},
  {"master_seed: 7\n", "", {"missing key 'master_seed'", "", ""}},
  {"name: t\n", "", {"missing key 'name'", "", ""}},
  {"seeds: 4", "seeds: 2147483648\n",
   {"study 'a'", "2^31", "tasks"}},
  {"name: t\n", "name: [t\n", {"t.yaml", "", ""}},
  {"rewards: uniform", "rewards: explicit\n    reward_values: [0.1, x]",
   {"study 'a'", "reward_values[1]", "invalid number 'x'"}},
  /* numerically equal values are duplicates, in every axis */
  {"sigma: [0.0, 0.1]", "sigma: [0.0, -0.0]",
   {"study 'a'", "grid.sigma[1]", "duplicate value (equal to grid.sigma[0])"}},
  {"beta: [0.5, 1.0]", "beta: [1, 0.5, 1.0]", {"study 'a'", "grid.beta[2]", "duplicate"}},
  {"beta: [0.5, 1.0]", "beta: [1e0, 1.0]", {"study 'a'", "grid.beta[1]", "duplicate"}},
  {"arms: [2, 5, 9]", "arms: [2, 5, 2]", {"study 'a'", "grid.arms[2]", "duplicate"}},
  {"regime: [uniform, mix-p]", "regime: [mix-p, uniform, mix-p]",
   {"study 'a'", "grid.regime[2]", "duplicate"}},
  {"samples: [0, 64]", "samples: [64, 0, 64]", {"study 'b'", "grid.samples[2]", "duplicate"}},
  {"eta: [0.05, 1]", "eta: [1, 0.05, 1.0]", {"study 'b'", "grid.eta[2]", "duplicate"}},
  {"    eta: theory\n    rewards: uniform\n    seeds: 4\n    grid:\n",
   "    rewards: uniform\n    seeds: 4\n    grid:\n      eta: [theory, theory]\n",
   {"study 'a'", "grid.eta[1]", "duplicate value (equal to grid.eta[0])"}},
  /* seeds as a list */
  {"seeds: 4", "seeds: []", {"study 'a'", "seeds", "empty list"}},
  {"seeds: 4", "seeds: [3, 1, 3]",
   {"study 'a'", "seeds[2]", "duplicate value (equal to seeds[0])"}},
  {"seeds: 4", "seeds: [1, -1]", {"study 'a'", "seeds[1]", "between 0 and 9223372036854775807"}},
  {"seeds: 4", "seeds: [9223372036854775808]", {"study 'a'", "seeds[0]", "between 0"}},
  {"seeds: 4", "seeds: [1, 2.5]", {"study 'a'", "seeds[1]", "invalid integer '2.5'"}},
  {"seeds: 4", "seeds: [1, [2]]", {"t.yaml:10:", "study 'a'", "seeds[1]: wrong type"}},
  {"seeds: 4", "seeds: {n: 4}", {"t.yaml:10:", "study 'a'", "seeds: wrong type"}},
  {"seeds: 4", "seeds: [1]\n    seeds: [2]", {"t.yaml:11:", "study 'a'", "duplicate key 'seeds'"}},
  /* ref_spread */
  {"      sigma: [0.0, 0.1]\n", "      sigma: [0.0, 0.1]\n      ref_spread: [0, -1]\n",
   {"study 'a'", "grid.ref_spread[1]", "finite number >= 0"}},
  {"      sigma: [0.0, 0.1]\n", "      sigma: [0.0, 0.1]\n      ref_spread: [nan]\n",
   {"study 'a'", "grid.ref_spread[0]", "finite"}},
  {"      sigma: [0.0, 0.1]\n", "      sigma: [0.0, 0.1]\n      ref_spread: [inf]\n",
   {"study 'a'", "grid.ref_spread[0]", "finite"}},
  {"      sigma: [0.0, 0.1]\n", "      sigma: [0.0, 0.1]\n      ref_spread: [wide]\n",
   {"study 'a'", "grid.ref_spread[0]", "invalid number 'wide'"}},
  {"      sigma: [0.0, 0.1]\n", "      sigma: [0.0, 0.1]\n      ref_spread: []\n",
   {"study 'a'", "grid.ref_spread", "empty"}},
  {"      sigma: [0.0, 0.1]\n", "      sigma: [0.0, 0.1]\n      ref_spread: [0, 1, -0.0]\n",
   {"study 'a'", "grid.ref_spread[2]", "duplicate"}},
  {"      sigma: [0.0, 0.1]\n", "      sigma: [0.0, 0.1]\n      ref_spread: 1\n",
   {"study 'a'", "grid.ref_spread", "expected a list"}},
  /* ref_logits */
  {"    seeds: 4\n", "    seeds: 4\n    ref_logits: [1, 2]\n",
   {"study 'a'", "grid.arms[1]", "ref_logits lists 2 values"}},
  {"    seeds: 2\n", "    seeds: 2\n    ref_logits: [1, x]\n",
   {"study 'b'", "ref_logits[1]", "invalid number 'x'"}},
  {"    seeds: 2\n", "    seeds: 2\n    ref_logits: [1, inf]\n",
   {"study 'b'", "ref_logits[1]", "finite"}},
  {"    seeds: 2\n", "    seeds: 2\n    ref_logits: []\n",
   {"study 'b'", "ref_logits", "empty"}},
  {"    seeds: 2\n", "    seeds: 2\n    ref_logits: 3\n",
   {"study 'b'", "ref_logits", "expected a list"}},
  {"      eta: [0.05, 1]\n", "      eta: [0.05, 1]\n      ref_spread: [0, 1]\n    ref_logits: [0.5]\n",
   {"study 'b'", "ref_logits", "ref_spread[1]"}},
};

START_TEST(test_bad_specs)
{
  char *text = edit(bad[_i].from, bad[_i].to);
  char err[512] = "";
  struct spec *s = load(text, err, sizeof err);
  ck_assert_msg(s == NULL, "case %d accepted:\n%s", _i, text);
  ck_assert_msg(strchr(err, '\n') == NULL, "case %d: not one line: %s", _i, err);
  ck_assert_msg(strncmp(err, "t.yaml:", 7) == 0, "case %d: no file name: %s", _i,
                err);
  for (int k = 0; k < 3; k++)
    ck_assert_msg(strstr(err, bad[_i].want[k]) != NULL,
                  "case %d: '%s' not in: %s", _i, bad[_i].want[k], err);
  free(text);
}
END_TEST

/* Whole messages, to the byte: the file, line and column where libcyaml
 * gives them, the study, the key, what is wrong. */
static const struct {
  const char *from, *to, *msg;
} exact[] = {
  {"beta: [0.5, 1.0]", "beta: [0.5, high]",
   "t.yaml: study 'a': grid.beta[1]: invalid number 'high'"},
  {"seeds: 4", "seeds: 4\n    colour: red",
   "t.yaml:10:12: study 'a': unknown key 'colour'"},
  {"arms: [2, 5, 9]", "arms: [2, 1]",
   "t.yaml: study 'a': grid.arms[1]: must be between 2 and 1000000 (got 1)"},
  {"sigma: [0]", "sigma: [0.2]",
   "t.yaml: study 'b': grid.samples[1]: 64 pairs with grid.sigma[0] = 0.2 > 0 "
   "in one task; a task uses one estimator (split into two studies)"},
  {"master_seed: 7\n", "", "t.yaml: missing key 'master_seed'"},
};

START_TEST(test_exact_messages)
{
  char *text = edit(exact[_i].from, exact[_i].to);
  char err[512] = "";
  ck_assert_ptr_null(load(text, err, sizeof err));
  ck_assert_str_eq(err, exact[_i].msg);
  free(text);
}
END_TEST

START_TEST(test_bad_documents)
{
  char err[512];
  ck_assert_ptr_null(load("", err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "empty"));
  ck_assert_ptr_null(load("just a string\n", err, sizeof err));
  ck_assert_ptr_null(load("name: t\nmaster_seed: 1\nstudies: []\n", err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "studies"));
  ck_assert_ptr_null(load("- 1\n- 2\n", err, sizeof err));
  struct spec *s = NULL;
  struct err e;
  ck_assert_int_eq(spec_load_text("a\0b", 3, "t.yaml", &s, &e), ERR_INPUT);
  ck_assert_ptr_nonnull(strstr(e.msg, "NUL"));
  ck_assert_int_eq(spec_load_file("/nonexistent/spec.yaml", &s, &e), ERR_INPUT);
  ck_assert_str_eq(e.msg, "/nonexistent/spec.yaml: cannot read spec: No such "
                          "file or directory");
  ck_assert_int_eq(spec_load_file("/tmp", &s, &e), ERR_INPUT);
  ck_assert_ptr_nonnull(strstr(e.msg, "is a directory"));
  /* Too many tasks over all studies, each study under the limit. */
  const char *big =
    "name: t\nmaster_seed: 1\nstudies:\n"
    "  - {name: a, iterations: 1, scale: theory, eta: theory, rewards: uniform,"
    " seeds: 1500000000, grid: {regime: [uniform], arms: [2], beta: [1], sigma: [0]}}\n"
    "  - {name: b, iterations: 1, scale: theory, eta: theory, rewards: uniform,"
    " seeds: 1500000000, grid: {regime: [uniform], arms: [2], beta: [1], sigma: [0]}}\n";
  ck_assert_ptr_null(load(big, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "study 'b'"));
  ck_assert_ptr_nonnull(strstr(err, "2^31"));
}
END_TEST

static Suite *spec_suite(void)
{
  TCase *tc;
  Suite *s = unit_suite("spec", 60, &tc);
  tcase_add_test(tc, test_good_spec);
  tcase_add_test(tc, test_index_order);
  tcase_add_test(tc, test_hash_ignores_formatting);
  tcase_add_test(tc, test_sha256_known_answer);
  tcase_add_test(tc, test_default_spec);
  tcase_add_loop_test(tc, test_bad_specs, 0, (int)(sizeof bad / sizeof bad[0]));
  tcase_add_loop_test(tc, test_exact_messages, 0,
                      (int)(sizeof exact / sizeof exact[0]));
  tcase_add_test(tc, test_bad_documents);
  tcase_add_loop_test(tc, test_known_hashes, 0,
                      (int)(sizeof known / sizeof known[0]));
  tcase_add_test(tc, test_seeds_list);
  tcase_add_test(tc, test_seed_count_is_not_a_list);
  tcase_add_test(tc, test_ref_spread_axis);
  tcase_add_test(tc, test_ref_logits);
  return s;
}

UNIT_MAIN(spec_suite)
