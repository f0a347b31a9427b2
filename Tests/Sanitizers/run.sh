#!/usr/bin/env bash
# Builds the tests with a sanitizer into its own scratch path (.build-tsan or .build-asan, so the normal
# .build is untouched) and runs the given `swift test` filters under it. Every instrumented process, the
# test runner and each intercept-proxy the CLI tests start, writes its reports to <scratch>/reports/; any
# report or failed test fails the run. Prints one summary line; the full log is <scratch>/sanitize.log.
# Usage: run.sh thread|address [swift test arguments: --filter X, --skip Y ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/Tests/Sanitizers
sanitizer=$1; shift
case "$sanitizer" in
  thread) scratch=.build-tsan ;;
  address) scratch=.build-asan ;;
  *) echo "run.sh: unknown sanitizer '$sanitizer' (thread or address)"; exit 2 ;;
esac
reports=$PWD/$scratch/reports log=$scratch/sanitize.log
mkdir -p "$scratch"; rm -rf "$reports"; mkdir -p "$reports"

started=$SECONDS
if ! swift build --build-tests --scratch-path "$scratch" --sanitize="$sanitizer" >"$scratch/build.log" 2>&1; then
  tail -40 "$scratch/build.log"; echo "sanitize ($sanitizer): the build failed (log: $scratch/build.log)"; exit 1
fi
built=$SECONDS

# The CLI tests run this build's binary (instrumented too); its reports land beside the runner's.
export INTERCEPT_PROXY_BINARY=$PWD/$scratch/debug/intercept-proxy
export TSAN_OPTIONS="log_path=$reports/tsan:suppressions=$here/tsan.supp:halt_on_error=0"
# A 16 MiB quarantine (not 256) still catches use-after-free and lets the flat-memory tests hold.
export ASAN_OPTIONS="log_path=$reports/asan:suppressions=$here/asan.supp:quarantine_size_mb=16:detect_leaks=1"
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
status=0
swift test --skip-build --scratch-path "$scratch" "$@" >"$log" 2>&1 || status=$?
ran=$SECONDS

# A report file with no error in it holds only suppression statistics.
found=$(grep -lE 'WARNING: ThreadSanitizer|ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|DEADLYSIGNAL' "$reports"/* 2>/dev/null || true)
tests=$(grep -oE 'Test run with [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1 || true)
timing="build $((built - started)) s, run $((ran - built)) s"
if [ -z "$found" ] && [ "$status" -eq 0 ] && [ -n "$tests" ]; then
  echo "sanitize ($sanitizer): clean, no report over ${tests} tests ($timing; log: $log)"
  exit 0
fi
for file in $found; do echo "---- $file"; head -80 "$file"; done
grep -E '✘' "$log" | grep -v 'Test run with' | head -40 || true
[ -n "$tests" ] || { echo "---- end of $log"; tail -20 "$log"; }
echo "sanitize ($sanitizer): FAILED with $(echo "$found" | grep -c . || true) report file(s), swift test exit $status ($timing; log: $log)"
exit 1
