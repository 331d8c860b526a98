#!/usr/bin/env python3
# Copyright (c) Quiver authors.
"""Issue 16 measurements: `quiver serve` against hostile clients, on loopback only.

    python3 bench/http_bench_hardening.py [--quiver build/release/quiver] [--only NAME ...]

Each measurement starts its own `quiver serve --threads 2` on a free port of
127.0.0.1 with a fresh data directory, and prints one line:

  trickle    p50/p99 of a normal keep-alive client (POST /query, one 32-d
             vector, k=10, distances only) alone, then beside 500 connections
             that trickle header bytes (one byte per connection per second,
             from 127.0.0.2-6, 100 each), and the ratio of the two p99.
  disconnect the issue's reproduction: 20,000 x 32-d vectors; 2 clients each
             send 3,000 queries at expansion_search=10,000 (with
             --max-search-work raised so they are not refused up front) and
             hang up after 1 s; CPU-seconds the server uses from the hang-up
             on (5 s window, from /proc/PID/stat).
  response   the issue's reproduction: one record with a 60 MB text
             (--max-text-bytes raised to allow it), a query of 20 copies of
             its vector with k=1 asking for text; status, and the server's
             peak RSS (VmHWM) before and after.
  metrics    /metrics size in bytes and lines after 50,000 requests with
             random method names (each its own connection).

Uses only the standard library. Runs in about a minute on a quiet machine.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, quiver, *flags):
        self.dir = tempfile.mkdtemp(prefix="quiver-hardening-")
        self.port = free_port()
        self.process = subprocess.Popen(
            [quiver, "serve", "--data", self.dir, "--host", "127.0.0.1", "--port",
             str(self.port), "--threads", "2", *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def request(self, method, path, body=None, connection=None):
        own = connection is None
        connection = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if own:
            connection.close()
        return response.status, data

    def cpu_seconds(self):
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def vm_hwm_mib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return -1

    def fill(self, name, count, dimensions=32, seed=7):
        rng = random.Random(seed)
        status, _ = self.request("POST", "/v2/collections", json.dumps(
            {"name": name, "config": {"dimensions": dimensions}}))
        assert status == 201, status
        for begin in range(0, count, 2000):
            records = [{"id": key, "embedding": [rng.uniform(-1, 1) for _ in range(dimensions)]}
                       for key in range(begin + 1, min(count, begin + 2000) + 1)]
            status, data = self.request("POST", f"/v2/collections/{name}/records",
                                        json.dumps({"records": records}))
            assert status == 200, data[:200]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def percentile(sorted_values, fraction):
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def latencies_ms(server, body, count):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    values = []
    for _ in range(count):
        start = time.perf_counter()
        status, _ = server.request("POST", "/v2/collections/c/query", body, connection)
        values.append((time.perf_counter() - start) * 1000)
        assert status == 200
    connection.close()
    return sorted(values)


def measure_trickle(quiver):
    server = Server(quiver, "--header-timeout", "60")
    try:
        server.fill("c", 2000)
        rng = random.Random(1)
        body = json.dumps({"vector": [rng.uniform(-1, 1) for _ in range(32)], "k": 10,
                           "include": ["distance"]})
        latencies_ms(server, body, 200)  # warm-up
        idle = latencies_ms(server, body, 2000)
        sockets = []
        for i in range(500):
            s = socket.socket()
            s.bind((f"127.0.0.{2 + i % 5}", 0))
            s.connect(("127.0.0.1", server.port))
            s.sendall(b"GET /v2/info HTTP/1.1\r\nX-Slow: ")
            sockets.append(s)
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                for s in sockets:
                    try:
                        s.send(b"x", socket.MSG_DONTWAIT)
                    except OSError:
                        pass
                stop.wait(1.0)

        thread = threading.Thread(target=trickle)
        thread.start()
        time.sleep(0.5)
        loaded = latencies_ms(server, body, 2000)
        stop.set()
        thread.join()
        for s in sockets:
            s.close()
        print(f"trickle: alone p50 {percentile(idle, 0.5):.3f} ms p99 {percentile(idle, 0.99):.3f} ms; "
              f"beside 500 trickling connections p50 {percentile(loaded, 0.5):.3f} ms "
              f"p99 {percentile(loaded, 0.99):.3f} ms; p99 ratio "
              f"{percentile(loaded, 0.99) / percentile(idle, 0.99):.2f}")
    finally:
        server.stop()


def measure_disconnect(quiver):
    server = Server(quiver, "--max-search-work", "1000000000000", "--request-timeout", "600")
    try:
        server.fill("c", 20000)
        rng = random.Random(2)
        body = json.dumps({"vectors": [[rng.uniform(-1, 1) for _ in range(32)]
                                       for _ in range(3000)],
                           "k": 10, "expansion_search": 10000, "include": []}).encode()
        clients = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"POST /v2/collections/c/query HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
            clients.append(s)
        time.sleep(1.0)
        for s in clients:
            s.close()
        at_hangup = server.cpu_seconds()
        time.sleep(5.0)
        after = server.cpu_seconds() - at_hangup
        status, metrics = server.request("GET", "/metrics")
        gone = [line for line in metrics.decode().splitlines() if 'limit="client_gone"' in line]
        print(f"disconnect: CPU-seconds used in the 5 s after both clients hung up: {after:.2f} "
              f"({gone[0] if gone else 'no client_gone counter'})")
    finally:
        server.stop()


def measure_response(quiver):
    server = Server(quiver, "--max-text-bytes", str(100 << 20), "--max-body-bytes",
                    str(100 << 20))
    try:
        status, _ = server.request("POST", "/v2/collections", json.dumps(
            {"name": "c", "config": {"dimensions": 2}}))
        assert status == 201
        status, data = server.request("POST", "/v2/collections/c/records", json.dumps(
            {"records": [{"id": 1, "embedding": [1, 0], "text": "t" * (60 << 20)}]}))
        assert status == 200, data[:200]
        before = server.vm_hwm_mib()
        body = json.dumps({"vectors": [[1, 0]] * 20, "k": 1, "include": ["text"]})
        start = time.perf_counter()
        status, data = server.request("POST", "/v2/collections/c/query", body)
        elapsed = time.perf_counter() - start
        print(f"response: status {status} in {elapsed:.2f} s ({len(data)} bytes: "
              f"{data[:120].decode(errors='replace')}...); server VmHWM {before:.0f} MiB before "
              f"the query (after storing the 60 MB record), {server.vm_hwm_mib():.0f} MiB after")
    finally:
        server.stop()


def measure_metrics(quiver, count):
    server = Server(quiver)
    try:
        rng = random.Random(3)
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        start = time.perf_counter()
        for _ in range(count):
            method = "".join(rng.choice(letters) for _ in range(12))
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.sendall(f"{method} /v2/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                          .encode())
                while s.recv(65536):
                    pass
        elapsed = time.perf_counter() - start
        status, text = server.request("GET", "/metrics")
        lines = text.count(b"\n")
        print(f"metrics: after {count} random methods ({elapsed:.1f} s): /metrics is {len(text)} "
              f"bytes, {lines} lines")
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quiver", default="build/release/quiver")
    parser.add_argument("--only", nargs="*",
                        default=["trickle", "disconnect", "response", "metrics"])
    parser.add_argument("--methods", type=int, default=50000)
    args = parser.parse_args()
    for name in args.only:
        if name == "trickle":
            measure_trickle(args.quiver)
        elif name == "disconnect":
            measure_disconnect(args.quiver)
        elif name == "response":
            measure_response(args.quiver)
        elif name == "metrics":
            measure_metrics(args.quiver, args.methods)


if __name__ == "__main__":
    main()
