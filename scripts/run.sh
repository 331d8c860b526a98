#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install, build, import the
# Fashion-MNIST data set into a real store, measure recall@10 and queries per
# second from the CLI, then serve the store over HTTP.
#
#   scripts/run.sh              everything, ending with `quiver serve` on 127.0.0.1:8083
#   scripts/run.sh --no-serve   stop after the search
#
# Environment: QUIVER_DATA (default data/store), QUIVER_HOST, QUIVER_PORT, QUIVER_API_KEY.
set -euo pipefail
cd "$(dirname "$0")/.."
serve=1
[ "${1:-}" = "--no-serve" ] && serve=0

scripts/setup.sh
scripts/build.sh release quiver
quiver=build/release/quiver
data=${QUIVER_DATA:-data/store}
fmnist=data/fashion-mnist

# Debian's numpy belongs to /usr/bin/python3, which may not be the first python3.
/usr/bin/python3 bench/prepare_fashion_mnist.py --out "$fmnist"

if ! "$quiver" list --data "$data" 2>/dev/null | grep -q '^fashion '; then
  "$quiver" create --data "$data" --collection fashion --dims 784 --metric l2sq
  "$quiver" import --data "$data" --collection fashion "$fmnist/base.fbin"
fi

echo "== search: 10,000 Fashion-MNIST test images, k=10, one thread"
"$quiver" search --data "$data" --collection fashion -k 10 --json "$fmnist/query.fbin" \
  > data/fashion-search.jsonl
/usr/bin/python3 bench/recall.py --truth "$fmnist/gt_l2sq.ibin" -k 10 data/fashion-search.jsonl

if [ "$serve" = 1 ]; then
  if "$quiver" serve --help >/dev/null 2>&1; then
    echo "== serving $data (Ctrl-C stops, checkpoints and exits)"
    exec "$quiver" serve --data "$data"
  else
    echo "this build has no HTTP server; done"
  fi
fi
