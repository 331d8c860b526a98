#!/usr/bin/env bash
# CTest driver of the Chroma compatibility scenario (test chroma_js_client_scenario):
# starts `quiver serve` on a free loopback port with a temporary data directory and an
# API key, waits for /healthz, runs scenario.mjs (Chroma's own JS client) against it,
# and stops the server.
#
#   tests/chroma/run_scenario.sh build/release/quiver
#
# Exits 77 (CTest: skipped) when node or tests/chroma/node_modules is missing
# (scripts/setup.sh installs them); otherwise the scenario's exit status.
set -euo pipefail
quiver=${1:?usage: run_scenario.sh QUIVER_BINARY}
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

data=$(mktemp -d)
log="$data.log"
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data" "$log"
}
trap cleanup EXIT

export QUIVER_API_KEY="chroma-scenario-key"
"$quiver" serve --data "$data" --host 127.0.0.1 --port 0 --threads 2 >"$log" 2>&1 &
server_pid=$!

# The server logs "listening on http://127.0.0.1:PORT" once bound; then /healthz answers.
url=
for _ in $(seq 1 300); do
  url=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/listening on //' || true)
  if [ -n "$url" ] && "$node_bin" -e \
      'fetch(process.argv[1] + "/healthz").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
      "$url"; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "quiver serve exited:"; cat "$log"; exit 1
  fi
  url=
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "quiver serve did not become healthy in 30 s:"; cat "$log"; exit 1
fi

status=0
QUIVER_CHROMA_URL="$url" "$node_bin" "$here/scenario.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---"; cat "$log"
fi
exit "$status"
