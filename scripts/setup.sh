#!/usr/bin/env bash
# Installs everything Quiver needs on a fresh Debian 12 machine. Idempotent:
# a second run checks and exits in about a second.
#
#   scripts/setup.sh            Debian packages + USearch (npm) into third_party/
#   QUIVER_SKIP_APT=1 scripts/setup.sh   only the USearch part
#
# Dependencies and why:
#   cmake, ninja-build, g++      build (ccache, when present, caches compiles)
#   libsqlite3-dev               the source of truth (SQLite C API)
#   libxxhash-dev                XXH3 checksums of index checkpoints
#   libfmt-dev, libspdlog-dev    formatting and logging
#   nlohmann-json3-dev           metadata validation, CLI/HTTP JSON output
#   libsimdjson-dev              fast parsing of large JSON bodies (server, JSONL import)
#   libcli11-dev                 the `quiver` command line
#   libcpp-httplib-dev           the HTTP server
#   libgtest-dev, libgmock-dev, libbenchmark-dev   tests and benchmarks
#   dataset-fashion-mnist, python3-numpy           the real data set and its ground truth
#   usearch@2.26.2 (npm)         USearch's C++ headers and NumKong's SIMD kernels
#   swagger-ui-dist@5.17.14 (npm) the /docs page of `quiver serve`, served locally
#   strace, eatmydata, e2fsprogs  crash tests: syscall fault injection, real power cuts on a
#                                loop-mounted ext4 image, and the proof that they have teeth
#   wrk                          the HTTP load benchmark (bench/http_bench.sh)
#   clang, libclang-rt-14-dev    libFuzzer and the sanitizers of the `fuzz` preset (scripts/fuzz.sh)
#   libhnswlib-dev, libfaiss-dev, python3-matplotlib  benchmarks against the field, with plots
#   python3-dev, pybind11-dev, python3-pybind11, python3-pytest, python3-hnswlib
#                                the Python module `quiver` (built for /usr/bin/python3), its
#                                pytest suite, and hnswlib's Python module for bench/python_bench.py
set -euo pipefail
cd "$(dirname "$0")/.."

USEARCH_VERSION=2.26.2
# `npm view usearch@2.26.2 dist.integrity`; the tarball must match it.
USEARCH_INTEGRITY='sha512-jz4MKg09LFn6CP/fh9MwY7NV3qQUcXrQIt92LV7CMx44AEnGP1QenhHReua3ETqzgoIYcISJ+SsDoX0DOpFh9Q=='

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates ccache
  libsqlite3-dev sqlite3 libxxhash-dev libfmt-dev libspdlog-dev nlohmann-json3-dev
  libsimdjson-dev libcli11-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3-numpy dataset-fashion-mnist
  clang-format
  strace eatmydata e2fsprogs wrk
  clang libclang-rt-14-dev
  libhnswlib-dev libfaiss-dev python3-matplotlib
  python3-dev pybind11-dev python3-pybind11 python3-pytest python3-hnswlib
)

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "${QUIVER_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # npm ships the USearch package; use the machine's npm if it has one (Debian's
  # nodejs/npm conflict with a Node.js installed from elsewhere).
  command -v npm >/dev/null || missing+=(nodejs npm)
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "Debian packages: all present"
  fi
fi

# One scratch directory for downloads, removed however the script ends.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch_npm_tarball NAME VERSION INTEGRITY: downloads NAME@VERSION from the npm
# registry into $work, checks it against the pinned sha512 INTEGRITY (as
# `npm view NAME@VERSION dist.integrity` prints it) and prints its path.
fetch_npm_tarball() {
  local name=$1 version=$2 integrity=$3
  log "fetching $name@$version from the npm registry"
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null 2>"$work/npm.err") || {
    cat "$work/npm.err" >&2
    log "npm pack $name@$version failed"
    exit 1
  }
  local tarball="$work/$name-$version.tgz"
  local actual
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" 2>/dev/null | base64 -w0 ||
    sha512sum "$tarball" | cut -d' ' -f1 | xxd -r -p | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    log "integrity mismatch for $name-$version.tgz"
    log "  expected $integrity"
    log "  actual   $actual"
    exit 1
  fi
  log "integrity verified ($integrity)"
  echo "$tarball"
}

install_usearch() {
  local dest=third_party/usearch
  local stamp="$dest/.quiver-installed-$USEARCH_VERSION"
  if [ -f "$stamp" ]; then
    log "usearch $USEARCH_VERSION: present in $dest"
    return 0
  fi
  local tarball
  tarball=$(fetch_npm_tarball usearch "$USEARCH_VERSION" "$USEARCH_INTEGRITY")
  rm -rf "$dest"
  mkdir -p "$dest"
  tar -xzf "$tarball" -C "$dest" --strip-components=1 package/include package/numkong package/LICENSE package/package.json
  # NumKong's ISA probe: which instruction sets this compiler can emit. The
  # kernels for all of them are compiled; the CPU picks one at run time.
  (cd "$dest/numkong" && node probes/probe.js >/dev/null)
  test -f "$dest/numkong/nk_probes.h"
  test -f "$dest/include/usearch/index_dense.hpp"
  touch "$stamp"
  log "usearch $USEARCH_VERSION installed in $dest ($(grep -c '1$' "$dest/numkong/nk_probes.h") ISA targets enabled)"
}

# swagger-ui-dist (npm): the /docs page of `quiver serve`, served locally.
SWAGGER_UI_VERSION=5.17.14
SWAGGER_UI_INTEGRITY='sha512-CVbSfaLpstV65OnSjbXfVd6Sta3q3F7Cj/yYuvHMp1P90LztOLs6PfUnKEVAeiIVQt9u2SaPwv0LiH/OyMjHRw=='

install_swagger_ui() {
  # The /docs page of `quiver serve` renders openapi.json with swagger-ui-dist,
  # served from this directory (never from a CDN).
  local dest=third_party/swagger-ui
  local stamp="$dest/.quiver-installed-$SWAGGER_UI_VERSION"
  if [ -f "$stamp" ]; then
    log "swagger-ui-dist $SWAGGER_UI_VERSION: present in $dest"
    return 0
  fi
  local tarball
  tarball=$(fetch_npm_tarball swagger-ui-dist "$SWAGGER_UI_VERSION" "$SWAGGER_UI_INTEGRITY")
  rm -rf "$dest"
  mkdir -p "$dest"
  # Only what the /docs page loads, plus the licence and version record.
  tar -xzf "$tarball" -C "$dest" --strip-components=1 package/swagger-ui-bundle.js \
    package/swagger-ui.css package/favicon-32x32.png package/LICENSE package/package.json
  test -f "$dest/swagger-ui-bundle.js"
  test -f "$dest/swagger-ui.css"
  touch "$stamp"
  log "swagger-ui-dist $SWAGGER_UI_VERSION installed in $dest"
}

# Further installers (web assets, etc.) go above this line as functions.
install_usearch
install_swagger_ui
