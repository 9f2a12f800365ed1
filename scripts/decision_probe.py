#!/usr/bin/python3
"""How learnable is the sentence-level yes/no decision of DrugComb from its words?

A reference for the demo's models (docs/benchmarks/pipeline.md, session 15): an L2
logistic regression over the presence of unigrams and bigrams of the sentence, with every
drug mention replaced by the word DRUG (so it cannot learn which drugs are combined),
trained on the train split and scored on the test split. Targets: "the sentence has a
combination of any type" (the decision line of the brief traces) and "... a POS one".

Optionally, for run folders, the same decision read off the models' test answers
(08-extract_sft and 10-extract_grpo: an empty relation list is "no").

    /usr/bin/python3 scripts/decision_probe.py runs/demo/01-data [runs/demo ...]

Needs numpy (Debian's python3-numpy, hence /usr/bin/python3). Deterministic: full-batch
gradient descent from zero weights.
"""
import json
import os
import re
import sys

import numpy as np


def read_examples(path):
    out = []
    for line in open(path, encoding="utf-8"):
        ex = json.loads(line)
        text = ex["sentence"]
        for m in sorted(ex["mentions"], key=lambda m: -m["start"]):  # right to left: offsets stay valid
            text = text[:m["start"]] + " DRUG " + text[m["end"]:]
        words = re.findall(r"[a-z]+", text.lower())
        feats = set(words) | {a + "_" + b for a, b in zip(words, words[1:])}
        feats.add("n_drugs_%d" % min(len(ex["mentions"]), 5))
        labels = [r["label"] for r in ex["relations"]]
        out.append({"id": ex["id"], "feats": feats, "any": bool(labels), "pos": "POS" in labels})
    return out


def design(examples, vocab):
    x = np.zeros((len(examples), len(vocab) + 1))
    x[:, -1] = 1.0  # bias
    for i, ex in enumerate(examples):
        for f in ex["feats"]:
            j = vocab.get(f)
            if j is not None:
                x[i, j] = 1.0
    return x


def fit(x, y, l2=1.0, steps=2000, lr=1.0):
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        w -= lr * (x.T @ (p - y) + l2 * w) / len(y)
    return w


def summary(pred_yes, gold_yes):
    no = ~pred_yes
    right_no = int(np.sum(no & ~gold_yes))
    return "accuracy %.3f, %3d 'no' answers, %3d of them right (%.0f %%)" % (
        np.mean(pred_yes == gold_yes), no.sum(), right_no, 100.0 * right_no / max(no.sum(), 1))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    data = argv[1]
    train = read_examples(os.path.join(data, "train", "examples.jsonl"))
    test = read_examples(os.path.join(data, "test", "examples.jsonl"))
    counts = {}
    for ex in train:
        for f in ex["feats"]:
            counts[f] = counts.get(f, 0) + 1
    vocab = {f: i for i, f in enumerate(sorted(f for f, c in counts.items() if c >= 2))}
    x_train, x_test = design(train, vocab), design(test, vocab)
    print("features: %d (unigrams and bigrams seen twice or more in %d train sentences)" % (len(vocab), len(train)))
    for target in ["any", "pos"]:
        y = np.array([ex[target] for ex in train], dtype=float)
        gold = np.array([ex[target] for ex in test])
        p = 1.0 / (1.0 + np.exp(-x_test @ fit(x_train, y)))
        print("target '%s' (test base rate %.3f; 'yes' everywhere: %s)" % (target, gold.mean(), summary(np.ones_like(gold), gold)))
        for threshold in [0.5, 0.3]:
            print("  logistic regression, yes when p > %.1f: %s" % (threshold, summary(p > threshold, gold)))
    gold_any = {ex["id"]: ex["any"] for ex in test}
    for run in argv[2:]:
        for stage in ["08-extract_sft", "10-extract_grpo"]:
            path = os.path.join(run, stage, "predictions.jsonl")
            if not os.path.exists(path):
                continue
            rows = [json.loads(line) for line in open(path, encoding="utf-8")]
            pred = np.array([bool(r.get("parsed_relations")) for r in rows])
            gold = np.array([gold_any[r["id"]] for r in rows])
            print("%s %s, target 'any': %s" % (run, stage[3:], summary(pred, gold)))


if __name__ == "__main__":
    main(sys.argv)
