#!/usr/bin/env bash
# Where Quiver's search, import and reopen time goes, next to raw USearch doing the same work.
#
#   bench/profile_field.sh [--data data/fashion-mnist] [--queries 1000] [--ef 64]
#                          [--import-rows 10000] [--rounds 3] [--out DIR] [--work WORK]
#
# 1. Builds (or reuses, if WORK holds it: e.g. the --work DIR of a run made with
#    "bench/run_field.sh -- --keep --work DIR") a Quiver f32 store of the data set with
#    quiver_bench_field --keep (2 insert threads, M=16, ef_add=128). Default WORK:
#    DIR/work. Raw USearch then loads Quiver's own checkpoint (its payload is USearch's
#    serialization; the 64-byte footer is cut off), so that both search and extend the
#    identical graph and every difference in work is Quiver's.
# 2. callgrind (valgrind --tool=callgrind --instr-atstart=no; only the measured region of
#    quiver_bench_field --child profile-search / profile-import is instrumented):
#      search  the first --queries queries, one per call, one thread, ef = --ef:
#              Quiver, raw USearch on the same graph;
#      import  one batch of --queries new vectors (the query vectors under new keys):
#              Quiver = one Collection::Upsert (SQLite commit + index add, 2 threads),
#              raw USearch = the same adds on 2 threads (each on a fresh copy).
#    Both on the same graph.
#    Under valgrind, NumKong sees no AVX-512 and runs its haswell kernels.
# 3. Without valgrind, alternating A/B --rounds times (to share the machine's load
#    fairly): search wall time of --queries queries, Quiver vs raw USearch on the same
#    graph, with reopen (open + first query) of each; the import of --import-rows query
#    vectors (Quiver in Upsert batches of 1,000 with synchronous=FULL, the same with
#    synchronous=NORMAL to see what the fsyncs cost, raw USearch in one call); and strace
#    -c of one Quiver import batch and of both opens (callgrind does not see I/O waits).
#
# Output directory (default bench/results/profile-<date>): callgrind.* files (open with
# callgrind_annotate or kcachegrind), annotate.*.txt (inclusive costs), summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BIN=build/release/bench/quiver_bench_field
data=data/fashion-mnist queries=1000 ef=64 rounds=3 import_rows=10000 out="" work=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --data) data=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    --ef) ef=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --import-rows) import_rows=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
out=${out:-bench/results/profile-$(date +%F)}
work=${work:-$out/work}
log() { printf '[profile_field %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
for tool in valgrind callgrind_annotate strace; do
  command -v $tool >/dev/null || { log "needs $tool (apt-get install valgrind strace)"; exit 1; }
done
[[ -x $BIN ]] || { log "$BIN missing: QUIVER_JOBS=1 scripts/build.sh release quiver_bench_field"; exit 1; }

mkdir -p "$out" "$work"
name=$(basename "$data")
quiver_dir=$work/$name-quiver-f32
same_dir=$out/samegraph
if [[ ! -d $quiver_dir ]]; then
  log "building the Quiver f32 store of $data (kept in $work)"
  "$BIN" --data "$data" --systems quiver-f32 --ef "$ef" --search-threads 1 \
    --queries 200 --keep --work "$work" --out "$out/build.jsonl" >/dev/null
fi
checkpoint=$(ls "$quiver_dir"/indexes/*/*.usearch | head -1)
mkdir -p "$same_dir"
head -c $(( $(stat -c %s "$checkpoint") - 64 )) "$checkpoint" >"$same_dir/index.usearch"

common=(--data "$data" --queries "$queries" --ef "$ef")
run() {  # run SYSTEM WHAT DIR [ARGS...]: one profile child, its JSON line on stdout
  local system=$1 what=$2 dir=$3
  shift 3
  "$BIN" --child "profile-$what" --system "$system" --dir "$dir" "${common[@]}" "$@"
}
fresh_copy() { rm -rf "$out/copy" && cp -a "$1" "$out/copy" && echo "$out/copy"; }

log "load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
profiles=("search quiver-f32 $quiver_dir" "search usearch $same_dir"
          "import quiver-f32 $quiver_dir" "import usearch $same_dir")
for p in "${profiles[@]}"; do
  read -r what system dir <<<"$p"
  label=$what.$system
  [[ $what == import ]] && dir=$(fresh_copy "$dir")
  log "callgrind: $label"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.$label" \
    "$BIN" --child "profile-$what" --system "$system" --dir "$dir" "${common[@]}" \
    >"$out/result.$label.json" 2>"$out/valgrind.$label.log"
  callgrind_annotate --inclusive=yes "$out/callgrind.$label" >"$out/annotate.$label.txt" 2>/dev/null
  callgrind_annotate "$out/callgrind.$label" >"$out/self.$label.txt" 2>/dev/null
done

log "wall clock, $rounds alternating rounds (no valgrind)"
: >"$out/wall.jsonl"
for ((r = 1; r <= rounds; ++r)); do
  run quiver-f32 search "$quiver_dir" >>"$out/wall.jsonl"
  run usearch search "$same_dir" >>"$out/wall.jsonl"
  run quiver-f32 import "$(fresh_copy "$quiver_dir")" --queries "$import_rows" |
    sed 's/"system":"quiver-f32"/"system":"quiver-f32 (FULL)"/' >>"$out/wall.jsonl"
  run quiver-f32 import "$(fresh_copy "$quiver_dir")" --queries "$import_rows" \
    --quiver-synchronous normal |
    sed 's/"system":"quiver-f32"/"system":"quiver-f32 (NORMAL)"/' >>"$out/wall.jsonl"
  run usearch import "$(fresh_copy "$same_dir")" --queries "$import_rows" >>"$out/wall.jsonl"
done
strace -f -c -o "$out/strace.import.quiver-f32.txt" \
  "$BIN" --child profile-import --system quiver-f32 --dir "$(fresh_copy "$quiver_dir")" \
  "${common[@]}" >/dev/null
for s in "quiver-f32 $quiver_dir" "usearch $same_dir"; do
  read -r system dir <<<"$s"
  strace -f -c -e trace=read,pread64 -o "$out/strace.open.$system.txt" \
    "$BIN" --child profile-search --system "$system" --dir "$dir" --data "$data" --queries 1 \
    --ef "$ef" >/dev/null
done
rm -rf "$out/copy"
log "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"

{
  for p in "${profiles[@]}"; do
    read -r what system dir <<<"$p"
    label=$what.$system
    echo "== callgrind $label: $(cat "$out/result.$label.json")"
    grep -m1 "PROGRAM TOTALS" "$out/annotate.$label.txt" || true
    # The 20 largest inclusive costs (the list between "file:function" and the next rule).
    awk '/file:function/ {p = 1; getline; next} p && /^--/ {exit} p && NF && n++ < 20' \
      "$out/annotate.$label.txt" | cut -c1-200
    echo
  done
  echo "== wall clock (seconds per profile region; median of $rounds rounds;"
  echo "   search: $queries queries; import: $import_rows rows)"
  /usr/bin/python3 - "$out/wall.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for kind in ("profile_search", "profile_import"):
    for system in ("quiver-f32", "quiver-f32 (FULL)", "quiver-f32 (NORMAL)", "usearch"):
        mine = [r for r in rows if r["type"] == kind and r["system"] == system]
        for field in ("seconds", "cpu_s", "open_s", "first_query_ms"):
            s = [r[field] for r in mine if field in r]
            if s:
                print("%-15s %-20s %-14s median %8.3f  (min %.3f, max %.3f; %d rounds)"
                      % (kind, system, field, statistics.median(s), min(s), max(s), len(s)))
EOF
  echo
  echo "== strace -f -c, Quiver import (open + one Upsert batch + close)"
  head -12 "$out/strace.import.quiver-f32.txt"
  for system in quiver-f32 usearch; do
    echo "== strace -c read/pread64 while opening ($system; includes reading the queries)"
    head -6 "$out/strace.open.$system.txt"
  done
} | tee "$out/summary.txt"
