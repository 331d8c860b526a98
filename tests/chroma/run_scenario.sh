#!/usr/bin/env bash
# CTest driver of the Chroma compatibility scenario (scenario.mjs, Chroma's own JS client):
#
#   tests/chroma/run_scenario.sh build/release/quiver           # test chroma_js_client_scenario
#   tests/chroma/run_scenario.sh build/release/quiver --peer    # test chroma_vs_real_chroma
#
# Starts `quiver serve` on a free loopback port with a temporary data directory and an API key,
# waits for /healthz, and runs the scenario against it. With --peer it also starts a real Chroma
# server from npm (chromadb's `chroma run`, the server in chromadb-js-bindings-linux-x64-gnu
# 1.0.5, pinned in package-lock.json) on another loopback port with its own temporary
# directory, runs the same scenario against both and compares their answers; Quiver then gets
# the key in Chroma's own header, X-Chroma-Token.
#
# Exits 77 (CTest: skipped) with a message when node or tests/chroma/node_modules is missing
# (scripts/setup.sh installs them), or, with --peer, when the Chroma server cannot run here;
# otherwise the scenario's exit status.
set -euo pipefail
quiver=${1:?usage: run_scenario.sh QUIVER_BINARY [--peer]}
peer=false
[ "${2:-}" = "--peer" ] && peer=true
here="$(cd "$(dirname "$0")" && pwd)"

node_bin=/usr/bin/node
[ -x "$node_bin" ] || node_bin=$(command -v node || true)
if [ -z "$node_bin" ]; then
  echo "SKIP: node not found (scripts/setup.sh installs it)"
  exit 77
fi
if [ ! -d "$here/node_modules/chromadb" ]; then
  echo "SKIP: $here/node_modules is missing (scripts/setup.sh runs npm ci there)"
  exit 77
fi

work=$(mktemp -d)
server_pid=
peer_pid=
cleanup() {
  for pid in $server_pid $peer_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits until GET $1 answers 2xx while process $2 lives; 0 on success, 1 if it exited, 2 on
# time-out (30 s).
wait_healthy() {
  for _ in $(seq 1 300); do
    if "$node_bin" -e \
        'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
        "$1"; then
      return 0
    fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 2
}

export QUIVER_API_KEY="chroma-scenario-key"
"$quiver" serve --data "$work/quiver" --host 127.0.0.1 --port 0 --threads 2 >"$work/quiver.log" 2>&1 &
server_pid=$!
# The server logs "listening on http://127.0.0.1:PORT" once bound.
url=
for _ in $(seq 1 300); do
  url=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/quiver.log" | head -1 |
        sed 's/listening on //' || true)
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ] || ! wait_healthy "$url/healthz" "$server_pid"; then
  echo "quiver serve did not become healthy:"; cat "$work/quiver.log"; exit 1
fi

if $peer; then
  if [ ! -d "$here/node_modules/chromadb-js-bindings-linux-x64-gnu" ]; then
    echo "SKIP: the Chroma server (chromadb-js-bindings-linux-x64-gnu) is not installed in" \
         "$here/node_modules (it exists for x86-64 Linux only; scripts/setup.sh installs it)"
    exit 77
  fi
  port=$("$node_bin" -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
  (cd "$work" && exec "$node_bin" "$here/node_modules/chromadb/dist/cli.mjs" run \
      --path "$work/chroma" --host 127.0.0.1 --port "$port") >"$work/chroma.log" 2>&1 &
  peer_pid=$!
  peer_url="http://127.0.0.1:$port"
  set +e
  wait_healthy "$peer_url/api/v2/heartbeat" "$peer_pid"
  healthy=$?
  set -e
  if [ "$healthy" -ne 0 ]; then
    echo "SKIP: the Chroma server from npm cannot run here ($([ "$healthy" -eq 1 ] &&
          echo "it exited" || echo "no heartbeat in 30 s")); its output:"
    tail -20 "$work/chroma.log"
    exit 77
  fi
  export CHROMA_PEER_URL="$peer_url" QUIVER_AUTH_HEADER=x-chroma-token
fi

status=0
QUIVER_CHROMA_URL="$url" "$node_bin" "$here/scenario.mjs" 2>&1 |
  grep -v "No embedding function configuration found" || status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  echo "--- quiver serve's log ---"; tail -50 "$work/quiver.log"
  if $peer; then echo "--- chroma's log ---"; tail -20 "$work/chroma.log"; fi
fi
exit "$status"
