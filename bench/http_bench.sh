#!/usr/bin/env bash
# HTTP benchmark of `quiver serve` against the library, on loopback (127.0.0.1) only.
#
#   bench/http_bench.sh            (from the repo root; about 3 minutes once the machine is quiet)
#
# What it measures, all in one run, on the Fashion-MNIST collection `fashion`
# (60,000 x 784-d float32, l2sq) of a COPY of data/store (`quiver backup`; the
# original is never opened for writing):
#
#   1. Search over HTTP: `quiver serve --threads 2`, wrk POSTing to the native route
#      /v2/collections/fashion/query, one real query vector per request, k=10,
#      "include": ["distance"], 1,000 distinct bodies cycled (bench/wrk/query.lua).
#      Requests/s and p50/p99 latency at 1, 2 and 8 connections
#      (wrk -t min(conns,2) -c conns -d 10s --latency), plus the CPU the server and
#      wrk used (in cores: 1.0 = one core busy for the whole run).
#   2. Search in the library: `quiver search -k 10 --json` (no SQLite lookups):
#      1 process on all 10,000 queries (= 1 thread), then 2 processes in parallel on
#      the two halves (= 2 threads, rates summed). The same again with
#      `--include metadata`, which adds one SQLite lookup per match (what asking the
#      server for text or metadata costs; the measured requests ask only for
#      distances, which needs none). Ratio to watch:
#      server @ 2 connections / library @ 2 threads (target >= 0.7).
#   3. Insert over HTTP: the first 20,000 Fashion-MNIST base vectors (integer ids
#      0..19,999) upserted through /v2/collections/NAME/records in batches of 100 and
#      of 1,000, over 1 and 2 keep-alive connections, each run into a new collection
#      (784-d, l2sq, default HNSW settings) of the served store. Client:
#      bench/http_bench_helper.py (wrk cannot send a fixed number of requests and time
#      them: it always runs its whole -d). Every 200 = committed with fsync.
#   4. Import in the library: `quiver import --batch-size B` of the same 20,000 rows
#      (an .fbin) into a new collection of a separate data dir; the rate it prints
#      includes opening the store and the checkpoint at close. Ratio to watch:
#      HTTP insert / library import at the same batch size (target >= 0.5).
#
# How to read the table: "rate" is requests/s (= queries/s) for searches and
# records/s for inserts; p50/p99 are per request. "load1" is the 1-minute load
# average just before the phase; it includes the benchmark's own previous phases
# (a 10 s wrk run at 2 cores lifts it by about 0.3), so read it against the order
# of the rows. wrk runs on the same CPUs as the server, so on a 2-CPU machine the
# server never gets two full cores; the CPU column says how much each side took.
#
# Before measuring, the script waits (polling every 20 s, at most 15 min) until the
# 1-minute load is below 0.8; then it measures anyway and the table says the load.
# Output: the table on stdout, also written to bench/results/http-DATE.md.
# Knobs (environment): HTTP_BENCH_DURATION (wrk seconds, 10), HTTP_BENCH_RECORDS
# (insert records, 20000), HTTP_BENCH_QUIET=0 (skip the wait for a quiet machine),
# QUIVER_BIN (build/release/quiver).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly QUIVER_SOURCE=${QUIVER_BIN:-build/release/quiver}  # copied: see "prepare"
readonly PY=/usr/bin/python3                    # the python3 with numpy
readonly HELPER=bench/http_bench_helper.py
readonly WRK_SCRIPT=bench/wrk/query.lua
readonly SOURCE_STORE=data/store
readonly QUERIES=data/fashion-mnist/query.fbin
readonly BASE=data/fashion-mnist/base.fbin
readonly COLLECTION=fashion
readonly DURATION=${HTTP_BENCH_DURATION:-10}
readonly RECORDS=${HTTP_BENCH_RECORDS:-20000}
readonly QUIET_WAIT=${HTTP_BENCH_QUIET:-1}
readonly QUIET_LOAD=0.8 QUIET_POLL_S=20 QUIET_MAX_S=900
readonly SERVER_THREADS=2
readonly HOST=127.0.0.1                         # loopback only
CLK_TCK=$(getconf CLK_TCK)                   # for /proc/PID/stat CPU times

# Progress goes to fd 3, the script's stderr: a trap may run inside a command whose
# stderr is redirected to a file (the `time wrk` below).
exec 3>&2
log() { printf '[http_bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&3; }
die() { log "ERROR: $*"; exit 1; }

for f in "$QUIVER_SOURCE" "$HELPER" "$WRK_SCRIPT" "$QUERIES" "$BASE" "$SOURCE_STORE/quiver.db"; do
  [[ -e $f ]] || die "missing $f"
done
for tool in wrk curl jq timeout; do command -v "$tool" >/dev/null || die "needs $tool"; done

# ---------------------------------------------------------------- clean-up
work=$(mktemp -d /tmp/quiver-http-bench.XXXXXX)
server_pid=""
background_pids=()

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${background_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    log "stopping the server (pid $server_pid) after an error"
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if ((status != 0)) && [[ -f $work/serve.log ]]; then
    log "last lines of the server log:"; tail -n 20 "$work/serve.log" >&3 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
load1() { cut -d' ' -f1 /proc/loadavg; }
loadavg3() { cut -d' ' -f1-3 /proc/loadavg; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }     # calc FORMAT EXPRESSION

# CPU time (utime + stime) of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

phase_load=""
phase() {  # phase NAME: logs it and remembers the load just before it
  phase_load=$(load1)
  log "== $1 (load $(loadavg3))"
}

rows=()
row() {  # row PHASE WHAT CONCURRENCY RATE P50 P99 CPU  (load column added)
  rows+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $phase_load |")
}

waited=0  # seconds spent waiting for quiet, over all calls (the budget is shared)
wait_for_quiet() {
  if [[ $QUIET_WAIT == 0 ]]; then
    quiet_note="not waited for (HTTP_BENCH_QUIET=0)"
    return
  fi
  while ! below "$(load1)" "$QUIET_LOAD"; do
    if ((waited >= QUIET_MAX_S)); then
      quiet_note="NOT quiet: 1-min load still $(load1) after ${QUIET_MAX_S} s; measured anyway"
      log "$quiet_note"
      return
    fi
    log "waiting for a quiet machine: load $(loadavg3) (want 1-min < $QUIET_LOAD; ${waited} s so far)"
    sleep "$QUIET_POLL_S" & wait $!  # (a signal interrupts the wait, not the sleep)
    waited=$((waited + QUIET_POLL_S))
  done
  quiet_note="quiet after ${waited} s of waiting (1-min load $(load1) < $QUIET_LOAD)"
  log "$quiet_note"
}

start_server() {
  "$QUIVER" serve --data "$work/store" --host "$HOST" --port 0 --threads "$SERVER_THREADS" \
    >"$work/serve.log" 2>&1 &
  server_pid=$!
  port=""
  for _ in $(seq 600); do  # at most 60 s: open + recovery of the store
    kill -0 "$server_pid" 2>/dev/null || die "the server exited at start-up"
    if [[ -z $port ]]; then
      port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$work/serve.log" | head -n 1)
    fi
    if [[ -n $port ]] && curl -fsS --max-time 2 "http://$HOST:$port/readyz" >/dev/null 2>&1; then
      log "server pid $server_pid ready on http://$HOST:$port ($SERVER_THREADS worker threads)"
      return
    fi
    sleep 0.1
  done
  die "the server was not ready within 60 s"
}

stop_server() {  # SIGTERM; the server must checkpoint, close and exit 0
  kill -TERM "$server_pid"
  for _ in $(seq 1200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then die "the server did not exit within 120 s of SIGTERM"; fi
  local status=0
  wait "$server_pid" || status=$?
  server_pid=""
  ((status == 0)) || die "the server exited with status $status after SIGTERM"
  log "server stopped by SIGTERM, exit status 0"
  server_exit="0 (SIGTERM)"
}

# field NAME: the value of NAME=... in the RESULT line of wrk (bench/wrk/query.lua).
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$result"; }

# library_search_rate ERRFILE ARGS...: runs `quiver search ARGS` on the copy, results
# to /dev/null; prints the queries/s it reports on stderr.
library_search_rate() {
  local err=$1; shift
  timeout 300 "$QUIVER" search --data "$work/store" --collection "$COLLECTION" "$@" \
    >/dev/null 2>"$err" || { cat "$err" >&2; die "quiver search failed"; }
  sed -n 's/.* queries in .* s: \([0-9.]*\) queries\/s.*/\1/p' "$err"
}

# library_search_pair NAME EXTRA...: two processes in parallel on the halves; the sum.
library_search_pair() {
  local name=$1; shift
  local pids=() half
  for half in a b; do
    timeout 300 "$QUIVER" search --data "$work/store" --collection "$COLLECTION" \
      "$work/query_$half.fbin" "$@" >/dev/null 2>"$work/$name.$half.err" &
    pids+=($!)
  done
  background_pids=("${pids[@]}")
  for pid in "${pids[@]}"; do wait "$pid" || die "quiver search ($name) failed"; done
  background_pids=()
  local a b
  a=$(sed -n 's/.* queries in .* s: \([0-9.]*\) queries\/s.*/\1/p' "$work/$name.a.err")
  b=$(sed -n 's/.* queries in .* s: \([0-9.]*\) queries\/s.*/\1/p' "$work/$name.b.err")
  [[ -n $a && -n $b ]] || die "no rate in the output of quiver search ($name)"
  calc '%.1f' "$a + $b"
}

# ---------------------------------------------------------------- 0. machine
started=$(date -u '+%Y-%m-%d %H:%M UTC')
nproc_n=$(nproc)
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
mem_gib=$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  commit+=" (with uncommitted changes)"
fi
wrk_version=$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2 || true)
load_at_start=$(loadavg3)
log "machine: $nproc_n CPUs ($cpu_model), ${mem_gib} GiB; load $load_at_start; work dir $work"

# Wait first for a quiet machine (a build may be replacing the binary, too)...
wait_for_quiet

# ---------------------------------------------------------------- prepare inputs
# ...then run one fixed copy of the binary throughout: a build in progress may
# relink build/release/quiver meanwhile.
phase "prepare: copy of the binary and the store, request bodies, query halves, insert records"
QUIVER=$work/quiver
cp "$QUIVER_SOURCE" "$QUIVER"
quiver_version=$("$QUIVER" --version) || die "$QUIVER_SOURCE does not run (being relinked?)"
quiver_binary="$QUIVER_SOURCE, built $(date -u -r "$QUIVER_SOURCE" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$QUIVER" | cut -c1-12)"
"$QUIVER" backup --data "$SOURCE_STORE" "$work/store" >&2
"$PY" "$HELPER" query-bodies --queries "$QUERIES" --n 1000 --k 10 --out "$work/query_bodies.jsonl"
"$PY" "$HELPER" split-fbin --input "$QUERIES" --out-a "$work/query_a.fbin" --out-b "$work/query_b.fbin"
"$PY" "$HELPER" head-fbin --input "$BASE" --n "$RECORDS" --out "$work/base_head.fbin"
"$PY" "$HELPER" record-lines --input "$BASE" --n "$RECORDS" --out "$work/records.jsonl"
num_queries=$(od -An -t d4 -N 4 "$QUERIES" | tr -d ' ')

# The preparation loaded the machine too: check again before measuring.
wait_for_quiet
load_at_measure=$(loadavg3)

# ---------------------------------------------------------------- 2. library search
phase "library search (quiver search -k 10 --json)"
lib1=$(library_search_rate "$work/lib1.err" "$QUERIES" -k 10 --json)
row "search, library" "\`quiver search --json\`, $num_queries queries" "1 thread" "$lib1 q/s" "" "" "1 process"
lib2=$(library_search_pair lib2 -k 10 --json)
row "search, library" "same, 2 processes on the halves, rates summed" "2 threads" "$lib2 q/s" "" "" "2 processes"

phase "library search with the SQLite lookup per match (--include metadata)"
lib1_meta=$(library_search_rate "$work/lib1m.err" "$QUERIES" -k 10 --json --include metadata)
row "search, library" "\`--include metadata\` (a SQLite lookup per match)" "1 thread" "$lib1_meta q/s" "" "" "1 process"
lib2_meta=$(library_search_pair lib2m -k 10 --json --include metadata)
row "search, library" "same, 2 processes on the halves" "2 threads" "$lib2_meta q/s" "" "" "2 processes"

# ---------------------------------------------------------------- 1. HTTP search
phase "start the server"
start_server
url="http://$HOST:$port/v2/collections/$COLLECTION/query"
# Warm-up (not reported): the index pages, the server's allocator.
QUIVER_BENCH_BODIES=$work/query_bodies.jsonl timeout 30 \
  wrk -t2 -c2 -d3s -s "$WRK_SCRIPT" "$url" >"$work/wrk_warmup.log" 2>&1 || die "wrk warm-up failed"

declare -A http_rps
for conns in 1 2 8; do
  threads=$((conns < 2 ? conns : 2))
  phase "HTTP search, $conns connections"
  server_before=$(cpu_ticks "$server_pid")
  TIMEFORMAT='%U %S'
  { time QUIVER_BENCH_BODIES=$work/query_bodies.jsonl timeout $((DURATION + 60)) \
      wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$WRK_SCRIPT" "$url" \
      >"$work/wrk_c$conns.log" 2>&1; } 2>"$work/wrk_c$conns.time" || {
    cat "$work/wrk_c$conns.log" >&2; die "wrk failed"; }
  server_after=$(cpu_ticks "$server_pid")
  result=$(grep '^RESULT ' "$work/wrk_c$conns.log") || { cat "$work/wrk_c$conns.log" >&2; die "no RESULT from wrk"; }
  [[ $(field non2xx) == 0 && $(field socket_errors) == 0 ]] || {
    cat "$work/wrk_c$conns.log" >&2; die "wrk saw errors: $result"; }
  seconds=$(field seconds)
  server_cores=$(calc '%.2f' "($server_after - $server_before) / $CLK_TCK / $seconds")
  server_us_per_req=$(calc '%.0f' "($server_after - $server_before) / $CLK_TCK / $(field requests) * 1e6")
  wrk_cores=$(awk -v s="$seconds" '{ printf "%.2f", ($1 + $2) / s }' "$work/wrk_c$conns.time")
  http_rps[$conns]=$(field rps)
  row "search, HTTP" "/v2 query, k=10, -t$threads -c$conns -d${DURATION}s" "$conns conn" \
    "${http_rps[$conns]} req/s" "$(calc '%.2f ms' "$(field p50_us) / 1000")" \
    "$(calc '%.2f ms' "$(field p99_us) / 1000")" \
    "server $server_cores ($server_us_per_req µs/req), wrk $wrk_cores"
done

# ---------------------------------------------------------------- 3. HTTP insert
declare -A http_ins
for batch in 100 1000; do
  for conns in 1 2; do
    name=http_b${batch}_c${conns}
    phase "HTTP insert, batches of $batch, $conns connections, into $name"
    code=$(curl -sS --max-time 10 -o "$work/create.json" -w '%{http_code}' \
      -H 'Content-Type: application/json' \
      --data "{\"name\": \"$name\", \"config\": {\"dimensions\": 784, \"metric\": \"l2sq\"}}" \
      "http://$HOST:$port/v2/collections")
    [[ $code == 201 ]] || die "creating $name: HTTP $code $(cat "$work/create.json")"
    server_before=$(cpu_ticks "$server_pid")
    timeout 400 "$PY" "$HELPER" insert --port "$port" --collection "$name" \
      --records "$work/records.jsonl" --batch "$batch" --conns "$conns" --deadline 300 \
      >"$work/$name.json" || { cat "$work/$name.json" >&2; die "HTTP insert into $name failed"; }
    server_after=$(cpu_ticks "$server_pid")
    jq -e '.timed_out == false and (.errors | length) == 0' "$work/$name.json" >/dev/null ||
      die "HTTP insert into $name: $(cat "$work/$name.json")"
    count=$(curl -fsS --max-time 10 "http://$HOST:$port/v2/collections/$name/records/count" | jq .count)
    [[ $count == "$RECORDS" ]] || die "$name holds $count records, expected $RECORDS"
    seconds=$(jq .seconds "$work/$name.json")
    http_ins[$batch.$conns]=$(jq .records_per_s "$work/$name.json")
    server_cores=$(calc '%.2f' "($server_after - $server_before) / $CLK_TCK / $seconds")
    row "insert, HTTP" "/v2 upsert, $RECORDS records in batches of $batch" "$conns conn" \
      "${http_ins[$batch.$conns]} rec/s" "$(jq .p50_ms "$work/$name.json") ms" \
      "$(jq .p99_ms "$work/$name.json") ms" "server $server_cores"
  done
done

phase "stop the server"
stop_server

# ---------------------------------------------------------------- 4. library import
declare -A lib_imp
for batch in 100 1000; do
  name=lib_b$batch
  phase "library import, batches of $batch, into $name (separate data dir)"
  "$QUIVER" create --data "$work/lib" --collection "$name" --dims 784 --metric l2sq >/dev/null
  timeout 400 "$QUIVER" import --data "$work/lib" --collection "$name" --batch-size "$batch" \
    "$work/base_head.fbin" >"$work/$name.out" 2>"$work/$name.err" ||
    { cat "$work/$name.err" >&2; die "quiver import failed"; }
  lib_imp[$batch]=$(sed -n 's/.*(\([0-9.]*\) records\/s).*/\1/p' "$work/$name.out" | head -n 1)
  [[ -n ${lib_imp[$batch]} ]] || die "no rate in the output of quiver import: $(cat "$work/$name.out")"
  row "insert, library" "\`quiver import --batch-size $batch\`, $RECORDS records" "1 process" \
    "${lib_imp[$batch]} rec/s" "" "" ""
done

# ---------------------------------------------------------------- ratios, table
ratio() { calc '%.2f' "$1 / $2"; }
verdict() { below "$1" "$2" && echo "below target $2" || echo "meets target $2"; }
phase_load=""
search_ratio=$(ratio "${http_rps[2]}" "$lib2")
row "ratio" "search: server @ 2 conns / library @ 2 threads" "" "**$search_ratio**" "" "" "$(verdict "$search_ratio" 0.7)"
for batch in 100 1000; do
  for conns in 1 2; do
    r=$(ratio "${http_ins[$batch.$conns]}" "${lib_imp[$batch]}")
    row "ratio" "insert: HTTP batches of $batch / library import --batch-size $batch" "$conns conn" "**$r**" "" "" "$(verdict "$r" 0.5)"
  done
done

mkdir -p bench/results
out=bench/results/http-$(date -u +%Y-%m-%d).md
[[ -e $out ]] && out=bench/results/http-$(date -u +%Y-%m-%d-%H%M%S).md
{
  echo "# Quiver HTTP benchmark, $started"
  echo
  echo "- command: \`bench/http_bench.sh\` (wrk -d ${DURATION}s; $RECORDS records per insert run)"
  echo "- machine: nproc $nproc_n ($cpu_model), ${mem_gib} GiB RAM, $(uname -sr)"
  echo "- build: $quiver_version; $quiver_binary; git $commit; $wrk_version"
  echo "- load average (1/5/15 min): $load_at_start at start; $load_at_measure when measuring began; machine $quiet_note"
  echo "- server: \`quiver serve --threads $SERVER_THREADS\` on $HOST, a copy of $SOURCE_STORE; exit status $server_exit"
  echo "- search: Fashion-MNIST $COLLECTION (60,000 x 784, l2sq, ef 64), k=10, 1,000 distinct real query bodies cycled"
  echo
  echo "| phase | what | concurrency | rate | p50 | p99 | CPU (cores) / note | load1 before |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out"
log "written to $out"
