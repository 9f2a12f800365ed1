#!/usr/bin/env python3
"""Training curves of a pipeline run as PNG files (called by `rexdrug pipeline`'s report stage).

    /usr/bin/python3 scripts/plot_metrics.py --out DIR [--pretrain metrics.jsonl]
        [--sft metrics.jsonl] [--grpo metrics.jsonl]

Writes, for the logs given:
  loss.png         pretraining and SFT loss per step (held-out loss as markers)
  grpo_reward.png  GRPO mean reward and each reward component (reward_<name>) per step
  grpo_kl.png      GRPO KL to the reference policy (mean k3 per token)
  grpo_length.png  GRPO mean completion length in tokens
  grpo_heldout.png held-out reward and F1 over GRPO steps (the trainer's eval lines, written
                   every eval.every steps on the fixed held-out set, greedy decoding) next to
                   the noisy per-step training reward; only when the log has eval lines
Exit code 3 (and one line on stderr) when matplotlib is missing, so the caller can skip plots.
"""
import argparse
import json
import os
import sys


def read_metrics(path):
    """The step lines of a metrics.jsonl (event lines are skipped)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            row = json.loads(line)
            if "event" not in row:
                rows.append(row)
    return rows


def series(rows, key):
    pts = [(r["step"], r[key]) for r in rows if key in r and r[key] is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def finish_axes(ax, xlabel, ylabel, title, legend=True):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend()


def plot_loss(plt, logs, out):
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, rows in logs:
        x, y = series(rows, "loss")
        if x:
            ax.plot(x, y, label=f"{name} loss")
        x, y = series(rows, "eval_loss")
        if x:
            ax.plot(x, y, "o--", label=f"{name} held-out loss")
    finish_axes(ax, "optimizer step", "cross-entropy (nats/token)", "Pretraining and SFT loss")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "loss.png"), dpi=110)
    plt.close(fig)


def plot_keys(plt, rows, keys, ylabel, title, path):
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for key, label in keys:
        x, y = series(rows, key)
        if x:
            ax.plot(x, y, marker="." if len(x) < 30 else None, label=label)
            drawn = True
    if not drawn:
        plt.close(fig)
        return
    finish_axes(ax, "GRPO step", ylabel, title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_heldout(plt, rows, path):
    """Held-out reward and F1 (eval_* lines) beside the per-step training reward."""
    ex, ey = series(rows, "eval_reward")
    if not ex:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    tx, ty = series(rows, "reward_mean")
    if tx:
        left.plot(tx, ty, color="0.6", lw=1, label="training reward (sampled rollouts, per step)")
    n = next((r["eval_prompts"] for r in rows if "eval_reward" in r and "eval_prompts" in r), None)
    fixed_set = f"fixed set of {n} prompts" if n else "fixed set"
    left.plot(ex, ey, "o-", label=f"held-out reward (greedy, {fixed_set})")
    finish_axes(left, "GRPO step", "reward", "Reward: training vs held-out")
    # DrugComb logs f1_{pos,any}_{exact,partial} of the original scorer, DDI13 micro/macro F1.
    f1_keys = [k for k in ("eval_f1_pos_exact", "eval_f1_any_exact", "eval_f1_pos_partial",
                           "eval_f1_any_partial", "eval_micro_f1", "eval_macro_f1")
               if any(k in r for r in rows)]
    for key in f1_keys:
        x, y = series(rows, key)
        right.plot(x, [100 * v for v in y], "o-", label=key[len("eval_"):])
    finish_axes(right, "GRPO step", "F1 (%)", "Held-out F1 (DrugComb original / DDI13 standard scorer)",
                legend=bool(f1_keys))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--pretrain")
    ap.add_argument("--sft")
    ap.add_argument("--grpo")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (Debian: apt-get install python3-matplotlib)", file=sys.stderr)
        return 3
    os.makedirs(args.out, exist_ok=True)

    logs = [(n, read_metrics(p)) for n, p in (("pretrain", args.pretrain), ("sft", args.sft)) if p]
    if logs:
        plot_loss(plt, logs, args.out)
    if args.grpo:
        rows = read_metrics(args.grpo)
        components = sorted({k for r in rows for k in r
                             if k.startswith("reward_") and k not in ("reward_mean", "reward_std")})
        keys = [("reward_mean", "total (weighted)")] + [(k, k[len("reward_"):]) for k in components]
        keys += [("eval_reward", "held-out total (greedy)")]
        plot_keys(plt, rows, keys, "reward", "GRPO reward: total and components",
                  os.path.join(args.out, "grpo_reward.png"))
        plot_keys(plt, rows, [("kl", "KL (k3, per token)")], "KL", "GRPO KL to the reference",
                  os.path.join(args.out, "grpo_kl.png"))
        plot_keys(plt, rows, [("completion_length", "mean completion length")], "tokens",
                  "GRPO completion length", os.path.join(args.out, "grpo_length.png"))
        plot_heldout(plt, rows, os.path.join(args.out, "grpo_heldout.png"))
    for name in sorted(os.listdir(args.out)):
        if name.endswith(".png"):
            print(os.path.join(args.out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
