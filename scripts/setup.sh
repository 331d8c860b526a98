#!/usr/bin/env bash
# Installs everything Quiver needs on a fresh Debian 12 machine. Idempotent:
# a second run checks and exits in about a second.
#
#   scripts/setup.sh            Debian packages + the npm packages below into third_party/
#   QUIVER_SKIP_APT=1 scripts/setup.sh   only the npm part
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
#   onnxruntime-node@1.30.0 (npm) ONNX Runtime's official x86-64 Linux shared library
#                                (libonnxruntime.so.1 only), which runs local embedding models
#   com.github.asus4.onnxruntime@0.4.9 (npm)  ONNX Runtime's official C/C++ headers (C API
#                                version 29, served by the 1.30 library) and its licence
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
  # npm prints the tarball's file name (a scoped @a/b becomes a-b-VERSION.tgz).
  local file
  file=$(cd "$work" && npm pack --silent "$name@$version" 2>"$work/npm.err" | tail -n1) || {
    cat "$work/npm.err" >&2
    log "npm pack $name@$version failed"
    exit 1
  }
  local tarball="$work/$file"
  [ -n "$file" ] && [ -f "$tarball" ] || {
    log "npm pack $name@$version printed no tarball name"
    exit 1
  }
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

# ONNX Runtime (npm): the C API that runs local text embedding models. The
# shared library comes from onnxruntime-node, which ships Microsoft's official
# linux-x64 build of libonnxruntime.so.1 (the Node binding beside it is not
# used). onnxruntime-node ships no headers; the official C/C++ headers come from
# the Unity plugin package below, which bundles ONNX Runtime 1.29's (the copy in
# its iOS framework: the headers are the same on every platform). They declare
# ORT_API_VERSION 29, which the 1.30 library serves (an ORT library serves every
# API version up to its own), so code built against them runs on it unchanged.
ONNXRUNTIME_VERSION=1.30.0
ONNXRUNTIME_INTEGRITY='sha512-twhs1C2C/BFkz1yc5OY0KIU2GUq6DURO7hD4bx5Q2Qy3nAMJwRXW8xU3NVczE29VA9lolLOYepoD8fjTGOfIqw=='
ONNXRUNTIME_HEADERS_PACKAGE=com.github.asus4.onnxruntime
ONNXRUNTIME_HEADERS_VERSION=0.4.9
ONNXRUNTIME_HEADERS_INTEGRITY='sha512-BkzxduSZ9IkeDP6Q8lz2TFU2ie7hSSvS7ZIfzMooExoq0CNzJnuuGaUJ7IsojBgqO4ouD1jXah8OYyJbCN29Fg=='

install_onnxruntime() {
  # Layout (what CMake looks for):
  #   third_party/onnxruntime/include/onnxruntime_c_api.h (+ the other official headers)
  #   third_party/onnxruntime/lib/libonnxruntime.so.1, libonnxruntime.so -> libonnxruntime.so.1
  #   third_party/onnxruntime/LICENSE, ThirdPartyNotices.txt
  local dest=third_party/onnxruntime
  local stamp="$dest/.quiver-installed-$ONNXRUNTIME_VERSION-headers-$ONNXRUNTIME_HEADERS_VERSION"
  if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    log "onnxruntime: skipped, only x86-64 Linux is supported (this is $(uname -s)-$(uname -m));" \
      "Quiver builds without its local embedder"
    return 0
  fi
  if [ -f "$stamp" ]; then
    log "onnxruntime $ONNXRUNTIME_VERSION: present in $dest"
    return 0
  fi
  local lib_tarball headers_tarball
  lib_tarball=$(fetch_npm_tarball onnxruntime-node "$ONNXRUNTIME_VERSION" "$ONNXRUNTIME_INTEGRITY")
  headers_tarball=$(fetch_npm_tarball "$ONNXRUNTIME_HEADERS_PACKAGE" "$ONNXRUNTIME_HEADERS_VERSION" \
    "$ONNXRUNTIME_HEADERS_INTEGRITY")
  rm -rf "$dest"
  mkdir -p "$dest/lib" "$dest/include"
  # Only the x86-64 Linux library (the tarball also carries Windows, macOS and arm64 builds).
  tar -xzf "$lib_tarball" -C "$dest/lib" --strip-components=5 \
    package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  ln -s libonnxruntime.so.1 "$dest/lib/libonnxruntime.so"
  # Only the headers (the tarball's 150 MB are mostly iOS/Android/macOS binaries),
  # and the licence: Microsoft's MIT licence of ONNX Runtime and its third-party
  # notices (onnxruntime-node itself ships no licence file; its package.json says MIT).
  tar -xzf "$headers_tarball" -C "$dest/include" --strip-components=7 --wildcards \
    'package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers/*.h'
  tar -xzf "$headers_tarball" -C "$dest" --strip-components=1 package/LICENSE package/ThirdPartyNotices.txt
  local f
  for f in lib/libonnxruntime.so.1 include/onnxruntime_c_api.h include/onnxruntime_cxx_api.h LICENSE; do
    [ -f "$dest/$f" ] || { log "onnxruntime: $dest/$f missing after extraction"; exit 1; }
  done
  touch "$stamp"
  log "onnxruntime $ONNXRUNTIME_VERSION installed in $dest" \
    "($(sed -n 's/^#define ORT_API_VERSION //p' "$dest/include/onnxruntime_c_api.h" | tr -d ' '): C API version of the headers)"
}

# Further installers (web assets, etc.) go above this line as functions.
install_usearch
install_swagger_ui
install_onnxruntime
