// Fashion-MNIST through Chroma's own JS client (chromadb@3.0.14) against `quiver serve` and a
// real Chroma server, in one run, with the same data and the same HNSW settings (Chroma's
// defaults: M 16, ef_construction 100, ef_search 100; l2 space): the add rate (batches of
// 1,000), and the query rate and recall@10 at 1 and 2 client connections.
//
//   bench/chroma_bench.sh [BASE [QUERIES]]     (starts both servers, then runs this)
//
// Environment: QUIVER_CHROMA_URL, CHROMA_PEER_URL (either may be absent), BENCH_BASE (images
// of the training set to add, default 60000), BENCH_QUERIES (test images to query, default
// 1000), BENCH_FASHION_DIR (default /usr/share/datasets/fashion-mnist, Debian's
// dataset-fashion-mnist). The exact top 10 (the recall's ground truth) is computed here by
// brute force and cached in $BENCH_CACHE_DIR (default /tmp).
//
// The servers take turns (batch by batch, then 100 queries at a time), so that on a shared
// machine both see the same load. Prints one line per server and measure, then a Markdown table.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { ChromaClient } from "chromadb";

const dimensions = 784;
const base = Number(process.env.BENCH_BASE ?? 60000);
const queryCount = Number(process.env.BENCH_QUERIES ?? 1000);
const datasetDir = process.env.BENCH_FASHION_DIR ?? "/usr/share/datasets/fashion-mnist";
const cacheDir = process.env.BENCH_CACHE_DIR ?? os.tmpdir();
const batchSize = 1000;
const k = 10;

// Reads an IDX image file (gzip): `count` rows of 784 floats (pixel values 0..255).
function readImages(file, count) {
  const bytes = zlib.gunzipSync(fs.readFileSync(path.join(datasetDir, file)));
  const total = bytes.readUInt32BE(4);
  if (bytes.readUInt32BE(0) !== 2051 || bytes.readUInt32BE(8) * bytes.readUInt32BE(12) !== 784) {
    throw new Error(`${file}: not an IDX file of 28x28 images`);
  }
  const n = Math.min(count, total);
  const rows = [];
  for (let i = 0; i < n; i++) {
    rows.push(Array.from(bytes.subarray(16 + i * dimensions, 16 + (i + 1) * dimensions)));
  }
  return rows;
}

// The exact top-k ids of every query (squared L2), cached on disk.
function groundTruth(baseRows, queries) {
  const file = path.join(cacheDir, `quiver-chroma-bench-gt-${baseRows.length}-${queries.length}.json`);
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8"));
  const started = Date.now();
  const flat = new Float32Array(baseRows.length * dimensions);
  baseRows.forEach((row, i) => flat.set(row, i * dimensions));
  const truth = queries.map((query) => {
    const q = Float32Array.from(query);
    const best = []; // [distance, index], ascending, at most k
    for (let i = 0; i < baseRows.length; i++) {
      let d = 0;
      const offset = i * dimensions;
      for (let j = 0; j < dimensions; j++) {
        const t = flat[offset + j] - q[j];
        d += t * t;
      }
      if (best.length < k || d < best[best.length - 1][0]) {
        best.push([d, i]);
        best.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        if (best.length > k) best.pop();
      }
    }
    return best.map(([, i]) => `img${i}`);
  });
  fs.writeFileSync(file, JSON.stringify(truth));
  console.log(`ground truth: ${queries.length} queries in ${(Date.now() - started) / 1000} s`);
  return truth;
}

function client(url, headers) {
  return new ChromaClient({ host: url.hostname, port: Number(url.port), headers });
}

// Queries q in [from, to) over `collections.length` concurrent loops; returns the seconds and
// the hits (true top-10 ids found).
async function queryRange(collections, queries, truth, from, to) {
  let next = from;
  let hits = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    collections.map(async (collection) => {
      for (let q = next++; q < to; q = next++) {
        const result = await collection.query({
          queryEmbeddings: [queries[q]],
          nResults: k,
          include: ["distances"],
        });
        const expected = new Set(truth[q]);
        hits += result.ids[0].filter((id) => expected.has(id)).length;
      }
    }),
  );
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, hits };
}

// The servers take turns, batch by batch and round by round, so that both see the same load
// on a shared machine.
async function main() {
  const rows = readImages("train-images-idx3-ubyte.gz", base);
  const queries = readImages("t10k-images-idx3-ubyte.gz", queryCount);
  const truth = groundTruth(rows, queries);
  const servers = [];
  if (process.env.QUIVER_CHROMA_URL) {
    const key = process.env.QUIVER_API_KEY;
    servers.push({ name: "Quiver", url: new URL(process.env.QUIVER_CHROMA_URL),
      headers: key ? { Authorization: `Bearer ${key}` } : undefined });
  }
  if (process.env.CHROMA_PEER_URL) {
    servers.push({ name: "Chroma 1.0.5", url: new URL(process.env.CHROMA_PEER_URL) });
  }
  const name = `fashion-${Date.now()}`;
  for (const server of servers) {
    server.collection = await client(server.url, server.headers).createCollection({
      name, embeddingFunction: null, configuration: { hnsw: { space: "l2" } },
    });
    server.add = 0;
    server.runs = {};
  }
  for (let at = 0; at < rows.length; at += batchSize) {
    const batch = rows.slice(at, at + batchSize);
    const ids = batch.map((_, i) => `img${at + i}`);
    for (const server of servers) {
      const started = process.hrtime.bigint();
      await server.collection.add({ ids, embeddings: batch });
      server.add += Number(process.hrtime.bigint() - started) / 1e9;
    }
  }
  for (const server of servers) {
    console.log(`${server.name}: added ${rows.length} in ${server.add.toFixed(1)} s: ` +
      `${(rows.length / server.add).toFixed(0)} records/s`);
  }
  // A warm-up pass over every query (not counted): background work after the adds
  // (checkpoints, compaction) is done before the clock runs.
  for (const server of servers) await queryRange([server.collection], queries, truth, 0, queries.length);
  const round = 100;
  for (const connections of [1, 2]) {
    for (const server of servers) {
      server.handles = [];
      for (let c = 0; c < connections; c++) {
        server.handles.push(await client(server.url, server.headers).getCollection({
          name, embeddingFunction: null }));
      }
      server.runs[connections] = { seconds: 0, hits: 0 };
    }
    for (let from = 0; from < queries.length; from += round) {
      const to = Math.min(from + round, queries.length);
      for (const server of servers) {
        const run = await queryRange(server.handles, queries, truth, from, to);
        server.runs[connections].seconds += run.seconds;
        server.runs[connections].hits += run.hits;
      }
    }
    for (const server of servers) {
      const run = server.runs[connections];
      run.rate = queries.length / run.seconds;
      run.recall = run.hits / (queries.length * k);
      console.log(`${server.name}: ${queries.length} queries over ${connections} connection(s) in ` +
        `${run.seconds.toFixed(1)} s: ${run.rate.toFixed(0)} queries/s, recall@10 ${run.recall.toFixed(4)}`);
    }
  }
  for (const server of servers) await client(server.url, server.headers).deleteCollection({ name });

  console.log(`\nFashion-MNIST: ${rows.length} images added in batches of ${batchSize}, ` +
    `${queries.length} queries, k=${k}, l2, M 16, ef_construction 100, ef_search 100\n`);
  console.log("| server | add (records/s) | queries/s, 1 connection | queries/s, 2 connections | recall@10 |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const s of servers) {
    console.log(`| ${s.name} | ${(rows.length / s.add).toFixed(0)} | ${s.runs[1].rate.toFixed(0)} | ` +
      `${s.runs[2].rate.toFixed(0)} | ${s.runs[1].recall.toFixed(4)} |`);
  }
  if (servers.length === 2) {
    const [q, c] = servers;
    console.log(`\nQuiver / Chroma: add ${(c.add / q.add).toFixed(2)}x, ` +
      `queries ${(q.runs[1].rate / c.runs[1].rate).toFixed(2)}x (1 connection), ` +
      `${(q.runs[2].rate / c.runs[2].rate).toFixed(2)}x (2 connections)`);
  }
}

main().catch((error) => {
  console.error(`bench FAILED: ${error?.stack ?? error}`);
  process.exit(1);
});
