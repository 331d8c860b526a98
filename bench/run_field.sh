#!/usr/bin/env bash
# The field benchmark end to end: Quiver (f32, f16, i8, and f32 through `quiver serve`)
# against raw USearch, hnswlib, FAISS HNSW and FAISS flat, on Fashion-MNIST and on a
# clustered synthetic set.
#
#   bench/run_field.sh                 full run: fashion-mnist + clustered-1000000x96,
#                                      ef 16..512, all 10,000 queries (about 1-2 hours
#                                      on 2 cores, plus ~1 hour once for the 1M ground truth)
#   bench/run_field.sh --quick         clustered-100000x96 only, ef 16,64,256, 2,000 queries
#                                      (a few minutes once built and prepared)
#   bench/run_field.sh [--datasets fashion-mnist,clustered] [--n 1000000] [--dims 96]
#                      [--no-setup] [--no-build] [--no-plot] [-- ARGS for quiver_bench_field]
#
# Steps: installs what is missing (scripts/setup.sh: Debian packages including
# libhnswlib-dev, libfaiss-dev, python3-matplotlib, and USearch; idempotent, about a
# second when nothing is missing), builds build/release/bench/quiver_bench_field
# and the quiver binary it runs as a server (scripts/build.sh release),
# prepares the data sets that are missing (bench/prepare_fashion_mnist.py,
# bench/prepare_clustered.py; both reuse what is already there), runs the benchmark
# once per data set into bench/results/field-<dataset>-<date>.jsonl, then
# bench/plot_field.py writes bench/results/field-<date>.md (field-<date>-quick.md with
# --quick) and docs/img/recall-qps-<dataset>-<threads>t.png.
#
# Environment: QUIVER_JOBS (build jobs, default 1: the machine is shared),
# FIELD_BENCH_QUIET=0 skips the wait for a quiet machine (default: wait, polling every
# 20 s for at most 15 min, until the 1-minute load average is below 0.8; the load is
# recorded in the results either way).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly PY=/usr/bin/python3
readonly BIN=build/release/bench/quiver_bench_field
readonly QUIET_LOAD=0.8 QUIET_POLL_S=20 QUIET_MAX_S=900

log() { printf '[run_field %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

quick=0 setup=1 build=1 plot=1
datasets="fashion-mnist,clustered"
n=1000000 dims=96
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=1; shift ;;
    --datasets) datasets=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --dims) dims=$2; shift 2 ;;
    --no-setup) setup=0; shift ;;
    --no-build) build=0; shift ;;
    --no-plot) plot=0; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

bench_args=()
if [[ $quick == 1 ]]; then
  datasets=clustered
  n=100000
  bench_args=(--ef 16,64,256 --queries 2000 --flat-queries 500)
fi
quiet_wait=${FIELD_BENCH_QUIET:-$((1 - quick))}

# ---------------------------------------------------------------- setup, build
if [[ $setup == 1 ]]; then
  scripts/setup.sh >&2 || die "scripts/setup.sh failed"
fi
if [[ $build == 1 ]]; then
  log "building $BIN (QUIVER_JOBS=${QUIVER_JOBS:-1})"
  QUIVER_JOBS=${QUIVER_JOBS:-1} nice -n 10 scripts/build.sh release quiver_bench_field
fi
[[ -x $BIN ]] || die "$BIN is missing: run without --no-build"

# ---------------------------------------------------------------- data sets
dirs=()
IFS=, read -ra wanted <<<"$datasets"
for ds in "${wanted[@]}"; do
  case $ds in
    fashion-mnist)
      if [[ ! -s data/fashion-mnist/gt_l2sq.ibin ]]; then
        log "preparing data/fashion-mnist (needs the Debian package dataset-fashion-mnist)"
        "$PY" bench/prepare_fashion_mnist.py || die "prepare_fashion_mnist.py failed"
      fi
      dirs+=(data/fashion-mnist) ;;
    clustered)
      # Reuses data/clustered-<n>x<dims> when its meta.json matches.
      nice -n 10 "$PY" bench/prepare_clustered.py --n "$n" --dims "$dims" ||
        die "prepare_clustered.py failed"
      dirs+=("data/clustered-${n}x${dims}") ;;
    *) die "unknown data set '$ds' (fashion-mnist or clustered)" ;;
  esac
done

# ---------------------------------------------------------------- quiet machine
load1() { cut -d' ' -f1 /proc/loadavg; }
if [[ $quiet_wait == 1 ]]; then
  waited=0
  while awk -v l="$(load1)" -v q=$QUIET_LOAD 'BEGIN { exit !(l >= q) }'; do
    if (( waited >= QUIET_MAX_S )); then
      log "load average still $(load1) after ${waited} s; measuring anyway (it is recorded)"
      break
    fi
    log "load average $(load1) >= $QUIET_LOAD; waiting for a quieter machine"
    sleep $QUIET_POLL_S
    waited=$((waited + QUIET_POLL_S))
  done
fi

# ---------------------------------------------------------------- run
date=$(date +%F)
meta=(
  --meta "git_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty)"
  --meta "kernel=$(uname -r)"
  --meta "mode=$([[ $quick == 1 ]] && echo quick || echo full)"
  --meta "libhnswlib-dev=$(dpkg-query -W -f='${Version}' libhnswlib-dev 2>/dev/null || echo none)"
  --meta "libfaiss-dev=$(dpkg-query -W -f='${Version}' libfaiss-dev 2>/dev/null || echo none)"
  --meta "libblas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)"
)
outputs=()
status=0
for dir in "${dirs[@]}"; do
  name=$(basename "$dir")
  out=bench/results/field-$name-$date.jsonl
  log "$name: load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
  "$BIN" --data "$dir" --out "$out" "${bench_args[@]}" "${meta[@]}" "${extra[@]}" || status=$?
  log "$name: load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
  outputs+=("$out")
  # 1 = some system failed (recorded in the file); anything else is fatal.
  [[ $status == 0 || $status == 1 ]] || die "quiver_bench_field failed on $name (status $status)"
done

# ---------------------------------------------------------------- plot
if [[ $plot == 1 ]]; then
  md=bench/results/field-$date.md
  if [[ $quick == 1 ]]; then md=bench/results/field-$date-quick.md; fi
  "$PY" bench/plot_field.py --md "$md" --img-dir docs/img "${outputs[@]}"
  log "tables: $md; plots: docs/img/recall-qps-*.png"
fi
[[ $status == 0 ]] || log "some systems failed; see the \"error\" lines in ${outputs[*]}"
exit "$status"
