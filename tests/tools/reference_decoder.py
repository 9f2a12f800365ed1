#!/usr/bin/python3
"""Independent numpy reference of the Llama / Qwen2 decoder, for parity tests.

  reference_decoder.py [OUT_DIR]     (default: tests/fixtures/model next to this script)

For each tiny config below it draws random weights from a fixed numpy seed, writes a
Hugging Face folder OUT_DIR/<name>/ (config.json + model.safetensors) and golden.json
({"ids": [...], "logits": [[...], ...]}) with the logits of one sequence computed here in
float64, following the published Hugging Face modelling code (RMSNorm, rotate-half rotary
embedding with llama3 scaling, grouped-query attention, SwiGLU MLP).
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_ref import NUMPY, bf16_bytes  # noqa: E402

CONFIGS = {
    # Untied head, explicit head_dim (16 != 32/4), GQA 4 heads / 2 KV heads, llama3 scaling
    # whose thresholds (32/4 = 8, 32/1 = 32) put the 8 frequencies in all three bands.
    "tiny_llama": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": 96, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
        "max_position_embeddings": 256, "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False,
        "bos_token_id": 1, "eos_token_id": [2, 3], "torch_dtype": "float32",
    },
    # q/k/v biases, tied embeddings, GQA, no rope scaling, weights stored as BF16.
    "tiny_qwen2": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "vocab_size": 96, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "rope_scaling": None, "max_position_embeddings": 512, "tie_word_embeddings": True,
        "use_sliding_window": False, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": "bfloat16",
    },
}
SEQ = [1, 17, 42, 5, 88, 23, 60, 9, 71, 33, 2, 50, 14, 95]


def to_bf16(a):
    """Round float32 values to the nearest bf16 (ties to even), returned as float32."""
    bits = np.asarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype("<u4").view("<f4")


def make_weights(cfg, seed):
    rng = np.random.default_rng(seed)
    h, inter, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", h // nh)
    qwen = cfg["architectures"][0] == "Qwen2ForCausalLM"
    w = {}
    def mat(name, rows, cols, scale):
        w[name] = (rng.standard_normal((rows, cols)) * scale).astype("<f4")
    def vec(name, n, center, scale):
        w[name] = (center + rng.standard_normal(n) * scale).astype("<f4")
    mat("model.embed_tokens.weight", v, h, 1.0)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        vec(p + "input_layernorm.weight", h, 1.0, 0.1)
        mat(p + "self_attn.q_proj.weight", nh * d, h, h ** -0.5)
        mat(p + "self_attn.k_proj.weight", nkv * d, h, h ** -0.5)
        mat(p + "self_attn.v_proj.weight", nkv * d, h, h ** -0.5)
        if qwen:
            vec(p + "self_attn.q_proj.bias", nh * d, 0.0, 0.1)
            vec(p + "self_attn.k_proj.bias", nkv * d, 0.0, 0.1)
            vec(p + "self_attn.v_proj.bias", nkv * d, 0.0, 0.1)
        mat(p + "self_attn.o_proj.weight", h, nh * d, (nh * d) ** -0.5)
        vec(p + "post_attention_layernorm.weight", h, 1.0, 0.1)
        mat(p + "mlp.gate_proj.weight", inter, h, h ** -0.5)
        mat(p + "mlp.up_proj.weight", inter, h, h ** -0.5)
        mat(p + "mlp.down_proj.weight", h, inter, inter ** -0.5)
    vec("model.norm.weight", h, 1.0, 0.1)
    if not cfg["tie_word_embeddings"]:
        mat("lm_head.weight", v, h, h ** -0.5)
    if cfg["torch_dtype"] == "bfloat16":
        w = {k: to_bf16(a) for k, a in w.items()}
    return w


def write_safetensors(path, tensors, dtype):
    header, data = {}, b""
    for name in sorted(tensors):
        a = tensors[name]
        raw = bf16_bytes(a.ravel()) if dtype == "BF16" else a.astype(NUMPY[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


# ---- the reference model (float64) -----------------------------------------------------

def rms_norm(x, weight, eps):
    return weight * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))


def inv_frequencies(cfg, d):
    inv = 1.0 / cfg["rope_theta"] ** (np.arange(0, d, 2, dtype=np.float64) / d)
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        out = []
        for f in inv:
            wavelen = 2 * np.pi / f
            if wavelen < old / hi:          # high frequency: unchanged
                out.append(f)
            elif wavelen > old / lo:        # low frequency: divided by factor
                out.append(f / factor)
            else:                           # in between: interpolate
                smooth = (old / wavelen - lo) / (hi - lo)
                out.append((1 - smooth) * f / factor + smooth * f)
        inv = np.array(out)
    return inv


def rotate(x, pos, inv):
    """x (T, heads, d); HF layout: first half / second half of d form the pairs."""
    ang = pos[:, None] * inv[None, :]                       # (T, d/2)
    cos = np.concatenate([np.cos(ang)] * 2, axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, axis=-1)[:, None, :]
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def forward(cfg, w, ids):
    w = {k: v.astype(np.float64) for k, v in w.items()}
    h = w["model.embed_tokens.weight"][ids]                 # (T, C)
    T = len(ids)
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", cfg["hidden_size"] // nh)
    eps = cfg["rms_norm_eps"]
    inv = inv_frequencies(cfg, d)
    pos = np.arange(T, dtype=np.float64)
    causal = np.tril(np.ones((T, T), dtype=bool))
    def lin(x, name):
        y = x @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = rotate(lin(x, p + "self_attn.q_proj").reshape(T, nh, d), pos, inv)
        k = rotate(lin(x, p + "self_attn.k_proj").reshape(T, nkv, d), pos, inv)
        v = lin(x, p + "self_attn.v_proj").reshape(T, nkv, d)
        out = np.zeros((T, nh, d))
        for head in range(nh):
            kv = head // (nh // nkv)
            s = q[:, head, :] @ k[:, kv, :].T / np.sqrt(d)  # (T, T)
            s = np.where(causal, s, -np.inf)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            out[:, head, :] = (s / s.sum(axis=-1, keepdims=True)) @ v[:, kv, :]
        h = h + lin(out.reshape(T, nh * d), p + "self_attn.o_proj")
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        g = lin(x, p + "mlp.gate_proj")
        h = h + lin((g / (1 + np.exp(-g))) * lin(x, p + "mlp.up_proj"), p + "mlp.down_proj")
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return h @ head.T                                       # (T, V)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "model")
    for seed, (name, cfg) in enumerate(sorted(CONFIGS.items())):
        folder = os.path.join(out_dir, name)
        os.makedirs(folder, exist_ok=True)
        w = make_weights(cfg, 1234 + seed)
        dtype = "BF16" if cfg["torch_dtype"] == "bfloat16" else "F32"
        write_safetensors(os.path.join(folder, "model.safetensors"), w, dtype)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        logits = forward(cfg, w, np.array(SEQ))
        with open(os.path.join(folder, "golden.json"), "w") as f:
            json.dump({"ids": SEQ, "logits": [[float("%.7g" % x) for x in row] for row in logits]}, f)
        print(name, "logits", logits.shape, "max |logit| %.3f" % np.abs(logits).max())


if __name__ == "__main__":
    main()
