#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS and prints one line per target (executions, crashes);
# exits 1 when any target crashed. Usage: Fuzz/run.sh BINARY OUT SECONDS TARGET...
# New inputs go to OUT/corpus/<target> (the seeds in Fuzz/corpus/<target> are only read),
# reproducers to OUT/crashes/<target>/, libFuzzer's output to OUT/logs/<target>.log.
set -euo pipefail
binary=$1 root=$2 seconds=$3
shift 3
seeds=$(dirname "$0")/corpus
total=0 crashed=()
for target in "$@"; do
  corpus=$root/corpus/$target crashes=$root/crashes/$target log=$root/logs/$target.log
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  before=$(ls "$crashes" | wc -l)
  status=0
  # Swift's own backtracer would stall each crash for seconds; libFuzzer and ASan report it.
  FUZZ_TARGET=$target SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
  LSAN_OPTIONS=suppressions=$(dirname "$0")/lsan.supp:print_suppressions=0 \
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$crashes/" "$corpus" "$seeds/$target" >"$log" 2>&1 || status=$?
  if ! grep -q 'inline 8-bit counters' "$log"; then
    echo "fuzz $target: the binary has no coverage instrumentation (not built with --sanitize=fuzzer?); see $log"
    exit 1
  fi
  executions=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  new=$(( $(ls "$crashes" | wc -l) - before ))
  if [[ $status -ne 0 && $new -eq 0 ]]; then new=1; fi  # died without writing a reproducer
  total=$(( total + ${executions:-0} ))
  echo "fuzz $target: ${executions:-0} executions in ${seconds} s, $new crashes"
  if [[ $new -gt 0 ]]; then
    crashed+=("$target")
    echo "fuzz $target: reproducer(s) in $crashes/, log $log; replay: FUZZ_TARGET=$target $binary <file>"
    grep -E 'ERROR|Fatal error|SUMMARY|Test unit written' "$log" | head -8 | sed "s/^/  /" || true
  fi
done
echo "fuzz: $# targets, $total executions, ${#crashed[@]} with crashes${crashed:+ (${crashed[*]})}"
[[ ${#crashed[@]} -eq 0 ]]
