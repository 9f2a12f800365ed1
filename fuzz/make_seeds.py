# Writes the seed corpora under fuzz/corpus/ (small valid and near-valid inputs per
# target). Usage: python3 fuzz/make_seeds.py [REPO_ROOT]; crashers found later are
# added to fuzz/corpus/<target>/ by hand, not by this script.
import json, os, struct, sys
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
C = os.path.join(root, 'fuzz', 'corpus')

def put(target, name, data):
    d = os.path.join(C, target); os.makedirs(d, exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(d, name), 'wb').write(data)

# answer: first byte even = DrugComb, odd = DDI13
ans = '<think>\nBoth drugs improved survival.\n</think>\n\n<answer>\n[{"type": "POS", "ent_set": ["cisplatin", "paclitaxel"]}]\n</answer>'
put('answer', 'tagged_drugcomb', '0' + ans)
put('answer', 'tagged_ddi13', '1' + ans.replace('POS', 'EFFECT'))
put('answer', 'python_quotes', "0<think>x</think><answer>[{'type': 'comb', 'ent_set': ['a', 'b', 'c'],},]</answer>")
put('answer', 'untagged_no_comb', '0Some text then [{"type": "NO_COMB", "ent_set": []}] trailing')
put('answer', 'bad_items', '1<answer>[1, {"type": "X"}, {"type": "INT", "ent_set": "a"}, {"type": "ADVISE", "ent_set": ["a", "A "]}]')

# python_literal
for i, s in enumerate([
    "[1, 2.5, 'a', \"b\", (1,), {'k': None}, True, False, -3]",
    "{'a': [1, 2,], 'b': ('x' 'y'),}",
    "'caf\\u00e9\\n\\x41\\101' r'raw\\d'",
    "{1, 2} b'by\\xff' 1+2j ... 0x1F 1_000 1e400 -0.0",
    '{"json": [1, 2.0e-3, null, true, "\\ud83d\\ude00"], "n": NaN, "i": -Infinity}',
    "[[[[[]]]]]", "'''tri\nple''' \"\"\"q\"\"\"", "[1,", "{'a' 1}", "frozenset()"]):
    put('python_literal', 'seed%02d' % i, s)

# corpus: first byte bit0 = skip bad lines, bit1 = DDI13
dc = {"doc_id": "d1", "sentence": "cisplatin plus paclitaxel improved survival .",
      "spans": [{"span_id": 0, "text": "cisplatin", "start": 0, "end": 9, "token_start": 0, "token_end": 1},
                {"span_id": 1, "text": "paclitaxel", "start": 15, "end": 25, "token_start": 2, "token_end": 3}],
      "rels": [{"class": "POS", "spans": [0, 1], "is_context_needed": False}], "paragraph": "Trial text."}
put('corpus', 'drugcomb', '0' + json.dumps(dc) + '\n\n' + json.dumps(dict(dc, doc_id="d2", rels=[])) + '\n')
put('corpus', 'drugcomb_bad_line', '1' + json.dumps(dc) + '\n{"doc_id": 3, \n' + json.dumps(dict(dc, spans=[{"span_id": 0}])) + '\n')
ddi = {"id": 0, "context": "Aspirin increases the effect of warfarin .",
       "entities": [{"entity": "Aspirin", "category": "drug"}, {"entity": "warfarin", "category": "drug"}],
       "relations": [{"relation": "effect", "head": "Aspirin", "tail": "warfarin"}]}
put('corpus', 'ddi13', '2' + json.dumps(ddi) + '\r\n' + json.dumps(dict(ddi, id=1, relations=[])) + '\n')
ex = {"id": "e1", "task": "drugcomb", "sentence": "a plus b", "context": "",
      "mentions": [{"text": "a", "start": 0, "end": 1}, {"text": "b", "start": 7, "end": 8}],
      "relations": [{"label": "COMB", "drugs": ["a", "b"], "span_ids": [0, 1]}]}
put('corpus', 'examples', '0' + json.dumps(ex) + '\n')

# predictions: first byte even = DrugComb gold {a1 (POS cisplatin+paclitaxel), 7, doc}
rel = [{"type": "POS", "ent_set": ["cisplatin", "paclitaxel"]}]
put('predictions', 'relations', '0' + '\n'.join(json.dumps(x) for x in [
    {"id": "a1", "relations": rel}, {"id": 7, "relations": []},
    {"id": "doc", "relations": [{"type": "NO_COMB", "ent_set": []}]}]) + '\n')
put('predictions', 'completions', '0' + '\n'.join(json.dumps(x) for x in [
    {"id": "a1", "completion": "<think>\nx\n</think>\n\n<answer>\n" + json.dumps(rel) + "\n</answer>"},
    {"id": "doc", "completion": "no answer here"}]) + '\n')
put('predictions', 'ddi13', '1' + json.dumps({"id": "a1", "relations": [{"type": "effect", "ent_set": ["cisplatin", "paclitaxel"]}]}) + '\n')
put('predictions', 'duplicate_id', '0{"id": "a1", "relations": []}\n{"id": "a1", "completion": ""}\n')

# config: YAML, then optional "%%" and overrides
put('config', 'stage', "seed: 0\nrun_dir: runs/x\ntask: drugcomb\nprompt:\n  style: compact\n  context: false\n"
    "train:\n  lr: 2.0e-3\n  betas: [0.9, 0.95]\n  steps: 10\nitems:\n  - {name: a, w: 1}\n  - name: b\n")
put('config', 'overrides', "model:\n  path: m\n  autocast: auto\nlora:\n  enabled: false\n%%\nmodel.path=other\ntrain.lr=1e-5\nnew.a.b=[1, 2]\n")
put('config', 'anchors', "base: &b {x: 1, y: [a, b]}\nuse: *b\nmerge:\n  <<: *b\n  x: 2\ntext: |\n  line 1\n  line 2\nq: 'it''s'\n")
put('config', 'not_a_map', "- a\n- b\n")

# tokenizer_json / bpe_encode fallback: a small byte-level BPE (same layout as tests/tokenizer/test_bpe_small.cpp)
def byte_char(b):
    # GPT-2 byte -> unicode map
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]; n = 0
    for x in range(256):
        if x not in bs: bs.append(x); cs.append(256 + n); n += 1
    return chr(dict(zip(bs, cs))[b])
vocab = {byte_char(b): b for b in range(256)}
vocab.update({"ab": 256, "abc": 257, byte_char(32) + "a": 258, "abd": 259})
merges = ["a b", "ab c", byte_char(32) + " a"]
regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
tok = {"added_tokens": [
          {"id": 300, "content": "<X>", "lstrip": True, "rstrip": True, "special": True},
          {"id": 301, "content": "<Y>", "lstrip": False, "rstrip": False, "special": False},
          {"id": 302, "content": "<s>", "lstrip": False, "rstrip": False, "special": True}],
       "normalizer": None,
       "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
           {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
           {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
       "post_processor": {"type": "TemplateProcessing",
           "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}],
           "special_tokens": {"<s>": {"id": "<s>", "ids": [302]}}},
       "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "ignore_merges": False, "vocab": vocab, "merges": merges}}
put('tokenizer_json', 'small_bpe.json', json.dumps(tok))
tok2 = dict(tok, normalizer={"type": "NFC"}, model=dict(tok["model"], ignore_merges=True, merges=[m.split(" ") for m in merges]))
put('tokenizer_json', 'nfc_pair_merges.json', json.dumps(tok2))
tok3 = dict(tok, added_tokens=[], post_processor=None, pre_tokenizer={"type": "ByteLevel", "add_prefix_space": True, "use_regex": True})
put('tokenizer_json', 'bytelevel_only.json', json.dumps(tok3))

# bpe_encode / sentencepiece_encode: text (sentencepiece: first byte picks model / add_special)
texts = ["Cisplatin plus paclitaxel improved survival (p < 0.05) in 12 % of patients.\n",
         "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
         "caf\u00e9 \u03b1-blocker \u2265 2 mg \U0001F600 \u4e2d\u6587  \t\r\n   x",
         "don't I'll we've 1234567 ...!!! ", "e\u0301 \ufb01 \u212b"]
for i, t in enumerate(texts):
    put('bpe_encode', 'text%d' % i, t)
    put('sentencepiece_encode', 'text%d' % i, chr(ord('0') + i % 4) + t)
put('bpe_encode', 'invalid_utf8', b'ab\xff\xc3(\xe2\x82')
put('sentencepiece_encode', 'invalid_utf8', b'1ab\xff\xc3(')
put('sentencepiece_encode', 'markers', '2<think>\nx\n</think>\n\n<answer>\n[]\n</answer>')

# safetensors
def st(tensors, meta=None, pad=True):
    header = {}; data = b''
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None: header["__metadata__"] = meta
    h = json.dumps(header).encode()
    if pad: h += b' ' * ((8 - len(h) % 8) % 8)
    return struct.pack('<Q', len(h)) + h + data
put('safetensors', 'f32_i64', st([("w", "F32", [2, 3], struct.pack('<6f', *range(6))), ("ids", "I64", [2], struct.pack('<2q', 1, -1))], {"format": "pt"}))
put('safetensors', 'half_types', st([("h", "F16", [2], b'\x00\x3c\x00\xc0'), ("b", "BF16", [1, 2], b'\x80\x3f\x00\x00'), ("z", "BOOL", [3], b'\x00\x01\x02')]))
put('safetensors', 'small_ints', st([("a", "I8", [2], b'\x01\xff'), ("u", "U8", [], b'\x07'), ("s", "I16", [1], b'\x01\x00'), ("i", "I32", [0], b''), ("d", "F64", [1], struct.pack('<d', 2.5))]))
put('safetensors', 'empty', st([]))
put('safetensors', 'overlap', st([("a", "F32", [1], b'\0' * 4)]).replace(b'[0, 4]', b'[0, 8]'))
put('safetensors', 'ref', open(os.path.join(root, 'tests/fixtures/model/ref.safetensors'), 'rb').read())

# shard_index: shards beside it hold a, b (shard 1 of 2), c (shard 2), d (other.safetensors)
s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
put('shard_index', 'valid', json.dumps({"metadata": {"total_size": 64}, "weight_map": {"a": s1, "b": s1, "c": s2}}))
put('shard_index', 'other_file', json.dumps({"metadata": {"format": "pt", "n": 1}, "weight_map": {"d": "other.safetensors", "a": s1}}))
put('shard_index', 'missing', json.dumps({"weight_map": {"a": s2, "x": "nope.safetensors"}}))
put('shard_index', 'outside', json.dumps({"weight_map": {"a": "../ckpt/" + s1, "b": "/dev/null"}}))
put('shard_index', 'empty', '{"weight_map": {}}')

# serve_request
put('serve_request', 'chat', json.dumps({"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    "temperature": 0.7, "top_p": 0.9, "max_tokens": 16, "n": 2, "seed": 3, "stop": ["\n\n", "END"], "stream": True}))
put('serve_request', 'parts', json.dumps({"messages": [{"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    {"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}], "max_completion_tokens": 5, "stop": "s", "temperature": None}))
put('serve_request', 'bad_fields', json.dumps({"messages": [{"role": "tool", "content": 1}], "temperature": 3, "n": 0, "stop": [""]}))
put('serve_request', 'not_object', '[1, 2]')
