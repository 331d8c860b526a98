#!/usr/bin/python3
"""Helper of bench/http_bench.sh: prepares its inputs and runs its insert client.

Subcommands (all files little-endian; .fbin = int32 n, int32 d, then n*d float32):

  query-bodies  --queries F --n N --k K --out FILE
      The first N query vectors of F as /v2 query bodies, one JSON object per
      line: {"vector": [...], "k": K, "include": ["distance"]}. wrk cycles them.
  split-fbin    --input F --out-a A --out-b B
      The first and second half of F as two .fbin files.
  head-fbin     --input F --n N --out FILE
      The first N rows of F as an .fbin file.
  record-lines  --input F --n N --out FILE
      The first N rows of F as /v2 record objects, one a line:
      {"id": ROW, "embedding": [...]}, the same keys `quiver import` gives them.
  insert        --port P --collection C --records FILE --batch B --conns K --deadline S
      POSTs the records of FILE to /v2/collections/C/records in batches of B over
      K keep-alive connections to 127.0.0.1:P (one thread each, batches handed
      out in order), every batch exactly once. The bodies are built before the
      clock starts. Prints one JSON object: records, requests, seconds,
      records_per_s, p50_ms, p99_ms (per request), errors, timed_out. Stops
      early (timed_out = true) when S seconds have passed.

wrk is not used for inserts: it always runs for its whole -d duration, so it
cannot send a fixed number of records and time them.

Needs only Debian's python3 and python3-numpy: run it with /usr/bin/python3.
"""

import argparse
import http.client
import json
import math
import sys
import threading
import time

import numpy as np

HOST = "127.0.0.1"  # loopback only, never another address


def read_fbin(path, n=None):
    header = np.fromfile(path, dtype=np.int32, count=2)
    rows, dims = int(header[0]), int(header[1])
    if n is not None:
        if n > rows:
            sys.exit(f"{path}: has {rows} rows, {n} asked for")
        rows = n
    data = np.fromfile(path, dtype=np.float32, offset=8, count=rows * dims)
    return data.reshape(rows, dims)


def write_fbin(path, matrix):
    with open(path, "wb") as out:
        np.array(matrix.shape, dtype=np.int32).tofile(out)
        np.ascontiguousarray(matrix, dtype=np.float32).tofile(out)


def vector_json(row):
    """A float32 vector as JSON text that parses back to the same float32s."""
    if np.all(row == np.round(row)) and np.all(np.abs(row) < 2**24):
        return "[" + ",".join(str(int(v)) for v in row) + "]"  # e.g. pixels 0..255
    return "[" + ",".join(f"{float(v):.9g}" for v in row) + "]"


def cmd_query_bodies(args):
    queries = read_fbin(args.queries, args.n)
    with open(args.out, "w") as out:
        for row in queries:
            out.write(f'{{"vector":{vector_json(row)},"k":{args.k},"include":["distance"]}}\n')


def cmd_split_fbin(args):
    matrix = read_fbin(args.input)
    half = matrix.shape[0] // 2
    write_fbin(args.out_a, matrix[:half])
    write_fbin(args.out_b, matrix[half:])


def cmd_head_fbin(args):
    write_fbin(args.out, read_fbin(args.input, args.n))


def cmd_record_lines(args):
    with open(args.out, "w") as out:
        for key, row in enumerate(read_fbin(args.input, args.n)):
            out.write(f'{{"id":{key},"embedding":{vector_json(row)}}}\n')


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def cmd_insert(args):
    with open(args.records) as f:
        lines = [line.strip() for line in f if line.strip()]
    bodies = [
        ('{"records":[' + ",".join(lines[i : i + args.batch]) + "]}").encode()
        for i in range(0, len(lines), args.batch)
    ]
    batch_records = [min(args.batch, len(lines) - i) for i in range(0, len(lines), args.batch)]
    path = f"/v2/collections/{args.collection}/records"
    headers = {"Content-Type": "application/json"}

    lock = threading.Lock()
    next_batch = [0]
    latencies = []  # seconds per request
    done_records = [0]
    errors = []
    timed_out = [False]
    start = time.perf_counter()
    deadline = start + args.deadline

    def worker():
        conn = http.client.HTTPConnection(HOST, args.port, timeout=max(10.0, args.deadline))
        try:
            while True:
                with lock:
                    if errors or next_batch[0] >= len(bodies):
                        return
                    if time.perf_counter() >= deadline:
                        timed_out[0] = True
                        return
                    index = next_batch[0]
                    next_batch[0] += 1
                sent = time.perf_counter()
                # http.client reopens the connection by itself after the server's
                # "Connection: close" (it closes every 1,000th request).
                conn.request("POST", path, body=bodies[index], headers=headers)
                response = conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - sent
                with lock:
                    if response.status != 200:
                        errors.append(f"batch {index}: HTTP {response.status}: {payload[:300]!r}")
                        return
                    latencies.append(elapsed)
                    done_records[0] += batch_records[index]
        except Exception as e:  # noqa: BLE001 - reported, and the run fails
            with lock:
                errors.append(f"{type(e).__name__}: {e}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    latencies.sort()
    result = {
        "records": done_records[0],
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "records_per_s": round(done_records[0] / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "errors": errors,
        "timed_out": timed_out[0],
    }
    print(json.dumps(result))
    return 1 if errors else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("query-bodies")
    p.add_argument("--queries", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_query_bodies)

    p = sub.add_parser("split-fbin")
    p.add_argument("--input", required=True)
    p.add_argument("--out-a", required=True)
    p.add_argument("--out-b", required=True)
    p.set_defaults(func=cmd_split_fbin)

    p = sub.add_parser("head-fbin")
    p.add_argument("--input", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_head_fbin)

    p = sub.add_parser("record-lines")
    p.add_argument("--input", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_record_lines)

    p = sub.add_parser("insert")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--collection", required=True)
    p.add_argument("--records", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--deadline", type=float, required=True)
    p.set_defaults(func=cmd_insert)

    args = parser.parse_args()
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
