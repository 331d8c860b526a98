#!/usr/bin/env bash
# Soak test: the kill -9 loop of tests/crash/kill_test.cc for many iterations.
#   scripts/soak.sh [ITERATIONS]   (default 2000; CI runs 100)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release quiver_crash_tests
QUIVER_KILL_ITERATIONS=${1:-2000} build/release/tests/quiver_crash_tests --gtest_filter='KillTest.*'
