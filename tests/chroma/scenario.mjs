// Quiver's Chroma compatibility scenario: Chroma's own JS client (chromadb@3.0.14, pinned in
// package.json) against the server at $QUIVER_CHROMA_URL (e.g. http://127.0.0.1:8080), unchanged.
// $QUIVER_API_KEY, when set, is sent as "Authorization: Bearer <key>" (the client's `headers`).
// Exits 0 when every step gave what Chroma gives; otherwise prints the first mismatch and exits 1.
//
//   QUIVER_CHROMA_URL=http://127.0.0.1:8080 node tests/chroma/scenario.mjs

import { ChromaClient } from "chromadb";

const url = new URL(process.env.QUIVER_CHROMA_URL ?? "http://127.0.0.1:8000");
const headers = process.env.QUIVER_API_KEY
  ? { Authorization: `Bearer ${process.env.QUIVER_API_KEY}` }
  : undefined;

let steps = 0;

// Fails the scenario with `message` unless `condition` holds.
function check(condition, message) {
  if (!condition) {
    throw new Error(`step ${steps}: ${message}`);
  }
}

// Deep equality through JSON (the values here are plain JSON).
function same(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  check(a === e, `${what}: got ${a}, expected ${e}`);
}

// Runs one named step, counting it.
async function step(name, body) {
  steps += 1;
  await body();
  console.log(`ok ${steps} ${name}`);
}

// Six records on the unit circle's neighbourhood (cosine space): "a" points along +x.
const ids = ["a", "b", "c", "d", "e", "f"];
const embeddings = [
  [1, 0, 0],
  [0.9, 0.1, 0],
  [0, 1, 0],
  [0, 0.9, 0.1],
  [0, 0, 1],
  [-1, 0, 0],
];
const documents = [
  "apples are red",
  "apricots are orange",
  "bananas are yellow",
  "blueberries are blue",
  "cherries are dark red",
  "dates are brown",
];
const metadatas = [
  { color: "red", price: 3, fruit: true },
  { color: "orange", price: 5, fruit: true },
  { color: "yellow", price: 1, fruit: true },
  { color: "blue", price: 8, fruit: true },
  { color: "red", price: 9, fruit: true },
  { color: "brown", price: 4, fruit: false },
];

async function main() {
  const client = new ChromaClient({
    host: url.hostname,
    port: Number(url.port),
    ssl: url.protocol === "https:",
    headers,
  });
  const name = `fruits-${process.pid}`;
  let collection;

  await step("heartbeat", async () => {
    const beat = await client.heartbeat();
    check(typeof beat === "number" && beat > 0, `heartbeat: ${beat}`);
  });

  await step("create collection (cosine)", async () => {
    collection = await client.createCollection({
      name,
      embeddingFunction: null,
      configuration: { hnsw: { space: "cosine" } },
      metadata: { topic: "fruit" },
    });
    check(typeof collection.id === "string" && collection.id.length === 36, `id ${collection.id}`);
    same(collection.name, name, "name");
    same(collection.configuration.hnsw.space, "cosine", "configuration.hnsw.space");
  });

  await step("create the same name again: ChromaUniqueError", async () => {
    let error;
    try {
      await client.createCollection({ name, embeddingFunction: null });
    } catch (e) {
      error = e;
    }
    check(error && error.name === "ChromaUniqueError", `expected ChromaUniqueError, got ${error}`);
  });

  await step("add 6 records", async () => {
    await collection.add({ ids, embeddings, documents, metadatas });
  });

  await step("count", async () => {
    same(await collection.count(), 6, "count");
  });

  await step("get by ids with include", async () => {
    const got = await collection.get({
      ids: ["c", "a"],
      include: ["documents", "metadatas", "embeddings"],
    });
    same(got.ids, ["c", "a"], "ids");
    same(got.documents, [documents[2], documents[0]], "documents");
    same(got.metadatas, [metadatas[2], metadatas[0]], "metadatas");
    same(got.embeddings, [embeddings[2], embeddings[0]], "embeddings");
  });

  await step("get with where", async () => {
    const got = await collection.get({ where: { color: "red" } });
    same([...got.ids].sort(), ["a", "e"], "ids");
    const cheap = await collection.get({
      where: { $and: [{ price: { $lt: 5 } }, { fruit: true }] },
      include: ["metadatas"],
    });
    same([...cheap.ids].sort(), ["a", "c"], "ids of $and");
    same(cheap.documents, [], "documents when not included");
  });

  await step("get with whereDocument", async () => {
    const got = await collection.get({ whereDocument: { $contains: "red" } });
    same([...got.ids].sort(), ["a", "e"], "ids");
  });

  await step("query with query_embeddings, n_results and where", async () => {
    const result = await collection.query({
      queryEmbeddings: [[1, 0.05, 0]],
      nResults: 3,
      where: { fruit: true },
      include: ["documents", "metadatas", "distances"],
    });
    check(result.ids.length === 1, `one row per query, got ${result.ids.length}`);
    same(result.ids[0][0], "a", "nearest id");
    same(result.ids[0].length, 3, "n_results");
    check(!result.ids[0].includes("f"), `where {fruit: true} let "f" through: ${result.ids[0]}`);
    const distances = result.distances[0];
    for (let i = 1; i < distances.length; i++) {
      check(distances[i - 1] <= distances[i], `distances do not ascend: ${distances}`);
    }
    // cosine distance = 1 - cos: "a" at [1, 0, 0] vs the query [1, 0.05, 0].
    const expected = 1 - 1 / Math.sqrt(1 + 0.05 * 0.05);
    check(Math.abs(distances[0] - expected) < 1e-4, `distance ${distances[0]} != ${expected}`);
    same(result.documents[0][0], documents[0], "nearest document");
    same(result.metadatas[0][0], metadatas[0], "nearest metadata");
  });

  await step("query with whereDocument", async () => {
    const result = await collection.query({
      queryEmbeddings: [[0, 0, 1]],
      nResults: 5,
      whereDocument: { $contains: "red" },
      include: ["documents", "distances"],
    });
    same(result.ids[0], ["e", "a"], "ids whose document contains 'red', nearest first");
    same(result.documents[0], [documents[4], documents[0]], "documents");
  });

  await step("upsert (one new, one changed)", async () => {
    await collection.upsert({
      ids: ["b", "g"],
      embeddings: [
        [0.8, 0.2, 0],
        [0, 0.5, 0.5],
      ],
      documents: ["apricots are orange, really", "grapes are green"],
      metadatas: [
        { color: "orange", price: 6, fruit: true },
        { color: "green", price: 2, fruit: true },
      ],
    });
    same(await collection.count(), 7, "count after upsert");
    const got = await collection.get({ ids: ["b", "g"] });
    same(got.documents, ["apricots are orange, really", "grapes are green"], "documents");
    same(got.metadatas[0].price, 6, "upserted price");
  });

  await step("delete by ids and by where", async () => {
    await collection.delete({ ids: ["a", "g"] });
    await collection.delete({ where: { color: "brown" } });
    const got = await collection.get({});
    same([...got.ids].sort(), ["b", "c", "d", "e"], "ids left");
  });

  await step("count again", async () => {
    same(await collection.count(), 4, "count");
  });

  await step("list collections", async () => {
    const list = await client.listCollections();
    const found = list.find((c) => c.name === name);
    check(found !== undefined, `${name} not listed: ${list.map((c) => c.name)}`);
    same(found.id, collection.id, "listed id");
    same(found.metadata, { topic: "fruit" }, "listed metadata");
    const none = await client.listCollections({ limit: 1, offset: list.length });
    same(none.length, 0, "a page past the end");
  });

  await step("get_or_create of the existing one", async () => {
    const again = await client.getOrCreateCollection({ name, embeddingFunction: null });
    same(again.id, collection.id, "id");
    same(await again.count(), 4, "count through it");
    const byName = await client.getCollection({ name });
    same(byName.id, collection.id, "getCollection id");
  });

  await step("delete collection", async () => {
    await client.deleteCollection({ name });
    let error;
    try {
      await client.getCollection({ name });
    } catch (e) {
      error = e;
    }
    check(
      error && error.name === "ChromaNotFoundError",
      `getCollection after delete: expected ChromaNotFoundError, got ${error}`,
    );
  });

  console.log(`chroma scenario: ${steps} of ${steps} steps passed`);
}

main().catch((error) => {
  console.error(`chroma scenario FAILED: ${error?.stack ?? error}`);
  process.exit(1);
});
