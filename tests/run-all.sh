#!/bin/sh
# Build and run every test suite, as the README's test command does:
#   1. the release build: all suites (unit, mpi, faults, analysis, slurm,
#      memcheck);
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build: the unit
#      suite and the MPI tests of the C paths a run takes (sweep, refusals,
#      grow, merge, verify; leak checks on for unit, off for the tests
#      that start MPI, whose libraries keep allocations past
#      MPI_Finalize and would drown the report) — the other MPI
#      tests repeat those paths with other timing, which the release
#      build covers, and the CI run must stay under 30 minutes;
#   3. the libFuzzer harnesses (clang) for FUZZ_SECONDS each (default 20;
#      the long run is FUZZ_SECONDS=600, see README "Reliability").
# Prints "N passed, N failed" from meson's counts last; exit 1 on a failure.
# Not -e: every suite runs even after another failed; `status` and the
# counts collect the outcome.
set -u
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
status=0

count() { # add up one `meson test` run's results (testlog.json: one JSON
  # object per test; anything but OK and SKIP counts as a failure)
  log=$1/meson-logs/testlog.json
  if [ -f "$log" ]; then
    counts=$(python3 -c 'import json, sys
r = [json.loads(l)["result"] for l in open(sys.argv[1]) if l.strip()]
ok = r.count("OK")
print(ok, len(r) - ok - r.count("SKIP"))' "$log") || counts="0 1"
    passed=$((passed + ${counts% *}))
    failed=$((failed + ${counts#* }))
  fi
}

setup() { # builddir [meson options...]
  dir=$1
  shift
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$@" > /dev/null
  else
    meson setup "$dir" "$@" > /dev/null
  fi && meson compile -C "$dir"
}

suite() { # builddir meson-test-arguments...
  dir=$1
  shift
  meson test -C "$dir" --print-errorlogs "$@" || status=1
  count "$dir"
}

if setup build; then
  suite build --num-processes 2
else
  status=1
  failed=$((failed + 1))
fi

if setup build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    suite build-asan --suite unit --no-suite starts-mpi
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=0 \
    suite build-asan --suite starts-mpi
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=0 \
    suite build-asan sweep refusals grow merge verify
else
  status=1
  failed=$((failed + 1))
fi

if CC=clang setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} suite build-fuzz --suite fuzz
else
  status=1
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
