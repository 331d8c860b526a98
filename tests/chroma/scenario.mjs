// Quiver's Chroma compatibility scenario: Chroma's own JS client (chromadb@3.0.14, pinned in
// package.json) runs the same fixed scenario against `quiver serve` at $QUIVER_CHROMA_URL and,
// when $CHROMA_PEER_URL is set, against a real Chroma server there, then compares the answers:
// the same ids in the same order, the same documents and metadatas, distances equal within
// 1e-4 relative, the same error classes.
//
// Every answer is also checked on its own against what the data says (a brute-force oracle for
// the nearest neighbours, the scenario's own records for gets), so the run against Quiver alone
// is a test too. $QUIVER_API_KEY, when set, is sent to Quiver as "Authorization: Bearer <key>"
// (the client's `headers`), or as "X-Chroma-Token" with $QUIVER_AUTH_HEADER=x-chroma-token.
//
//   QUIVER_CHROMA_URL=http://127.0.0.1:8080 [CHROMA_PEER_URL=http://127.0.0.1:8000] \
//     node tests/chroma/scenario.mjs
//
// Exits 0 when every step passed (and, with a peer, every answer matched); else prints the
// first failure and exits 1.

import { AdminClient, ChromaClient } from "chromadb";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

class StepFailure extends Error {}

// Fails the current step with `message` unless `condition` holds.
function check(condition, message) {
  if (!condition) throw new StepFailure(message);
}

// Deep equality through JSON with sorted object keys (the values here are plain JSON).
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical(value[k])]),
    );
  }
  return value;
}
function same(actual, expected, what) {
  const a = JSON.stringify(canonical(actual));
  const e = JSON.stringify(canonical(expected));
  check(a === e, `${what}: got ${a}, expected ${e}`);
}

// Checks lists of vectors: equal within float32 rounding, in direction only for cosine (a
// Chroma server returns cosine collections' embeddings normalized; Quiver as they were given).
function sameVectors(actual, expected, what, space = "cosine") {
  check(Array.isArray(actual) && actual.length === expected.length, `${what}: ${actual}`);
  const unit = (v) => {
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return space === "cosine" && n > 0 ? v.map((x) => x / n) : v;
  };
  actual.forEach((v, i) => {
    const a = unit(v);
    const e = unit(expected[i]);
    check(
      a.length === e.length && a.every((x, j) => Math.abs(x - e[j]) <= 1e-6),
      `${what}[${i}]: got ${JSON.stringify(v)}, expected ${JSON.stringify(expected[i])}`,
    );
  });
}

// The error a call throws, as its class name ("none" if it did not throw).
async function errorName(call) {
  try {
    await call();
  } catch (error) {
    return error?.name ?? String(error);
  }
  return "none";
}

const distanceOf = {
  l2: (a, b) => a.reduce((sum, x, i) => sum + (x - b[i]) * (x - b[i]), 0),
  ip: (a, b) => 1 - a.reduce((sum, x, i) => sum + x * b[i], 0),
  cosine: (a, b) => {
    const dot = a.reduce((sum, x, i) => sum + x * b[i], 0);
    const norm = (v) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
    return 1 - dot / (norm(a) * norm(b));
  },
};

// The brute-force answer: ids of `records` (id -> {embedding}) nearest to `query`, at most k.
function nearest(records, query, k, space) {
  return Object.entries(records)
    .map(([id, r]) => ({ id, distance: distanceOf[space](r.embedding, query) }))
    .sort((a, b) => a.distance - b.distance)
    .slice(0, k);
}

// Checks that a query answer equals the brute-force one: same ids in the same order,
// distances within 1e-4 relative.
function checkNearest(answer, expected, what) {
  same(answer.ids, expected.map((e) => e.id), `${what} ids`);
  answer.distances.forEach((d, i) => {
    const e = expected[i].distance;
    check(
      Math.abs(d - e) <= 1e-4 * Math.max(Math.abs(d), Math.abs(e)) || Math.abs(d - e) <= 1e-6,
      `${what} distance ${i}: ${d}, brute force says ${e}`,
    );
  });
}

// ---------------------------------------------------------------------------
// The data: ten fruits whose ids' hash order differs from their insertion order, on distinct
// directions (no two distances to a query tie).
// ---------------------------------------------------------------------------

const ids = ["kiwi", "apple", "fig", "banana", "cherry", "date", "grape", "lemon", "mango", "plum"];
const embeddings = [
  [0.2, 0.9, 0.1],
  [1, 0, 0],
  [0.3, 0.1, 0.95],
  [0, 1, 0],
  [0.8, 0.05, 0.55],
  [-1, 0.1, 0.05],
  [0.1, 0.45, 0.85],
  [0.5, 0.75, 0.02],
  [0.7, 0.6, 0.3],
  [0.45, 0.05, 0.8],
];
const documents = [
  "kiwis are green and fuzzy",
  "apples are red",
  "figs are purple inside",
  "bananas are yellow",
  "cherries are dark red",
  "dates are brown and sweet",
  "grapes are green or red",
  "lemons are yellow and sour",
  "mangoes are orange",
  "plums are purple",
];
const metadatas = [
  { color: "green", price: 4, fruit: true, origin: "nz" },
  { color: "red", price: 3, fruit: true, origin: "fr" },
  { color: "purple", price: 7, fruit: true, origin: "tr" },
  { color: "yellow", price: 1, fruit: true, origin: "ec" },
  { color: "red", price: 9, fruit: true, origin: "fr" },
  { color: "brown", price: 6, fruit: false, origin: "tn" },
  { color: "green", price: 2.5, fruit: true, origin: "it" },
  { color: "yellow", price: 1.5, fruit: true, origin: "es" },
  { color: "orange", price: 5, fruit: true, origin: "in" },
  { color: "purple", price: 8, fruit: true, origin: "fr" },
];

// ---------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------

// Runs the scenario against one server; returns the transcript [{step, answer}].
async function runScenario(target) {
  const client = new ChromaClient({
    host: target.url.hostname,
    port: Number(target.url.port),
    ssl: target.url.protocol === "https:",
    headers: target.headers,
  });
  const transcript = [];
  let stepName = "";
  // Runs one named step; its answer (plain JSON) goes into the transcript.
  async function step(name, body) {
    stepName = name;
    const answer = await body();
    transcript.push({ step: name, answer: answer ?? null });
  }

  // The records the scenario expects the collection to hold, in insertion order.
  const expected = new Map();
  ids.forEach((id, i) =>
    expected.set(id, { embedding: embeddings[i], document: documents[i], metadata: metadatas[i] }),
  );
  const expectedIds = () => [...expected.keys()];
  const asRecords = () => Object.fromEntries(expected);

  let fruits;
  try {
    await step("heartbeat, version, healthcheck", async () => {
      const beat = await client.heartbeat();
      check(typeof beat === "number" && beat > 0, `heartbeat: ${beat}`);
      const version = await client.version();
      check(typeof version === "string" && version.length > 0, `version: ${version}`);
      const health = await fetch(new URL("/api/v2/healthcheck", target.url), {
        headers: target.headers,
      });
      check(health.status === 200, `healthcheck: status ${health.status}`);
      return { version, health: await health.json() };
    });

    await step("create collection (cosine, metadata)", async () => {
      fruits = await client.createCollection({
        name: "fruits",
        embeddingFunction: null,
        configuration: { hnsw: { space: "cosine" } },
        metadata: { topic: "fruit", rank: 1 },
      });
      check(typeof fruits.id === "string" && fruits.id.length === 36, `id ${fruits.id}`);
      same(fruits.name, "fruits", "name");
      same(fruits.metadata, { topic: "fruit", rank: 1 }, "metadata");
      same(fruits.configuration.hnsw.space, "cosine", "configuration.hnsw.space");
      return { name: fruits.name, metadata: fruits.metadata, configuration: fruits.configuration };
    });

    await step("create the same name again: ChromaUniqueError", async () => {
      const error = await errorName(() =>
        client.createCollection({ name: "fruits", embeddingFunction: null }),
      );
      same(error, "ChromaUniqueError", "error");
      return { error };
    });

    await step("add 10 records with documents and metadatas", async () => {
      await fruits.add({ ids, embeddings, documents, metadatas });
      const count = await fruits.count();
      same(count, 10, "count");
      return { count };
    });

    await step("get everything: insertion order", async () => {
      const got = await fruits.get({ include: ["documents", "metadatas", "embeddings"] });
      same(got.ids, expectedIds(), "ids");
      same(got.documents, documents, "documents");
      same(got.metadatas, metadatas, "metadatas");
      sameVectors(got.embeddings, embeddings, "embeddings");
      return got;
    });

    await step("get by ids: the stored ones, in insertion order", async () => {
      const got = await fruits.get({ ids: ["plum", "apple", "nothing", "fig"] });
      same(got.ids, ["apple", "fig", "plum"], "ids");
      same(got.documents, [documents[1], documents[2], documents[9]], "documents");
      return got;
    });

    await step("get with limit and offset", async () => {
      const page = await fruits.get({ limit: 3, offset: 2, include: ["documents"] });
      same(page.ids, expectedIds().slice(2, 5), "ids");
      same(page.metadatas, [], "metadatas when not included");
      const tail = await fruits.get({ limit: 5, offset: 8, include: [] });
      same(tail.ids, expectedIds().slice(8), "ids of the last page");
      return { page, tail };
    });

    await step("get with where", async () => {
      const oracle = (keep) => expectedIds().filter((id) => keep(expected.get(id).metadata));
      const red = await fruits.get({ where: { color: "red" } });
      same(red.ids, oracle((m) => m.color === "red"), "ids of color = red");
      const cheap = await fruits.get({
        where: { $and: [{ price: { $lt: 5 } }, { fruit: true }] },
        include: ["metadatas"],
      });
      same(cheap.ids, oracle((m) => m.price < 5 && m.fruit), "ids of $and");
      const either = await fruits.get({
        where: { $or: [{ origin: { $in: ["fr", "it"] } }, { price: { $gte: 8 } }] },
        include: [],
      });
      same(
        either.ids,
        oracle((m) => ["fr", "it"].includes(m.origin) || m.price >= 8),
        "ids of $or / $in / $gte",
      );
      const not = await fruits.get({ where: { color: { $nin: ["red", "green"] } }, include: [] });
      same(not.ids, oracle((m) => !["red", "green"].includes(m.color)), "ids of $nin");
      return { red, cheap, either, not };
    });

    await step("get with whereDocument", async () => {
      const oracle = (keep) => expectedIds().filter((id) => keep(expected.get(id).document));
      const red = await fruits.get({ whereDocument: { $contains: "red" } });
      same(red.ids, oracle((d) => d.includes("red")), "$contains");
      const notRed = await fruits.get({ whereDocument: { $not_contains: "red" }, include: [] });
      same(notRed.ids, oracle((d) => !d.includes("red")), "$not_contains");
      const both = await fruits.get({
        whereDocument: { $and: [{ $contains: "are" }, { $contains: "green" }] },
        where: { price: { $gt: 3 } },
        include: [],
      });
      same(
        both.ids,
        expectedIds().filter(
          (id) => expected.get(id).document.includes("green") && expected.get(id).metadata.price > 3,
        ),
        "$and with where",
      );
      const any = await fruits.get({
        whereDocument: { $or: [{ $contains: "sour" }, { $contains: "sweet" }] },
        include: [],
      });
      same(any.ids, oracle((d) => d.includes("sour") || d.includes("sweet")), "$or");
      return { red, notRed, both, any };
    });

    await step("query: nearest first, with where", async () => {
      const query = [0.9, 0.1, 0.2];
      const result = await fruits.query({
        queryEmbeddings: [query],
        nResults: 4,
        where: { fruit: true },
        include: ["documents", "metadatas", "distances"],
      });
      const candidates = Object.fromEntries(
        Object.entries(asRecords()).filter(([, r]) => r.metadata.fruit),
      );
      checkNearest(
        { ids: result.ids[0], distances: result.distances[0] },
        nearest(candidates, query, 4, "cosine"),
        "query",
      );
      same(
        result.documents[0],
        result.ids[0].map((id) => expected.get(id).document),
        "documents",
      );
      same(
        result.metadatas[0],
        result.ids[0].map((id) => expected.get(id).metadata),
        "metadatas",
      );
      return result;
    });

    await step("query: two queries, whereDocument, ids", async () => {
      const queries = [
        [0, 0.2, 1],
        [0.1, 1, 0.1],
      ];
      const byDocument = await fruits.query({
        queryEmbeddings: queries,
        nResults: 3,
        whereDocument: { $contains: "purple" },
        include: ["distances", "embeddings"],
      });
      const purple = Object.fromEntries(
        Object.entries(asRecords()).filter(([, r]) => r.document.includes("purple")),
      );
      queries.forEach((q, i) =>
        checkNearest(
          { ids: byDocument.ids[i], distances: byDocument.distances[i] },
          nearest(purple, q, 3, "cosine"),
          `query ${i}`,
        ),
      );
      sameVectors(
        byDocument.embeddings[0],
        byDocument.ids[0].map((id) => expected.get(id).embedding),
        "embeddings",
      );
      const byIds = await fruits.query({
        queryEmbeddings: [queries[1]],
        nResults: 10,
        ids: ["kiwi", "mango", "date"],
        include: ["distances"],
      });
      const three = Object.fromEntries(
        ["kiwi", "mango", "date"].map((id) => [id, expected.get(id)]),
      );
      checkNearest(
        { ids: byIds.ids[0], distances: byIds.distances[0] },
        nearest(three, queries[1], 10, "cosine"),
        "query by ids",
      );
      return { byDocument, byIds };
    });

    await step("update: stored ids change, unknown ids are ignored", async () => {
      // The client embeds documents that come without embeddings: these come with theirs.
      await fruits.update({
        ids: ["fig", "nothing", "kiwi"],
        embeddings: [expected.get("fig").embedding, [1, 1, 1], expected.get("kiwi").embedding],
        documents: ["figs are purple and sweet", "nothing", "kiwis are green"],
        metadatas: [{ price: 7.5, dried: true }, { a: 1 }, { origin: null }],
      });
      await fruits.update({ ids: ["banana"], embeddings: [[0.05, 1, 0.05]] });
      await fruits.update({ ids: ["grape"], metadatas: [{ seedless: true }] });
      expected.get("grape").metadata = { ...expected.get("grape").metadata, seedless: true };
      expected.get("fig").document = "figs are purple and sweet";
      expected.get("fig").metadata = { ...expected.get("fig").metadata, price: 7.5, dried: true };
      expected.get("kiwi").document = "kiwis are green";
      const { origin, ...kiwi } = expected.get("kiwi").metadata;
      check(origin === "nz", "kiwi's origin");
      expected.get("kiwi").metadata = kiwi;
      expected.get("banana").embedding = [0.05, 1, 0.05];
      const got = await fruits.get({
        ids: ["fig", "kiwi", "banana", "nothing", "grape"],
        include: ["documents", "metadatas", "embeddings"],
      });
      same(got.ids, ["kiwi", "fig", "banana", "grape"], "ids");
      same(
        got.documents,
        got.ids.map((id) => expected.get(id).document),
        "documents",
      );
      same(
        got.metadatas,
        got.ids.map((id) => expected.get(id).metadata),
        "metadatas (merged)",
      );
      sameVectors([got.embeddings[2]], [[0.05, 1, 0.05]], "banana's new embedding");
      same(await fruits.count(), 10, "count");
      return got;
    });

    await step("upsert: one new at the end, one changed in place", async () => {
      await fruits.upsert({
        ids: ["apple", "quince"],
        embeddings: [
          [0.95, 0.05, 0.1],
          [0.6, 0.3, 0.7],
        ],
        documents: ["apples are red or green", "quinces are yellow"],
        metadatas: [
          { price: 3.5, color: null },
          { color: "yellow", price: 6.5, fruit: true },
        ],
      });
      expected.get("apple").embedding = [0.95, 0.05, 0.1];
      expected.get("apple").document = "apples are red or green";
      const { color, ...apple } = expected.get("apple").metadata;
      check(color === "red", "apple's color");
      expected.get("apple").metadata = { ...apple, price: 3.5 };
      expected.set("quince", {
        embedding: [0.6, 0.3, 0.7],
        document: "quinces are yellow",
        metadata: { color: "yellow", price: 6.5, fruit: true },
      });
      const got = await fruits.get({ include: ["documents", "metadatas", "embeddings"] });
      same(got.ids, expectedIds(), "ids in insertion order");
      same(
        got.metadatas,
        expectedIds().map((id) => expected.get(id).metadata),
        "metadatas",
      );
      sameVectors(
        got.embeddings,
        expectedIds().map((id) => expected.get(id).embedding),
        "embeddings",
      );
      return got;
    });

    await step("add of a stored id leaves it as it is", async () => {
      await fruits.add({ ids: ["plum"], embeddings: [[0, 0, 1]], documents: ["changed"] });
      const got = await fruits.get({ ids: ["plum"], include: ["documents", "embeddings"] });
      same(got.documents, [expected.get("plum").document], "document");
      sameVectors(got.embeddings, [expected.get("plum").embedding], "embedding");
      return got;
    });

    await step("delete by ids, by where, by whereDocument", async () => {
      await fruits.delete({ ids: ["date", "nothing"] });
      await fruits.delete({ where: { origin: "fr" } });
      await fruits.delete({ whereDocument: { $contains: "sour" } });
      for (const id of expectedIds()) {
        const r = expected.get(id);
        if (id === "date" || r.metadata.origin === "fr" || r.document.includes("sour")) {
          expected.delete(id);
        }
      }
      const got = await fruits.get({ include: ["documents"] });
      same(got.ids, expectedIds(), "ids left");
      same(await fruits.count(), expected.size, "count");
      return got;
    });

    await step("re-added id goes to the end", async () => {
      await fruits.add({
        ids: ["date"],
        embeddings: [[-1, 0.1, 0.05]],
        documents: ["dates again"],
        metadatas: [{ color: "brown", price: 6, fruit: false }],
      });
      expected.set("date", {
        embedding: [-1, 0.1, 0.05],
        document: "dates again",
        metadata: { color: "brown", price: 6, fruit: false },
      });
      const got = await fruits.get({ include: [] });
      same(got.ids, expectedIds(), "ids");
      const result = await fruits.query({
        queryEmbeddings: [[-0.9, 0.25, 0.05]],
        nResults: 20,
        include: ["distances", "documents"],
      });
      checkNearest(
        { ids: result.ids[0], distances: result.distances[0] },
        nearest(asRecords(), [-0.9, 0.25, 0.05], 20, "cosine"),
        "query over all",
      );
      return { ids: got.ids, result };
    });

    await step("modify: new name and metadata", async () => {
      await fruits.modify({ name: "fruits-renamed", metadata: { topic: "fruit", rank: 2 } });
      const renamed = await client.getCollection({ name: "fruits-renamed" });
      same(renamed.id, fruits.id, "id");
      same(renamed.metadata, { topic: "fruit", rank: 2 }, "metadata");
      const old = await errorName(() => client.getCollection({ name: "fruits" }));
      same(old, "ChromaNotFoundError", "the old name");
      same(await renamed.count(), expected.size, "records stay");
      fruits = renamed;
      return { name: renamed.name, metadata: renamed.metadata, old };
    });

    await step("modify: configuration ef_search", async () => {
      await fruits.modify({ configuration: { hnsw: { ef_search: 150 } } });
      const again = await client.getCollection({ name: "fruits-renamed" });
      same(again.configuration.hnsw.ef_search, 150, "ef_search");
      same(again.configuration.hnsw.space, "cosine", "space");
      return { configuration: again.configuration };
    });

    await step("l2 and ip collections: their distances", async () => {
      const answers = {};
      for (const space of ["l2", "ip"]) {
        const collection = await client.createCollection({
          name: `fruits-${space}`,
          embeddingFunction: null,
          configuration: { hnsw: { space } },
        });
        await collection.add({ ids, embeddings });
        const query = [0.3, 0.6, 0.2];
        const result = await collection.query({
          queryEmbeddings: [query],
          nResults: 5,
          include: ["distances"],
        });
        const all = Object.fromEntries(ids.map((id, i) => [id, { embedding: embeddings[i] }]));
        checkNearest(
          { ids: result.ids[0], distances: result.distances[0] },
          nearest(all, query, 5, space),
          space,
        );
        answers[space] = result;
      }
      return answers;
    });

    await step("list collections, limit and offset", async () => {
      // Quiver lists in creation order; Chroma 1.0.5 by collection id (random UUIDs), so only
      // the set of names is compared, and each server's pages against its own full list.
      const names = ["fruits-ip", "fruits-l2", "fruits-renamed"];
      const all = await client.listCollections();
      same(all.map((c) => c.name).sort(), names, "names");
      if (target.name === "quiver") {
        same(all.map((c) => c.name), ["fruits-renamed", "fruits-l2", "fruits-ip"], "order");
      }
      const page = await client.listCollections({ limit: 2, offset: 1 });
      same(
        page.map((c) => c.name),
        all.slice(1, 3).map((c) => c.name),
        "page",
      );
      const past = await client.listCollections({ limit: 1, offset: 3 });
      same(past.length, 0, "a page past the end");
      const count = await client.countCollections();
      same(count, 3, "countCollections");
      const metadata = Object.fromEntries(all.map((c) => [c.name, c.metadata ?? null]));
      return { metadata, pageSize: page.length, count };
    });

    await step("getOrCreateCollection of the existing one", async () => {
      const again = await client.getOrCreateCollection({
        name: "fruits-renamed",
        embeddingFunction: null,
      });
      same(again.id, fruits.id, "id");
      return { count: await again.count() };
    });

    await step("databases: create, list, get, delete with its collections", async () => {
      const admin = new AdminClient({
        host: target.url.hostname,
        port: Number(target.url.port),
        ssl: target.url.protocol === "https:",
        headers: target.headers,
      });
      await admin.createDatabase({ name: "scenario_db", tenant: "default_tenant" });
      const duplicate = await errorName(() =>
        admin.createDatabase({ name: "scenario_db", tenant: "default_tenant" }),
      );
      same(duplicate, "ChromaUniqueError", "a duplicate database");
      const list = await admin.listDatabases({ tenant: "default_tenant" });
      same(
        list.map((d) => d.name),
        ["default_database", "scenario_db"],
        "databases",
      );
      const page = await admin.listDatabases({ tenant: "default_tenant", limit: 1, offset: 1 });
      same(
        page.map((d) => d.name),
        ["scenario_db"],
        "page",
      );
      const db = await admin.getDatabase({ name: "scenario_db", tenant: "default_tenant" });
      same(db.name, "scenario_db", "name");
      const inside = new ChromaClient({
        host: target.url.hostname,
        port: Number(target.url.port),
        headers: target.headers,
        database: "scenario_db",
      });
      const other = await inside.createCollection({ name: "fruits", embeddingFunction: null });
      await other.add({ ids: ["x"], embeddings: [[1, 2]] });
      same(await inside.countCollections(), 1, "collections in scenario_db");
      same(await client.countCollections(), 3, "collections in default_database");
      await admin.deleteDatabase({ name: "scenario_db", tenant: "default_tenant" });
      const gone = await errorName(() =>
        admin.getDatabase({ name: "scenario_db", tenant: "default_tenant" }),
      );
      same(gone, "ChromaNotFoundError", "the deleted database");
      await admin.createDatabase({ name: "scenario_db", tenant: "default_tenant" });
      same(await inside.countCollections(), 0, "collections after delete and re-create");
      return { duplicate, list: list.map((d) => d.name), gone };
    });

    await step("error cases", async () => {
      const errors = {
        missingCollection: await errorName(() => client.getCollection({ name: "nothing-here" })),
        addWrongDimensions: await errorName(() =>
          fruits.add({ ids: ["bad"], embeddings: [[1, 2]] }),
        ),
        queryWrongDimensions: await errorName(() =>
          fruits.query({ queryEmbeddings: [[1, 2, 3, 4]], nResults: 1 }),
        ),
        updateWrongDimensions: await errorName(() =>
          fruits.update({ ids: ["kiwi"], embeddings: [[1]] }),
        ),
        badWhere: await errorName(() => fruits.get({ where: { price: { $near: 3 } } })),
        badName: await errorName(() =>
          client.createCollection({ name: "x", embeddingFunction: null }),
        ),
        reset: await errorName(() => client.reset()),
        fork: await errorName(() => fruits.fork({ name: "fruits-fork" })),
        missingTenant: await errorName(() =>
          new AdminClient({
            host: target.url.hostname,
            port: Number(target.url.port),
            headers: target.headers,
          }).getTenant({ name: "no-such-tenant" }),
        ),
      };
      same(errors.missingCollection, "ChromaNotFoundError", "missing collection");
      same(errors.addWrongDimensions, "ChromaClientError", "add with wrong dimensions");
      same(errors.queryWrongDimensions, "ChromaClientError", "query with wrong dimensions");
      same(errors.updateWrongDimensions, "ChromaClientError", "update with wrong dimensions");
      same(errors.reset, "ChromaForbiddenError", "reset");
      check(errors.badWhere !== "none", "a bad where was accepted");
      check(errors.badName !== "none", "a bad name was accepted");
      check(errors.fork !== "none", "fork was accepted");
      same(errors.missingTenant, "ChromaNotFoundError", "missing tenant");
      // The rejected writes changed nothing.
      same(await fruits.count(), expected.size, "count after the errors");
      if (target.name === "quiver") {
        // Chroma 1.0.5 answers this one with a 500 (its UNIQUE constraint); Quiver with a 409.
        same(
          await errorName(() => fruits.modify({ name: "fruits-l2" })),
          "ChromaUniqueError",
          "modify to a taken name",
        );
      }
      return errors;
    });

    await step("delete collection", async () => {
      await client.deleteCollection({ name: "fruits-renamed" });
      const after = await errorName(() => client.getCollection({ name: "fruits-renamed" }));
      same(after, "ChromaNotFoundError", "getCollection after delete");
      same(await client.countCollections(), 2, "countCollections");
      return { after };
    });
  } catch (error) {
    const where = `${target.name}, step ${transcript.length + 1} (${stepName})`;
    throw new StepFailure(`${where}: ${error instanceof StepFailure ? "" : "threw "}${
      error?.stack && !(error instanceof StepFailure) ? error.stack : error.message}`);
  }
  return transcript;
}

// ---------------------------------------------------------------------------
// Comparing two transcripts
// ---------------------------------------------------------------------------

function isVector(v) {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number");
}

// Compares Quiver's answer `a` with the peer's `b`; returns the first difference or null.
function difference(a, b, path) {
  if (/\.embeddings(\[\d+\])*$/.test(path) && isVector(a) && isVector(b)) {
    const unit = (v) => {
      const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      return n > 0 ? v.map((x) => x / n) : v;
    };
    const [ua, ub] = [unit(a), unit(b)];
    const ok = ua.length === ub.length && ua.every((x, i) => Math.abs(x - ub[i]) <= 1e-6);
    return ok ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)} (directions differ)`;
  }
  if (typeof a === "number" && typeof b === "number") {
    if (a === b) return null;
    if (/distances/.test(path)) {
      const ok = Math.abs(a - b) <= 1e-4 * Math.max(Math.abs(a), Math.abs(b)) ||
        Math.abs(a - b) <= 1e-6;
      return ok ? null : `${path}: ${a} vs ${b} (beyond 1e-4 relative)`;
    }
    return `${path}: ${a} vs ${b}`;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
    if (a.length !== b.length) {
      return `${path}: ${a.length} vs ${b.length} entries: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
    }
    for (let i = 0; i < a.length; i++) {
      const d = difference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) {
      const d = difference(a[key], b[key], `${path}.${key}`);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

// ---------------------------------------------------------------------------

async function main() {
  const quiverKey = process.env.QUIVER_API_KEY;
  const header =
    process.env.QUIVER_AUTH_HEADER === "x-chroma-token"
      ? { "X-Chroma-Token": quiverKey }
      : { Authorization: `Bearer ${quiverKey}` };
  const targets = [];
  if (process.env.QUIVER_CHROMA_URL) {
    targets.push({
      name: "quiver",
      url: new URL(process.env.QUIVER_CHROMA_URL),
      headers: quiverKey ? header : undefined,
    });
  }
  if (process.env.CHROMA_PEER_URL) {
    targets.push({ name: "chroma", url: new URL(process.env.CHROMA_PEER_URL) });
  }
  if (targets.length === 0) throw new Error("set QUIVER_CHROMA_URL and/or CHROMA_PEER_URL");
  const transcripts = [];
  for (const target of targets) {
    const transcript = await runScenario(target);
    console.log(`${target.name}: ${transcript.length} of ${transcript.length} steps passed`);
    transcripts.push(transcript);
  }
  if (transcripts.length === 2) {
    const [quiver, chroma] = transcripts;
    let matched = 0;
    for (let i = 0; i < quiver.length; i++) {
      const d = difference(quiver[i].answer, chroma[i].answer, "answer");
      if (d) {
        throw new StepFailure(
          `step ${i + 1} (${quiver[i].step}): Quiver and Chroma differ at ${d}`,
        );
      }
      matched += 1;
    }
    console.log(`quiver vs chroma: ${matched} of ${quiver.length} steps gave the same answers`);
  }
  console.log(`chroma scenario: ${transcripts[0].length} passed, 0 failed`);
}

main().catch((error) => {
  console.error(`chroma scenario FAILED: ${error?.message ?? error}`);
  process.exit(1);
});
