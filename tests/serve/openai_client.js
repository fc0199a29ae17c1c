// The official `openai` npm client against lmcc --serve: prints one JSON
// object of what it got back, which serve_test.py compares with -p's text.
//   node openai_client.js NPM_PREFIX BASE_URL API_KEY PROMPT
const { createRequire } = require("module");
const [prefix, baseURL, apiKey, prompt] = process.argv.slice(2);
const OpenAI = createRequire(prefix + "/")("openai").OpenAI;

async function main() {
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
  const out = {};
  const models = await client.models.list();
  out.model = models.data[0].id;
  const completion = await client.completions.create({
    model: out.model, prompt, max_tokens: 12, temperature: 0,
  });
  out.completion = completion.choices[0].text;
  out.completion_usage = completion.usage;
  let streamed = "";
  let usage = null;
  const stream = await client.completions.create({
    model: out.model, prompt, max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    for (const c of chunk.choices) streamed += c.text;
    if (chunk.usage) usage = chunk.usage;
  }
  out.completion_stream = streamed;
  out.completion_stream_usage = usage;
  const messages = [{ role: "user", content: "Hello there" }];
  const chat = await client.chat.completions.create({
    model: out.model, messages, max_tokens: 8, temperature: 0,
  });
  out.chat = chat.choices[0].message.content;
  out.chat_finish = chat.choices[0].finish_reason;
  let chatStreamed = "";
  const chatStream = await client.chat.completions.create({
    model: out.model, messages, max_tokens: 8, temperature: 0, stream: true,
  });
  for await (const chunk of chatStream) chatStreamed += chunk.choices[0]?.delta?.content ?? "";
  out.chat_stream = chatStreamed;
  const several = await client.chat.completions.create({
    model: out.model, messages, max_tokens: 8, n: 3, temperature: 0.9, seed: 7,
  });
  out.chat_n = several.choices.map((c) => c.message.content);
  const stop = out.completion.slice(5, 9);
  const stopped = await client.completions.create({
    model: out.model, prompt, max_tokens: 12, temperature: 0, stop: [stop],
  });
  out.stop = stop;
  out.stopped = stopped.choices[0].text;
  out.stopped_finish = stopped.choices[0].finish_reason;
  try {
    await client.chat.completions.create({ model: "no-such-model", messages });
    out.unknown_model = "accepted";
  } catch (err) {
    out.unknown_model = { status: err.status, message: err.message };
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`openai client: ${err.stack || err}\n`);
  process.exit(1);
});
