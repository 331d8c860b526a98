// Equivalence check: the converted model.onnx, run by ONNX Runtime
// (onnxruntime-node, the same 1.30.0 library that scripts/setup.sh installs for
// the C++ embedder), against the original TF.js vectors recorded in
// tests/embed/use_lite_reference.json.
//
//   npm --prefix tools/use_lite ci && node tools/use_lite/check_onnx.mjs [model.onnx]
//
// (the model defaults to third_party/models/use-lite/model.onnx, made by
// scripts/setup.sh). Checks, each against a tolerance of 1e-5 (max abs diff
// per component):
//   1. every sentence alone, with the reference token ids, vs TF.js;
//   2. all sentences in one ragged batch (different lengths, so most rows are
//      padded inside the graph), vs TF.js and vs the single calls;
//   3. a second batch in another order, with the reference's own sentence
//      repeated, vs TF.js;
//   4. the >128-token sentence cut to its first 128 ids gives the same vector
//      as the whole list (the graph drops positions >= 128 itself).
// Prints one line per check and exits non-zero if any fails.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const require = createRequire(join(here, 'package.json'));
const ort = require('onnxruntime-node');

const TOLERANCE = 1e-5;
const modelPath = resolve(process.argv[2] ?? join(repo, 'third_party/models/use-lite/model.onnx'));
const reference = JSON.parse(readFileSync(join(repo, 'tests/embed/use_lite_reference.json'), 'utf8'));
const config = JSON.parse(readFileSync(join(dirname(modelPath), 'quiver-model.json'), 'utf8'));
const sentences = reference.sentences;
const dims = reference.dimensions;

// The sparse layout of quiver-model.json: one row per token, (sentence, position),
// sentences in order, positions 0..len-1.
function feeds(idLists) {
  const n = idLists.reduce((a, ids) => a + ids.length, 0);
  const indices = new Int32Array(2 * n);
  const values = new Int32Array(n);
  let row = 0;
  idLists.forEach((ids, s) => ids.forEach((id, p) => {
    indices[2 * row] = s;
    indices[2 * row + 1] = p;
    values[row++] = id;
  }));
  if (config.inputs.dtype !== 'int32') throw new Error(`unexpected input dtype ${config.inputs.dtype}`);
  return {
    [config.inputs.indices]: new ort.Tensor('int32', indices, [n, 2]),
    [config.inputs.values]: new ort.Tensor('int32', values, [n]),
  };
}

async function embed(session, idLists) {
  const out = (await session.run(feeds(idLists)))[config.output];
  if (out.dims.length !== 2 || out.dims[0] !== idLists.length || out.dims[1] !== dims) {
    throw new Error(`output shape [${out.dims}] for ${idLists.length} sentences`);
  }
  return Array.from({ length: idLists.length }, (_, i) => out.data.subarray(i * dims, (i + 1) * dims));
}

function maxAbsDiff(a, b) {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

const fmt = (x) => x.toExponential(2);
let failures = 0;
function report(label, diff) {
  const ok = diff <= TOLERANCE;
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}: max abs diff ${fmt(diff)}`);
  return diff;
}

const session = await ort.InferenceSession.create(modelPath);
console.log(`model ${relative(repo, modelPath)} (onnxruntime-node ${require('onnxruntime-node/package.json').version}), ` +
  `${sentences.length} reference sentences, tolerance ${TOLERANCE.toExponential(0)}`);

// 1. Single calls.
const single = [];
let worstSingle = 0;
for (const [i, s] of sentences.entries()) {
  const [v] = await embed(session, [s.ids]);
  single.push(v);
  const d = report(`single #${i} (${s.ids.length} tokens) ${JSON.stringify(s.text.slice(0, 40))}`,
    maxAbsDiff(v, s.embedding));
  worstSingle = Math.max(worstSingle, d);
}

// 2. One ragged batch of everything.
const batch = await embed(session, sentences.map((s) => s.ids));
let worstBatchTf = 0, worstBatchSingle = 0;
batch.forEach((v, i) => {
  worstBatchTf = Math.max(worstBatchTf, maxAbsDiff(v, sentences[i].embedding));
  worstBatchSingle = Math.max(worstBatchSingle, maxAbsDiff(v, single[i]));
});
report(`batch of all ${sentences.length} (lengths ${sentences.map((s) => s.ids.length).join(',')}) vs TF.js`,
  worstBatchTf);
report('batch of all vs the same sentences alone (ONNX Runtime)', worstBatchSingle);

// 3. Another order, with a repeat: longest first, then the shortest, then a repeat.
const order = sentences.map((s, i) => i).sort((a, b) => sentences[b].ids.length - sentences[a].ids.length);
const mixed = [order[0], order[order.length - 1], ...order.slice(1, -1).reverse(), order[0]];
const batch2 = await embed(session, mixed.map((i) => sentences[i].ids));
report(`batch in another order (${mixed.join(',')}) vs TF.js`,
  Math.max(...batch2.map((v, k) => maxAbsDiff(v, sentences[mixed[k]].embedding))));

// 4. Truncation to max_tokens.
const long = sentences.findIndex((s) => s.ids.length > config.max_tokens);
if (long < 0) {
  failures++;
  console.log(`FAIL the reference has no sentence longer than max_tokens=${config.max_tokens}`);
} else {
  const [cut] = await embed(session, [sentences[long].ids.slice(0, config.max_tokens)]);
  report(`#${long} cut to its first ${config.max_tokens} of ${sentences[long].ids.length} ids vs all ids`,
    maxAbsDiff(cut, single[long]));
}

// The output is unit length already (the graph ends in an L2 normalization; quiver-model.json
// says "normalize": true, which for this model changes nothing beyond 1e-7).
const worstNorm = Math.max(...single.map((v) => Math.abs(Math.hypot(...v) - 1)));
console.log(`${worstNorm <= 1e-5 ? 'ok  ' : 'FAIL'} L2 norms: max |norm - 1| ${fmt(worstNorm)}`);
if (worstNorm > 1e-5) failures++;

console.log(`summary: single calls max ${fmt(worstSingle)}, batch vs TF.js max ${fmt(worstBatchTf)}, ` +
  `batch vs single max ${fmt(worstBatchSingle)}`);
console.log(failures ? `${failures} check(s) FAILED` : 'all checks passed');
process.exit(failures ? 1 : 0);
