#!/bin/sh
# valgrind memcheck on sim, plan and status, on good and bad input: no
# invalid access, no definitely lost block.  (run is covered by the
# AddressSanitizer build.)  usage: memcheck.sh DPOSWEEP SOURCE_DIR
set -u
bin=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

check() { # expected-exit-code command...
  want=$1
  shift
  valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 "$@" > /dev/null 2> "$tmp/err"
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL (exit $rc, want $want): $*"
    cat "$tmp/err"
    failures=$((failures + 1))
  else
    echo "ok: $*"
  fi
}

check 0 "$bin" sim --regime mix-p --arms 20 --beta 3 --scale normalized --eta 10 \
  --iterations 30 --rewards normal
check 0 "$bin" sim --regime hybrid --arms 6 --beta 2 --scale normalized --eta 0.5 \
  --samples 7 --iterations 10 --every 3
check 0 "$bin" sim --regime mix-r --rewards 0.1,0.7,0.3 --beta 0.5 --sigma 0.1 \
  --iterations 10
check 2 "$bin" sim --regime mix-r --rewards 0.1,abc --beta 0.5 --iterations 10
check 0 "$bin" plan "$src/jobs/paper.yaml"
check 0 "$bin" plan --list "$src/tests/fuzz/corpus/spec/mpi-test.yaml"
printf 'name: t\nmaster_seed: 1\nstudies:\n  - name: a\n    bogus: 1\n' > "$tmp/bad.yaml"
check 2 "$bin" plan "$tmp/bad.yaml"
check 2 "$bin" plan "$src/tests/fuzz/regressions/spec/multiline-master-seed.yaml"
"$bin" run "$src/tests/fuzz/corpus/spec/mpi-test.yaml" -o "$tmp/x.h5" -q || failures=$((failures + 1))
check 0 "$bin" status "$tmp/x.h5"
printf 'not hdf5\n' > "$tmp/bad.h5"
check 2 "$bin" status "$tmp/bad.h5"
echo "$failures failures"
[ "$failures" -eq 0 ]
