#!/usr/bin/env python3
"""Independent reference numbers for tests/rl/test_grpo_objectives.cpp.

Written from the papers' / TRL's formulas with numpy only: each objective's loss on a
fixed tiny batch, and its gradient w.r.t. logp_new by central differences (float64), so
nothing here shares code or derivation with rl/loss.cpp. Run: python3 tests/tools/grpo_objectives_ref.py
"""
import numpy as np

new = np.array([[-1.0, -0.7, -2.1, -0.3], [-0.9, -1.4, -0.5, -1.2], [-0.6, -1.1, -0.2, -1.8]])
old = np.array([[-1.1, -0.5, -2.0, -0.6], [-0.8, -1.0, -1.0, -1.1], [-0.6, -1.3, -0.3, -1.6]])
ref = np.array([[-1.2, -0.6, -1.9, -0.4], [-1.0, -1.2, -0.7, -1.0], [-0.5, -1.2, -0.4, -1.7]])
mask = np.array([[1, 1, 1, 1], [0, 0, 1, 1], [0, 1, 1, 1]], dtype=float)
adv = np.array([1.0, -0.5, 0.8])
ent = np.array([[0.5, 1.5, 0.2, 0.9], [9.0, 9.0, 1.1, 0.3], [9.0, 0.7, 1.3, 0.1]])
EPS_LOW, EPS_HIGH, BETA, MAXLEN = 0.2, 0.28, 0.04, 5


def token_loss(lnew, level="token", delta=None, beta=BETA, entropy_q=None):
    lr = lnew - old
    if level == "sequence":  # GSPO: one ratio per sequence, the mean log-ratio
        lr = np.repeat(((lr * mask).sum(1) / mask.sum(1))[:, None], lnew.shape[1], 1)
    rho = np.exp(lr)
    c1 = np.minimum(rho, delta) if delta else rho
    c2 = np.clip(rho, 1 - EPS_LOW, 1 + EPS_HIGH)
    l = -np.minimum(c1 * adv[:, None], c2 * adv[:, None])
    if entropy_q is not None:  # keep tokens at or above the (1-q) quantile of the masked entropies
        thr = np.quantile(ent[mask > 0], 1 - entropy_q)  # linear interpolation
        l = l * ((ent >= thr) & (mask > 0))
    d = ref - lnew
    return l + beta * (np.exp(d) - d - 1)


def agg(l, kind, rows=None, micro=1):
    m = mask if rows is None else mask[rows]
    l = l if rows is None else l[rows]
    if kind == "grpo":
        return ((l * m).sum(1) / m.sum(1)).sum() / 3  # 3 = sequences of the update
    if kind == "bnpo":
        return (l * m).sum() / m.sum() / micro
    if kind == "dr_grpo":
        return (l * m).sum() / (3 * MAXLEN)
    if kind == "dapo":
        return (l * m).sum() / mask.sum()  # tokens of the whole update


def objective(name):
    if name == "bnpo_two_micro":  # micro-batches {0, 1} and {2}
        return lambda x: agg(token_loss(x), "bnpo", [0, 1], 2) + agg(token_loss(x), "bnpo", [2], 2)
    table = {
        "grpo": lambda x: agg(token_loss(x), "grpo"),
        "dr_grpo": lambda x: agg(token_loss(x), "dr_grpo"),
        "dapo": lambda x: agg(token_loss(x), "dapo"),
        "gspo": lambda x: agg(token_loss(x, "sequence"), "grpo"),
        "delta": lambda x: agg(token_loss(x, delta=1.3), "grpo"),
        "entropy": lambda x: agg(token_loss(x, entropy_q=0.5), "grpo"),
        "kl_only": lambda x: agg(token_loss(x, beta=1.0) - token_loss(x, beta=0.0), "dapo"),
    }
    return table[name]


def grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


for name in ["grpo", "bnpo_two_micro", "dr_grpo", "dapo", "gspo", "delta", "entropy", "kl_only"]:
    f = objective(name)
    g = grad(f, new) * mask
    print(f'{{"{name}", {f(new):.10f}, {{' + ", ".join(f"{v:.10f}" for v in g.reshape(-1)) + "}},")

# Advantages (tests/rl/test_grpo_advantages.cpp): two groups of 4, NaN = not applicable.
nan = np.nan
r = np.array([1.0, 0.0, 0.5, nan, 0.2, 0.2, 0.9, 0.4])
lengths = np.array([3, 5, 2, 4, 1, 6, 2, 3], dtype=float)
g = r.reshape(2, 4)
mean_g = np.repeat(np.nanmean(g, 1), 4)
std_g = np.repeat(np.nanstd(g, 1, ddof=1), 4)
std_b = np.nanstd(r, ddof=1)
n_g = np.repeat((~np.isnan(g)).sum(1), 4)
ok = ~np.isnan(r)
w = np.where(ok, lengths, 0.0)
mu = (np.nan_to_num(r) * w).sum() / w.sum()
var = ((np.nan_to_num(r) - mu) ** 2 * w).sum() / (w.sum() - 1)  # verl masked_var, unbiased
comps = np.array([[1, 0.5], [0, nan], [1, 0.0], [nan, nan], [0, 1], [0, 1], [1, 0.5], [0, 0]], dtype=float)
wts = np.array([0.3, 0.7])
cg = comps.reshape(2, 4, 2)
norm_k = (cg - np.nanmean(cg, 1, keepdims=True)) / (np.nanstd(cg, 1, ddof=1, keepdims=True) + 1e-4)
s = np.nansum(norm_k.reshape(8, 2) * wts, 1)
s[np.isnan(comps).all(1)] = nan  # unscorable row
combined = np.nansum(comps * wts, 1)
combined[np.isnan(comps).all(1)] = nan
rows = {
    "group": (r - mean_g) / (std_g + 1e-4),
    "batch": (r - mean_g) / (std_b + 1e-4),
    "none": r - mean_g,
    "rloo": n_g / (n_g - 1) * (r - mean_g),
    "reinforce_pp": (r - mu) / np.sqrt(var + 1e-8),
    "normalize_then_sum": (s - np.nanmean(s)) / (np.nanstd(s, ddof=1) + 1e-4),
    "combined": combined,
}
for name, v in rows.items():
    v = v if name == "combined" else np.nan_to_num(v, nan=0.0)  # NaN rewards get A = 0
    print(f'{{"{name}", {{' + ", ".join("NAN" if np.isnan(x) else f"{x:.10f}" for x in v) + "}},")
