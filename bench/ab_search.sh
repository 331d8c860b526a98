#!/usr/bin/env bash
# Search speed of several systems, alternating, on the indexes a field run kept.
#
#   bench/ab_search.sh --work WORK --data DIR [--systems quiver-f32,quiver-f32-4k,hnswlib,usearch]
#                      [--ef 16,32,64,128] [--queries 5000] [--rounds 5] [--out FILE.jsonl]
#
# quiver_bench_field runs one system after the other, so on a shared machine each system's
# sweep meets different load (docs/benchmarks.md: two rounds of the same point can differ by
# 40%). This script takes the indexes of a run made with "--keep --work WORK" and, for
# --rounds rounds, runs each ef of each system in turn, one fresh search process each
# (quiver_bench_field --child profile-search: open, one untimed query, then --queries
# queries one per call on one thread), so that every system meets the same load. It prints,
# per system and ef, recall@10 and the median over the rounds of queries per CPU second of
# the search (the process's user + system time, less disturbed by waiting for a CPU than
# wall time) and of queries per wall second; then each system's queries per CPU second
# relative to hnswlib at hnswlib's recall (interpolated on the system's own curve, as
# bench/plot_field.py does). quiver-f32-4k is quiver-f32's index searched with
# QUIVER_HUGE_PAGES=0. Every line of the raw output (--out) keeps the load average.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-build/release/bench/quiver_bench_field}
work="" data="" systems=quiver-f32,quiver-f32-4k,hnswlib,usearch efs=16,32,64,128
queries=5000 rounds=5 out=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --work) work=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --systems) systems=$2; shift 2 ;;
    --ef) efs=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n $work && -n $data ]] || { echo "needs --work and --data (see --help)" >&2; exit 2; }
[[ -x $BIN ]] || { echo "$BIN missing: scripts/build.sh release quiver_bench_field" >&2; exit 1; }
name=$(basename "$data")
out=${out:-bench/results/ab-search-$name-$(date +%F-%H%M).jsonl}
mkdir -p "$(dirname "$out")"
: >"$out"

for round in $(seq "$rounds"); do
  for ef in ${efs//,/ }; do
    for system in ${systems//,/ }; do
      index=$system env=()
      if [[ $system == quiver-f32-4k ]]; then index=quiver-f32 env=(QUIVER_HUGE_PAGES=0); fi
      dir=$work/$name-$index
      [[ -d $dir ]] || { echo "no $dir: make it with quiver_bench_field --keep --work $work" >&2; exit 1; }
      load=$(cut -d' ' -f1 /proc/loadavg)
      line=$(env "${env[@]}" "$BIN" --child profile-search --system "$index" \
        --dir "$dir" --data "$data" --queries "$queries" --ef "$ef" 2>/dev/null)
      printf '{"name":"%s","round":%d,"load":%s,"result":%s}\n' "$system" "$round" "$load" \
        "$line" >>"$out"
    done
  done
  echo "round $round of $rounds done (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done

/usr/bin/python3 - "$out" <<'EOF'
import collections, json, math, statistics, sys

points = collections.defaultdict(list)
loads = []
for line in open(sys.argv[1]):
    o = json.loads(line)
    r = o["result"]
    points[(o["name"], r["ef"])].append(
        (r["rows"] / r["cpu_s"], r["rows"] / r["seconds"], r["recall_at_k"]))
    loads.append(o["load"])
order = ["quiver-f32", "quiver-f32-4k", "hnswlib", "usearch"]
names = sorted({k[0] for k in points}, key=lambda n: order.index(n) if n in order else 99)
efs = sorted({k[1] for k in points})


def median(name, ef, i):
    return statistics.median(x[i] for x in points[(name, ef)])


print("recall@10 / queries per CPU second (queries per wall second), medians of %s rounds; "
      "1-minute load average %.1f-%.1f" % (sorted({len(v) for v in points.values()}),
                                          min(loads), max(loads)))
print()
print("| system | " + " | ".join("ef=%d" % ef for ef in efs) + " |")
print("|---|" + "---|" * len(efs))
for n in names:
    print("| %s | %s |" % (n, " | ".join(
        "%.4f / %.0f (%.0f)" % (points[(n, ef)][0][2], median(n, ef, 0), median(n, ef, 1))
        if (n, ef) in points else "" for ef in efs)))


def nines(r):
    return -math.log10(1.0 - min(r, 1.00009) + 1e-4)


def at_recall(curve, recall):
    pts = sorted((nines(r), math.log(q)) for r, q in curve)
    x = nines(recall)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            return math.exp(y0 + (0.0 if x1 == x0 else (x - x0) / (x1 - x0)) * (y1 - y0))
    return None


if "hnswlib" in names:
    ref = [(ef, points[("hnswlib", ef)][0][2], median("hnswlib", ef, 0))
           for ef in efs if ("hnswlib", ef) in points]
    print()
    print("Queries per CPU second relative to hnswlib at hnswlib's recall:")
    print()
    print("| system | " + " | ".join("hnswlib ef=%d (%.4f)" % (ef, r) for ef, r, _ in ref) + " |")
    print("|---|" + "---|" * len(ref))
    for n in names:
        if n == "hnswlib":
            continue
        curve = [(points[(n, ef)][0][2], median(n, ef, 0)) for ef in efs if (n, ef) in points]
        cells = []
        for ef, r, q in ref:
            mine = at_recall(curve, r)
            cells.append("%.2fx" % (mine / q) if mine else "")
        print("| %s | %s |" % (n, " | ".join(cells)))
print()
print("raw lines: %s" % sys.argv[1])
EOF
