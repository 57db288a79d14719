#!/bin/sh
# Run one libFuzzer harness for $FUZZ_SECONDS (default 30) seconds on a
# scratch copy of its seed corpus; a crash, leak or sanitizer report fails.
# usage: run_fuzz.sh HARNESS SEED_CORPUS_DIR
set -eu
harness=$1
seeds=$2
seconds=${FUZZ_SECONDS:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
echo "fuzzing $(basename "$harness") for ${seconds}s"
# -close_fd_mask=2: the harnesses' own one-line errors would flood the log
# (libFuzzer still prints its crash reports).
if ! "$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -close_fd_mask=2 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus"; then
  for a in "$work"/artifacts/*; do
    [ -f "$a" ] || continue
    echo "crashing input $(basename "$a") (base64; add it to tests/fuzz/regressions/):"
    base64 "$a"
  done
  exit 1
fi
