#!/usr/bin/env bash
# Configures and builds Quiver with a CMake preset (default: release).
#   scripts/build.sh [release|debug|asan|tsan] [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
shift || true
cmake --preset "$preset" >/dev/null
# Two jobs per core at most: the USearch translation units need ~1 GiB each.
jobs=${QUIVER_JOBS:-$(nproc)}
cmake --build --preset "$preset" -j "$jobs" ${1:+--target "$@"}
