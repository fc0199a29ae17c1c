#!/usr/bin/env python3
"""N concurrent streamed completions against an OpenAI-compatible server;
one JSON object of what each stream saw, on stdout.

  serve_load.py --url http://127.0.0.1:8080 --streams 4 [--prompt-tokens 128]
                [--max-tokens 128] [--salt 0] [--model NAME] [--api-key KEY]

Each stream sends POST /v1/completions with a prompt of token ids (its own,
made from --salt and the stream's index, so no server finds it in a prompt
cache), greedy, `ignore_eos` (so every stream runs exactly --max-tokens on
random weights) and `stream_options.include_usage`. All streams are sent at
once, after a barrier. Times: the first chunk with text is the first token
(ttft_s, from the request's send); decode_tps of a stream is its tokens after
the first over the time from its first chunk to its last. The aggregate is
the sum of the streams' decode rates; throughput_tps is every generated
token over the wall time from the first send to the last chunk. Used by
scripts/bench-serve.sh; the standard library only, so it measures any
server the same way."""

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse

# Token ids below Qwen3's (and Llama 3's) special tokens.
ORDINARY_IDS = 100000


def prompt_ids(n, salt, stream):
    base = (salt * 1000003 + stream * 7919 + 17) % ORDINARY_IDS
    return [(base + i * 104729) % ORDINARY_IDS for i in range(n)]


def one_stream(url, body, headers, barrier, out):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    conn.connect()
    barrier.wait()
    sent = time.perf_counter()
    first = last = None
    chunks = 0
    usage = None
    try:
        conn.request("POST", "/v1/completions", body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            out["error"] = f"HTTP {resp.status}: {resp.read()[:300]!r}"
            return
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data: "):
                continue
            data = line[6:]
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                usage = chunk["usage"]
            if any(c.get("text") for c in chunk.get("choices") or []):
                now = time.perf_counter()
                first = first or now
                last = now
                chunks += 1
    except (OSError, http.client.HTTPException, ValueError) as ex:
        out["error"] = f"{type(ex).__name__}: {ex}"
        return
    finally:
        conn.close()
    if first is None:
        out["error"] = "no chunk with text"
        return
    tokens = usage["completion_tokens"] if usage and "completion_tokens" in usage else chunks
    out.update(sent=sent, first=first, last=last, tokens=tokens, chunks=chunks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--salt", type=int, default=0, help="varies the prompts between runs")
    ap.add_argument("--model")
    ap.add_argument("--api-key")
    a = ap.parse_args()
    if a.streams < 1 or a.prompt_tokens < 1 or a.max_tokens < 2:
        sys.exit("serve_load.py: --streams and --prompt-tokens must be >= 1, --max-tokens >= 2")
    headers = {"Content-Type": "application/json"}
    if a.api_key:
        headers["Authorization"] = f"Bearer {a.api_key}"
    barrier = threading.Barrier(a.streams)
    outs = [{} for _ in range(a.streams)]
    threads = []
    for i in range(a.streams):
        body = {"prompt": prompt_ids(a.prompt_tokens, a.salt, i), "max_tokens": a.max_tokens,
                "temperature": 0, "stream": True, "stream_options": {"include_usage": True},
                "ignore_eos": True, "cache_prompt": False}
        if a.model:
            body["model"] = a.model
        t = threading.Thread(target=one_stream, args=(a.url, body, headers, barrier, outs[i]))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    errors = [o["error"] for o in outs if "error" in o]
    if errors:
        sys.exit(f"serve_load.py: {len(errors)} of {a.streams} streams failed; first: {errors[0]}")
    start = min(o["sent"] for o in outs)
    rates = [(o["tokens"] - 1) / (o["last"] - o["first"]) if o["last"] > o["first"] else 0.0 for o in outs]
    doc = {"streams": a.streams, "prompt_tokens": a.prompt_tokens, "max_tokens": a.max_tokens,
           "completion_tokens": [o["tokens"] for o in outs],
           "ttft_s": [round(o["first"] - o["sent"], 4) for o in outs],
           "decode_tps": [round(r, 3) for r in rates],
           "aggregate_decode_tps": round(sum(rates), 3),
           "throughput_tps": round(sum(o["tokens"] for o in outs) / (max(o["last"] for o in outs) - start), 3),
           "wall_s": round(max(o["last"] for o in outs) - start, 3)}
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
