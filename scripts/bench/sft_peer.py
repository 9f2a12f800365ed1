#!/usr/bin/python3
"""Python PyTorch peer of `rexdrug bench sft`: the same training step (Llama-style
decoder forward, cross-entropy over all next tokens, backward, global-norm clipping,
AdamW with weight decay on matrices only) on random tokens, same model shape, batch
and threads. Prints tokens/s for fp32 and bf16 autocast.

    /usr/bin/python3 scripts/bench/sft_peer.py --model-config configs/model/tiny.json \
        --batch 8 --seq-len 256 --steps 5 --threads 2
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):  # fp32 statistics, result in the input dtype (as HF Llama)
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rotate(x, cos, sin):  # x (B, H, T, D), cos/sin (T, D/2)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        D = c.get("head_dim", C // H)
        self.H, self.KV, self.D = H, KV, D
        self.q_proj = nn.Linear(C, H * D, bias=False)
        self.k_proj = nn.Linear(C, KV * D, bias=False)
        self.v_proj = nn.Linear(C, KV * D, bias=False)
        self.o_proj = nn.Linear(H * D, C, bias=False)
        I = c["intermediate_size"]
        self.gate_proj = nn.Linear(C, I, bias=False)
        self.up_proj = nn.Linear(C, I, bias=False)
        self.down_proj = nn.Linear(I, C, bias=False)
        self.ln1 = RMSNorm(C, c["rms_norm_eps"])
        self.ln2 = RMSNorm(C, c["rms_norm_eps"])

    def forward(self, h, cos, sin, causal):
        B, T, _ = h.shape
        x = self.ln1(h)
        q = self.q_proj(x).view(B, T, self.H, self.D).transpose(1, 2)   # (B, H, T, D)
        k = self.k_proj(x).view(B, T, self.KV, self.D).transpose(1, 2)  # (B, KV, T, D)
        v = self.v_proj(x).view(B, T, self.KV, self.D).transpose(1, 2)
        q, k = rotate(q, cos.to(q.dtype), sin.to(q.dtype)), rotate(k, cos.to(k.dtype), sin.to(k.dtype))
        G = self.H // self.KV
        k = k.repeat_interleave(G, 1)
        v = v.repeat_interleave(G, 1)
        scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(self.D)      # (B, H, T, T)
        scores = scores.masked_fill(~causal, torch.finfo(torch.float32).min)
        out = scores.softmax(-1).to(v.dtype) @ v                            # (B, H, T, D)
        h = h + self.o_proj(out.transpose(1, 2).reshape(B, T, -1))
        x = self.ln2(h)
        return h + self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        D = c.get("head_dim", c["hidden_size"] // c["num_attention_heads"])
        self.inv_freq = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, D, 2).double() / D)).float()
        for name, p in self.named_parameters():
            if "norm" in name or "ln" in name:
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids):
        T = ids.shape[1]
        angles = torch.arange(T).float()[:, None] * self.inv_freq[None]  # (T, D/2)
        cos, sin = angles.cos(), angles.sin()
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        h = self.embed(ids)
        for b in self.blocks:
            h = b(h, cos, sin, causal)
        return self.lm_head(self.norm(h)).float()  # (B, T, V)


def bench(c, args, bf16):
    torch.manual_seed(0)
    model = Decoder(c)
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)
    ids = torch.randint(c["vocab_size"], (args.batch, args.seq_len))
    V = c["vocab_size"]
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            start = time.perf_counter()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    s = (time.perf_counter() - start) / args.steps
    return args.batch * args.seq_len / s, s, loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-config", default="configs/model/tiny.json")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", default="both", choices=["fp32", "bf16", "both"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.model_config) as f:
        c = json.load(f)
    print(f"torch {torch.__version__}, batch {args.batch} x {args.seq_len} tokens, {args.threads} threads")
    for mode in ("fp32", "bf16"):
        if args.mode in (mode, "both"):
            tps, s, loss = bench(c, args, mode == "bf16")
            print(f"{mode}: {tps:.0f} tokens/s ({s:.3f} s/step, loss {loss:.3f})")


if __name__ == "__main__":
    main()
