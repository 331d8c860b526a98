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
// Prints one line per server and measure, then a Markdown table.

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

// Adds every base row in batches of 1,000; returns records per second.
async function addAll(collection, rows) {
  const started = process.hrtime.bigint();
  for (let at = 0; at < rows.length; at += batchSize) {
    const batch = rows.slice(at, at + batchSize);
    await collection.add({
      ids: batch.map((_, i) => `img${at + i}`),
      embeddings: batch,
    });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { rate: rows.length / seconds, seconds };
}

// Runs every query once over `connections` concurrent loops; returns queries per second and
// recall@10 against the ground truth.
async function queryAll(collections, queries, truth) {
  let next = 0;
  let hits = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    collections.map(async (collection) => {
      for (let q = next++; q < queries.length; q = next++) {
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
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { rate: queries.length / seconds, recall: hits / (queries.length * k), seconds };
}

async function measure(name, url, headers, rows, queries, truth) {
  const first = client(url, headers);
  const collection = await first.createCollection({
    name: `fashion-${Date.now()}`,
    embeddingFunction: null,
    configuration: { hnsw: { space: "l2" } },
  });
  const add = await addAll(collection, rows);
  console.log(`${name}: added ${rows.length} in ${add.seconds.toFixed(1)} s: ${add.rate.toFixed(0)} records/s`);
  const results = { add };
  // A warm-up pass (not counted), then one pass per connection count.
  await queryAll([collection], queries.slice(0, 100), truth);
  for (const connections of [1, 2]) {
    const handles = [];
    for (let c = 0; c < connections; c++) {
      handles.push(await client(url, headers).getCollection({ name: collection.name, embeddingFunction: null }));
    }
    const run = await queryAll(handles, queries, truth);
    console.log(
      `${name}: ${queries.length} queries over ${connections} connection(s) in ` +
        `${run.seconds.toFixed(1)} s: ${run.rate.toFixed(0)} queries/s, recall@10 ${run.recall.toFixed(4)}`,
    );
    results[connections] = run;
  }
  await first.deleteCollection({ name: collection.name });
  return results;
}

async function main() {
  const rows = readImages("train-images-idx3-ubyte.gz", base);
  const queries = readImages("t10k-images-idx3-ubyte.gz", queryCount);
  const truth = groundTruth(rows, queries);
  const servers = [];
  if (process.env.QUIVER_CHROMA_URL) {
    const key = process.env.QUIVER_API_KEY;
    servers.push(["Quiver", new URL(process.env.QUIVER_CHROMA_URL),
      key ? { Authorization: `Bearer ${key}` } : undefined]);
  }
  if (process.env.CHROMA_PEER_URL) servers.push(["Chroma 1.0.5", new URL(process.env.CHROMA_PEER_URL)]);
  const table = [];
  for (const [name, url, headers] of servers) {
    table.push([name, await measure(name, url, headers, rows, queries, truth)]);
  }
  console.log(`\nFashion-MNIST: ${rows.length} images added in batches of ${batchSize}, ` +
    `${queries.length} queries, k=${k}, l2, M 16, ef_construction 100, ef_search 100\n`);
  console.log("| server | add (records/s) | queries/s, 1 connection | queries/s, 2 connections | recall@10 |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const [name, r] of table) {
    console.log(`| ${name} | ${r.add.rate.toFixed(0)} | ${r[1].rate.toFixed(0)} | ` +
      `${r[2].rate.toFixed(0)} | ${r[1].recall.toFixed(4)} |`);
  }
  if (table.length === 2) {
    const [q, c] = [table[0][1], table[1][1]];
    console.log(`\nQuiver / Chroma: add ${(q.add.rate / c.add.rate).toFixed(2)}x, ` +
      `queries ${(q[1].rate / c[1].rate).toFixed(2)}x (1 connection), ` +
      `${(q[2].rate / c[2].rate).toFixed(2)}x (2 connections)`);
  }
}

main().catch((error) => {
  console.error(`bench FAILED: ${error?.stack ?? error}`);
  process.exit(1);
});
