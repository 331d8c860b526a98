#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan+UBSan) and runs
# each for a while on its seed corpus, then prints one line per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   default 60 s each; every target of tests/fuzz
#   scripts/fuzz.sh 5                       what CI runs (.ci/run)
#   scripts/fuzz.sh 600 checkpoint_load     ten minutes of one target
#
# Targets: http_body, import_formats, checkpoint_load, filter (tests/fuzz/CMakeLists.txt
# lists them; a new one there is run here without changes). Seeds are read from
# tests/fuzz/corpus/TARGET/ and never written; what a run discovers goes to
# build/fuzz/corpus/TARGET/, so a longer run continues where the last one ended.
# A crash, leak, timeout or sanitizer report stops that target; its input is
# saved as build/fuzz/artifacts/TARGET/crash-* (replay: build/fuzz/tests/fuzz/
# quiver_fuzz_TARGET FILE). Once fixed, copy the input into the seed corpus so
# that every later run, CI's included, replays it.
# Exit status: 0 when no target failed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
all_targets=$(sed -n 's/^ *quiver_fuzz_target(\([a-z_0-9]*\) .*/\1/p' tests/fuzz/CMakeLists.txt)
targets=${*:-$all_targets}

jobs=${QUIVER_JOBS:-$(nproc)}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs" --target quiver_fuzzers

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
summary=()
for target in $targets; do
  binary=build/fuzz/tests/fuzz/quiver_fuzz_$target
  seeds=tests/fuzz/corpus/$target
  corpus=build/fuzz/corpus/$target
  artifacts=build/fuzz/artifacts/$target
  log=build/fuzz/logs/$target.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  args=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [ -f "tests/fuzz/$target.dict" ] && args+=(-dict="tests/fuzz/$target.dict")
  echo "== $target: ${seconds} s (log: $log)"
  status=ok
  if ! "$binary" "${args[@]}" "$corpus" "$seeds" >"$log" 2>&1; then
    status="FAILED (see $log and $artifacts/)"
    failed=1
    grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error' "$log" || true
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  summary+=("$(printf '%-16s %6ss %12s execs %8s/s  cov %6s  ft %7s  corpus %6s  %s' \
    "$target" "$seconds" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$status")")
done
echo "== fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ); cov = edges covered, ft = features)"
printf '%s\n' "${summary[@]}"
exit "$failed"
