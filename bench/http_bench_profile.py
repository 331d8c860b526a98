#!/usr/bin/env python3
# Copyright (c) Quiver authors.
"""Where a /query request's server time goes (issue 16 item 6), with perf.

    python3 bench/http_bench_profile.py [--quiver build/release/quiver]
        [--data data/fashion-mnist] [--n 20000] [--queries 20000] [--ef 32]

Starts `quiver serve --threads 2` on a free port of 127.0.0.1 with a fresh data
directory, upserts the first --n Fashion-MNIST base vectors (784-d, l2sq, as
quiver_bench_field does), then
records the server with `perf record -g` while one keep-alive client sends
--queries POST /v2/collections/c/query requests (one query vector each, k=10,
expansion_search=--ef, "include": [] as quiver_bench_field's quiver-http does).
Prints the server's CPU per request and its split by where the samples fall:

  search     the index (quiver::index, USearch, NumKong): what a library call pays too
  sqlite     SQLite
  json in    simdjson (request body)
  json out   nlohmann::json and fmt (response body)
  http       httplib (request line, headers, response header)
  kernel     system calls and the network stack (recv, send, epoll)
  malloc     the allocator
  other      the rest (server glue, std::)

Needs perf (linux-perf) and permission to record the child process.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

CATEGORIES = [
    ("search", ("usearch", "numkong", "nk_", "unum::", "quiver::index::", "index_gt",
                "index_dense")),
    ("sqlite", ("sqlite",)),
    ("json in", ("simdjson",)),
    ("json out", ("nlohmann", "fmt::", "dtoa", "grisu", "to_chars")),
    ("http", ("httplib",)),
    ("malloc", ("malloc", "free", "cfree", "_int_", "operator new", "operator delete",
                "tcache")),
]


def read_fbin(path, rows):
    with open(path, "rb") as f:
        n, d = struct.unpack("<ii", f.read(8))
        rows = min(rows, n)
        data = f.read(rows * d * 4)
    return [list(struct.unpack_from(f"<{d}f", data, i * d * 4)) for i in range(rows)], d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def categorize(symbol, dso):
    text = f"{symbol} {dso}"
    if "[kernel" in dso or symbol.startswith(("__x64_sys", "entry_SYSCALL", "tcp_", "ep_")):
        return "kernel"
    for name, needles in CATEGORIES:
        if any(needle in text for needle in needles):
            return name
    return "other"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quiver", default="build/release/quiver")
    parser.add_argument("--data", default="data/fashion-mnist")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--ef", type=int, default=32)
    args = parser.parse_args()

    base, dims = read_fbin(os.path.join(args.data, "base.fbin"), args.n)
    queries, _ = read_fbin(os.path.join(args.data, "query.fbin"), 1000)
    work = tempfile.mkdtemp(prefix="quiver-profile-")
    port = free_port()
    server = subprocess.Popen([args.quiver, "serve", "--data", work, "--port", str(port),
                               "--threads", "2"], stderr=subprocess.DEVNULL)
    try:
        connection = None
        for _ in range(300):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                connection.request("GET", "/readyz")
                if connection.getresponse().read() and True:
                    break
            except OSError:
                time.sleep(0.1)

        def post(path, body):
            connection.request("POST", path, body=body,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
            assert response.status in (200, 201), data[:200]
            return data

        post("/v2/collections", json.dumps({"name": "c", "config": {"dimensions": dims,
                                                                "metric": "l2sq"}}))
        for begin in range(0, len(base), 1000):
            post("/v2/collections/c/records", json.dumps(
                {"records": [{"id": begin + i, "embedding": v}
                             for i, v in enumerate(base[begin:begin + 1000])]}))
        bodies = [json.dumps({"vector": q, "k": 10, "expansion_search": args.ef, "include": []})
                  for q in queries]
        for body in bodies[:200]:
            post("/v2/collections/c/query", body)  # warm-up

        perf_data = os.path.join(work, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-F", "2999", "-g", "-o", perf_data, "-p",
                                 str(server.pid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        with open(f"/proc/{server.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu_before = int(fields[11]) + int(fields[12])
        start = time.perf_counter()
        for i in range(args.queries):
            post("/v2/collections/c/query", bodies[i % len(bodies)])
        wall = time.perf_counter() - start
        with open(f"/proc/{server.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12]) - cpu_before) / os.sysconf("SC_CLK_TCK")
        perf.send_signal(2)
        perf.wait()

        report = subprocess.run(["perf", "report", "-i", perf_data, "--no-children", "--stdio",
                                 "--sort", "dso,sym", "-g", "none", "--percent-limit", "0"],
                                capture_output=True, text=True).stdout
        totals = {}
        top = []
        for line in report.splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "%" not in line.split()[0]:
                continue
            parts = line.split(None, 2)
            percent = float(parts[0].rstrip("%"))
            dso = parts[1]
            symbol = parts[2].split("] ", 1)[-1] if len(parts) > 2 else ""
            category = categorize(symbol, dso)
            totals[category] = totals.get(category, 0.0) + percent
            if len(top) < 25:
                top.append(f"  {percent:6.2f}%  {category:8s}  {dso:22s} {symbol[:90]}")
        print(f"{args.queries} queries at ef={args.ef} over one keep-alive connection: "
              f"{args.queries / wall:.0f} q/s (Python client), server CPU "
              f"{cpu / args.queries * 1e6:.0f} us per request")
        for name, percent in sorted(totals.items(), key=lambda item: -item[1]):
            print(f"  {name:9s} {percent:5.1f}%  ~{cpu / args.queries * 1e6 * percent / 100:.0f} us")
        print("top symbols:")
        print("\n".join(top))
    finally:
        server.terminate()
        server.wait(timeout=120)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
