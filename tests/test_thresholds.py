"""Decision-bias tuning on hand-made logits where the right answer is known."""

import numpy as np

from clave_lite.evaluator import decide
from clave_lite.thresholds import tune_bias, tune_value_biases


def test_bias_recovers_a_shifted_prior():
    # The model under-calls 'supports' by 2 logits: true supports score 1.0 vs unrelated 2.0.
    rng = np.random.default_rng(0)
    n = 200
    gold = ["supports" if i % 4 == 0 else "unrelated" for i in range(n)]
    logits = np.zeros((n, 3))
    for i, g in enumerate(gold):
        logits[i] = [1.0, -5.0, 2.0] if g == "supports" else [-1.0, -5.0, 2.0]
    logits[:, :] += rng.normal(0, 0.1, size=(n, 3))
    values = ["V"] * n
    bias, before, after = tune_bias(logits, gold, values, ["supports", "unrelated"])
    assert before == 0.0  # no supports predicted at all without a bias
    assert after == 1.0
    assert 1.0 < bias[0] < 3.0 and bias[1] == 0.0


def test_binary_system_never_predicts_opposes():
    label, probs = decide(np.array([0.0, 10.0, 1.0]), ["supports", "unrelated"], [0.0, 0.0, 0.0])
    assert label == "unrelated" and probs["opposes"] == 0.0
    assert abs(sum(probs.values()) - 1.0) < 1e-12


def test_value_biases_fix_a_shy_value_and_leave_thin_ones_alone():
    # Value A is read correctly at the system bias; value B under-calls 'supports' by 3 logits;
    # value C has too few positives to be trusted and keeps the system bias.
    rng = np.random.default_rng(1)
    rows, gold, values = [], [], []
    for value, shift, n_pos in (("A", 0.0, 30), ("B", -3.0, 30), ("C", -3.0, 2)):
        for i in range(120):
            g = "supports" if i < n_pos else "unrelated"
            sup = (1.0 if g == "supports" else -1.0) + shift
            rows.append([sup, -6.0, 0.0] + rng.normal(0, 0.1, 3))
            gold.append(g)
            values.append(value)
    logits = np.array(rows)
    system_bias, _, _ = tune_bias(logits, gold, values, ["supports", "opposes", "unrelated"])
    per_value, after = tune_value_biases(logits, gold, values, ["supports", "opposes", "unrelated"], system_bias)
    assert per_value["C"] == system_bias  # 2 positives < min_positives
    assert per_value["B"][0] - per_value["A"][0] > 2.0  # B's shyness corrected on its own
    assert per_value["A"][1:] == system_bias[1:] and per_value["B"][1:] == system_bias[1:]
    assert after > tune_bias(logits, gold, values, ["supports", "opposes", "unrelated"])[2]
