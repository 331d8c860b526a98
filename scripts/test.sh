#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with CTest.
#   scripts/test.sh            release build, every test (labels unit, integration, cli, server)
#   scripts/test.sh --asan     the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/test.sh --tsan     the same under ThreadSanitizer (tests/tsan.supp names what is suppressed)
# Extra arguments go to ctest, e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
preset=release
case "${1:-}" in
  --asan) preset=asan; shift ;;
  --tsan) preset=tsan; shift ;;
esac
scripts/setup.sh
scripts/build.sh "$preset"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$PWD/tests/tsan.supp:halt_on_error=1}
ctest --preset "$preset" -j "$(nproc)" "$@"
