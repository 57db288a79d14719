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
#      the long run is FUZZ_SECONDS=600, see README "Reliability"), side
#      by side.
# Builds 2 and 3 compile in the background, at the lowest priority, while
# build 1 compiles and runs its tests.
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

built() { # builddir: did the background build make it?
  grep -qx "$1" "$built_list"
}

if [ "${1:-}" = --background-builds ]; then # STATUS_FILE: see below
  # The lowest priority, for this shell and what it starts: nice 19, and
  # nice 19 for its session's autogroup too, where the kernel has them
  # (it weighs each session's group against the others, and meson runs
  # each test in a session of its own, so nice alone would not yield).
  echo 19 2> /dev/null > /proc/self/autogroup
  renice -n 19 -p $$ > /dev/null
  built_list=$2
  echo $$ > "$built_list.pid" # its process group, for the trap below
  setup build-asan -Db_sanitize=address,undefined -Db_lundef=false &&
    echo build-asan >> "$built_list"
  CC=clang setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false && echo build-fuzz >> "$built_list"
  exit 0
fi

# The sanitizer builds compile in the background, in a session of their
# own at the lowest priority, while the release build compiles and runs
# its tests: its serial suites leave about half the CPU idle (MPI's
# start-ups, SLURM's scheduling, waits for timeouts), which is what the
# compilers get.  Their output goes to a log, shown if one fails.
built_list=$(mktemp)
build_log=$(mktemp)
setsid -w tests/run-all.sh --background-builds "$built_list" > "$build_log" 2>&1 &
builds=$!
# An interrupted run stops them too (their own session does not get the
# terminal's signals).
trap 'kill -TERM "-$(cat "$built_list.pid" 2> /dev/null)" 2> /dev/null; exit 130' \
  INT TERM

if setup build; then
  suite build --num-processes 2
else
  status=1
  failed=$((failed + 1))
fi

wait "$builds"
trap - INT TERM
rm -f "$built_list.pid"
if ! built build-asan || ! built build-fuzz; then
  cat "$build_log"
fi
rm -f "$build_log"

if built build-asan; then
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

if built build-fuzz; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} suite build-fuzz --suite fuzz
else
  status=1
  failed=$((failed + 1))
fi

rm -f "$built_list"
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
