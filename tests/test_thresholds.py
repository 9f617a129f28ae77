"""Decision-bias tuning on hand-made logits where the right answer is known."""

import numpy as np

from clave_lite.evaluator import decide
from clave_lite.thresholds import tune_bias


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
