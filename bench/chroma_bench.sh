#!/usr/bin/env bash
# Quiver vs a real Chroma server through Chroma's own JS client, in one run: starts
# `quiver serve` and Chroma 1.0.5 (from npm, tests/chroma/node_modules) on free loopback ports
# with temporary data directories, then runs tests/chroma/bench.mjs against both (Fashion-MNIST
# from Debian's dataset-fashion-mnist: add rate in batches of 1,000, query rate and recall@10
# at 1 and 2 client connections).
#
#   bench/chroma_bench.sh [BASE [QUERIES]]     defaults: 60000 images, 1000 queries
#
# Needs build/release/quiver, node, tests/chroma/node_modules (scripts/setup.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
quiver=${QUIVER_BIN:-$root/build/release/quiver}
chroma_dir="$root/tests/chroma"
export BENCH_BASE=${1:-60000} BENCH_QUERIES=${2:-1000}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  node -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
wait_healthy() {
  for _ in $(seq 1 300); do
    node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
      "$1" && return 0
    sleep 0.1
  done
  echo "$1 did not answer in 30 s" >&2
  return 1
}

quiver_port=$(free_port)
"$quiver" serve --data "$work/quiver" --host 127.0.0.1 --port "$quiver_port" --threads 4 \
  >"$work/quiver.log" 2>&1 &
pids+=($!)
chroma_port=$(free_port)
(cd "$work" && exec node "$chroma_dir/node_modules/chromadb/dist/cli.mjs" run \
  --path "$work/chroma" --host 127.0.0.1 --port "$chroma_port") >"$work/chroma.log" 2>&1 &
pids+=($!)
wait_healthy "http://127.0.0.1:$quiver_port/healthz"
wait_healthy "http://127.0.0.1:$chroma_port/api/v2/heartbeat"

echo "quiver $("$quiver" --version 2>/dev/null | head -1), chroma 1.0.5 (npm), $(nproc) cores"
QUIVER_CHROMA_URL="http://127.0.0.1:$quiver_port" CHROMA_PEER_URL="http://127.0.0.1:$chroma_port" \
  node "$chroma_dir/bench.mjs" 2>&1 | grep -v "No embedding function configuration found"
