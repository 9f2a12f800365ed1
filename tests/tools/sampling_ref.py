#!/usr/bin/env python3
"""Independent reference numbers for tests/model/test_sampling_knobs.cpp.

Written from the HF / vLLM definitions with numpy only (float64), sharing nothing with
core/generate/sampling.cpp:
- repetition_penalty: every id seen in the prompt or completion: logit > 0 -> logit / pen,
  else logit * pen (HF RepetitionPenaltyLogitsProcessor), before temperature;
- min_p: keep tokens with softmax(logits / T) >= min_p * max (HF MinPLogitsWarper);
- top_k / top_p: the k best; the smallest prefix (descending) whose mass reaches top_p.
The kept probabilities are printed renormalised, and the token the inverse CDF picks for a
few uniforms u: the first token (vocab order with min-p only, descending order with
top-k / top-p) whose cumulative kept mass exceeds u * kept mass.
Run: /usr/bin/python3 tests/tools/sampling_ref.py
"""
import numpy as np

logits = np.array([[2.0, 1.5, -0.5, 0.3, -1.2, 1.9, 0.0, -2.0],
                   [0.5, -0.3, 3.0, 2.2, 2.9, -1.0, 0.1, 1.0]])
seen = [[0, 2, 4, 6], [2, 5, 7]]
penalty = [1.3, 2.0]
T = 0.7
U = [0.05, 0.5, 0.95]


def penalise(x):
    x = x.copy()
    for r, ids in enumerate(seen):
        for i in ids:
            x[r, i] = x[r, i] / penalty[r] if x[r, i] > 0 else x[r, i] * penalty[r]
    return x


def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def keep(p, min_p=0.0, top_k=0, top_p=1.0):
    k = np.ones_like(p, dtype=bool)
    for r in range(p.shape[0]):
        k[r] &= p[r] >= min_p * p[r].max()
        order = np.argsort(-p[r], kind="stable")
        if top_k > 0:
            k[r, order[top_k:]] = False
        before = np.cumsum(p[r, order]) - p[r, order]
        k[r, order[before >= top_p]] = False
    return k


def draw(p, k, sorted_order, u):
    out = []
    for r in range(p.shape[0]):
        order = np.argsort(-p[r], kind="stable") if sorted_order else np.arange(p.shape[1])
        mass = np.where(k[r, order], p[r, order], 0.0)
        cdf = np.cumsum(mass)
        out.append(int(order[np.argmax(cdf > u * cdf[-1])]))
    return out


def show(name, a):
    print(name, "=", np.array2string(np.asarray(a), precision=7, separator=", ", max_line_width=200))


pl = penalise(logits)
show("penalised logits", pl)
p = softmax(pl / T)
for name, kw, srt in [("min_p 0.3", dict(min_p=0.3), False),
                      ("min_p 0.1, top_k 3", dict(min_p=0.1, top_k=3), True),
                      ("min_p 0.1, top_p 0.6", dict(min_p=0.1, top_p=0.6), True)]:
    k = keep(p, **kw)
    q = np.where(k, p, 0.0)
    show(name + ": kept probabilities", q / q.sum(1, keepdims=True))
    for u in U:
        print(name, "u", u, "tokens", draw(p, k, srt, u))
# Greedy with the penalty: the argmax of the penalised logits.
print("greedy penalised", pl.argmax(1).tolist(), "unpenalised", logits.argmax(1).tolist())
