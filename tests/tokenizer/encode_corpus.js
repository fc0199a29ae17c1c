// Reference ids from a real tokenizer: an @lenml/tokenizer-* package (a
// transformers.js port fed with the model's own tokenizer.json).
// usage: node encode_corpus.js NPM_PREFIX [options] FILE...
//          -> {"FILE": [ids], ...}
//   --package NAME        tokenizer-qwen3 (default), tokenizer-llama3, ...
//   --tokenizer-dir DIR   instead of a package's files, DIR's tokenizer.json
//                         and tokenizer_config.json, loaded by @lenml/tokenizers
//   --post-processor F    replace the file's post_processor by the JSON in F
//   --add-special-tokens  encode as tokenizer(text) does by default (the
//                         post-processor's template); default: without
//   --decode              also decode the ids: {"FILE": {"ids": [...],
//                         "text": decode(ids)}}, transformers' decode with
//                         the file's decoder steps, special tokens kept
"use strict";
const fs = require("fs");
const path = require("path");

const args = process.argv.slice(2);
const prefix = args.shift();
let pkg = "tokenizer-qwen3";
let postProcessor = null;
let addSpecial = false;
let tokenizerDir = null;
let decode = false;
const files = [];
while (args.length) {
  const a = args.shift();
  if (a === "--package") pkg = args.shift();
  else if (a === "--post-processor") postProcessor = JSON.parse(fs.readFileSync(args.shift(), "utf8"));
  else if (a === "--add-special-tokens") addSpecial = true;
  else if (a === "--tokenizer-dir") tokenizerDir = args.shift();
  else if (a === "--decode") decode = true;
  else files.push(a);
}
if (!prefix || files.length === 0) {
  console.error("usage: node encode_corpus.js NPM_PREFIX [--package NAME] [--post-processor F] " +
                "[--add-special-tokens] [--decode] FILE...");
  process.exit(2);
}
function loadTokenizer() {
  if (tokenizerDir) {
    const { TokenizerLoader } = require(path.join(prefix, "node_modules", "@lenml", "tokenizers"));
    const read = (name) => JSON.parse(fs.readFileSync(path.join(tokenizerDir, name), "utf8"));
    return TokenizerLoader.fromPreTrained({ tokenizerJSON: read("tokenizer.json"),
                                            tokenizerConfig: read("tokenizer_config.json") });
  }
  const { fromPreTrained } = require(path.join(prefix, "node_modules", "@lenml", pkg));
  return fromPreTrained(postProcessor ? { tokenizerJSON: { post_processor: postProcessor } } : undefined);
}
const tok = loadTokenizer();
const out = {};
for (const f of files) {
  const text = fs.readFileSync(f, "utf8");
  const ids = tok.encode(text, { add_special_tokens: addSpecial });
  // (decode refuses an empty list; an empty text decodes to "")
  const back = decode && ids.length ? tok.decode(ids, { skip_special_tokens: false }) : "";
  out[path.basename(f)] = decode ? { ids, text: back } : ids;
}
process.stdout.write(JSON.stringify(out) + "\n");
