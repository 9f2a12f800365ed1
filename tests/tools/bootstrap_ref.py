#!/usr/bin/env python3
"""Reference values for tests/eval/test_bootstrap.cpp: the exact paired bootstrap
distribution of B - A on tiny examples, by enumerating all n^n ordered resamples
(each equally likely), written independently of the C++ code with numpy.

    /usr/bin/python3 tests/tools/bootstrap_ref.py

For each case it prints the observed A, B, B - A, the 2.5 % and 97.5 % quantiles of
the resampled differences (numpy's default linear interpolation), their sample
standard deviation, and the two-sided p-value 2 (F + 1) / (R + 1) capped at 1, where
F counts the resamples whose difference is 0 or of the other sign than B - A.
"""
import itertools

import numpy as np


def enumerate_diffs(stats_a, stats_b, metric):
    n = len(stats_a)
    a, b = np.asarray(stats_a, float), np.asarray(stats_b, float)
    diffs = []
    for draw in itertools.product(range(n), repeat=n):
        w = np.bincount(draw, minlength=n).astype(float)
        diffs.append(metric(w @ b) - metric(w @ a))
    ones = np.ones(n)
    return metric(ones @ a), metric(ones @ b), np.array(diffs)


def summary(name, stats_a, stats_b, metric):
    a, b, d = enumerate_diffs(stats_a, stats_b, metric)
    obs = b - a
    flips = np.sum(d <= 0) if obs > 0 else np.sum(d >= 0)
    p = 1.0 if obs == 0 else min(1.0, 2 * (flips + 1) / (len(d) + 1))
    lo, hi = np.quantile(d, [0.025, 0.975])
    print(f"{name}: R={len(d)} a={a:.10f} b={b:.10f} diff={obs:.10f} lo={lo:.10f} hi={hi:.10f} "
          f"se={d.std(ddof=1):.10f} p={p:.10f} (F={flips})")


def accuracy(s):  # columns: correct, items
    return s[0] / s[1]


def micro_f1(s):  # columns: tp, fp, fn
    tp, fp, fn = s
    return 2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0


def drugcomb_f1(s):  # columns: pred_credit, pred_keys, gold_credit, gold_keys
    p = s[0] / s[1] if s[1] > 0 else 0.0
    r = s[2] / s[3] if s[3] > 0 else 0.0
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


# Case 1 (also worked by hand in the test): 3 items, B right on items 1 and 2, A on none.
summary("accuracy n=3", [[0, 1], [0, 1], [0, 1]], [[1, 1], [1, 1], [0, 1]], accuracy)

# Case 2: micro-F1 of per-item (tp, fp, fn), 4 items.
summary("micro-F1 n=4",
        [[1, 1, 0], [0, 0, 2], [2, 0, 0], [0, 1, 1]],
        [[1, 0, 0], [1, 0, 1], [2, 1, 0], [1, 0, 0]], micro_f1)

# Case 3: the DrugComb documents of test_bootstrap.cpp, original scorer, pos/exact: per
# document (pred_credit, pred_keys, gold_credit, gold_keys) as worked out there.
summary("drugcomb original pos/exact n=4",
        [[1, 1, 1, 1], [0, 1, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1]],
        [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 1]], drugcomb_f1)
# pos/partial: A's d2 prediction shares 2 of 3 drugs, credit 2/3 on both sides.
summary("drugcomb original pos/partial n=4",
        [[1, 1, 1, 1], [2 / 3, 1, 2 / 3, 1], [0, 1, 0, 0], [0, 0, 0, 1]],
        [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 1]], drugcomb_f1)

# Case 4: the DDI13 sentences of test_bootstrap.cpp, standard scorer, micro-F1 of the
# pooled (tp, fp, fn): A right on s1, misses s2, a false pair on s3; B right on s1 and s2.
summary("ddi13 standard micro-F1 n=3",
        [[1, 0, 0], [0, 0, 1], [0, 1, 0]],
        [[1, 0, 0], [1, 0, 0], [0, 0, 0]], micro_f1)
