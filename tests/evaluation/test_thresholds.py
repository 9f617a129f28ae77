"""Decision-bias tuning on hand-made logits where the right answer is known."""

import numpy as np
import pytest

from clave_lite.evaluation.thresholds import tune_bias, tune_value_biases
from clave_lite.runtime.evaluator import decide


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


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
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


def test_temperature_fixes_overconfidence_without_changing_labels():
    import numpy as np

    from clave_lite.evaluation.thresholds import fit_temperature

    rng = np.random.default_rng(0)
    gold_idx = rng.integers(0, 3, 600)
    logits = rng.normal(0, 1, (600, 3))
    logits[np.arange(600), gold_idx] += 1.0  # right 55 % of the time ...
    logits *= 6.0  # ... but ~100 % sure
    gold = [("supports", "opposes", "unrelated")[i] for i in gold_idx]
    t, before, after = fit_temperature(logits, gold, np.zeros((600, 3)), ["supports", "opposes", "unrelated"])
    assert t > 2 and after < before / 2


def test_manifest_carries_and_checks_temperatures():
    import json

    import pytest

    from clave_lite.core.prompt import TEMPLATES
    from clave_lite.core.valuesystem import load_system
    from clave_lite.errors import ModelError
    from clave_lite.formats.manifest import Manifest

    m = Manifest([load_system("schwartz10")], TEMPLATES["short"], [1, 2, 3], "schwartz10", temperatures={"schwartz10": 1.7})
    again = Manifest.from_json(m.to_json(), "x")
    assert again.temperature("schwartz10") == 1.7 and again.temperature("other") == 1.0
    bad = json.loads(m.to_json())
    bad["temperatures"] = {"schwartz10": -1}
    with pytest.raises(ModelError, match="temperatures"):
        Manifest.from_json(json.dumps(bad), "x")
