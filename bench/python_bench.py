#!/usr/bin/python3
"""Python `quiver` against the C++ library and hnswlib on Fashion-MNIST, in one run.

Measures, one system after the other (never two at once), with the same HNSW
parameters (connectivity/M 16, expansion_add/ef_construction 128, ef 64, k 10):

  upsert   Python: col.upsert of NumPy batches (--batch rows each) into a new
           store, then close (checkpoint); against `quiver import base.fbin`
           of the same rows by the CLI (--batch-size the same), wall time of the
           whole process.
  search   on the store the Python run wrote, reopened read-only (as the CLI's
           `quiver search` opens it), the first --queries rows of query.fbin:
           - C++:    `quiver search` (Collection::Search, 256 queries per call,
                     one thread), the queries/s it reports;
           - Python: col.query with one query per call; one batch on 1 thread;
                     one batch with threads=2; 2 Python threads each calling
                     col.query one query at a time (the GIL is released);
           - hnswlib (Debian python3-hnswlib): knn_query one query per call and
                     one batch with num_threads=2, index built with 2 threads.
           recall@10 of each against gt_l2sq.ibin when it exists. Every system
           runs once per round, interleaved (--rounds, default 3); the median
           round is printed.

USearch's own Python module is not packaged by Debian and PyPI is not reachable
from this project's machines, so it is not measured (the script says so).

  /usr/bin/python3 bench/python_bench.py [--data data/fashion-mnist]
      [--quiver build/release/quiver] [--base N] [--queries N] [--batch N] [--rounds N]

Run with PYTHONPATH=build/release/python (or an installed quiver). The ratios
printed at the end are the closing-note numbers: compare runs of one machine
state only (it is shared and noisy).
"""

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recall import read_ibin  # noqa: E402

import quiver  # noqa: E402

K = 10
EF = 64
M = 16
EF_CONSTRUCTION = 128


def read_fbin(path, limit):
    """First `limit` rows of an .fbin (int32 n, int32 d, n*d float32)."""
    with open(path, "rb") as f:
        n, d = struct.unpack("<ii", f.read(8))
        rows = min(n, limit)
        data = np.fromfile(f, dtype=np.float32, count=rows * d)
    return data.reshape(rows, d)


def write_fbin(path, data):
    with open(path, "wb") as f:
        f.write(struct.pack("<ii", *data.shape))
        np.ascontiguousarray(data, dtype=np.float32).tofile(f)


def recall(found, truth):
    """recall@K of found (q, >=K) row keys against truth (q, >=K)."""
    hits = sum(len(set(f[:K].tolist()) & set(t[:K].tolist())) for f, t in zip(found, truth))
    return hits / (K * len(found))


def brute_force_l2sq(base, queries, block=500):
    """Exact top-K rows of base by squared Euclidean distance, (q, K)."""
    base64 = base.astype(np.float64)
    norms = (base64 ** 2).sum(axis=1)
    out = []
    for first in range(0, len(queries), block):
        q = queries[first:first + block].astype(np.float64)
        d = norms[None, :] - 2 * q @ base64.T
        top = np.argpartition(d, K, axis=1)[:, :K]
        order = np.take_along_axis(d, top, axis=1).argsort(axis=1)
        out.append(np.take_along_axis(top, order, axis=1))
    return np.vstack(out)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def python_upsert(path, base, batch):
    """Records/s of col.upsert from NumPy batches, and of open..close overall."""
    start = time.perf_counter()
    store = quiver.open(path, log_level="warn")
    col = store.create_collection("fashion", dims=base.shape[1], metric="l2sq",
                                  connectivity=M, expansion_add=EF_CONSTRUCTION,
                                  expansion_search=EF)
    upsert_time = 0.0
    for first in range(0, len(base), batch):
        rows = base[first:first + batch]
        _, seconds = timed(lambda: col.upsert(np.arange(first, first + len(rows)), rows))
        upsert_time += seconds
    store.close()
    return len(base) / upsert_time, len(base) / (time.perf_counter() - start)


def cli_import(cli, path, base_file, batch, rows):
    """Records/s of `quiver import` (whole process, wall time)."""
    args = [cli, "import", base_file, "--data", path, "--collection", "fashion", "--create",
            "--metric", "l2sq", "--connectivity", str(M), "--expansion-add", str(EF_CONSTRUCTION),
            "--expansion-search", str(EF), "--batch-size", str(batch)]
    done, seconds = timed(lambda: subprocess.run(args, capture_output=True, text=True))
    if done.returncode != 0:
        sys.exit("quiver import failed: " + done.stderr)
    return rows / seconds


def cli_search(cli, path, query_file, queries):
    """Queries/s `quiver search` reports (time inside Collection::Search) and its keys."""
    args = [cli, "search", query_file, "--data", path, "--collection", "fashion", "-k", str(K),
            "--expansion-search", str(EF), "--limit", str(queries), "--json"]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("quiver search failed: " + done.stderr)
    qps = float(re.search(r"([0-9.]+) queries/s", done.stderr).group(1))
    keys = [[m["key"] for m in json.loads(line)["matches"]] for line in done.stdout.splitlines()]
    return qps, np.array(keys)


def python_searches(path, queries):
    """{mode: (queries/s, keys)} for the Python ways of querying."""
    out = {}
    with quiver.open(path, read_only=True, log_level="warn") as store:
        col = store.get_collection("fashion")
        col.query(queries[:10], k=K, ef=EF)  # warm up

        def one_per_call(rows):
            return np.vstack([col.query(rows[i:i + 1], k=K, ef=EF).keys for i in range(len(rows))])

        keys, seconds = timed(lambda: one_per_call(queries))
        out["python, 1 query per call"] = (len(queries) / seconds, keys)
        result, seconds = timed(lambda: col.query(queries, k=K, ef=EF))
        out["python, one batch, 1 thread"] = (len(queries) / seconds, result.keys)
        result, seconds = timed(lambda: col.query(queries, k=K, ef=EF, threads=2))
        out["python, one batch, threads=2"] = (len(queries) / seconds, result.keys)

        halves = [queries[: len(queries) // 2], queries[len(queries) // 2:]]
        parts = [None, None]

        def worker(i):
            parts[i] = one_per_call(halves[i])

        def two_threads():
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return np.vstack(parts)

        keys, seconds = timed(two_threads)
        out["python, 2 Python threads, 1 query per call"] = (len(queries) / seconds, keys)
    return out


def hnswlib_index(base):
    """hnswlib's index of base with the same parameters, or None without hnswlib."""
    try:
        import hnswlib
    except ImportError:
        print("hnswlib: not installed (Debian python3-hnswlib); skipped")
        return None
    index = hnswlib.Index(space="l2", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCTION, random_seed=1)
    _, seconds = timed(lambda: index.add_items(base, np.arange(len(base)), num_threads=2))
    print(f"hnswlib: built in {seconds:.1f} s ({len(base) / seconds:.0f} vectors/s, 2 threads, "
          "no persistence)")
    index.set_ef(EF)
    index.knn_query(base[:10], k=K, num_threads=1)  # warm up
    return index


def hnswlib_searches(index, queries):
    out = {}
    keys, seconds = timed(lambda: np.vstack(
        [index.knn_query(queries[i:i + 1], k=K, num_threads=1)[0] for i in range(len(queries))]))
    out["hnswlib, 1 query per call"] = (len(queries) / seconds, keys)
    (keys, _), seconds = timed(lambda: index.knn_query(queries, k=K, num_threads=2))
    out["hnswlib, one batch, num_threads=2"] = (len(queries) / seconds, keys)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/fashion-mnist")
    parser.add_argument("--quiver", default="build/release/quiver", help="the quiver CLI")
    parser.add_argument("--base", type=int, default=60000, help="base rows to index")
    parser.add_argument("--queries", type=int, default=2000, help="queries to run")
    parser.add_argument("--batch", type=int, default=1000, help="records per upsert/import batch")
    parser.add_argument("--rounds", type=int, default=3, help="search rounds; the median is shown")
    args = parser.parse_args()

    base = read_fbin(os.path.join(args.data, "base.fbin"), args.base)
    queries = read_fbin(os.path.join(args.data, "query.fbin"), args.queries)
    truth_path = os.path.join(args.data, "gt_l2sq.ibin")
    if os.path.exists(truth_path) and len(base) == 60000:
        truth = read_ibin(truth_path)[: len(queries)]
    else:
        print("recall: truth by NumPy brute force (gt_l2sq.ibin absent or --base < 60000)")
        truth = brute_force_l2sq(base, queries)
    print(f"Fashion-MNIST: {len(base)} x {base.shape[1]} base, {len(queries)} queries, "
          f"k={K}, ef={EF}, M={M}, ef_construction={EF_CONSTRUCTION}; quiver {quiver.__version__}, "
          f"USearch {quiver.usearch_version()}, {os.cpu_count()} cores")

    work = tempfile.mkdtemp(prefix="quiver-python-bench-")
    try:
        base_file = os.path.join(work, "base.fbin")
        query_file = os.path.join(work, "query.fbin")
        write_fbin(base_file, base)
        write_fbin(query_file, queries)

        py_rate, py_total_rate = python_upsert(os.path.join(work, "py"), base, args.batch)
        cli_rate = cli_import(args.quiver, os.path.join(work, "cli"), base_file, args.batch,
                              len(base))
        shutil.rmtree(os.path.join(work, "cli"))
        print(f"\nupsert: python col.upsert {py_rate:.0f} records/s "
              f"({py_total_rate:.0f} records/s open..close), CLI import {cli_rate:.0f} records/s "
              f"(whole process): ratio python/CLI {py_rate / cli_rate:.2f} "
              f"(open..close {py_total_rate / cli_rate:.2f})")

        index = hnswlib_index(base)
        print("USearch Python module: not measured (not packaged by Debian; PyPI not reachable)")
        # Every system once per round, interleaved, so that a change in the
        # machine's load touches all of them; the median round is reported.
        rounds = {}
        for _ in range(args.rounds):
            qps, keys = cli_search(args.quiver, os.path.join(work, "py"), query_file, len(queries))
            measured = {"C++ library (quiver search, 1 thread)": (qps, keys)}
            measured.update(python_searches(os.path.join(work, "py"), queries))
            if index is not None:
                measured.update(hnswlib_searches(index, queries))
            for name, value in measured.items():
                rounds.setdefault(name, []).append(value)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {name: (float(np.median([qps for qps, _ in values])), values[-1][1])
               for name, values in rounds.items()}

    cpp_qps = results["C++ library (quiver search, 1 thread)"][0]
    print(f"\nsearch, median of {args.rounds} interleaved rounds:")
    print(f"{'system':<48} {'queries/s':>10} {'vs C++':>7} {'recall@10':>9}")
    for name, (qps, keys) in results.items():
        print(f"{name:<48} {qps:>10.0f} {qps / cpp_qps:>6.2f}x {recall(keys, truth):>9.4f}")


if __name__ == "__main__":
    main()
