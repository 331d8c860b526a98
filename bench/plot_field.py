#!/usr/bin/python3
"""Tables and plots from quiver_bench_field results (bench/run_field.sh runs this).

  /usr/bin/python3 bench/plot_field.py [--md bench/results/field-DATE.md]
      [--img-dir docs/img] RESULTS.jsonl...

Reads the JSON lines quiver_bench_field wrote (one file per data set; if a file
holds several runs, the last one is used) and writes:

  - a markdown file with, per data set: the machine and parameters, the load
    averages, a table of build time, save time, peak RSS, bytes on disk, reopen
    and first-query time per system, and tables of recall@k and queries/s per
    ef on each thread count, plus Quiver's QPS relative to raw USearch;
  - one PNG per data set and thread count, <img-dir>/recall-qps-<dataset>-<T>t.png:
    recall@k on x, queries/s on a log scale on y, one line per system.

Only numbers found in the files are printed; nothing is estimated.
"""

import argparse
import collections
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# Display order and labels of the series (system, call mode).
SERIES_ORDER = [
    ("quiver-f32", "single"), ("quiver-f32-numkong", "single"), ("quiver-f32-4k", "single"),
    ("quiver-http", "single"),
    ("quiver-f16", "single"),
    ("quiver-bf16", "single"), ("quiver-i8", "single"), ("usearch", "single"),
    ("hnswlib", "single"), ("faiss-hnsw", "single"), ("faiss-hnsw", "batch"),
    ("faiss-flat", "single"),
]
LABELS = {
    "quiver-f32": "Quiver f32",
    "quiver-f32-numkong": "Quiver f32, NumKong kernel (as raw USearch)",
    "quiver-f32-4k": "Quiver f32, 4 KiB pages (QUIVER_HUGE_PAGES=0)",
    "quiver-http": "Quiver f32 over HTTP", "quiver-f16": "Quiver f16",
    "quiver-bf16": "Quiver bf16", "quiver-i8": "Quiver i8", "usearch": "raw USearch f32",
    "hnswlib": "hnswlib", "faiss-hnsw": "FAISS HNSWFlat", "faiss-flat": "FAISS FlatL2 (exact)",
}
STYLE = {
    "quiver-f32": ("tab:blue", "o", "-"), "quiver-f32-numkong": ("tab:olive", "o", ":"),
    "quiver-f32-4k": ("tab:pink", "o", "--"),
    "quiver-http": ("tab:brown", "h", "-"),
    "quiver-f16": ("tab:cyan", "s", "-"),
    "quiver-bf16": ("tab:purple", "P", "-"), "quiver-i8": ("tab:gray", "v", "-"),
    "usearch": ("tab:orange", "D", "--"), "hnswlib": ("tab:green", "^", "-."),
    "faiss-hnsw": ("tab:red", "x", ":"), "faiss-flat": ("black", "*", ""),
}


# The recall axis counts "nines": x = -log10(1 - recall + RECALL_EPS), so that
# 0.9, 0.99 and 0.999 are equally spaced and recall 1 stays finite.
RECALL_EPS = 1e-4
RECALL_TICKS = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 1.0]


def _nines(r):
    # Defined up to 1 + RECALL_EPS; the axis ends a little right of recall 1.
    r = np.minimum(np.asarray(r, dtype=float), 1.0 + 0.9 * RECALL_EPS)
    return -np.log10(1.0 - r + RECALL_EPS)


def _nines_inverse(x):
    return 1.0 + RECALL_EPS - np.power(10.0, -np.asarray(x, dtype=float))


class InputError(Exception):
    """A problem with an input file, meant for the user."""


def label(system, call):
    base = LABELS.get(system, system)
    return base + (" (batch calls)" if call == "batch" else "")


def load_runs(paths):
    """{dataset: [lines of its last run]} from the given JSONL files."""
    runs = collections.OrderedDict()
    for path in paths:
        by_run = collections.OrderedDict()
        try:
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise InputError("%s:%d: invalid JSON: %s" % (path, lineno, e.msg))
                    by_run.setdefault(obj.get("run_id"), []).append(obj)
        except OSError as e:
            raise InputError("cannot read %s: %s" % (path, e.strerror or e))
        if not by_run:
            raise InputError("%s holds no results" % path)
        lines = list(by_run.values())[-1]
        header = [o for o in lines if o.get("type") == "run"]
        if not header:
            raise InputError("%s: the last run has no \"run\" line (not quiver_bench_field output?)"
                             % path)
        runs[header[0]["dataset"]] = lines
    return runs


def fmt_load(values):
    if not values or values[0] is None or values[0] < 0:
        return "?"
    return "%.2f" % values[0]


def mib(value, unit_bytes):
    if value is None:
        return ""
    return "%.0f" % (value / (1 << 20) if unit_bytes else value / 1024.0)


def series_of(lines):
    """{(system, call, threads): [search lines sorted by ef]}"""
    out = collections.defaultdict(list)
    for o in lines:
        if o.get("type") == "search":
            out[(o["system"], o["call"], o["threads"])].append(o)
    for v in out.values():
        v.sort(key=lambda o: o["ef"] or 0)
    return out


def ordered_keys(keys):
    rank = {s: i for i, s in enumerate(SERIES_ORDER)}
    return sorted(keys, key=lambda k: (rank.get((k[0], k[1]), 99), k))


def qps_at_recall(curve, recall):
    """Queries/s of a system at `recall`, interpolated on its (recall, qps) points:
    log(qps) linear in -log10(1 - recall). None outside the measured recalls."""
    pts = sorted((_nines(r), np.log(q)) for r, q in curve if q > 0)
    x = _nines(recall)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            w = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
            return float(np.exp(y0 + w * (y1 - y0)))
    if pts and abs(pts[-1][0] - x) < 1e-12:
        return float(np.exp(pts[-1][1]))
    return None


def markdown_for(dataset, lines):
    run = next(o for o in lines if o["type"] == "run")
    end = next((o for o in lines if o["type"] == "run_end"), None)
    builds = {o["system"]: o for o in lines if o["type"] == "build"}
    opens = {o["system"]: o for o in lines if o["type"] == "open"}
    search_ends = {o["system"]: o for o in lines if o["type"] == "search_end"}
    errors = [o for o in lines if o["type"] == "error"]
    kernel = (opens.get("quiver-f32") or builds.get("quiver-f32") or {}).get("info", {}).get(
        "simd_kernel", "?")
    meta = run.get("meta", {})
    k = run.get("k", 10)

    md = []
    md.append("## %s: %s x %s, %s queries, k=%s" % (dataset, format(run["n"], ","), run["dims"],
                                                     format(run["queries"], ","), k))
    md.append("")
    md.append("Run `%s` (%s UTC), %s CPUs (%s), NumKong kernel `%s` (capabilities: %s); "
              "M=%s, ef_construction=%s, %s insert threads; Quiver batches of %s, "
              "checkpoint every %s changes. Build: %s. Versions: Quiver %s, USearch %s, "
              "FAISS %s, hnswlib kernel `%s` (%s)."
              % (run["run_id"], run.get("time_utc", "?"), run.get("nproc", "?"),
                 run.get("cpu_model", "?"), kernel, run.get("numkong_capabilities", "?"),
                 run["M"], run["ef_construction"], run["insert_threads"],
                 run.get("quiver_batch", "?"), run.get("quiver_checkpoint_every_changes", "?"),
                 run.get("build", "?"), run.get("quiver_version", "?"),
                 run.get("usearch_version", "?"), run.get("faiss_version", "not built"),
                 run.get("hnswlib_kernel", "not built"), run.get("hnswlib_flags", "")))
    if meta:
        md.append("")
        md.append("Recorded: " + ", ".join("%s=`%s`" % kv for kv in sorted(meta.items())) + ".")
    md.append("")
    md.append("Load average (1 min) at the start of the run: %s; at the end: %s%s."
              % (fmt_load(run.get("loadavg_start")), fmt_load(end and end.get("loadavg_end")),
                 "" if end else " (the run did not finish)"))
    md.append("")

    md.append("| system | build (s) | save (s) | build cores used | build peak RSS (MiB) "
              "| of which inputs | on disk (MiB) | reopen (ms) | first query (ms) "
              "| search peak RSS (MiB) | kernel | load avg build / search |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    systems = [s for s in run.get("systems", []) if s in builds or s in opens]
    for s in systems:
        b, o, e = builds.get(s, {}), opens.get(s, {}), search_ends.get(s, {})
        cores = ("%.2f" % (b["process_cpu_s"] / b["process_wall_s"])
                 if b.get("process_cpu_s") is not None and b.get("process_wall_s") else "")
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s-%s / %s-%s |" % (
            LABELS.get(s, s),
            "%.2f" % b["build_s"] if "build_s" in b else "",
            "%.2f" % b["save_s"] if "save_s" in b else "", cores,
            mib(b.get("peak_rss_kib"), False), mib(b.get("input_rss_kib"), False),
            "%.1f" % (b["disk_bytes"] / (1 << 20)) if "disk_bytes" in b else "",
            "%.1f" % (o["open_s"] * 1000) if "open_s" in o else "",
            "%.2f" % o["first_query_ms"] if "first_query_ms" in o else "",
            mib(e.get("peak_rss_kib"), False),
            (b.get("info") or o.get("info") or {}).get("simd_kernel", ""),
            fmt_load(b.get("process_loadavg_start")), fmt_load(b.get("process_loadavg_end")),
            fmt_load(e.get("process_loadavg_start")), fmt_load(e.get("process_loadavg_end"))))
    md.append("")
    md.append("\"Build cores used\" is the build process's CPU time over its wall time (2 = both "
              "insert threads ran all the time; less = waiting for I/O, a serial phase, or "
              "other load). "
              "Peak RSS is each child process's own (`ru_maxrss`): the build process holds the "
              "base vectors (\"of which inputs\": RSS after reading them), the search process "
              "the queries and the ground truth. Quiver's bytes on disk include SQLite, which "
              "keeps every float32 embedding besides the index.")
    md.append("")
    for s in systems:
        b, e = builds.get(s, {}), search_ends.get(s, {})
        if "server_peak_rss_kib" not in b and "server_peak_rss_kib" not in e:
            continue
        md.append("%s runs `quiver serve` as a child of the benchmark's process: its server "
                  "peaked at %s MiB RSS while building (its whole life, checkpoint on SIGTERM "
                  "included; %s s CPU) and at %s MiB while searching (%s s CPU). The process "
                  "peak RSS in the table is the larger of the client's and the server's (a "
                  "process's `ru_maxrss` covers the children it reaped); the client alone "
                  "peaked at %s MiB building and %s MiB searching (`vm_hwm_kib`)."
                  % (LABELS.get(s, s), mib(b.get("server_peak_rss_kib"), False),
                     "%.1f" % b["server_cpu_s"] if b.get("server_cpu_s") is not None else "?",
                     mib(e.get("server_peak_rss_kib"), False),
                     "%.1f" % e["server_cpu_s"] if e.get("server_cpu_s") is not None else "?",
                     mib(b.get("vm_hwm_kib"), False), mib(e.get("vm_hwm_kib"), False)))
        md.append("")
    for e in errors:
        md.append("**%s failed** in its %s phase (exit status %s); see the run's standard error."
                  % (LABELS.get(e["system"], e["system"]), e["phase"], e["exit_code"]))
        md.append("")

    series = series_of(lines)
    threads_list = sorted({key[2] for key in series})
    efs = sorted({o["ef"] for v in series.values() for o in v if o["ef"]})
    for t in threads_list:
        keys = [key for key in ordered_keys(series) if key[2] == t]
        md.append("### recall@%s / queries per second, %d search thread%s"
                  % (k, t, "" if t == 1 else "s"))
        md.append("")
        md.append("| system | " + " | ".join("ef=%d" % ef for ef in efs) + " | load avg |")
        md.append("|---|" + "---|" * len(efs) + "---|")
        for key in keys:
            by_ef = {o["ef"]: o for o in series[key]}
            loads = [o["loadavg_start"][0] for o in series[key]] + \
                [o["loadavg_end"][0] for o in series[key]]
            if None in by_ef:  # exact search: one point, no ef
                o = by_ef[None]
                cells = ["%.4f / %.0f" % (o["recall_at_k"], o["qps"])] + \
                    ["" for _ in efs[1:]]
                note = " (%d queries)" % o["queries"]
            else:
                cells = ["%.4f / %.0f" % (by_ef[ef]["recall_at_k"], by_ef[ef]["qps"])
                         if ef in by_ef else "" for ef in efs]
                note = ""
            md.append("| %s%s | %s | %.2f-%.2f |" % (label(key[0], key[1]), note,
                                                    " | ".join(cells), min(loads), max(loads)))
        md.append("")
        raw = {o["ef"]: o for o in series.get(("usearch", "single", t), [])}
        quiver_keys = [key for key in keys if key[0].startswith("quiver-")]
        if raw and quiver_keys:
            md.append("Queries/s relative to raw USearch f32 at the same ef (%d thread%s):"
                      % (t, "" if t == 1 else "s"))
            md.append("")
            md.append("| system | " + " | ".join("ef=%d" % ef for ef in efs) + " |")
            md.append("|---|" + "---|" * len(efs))
            for key in quiver_keys:
                by_ef = {o["ef"]: o for o in series[key]}
                md.append("| %s | %s |" % (label(key[0], key[1]), " | ".join(
                    "%.2fx" % (by_ef[ef]["qps"] / raw[ef]["qps"])
                    if ef in by_ef and ef in raw else "" for ef in efs)))
            md.append("")
        hnsw = series.get(("hnswlib", "single", t), [])
        if hnsw and quiver_keys:
            md.append("Queries/s relative to hnswlib at equal recall (%d thread%s): at each "
                      "hnswlib point, the Quiver system's queries/s interpolated on its own "
                      "recall curve at hnswlib's recall (log queries/s, linear in "
                      "-log10(1 - recall)); blank outside the recalls it measured:"
                      % (t, "" if t == 1 else "s"))
            md.append("")
            points = sorted((o for o in hnsw if o["ef"]), key=lambda o: o["ef"])
            md.append("| system | " + " | ".join(
                "hnswlib ef=%d (%.4f)" % (o["ef"], o["recall_at_k"]) for o in points) + " |")
            md.append("|---|" + "---|" * len(points))
            for key in quiver_keys:
                curve = [(o["recall_at_k"], o["qps"]) for o in series[key] if o["ef"]]
                md.append("| %s | %s |" % (label(key[0], key[1]), " | ".join(
                    "%.2fx" % (q / o["qps"]) if q else ""
                    for o in points for q in [qps_at_recall(curve, o["recall_at_k"])])))
            md.append("")
        lib = {o["ef"]: o for o in series.get(("quiver-f32", "single", t), [])}
        http = {o["ef"]: o for o in series.get(("quiver-http", "single", t), [])}
        if lib and http:
            md.append("Quiver f32 over HTTP relative to the library (%d thread%s): "
                      % (t, "" if t == 1 else "s") + ", ".join(
                          "ef=%d %.2fx" % (ef, http[ef]["qps"] / lib[ef]["qps"])
                          for ef in efs if ef in http and ef in lib) + ".")
            md.append("")
    # Build-time ratios: (numerator, denominator, sentence).
    for num, den, what in (
            ("quiver-f32", "usearch", "Quiver f32 import / raw USearch build"),
            ("quiver-f32-numkong", "usearch", "Quiver f32 with NumKong's kernel import / raw "
             "USearch build (Quiver's own overhead)"),
            ("quiver-http", "quiver-f32", "Quiver f32 import over HTTP / through the library"),
            ("quiver-f32", "hnswlib", "Quiver f32 import / hnswlib build"),
            ("quiver-f32", "quiver-f32-4k", "Quiver f32 import / the same in 4 KiB pages")):
        if num in builds and den in builds:
            md.append("%s: %.2fx (%.2f s / %.2f s)."
                      % (what, builds[num]["build_s"] / builds[den]["build_s"],
                         builds[num]["build_s"], builds[den]["build_s"]))
            md.append("")
    return "\n".join(md)


def plot(dataset, lines, threads, path):
    """Recall (x) vs queries/s (log y) for one thread count; returns False if no data."""
    series = series_of(lines)
    keys = [key for key in ordered_keys(series) if key[2] == threads]
    if not keys:
        return False
    run = next(o for o in lines if o["type"] == "run")
    k = run.get("k", 10)
    fig, ax = plt.subplots(figsize=(11, 6), dpi=110)
    for key in keys:
        pts = series[key]
        color, marker, linestyle = STYLE.get(key[0], (None, "o", "-"))
        if key[1] == "batch":
            linestyle = "-"
        xs = [o["recall_at_k"] for o in pts]
        ys = [o["qps"] for o in pts]
        ax.plot(xs, ys, marker=marker, linestyle=linestyle or "none", color=color,
                markersize=10 if marker == "*" else 6, linewidth=1.5,
                markerfacecolor="none" if key[1] == "batch" else color,
                label=label(key[0], key[1]))
        if key[0] in ("quiver-f32", "faiss-hnsw") and key[1] == "single":
            for o in pts:
                if o["ef"]:
                    ax.annotate("%d" % o["ef"], (o["recall_at_k"], o["qps"]),
                                textcoords="offset points", xytext=(4, 4), fontsize=7,
                                color=color)
    ax.set_yscale("log")
    ax.set_xscale("function", functions=(_nines, _nines_inverse))
    low = min(o["recall_at_k"] for key in keys for o in series[key])
    first = max(t for t in [0.0] + RECALL_TICKS if t <= min(low, 0.9))
    ticks = [first] + [t for t in RECALL_TICKS if t > first]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["%g" % t for t in ticks])
    # A little room right of recall 1 so that markers there are not clipped.
    ax.set_xlim(ticks[0], float(_nines_inverse(_nines(1.0) + 0.15)))
    ax.set_xlabel("recall@%d (scale spreads the nines: 0.9, 0.99, 0.999 equally spaced)" % k)
    ax.set_ylabel("queries per second (log scale)")
    ax.set_title("%s (%s x %s, l2sq): %d search thread%s, M=%s, ef_construction=%s\n"
                 "labels: ef; run %s" % (dataset, format(run["n"], ","), run["dims"], threads,
                                         "" if threads == 1 else "s", run["M"],
                                         run["ef_construction"], run.get("date", "")),
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description="Markdown tables and recall/QPS plots from "
                                             "quiver_bench_field JSON lines.")
    ap.add_argument("results", nargs="+", help="field-<dataset>-<date>.jsonl files")
    ap.add_argument("--md", help="markdown output (default: bench/results/field-<date>.md)")
    ap.add_argument("--img-dir", default="docs/img", help="PNG directory (default: %(default)s)")
    args = ap.parse_args(argv)
    try:
        runs = load_runs(args.results)
    except InputError as e:
        print("plot_field.py: error: %s" % e, file=sys.stderr)
        return 2

    dates = sorted({next(o for o in lines if o["type"] == "run")["date"]
                    for lines in runs.values()})
    md_path = args.md or os.path.join("bench", "results", "field-%s.md" % dates[-1])
    os.makedirs(args.img_dir, exist_ok=True)
    parts = ["# Field benchmark, %s" % ", ".join(dates), "",
             "Generated by `bench/plot_field.py` from %s. recall@k / queries per second; "
             "QPS counts every query of the sweep point divided by its wall time."
             % ", ".join("`%s`" % p for p in args.results), ""]
    for dataset, lines in runs.items():
        parts.append(markdown_for(dataset, lines))
        threads = sorted({o["threads"] for o in lines if o.get("type") == "search"})
        for t in threads:
            png = os.path.join(args.img_dir, "recall-qps-%s-%dt.png" % (dataset, t))
            if plot(dataset, lines, t, png):
                rel = os.path.relpath(os.path.abspath(png),
                                      os.path.dirname(os.path.abspath(md_path)))
                parts.append("![%s, %d thread%s](%s)" % (dataset, t, "" if t == 1 else "s", rel))
                parts.append("")
                print("wrote %s" % png, file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(md_path)), exist_ok=True)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts).rstrip() + "\n")
    print("wrote %s" % md_path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
