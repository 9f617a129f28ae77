"""Decision biases: where the evaluator draws the line between labels.

Training on a subsample of the (mostly) ``unrelated`` pairs shifts the model's prior, and the
metric users care about differs by system (3-way macro-F1 for supports/opposes/unrelated
systems, F1 of ``supports`` averaged over values for binary ones). A bias per label and
system, added to the label logits before the softmax, is tuned on held-out labelled texts by
grid search and stored in the evaluator, so every backend makes the same decision.

A single bias per system is not enough when the model is shy on some values and eager on
others (v1 called ``supports`` for Achievement 0 times in 46 on FULCRA dev), so
``tune_value_biases`` then moves each value's ``supports`` bias on its own, keeping a move
only when it lifts the system's objective by at least ``min_gain`` on the held-out texts and
the value has at least ``min_positives`` non-``unrelated`` labels there: few labels would fit
noise.
"""

from __future__ import annotations

from itertools import product
from typing import Sequence

import numpy as np

from clave_lite.core.labels import LABELS
from clave_lite.evaluation.metrics import Pair, compute

GRID = np.round(np.arange(-4.0, 4.01, 0.25), 2)


def objective(system_labels: Sequence[str]) -> str:
    return "macro_f1" if "opposes" in system_labels else "value_f1_mean"


def _score(logits: np.ndarray, gold: Sequence[str], values: Sequence[str], allowed: np.ndarray,
           bias: np.ndarray, metric: str) -> float:
    z = np.where(allowed, logits + bias, -np.inf)
    pred = z.argmax(axis=1)
    pairs = [Pair(v, g, LABELS[p]) for v, g, p in zip(values, gold, pred)]
    result = compute(pairs, intervals=False).figure(metric)
    return -1.0 if result is None else float(result)


def tune_bias(logits: np.ndarray, gold: Sequence[str], values: Sequence[str],
              system_labels: Sequence[str]) -> tuple[list[float], float, float]:
    """Best ``[b_supports, b_opposes, 0]`` for ``logits [n, 3]``; returns (bias, before, after)."""
    metric = objective(system_labels)
    allowed = np.array([lab in system_labels for lab in LABELS])
    zero = np.zeros(3)
    before = _score(logits, gold, values, allowed, zero, metric)
    best, best_bias = before, zero
    opp_grid = GRID if "opposes" in system_labels else [0.0]
    for b_sup, b_opp in product(GRID, opp_grid):
        bias = np.array([b_sup, b_opp, 0.0])
        score = _score(logits, gold, values, allowed, bias, metric)
        if score > best + 1e-9:
            best, best_bias = score, bias
    return [float(x) for x in best_bias], before, best


def tune_value_biases(logits: np.ndarray, gold: Sequence[str], values: Sequence[str],
                      system_labels: Sequence[str], system_bias: Sequence[float], min_positives: int = 5,
                      min_gain: float = 0.002, rounds: int = 2) -> tuple[dict[str, list[float]], float]:
    """Per-value ``supports`` offsets on top of ``system_bias``; returns ({value: bias}, objective)."""
    metric = objective(system_labels)
    allowed = np.array([lab in system_labels for lab in LABELS])
    names = list(dict.fromkeys(values))
    value_index = np.array([names.index(v) for v in values])
    per_value = np.tile(np.asarray(system_bias, dtype=float), (len(names), 1))
    positives = {n: sum(1 for v, g in zip(values, gold) if v == n and g != "unrelated") for n in names}

    def score() -> float:
        return _score(logits, gold, values, allowed, per_value[value_index], metric)

    best = score()
    for _ in range(rounds):
        moved = False
        for i, name in enumerate(names):
            if positives[name] < min_positives:
                continue
            keep = per_value[i, 0]
            best_here, best_sup = best, keep
            for b_sup in GRID:
                per_value[i, 0] = b_sup
                s = score()
                if s > best_here + 1e-9:
                    best_here, best_sup = s, b_sup
            if best_here >= best + min_gain:
                per_value[i, 0], best, moved = best_sup, best_here, True
            else:
                per_value[i, 0] = keep
        if not moved:
            break
    return {n: [float(x) for x in per_value[i]] for i, n in enumerate(names)}, best


TEMPERATURES = np.round(np.exp(np.linspace(np.log(0.25), np.log(4.0), 41)), 4)


def fit_temperature(logits: np.ndarray, gold: Sequence[str], biases: np.ndarray,
                    system_labels: Sequence[str]) -> tuple[float, float, float]:
    """The temperature (on a log grid, 0.25-4) that minimises the held-out negative log-likelihood
    of the biased logits ``[n, 3]`` (``biases`` per row); returns (T, ECE before, ECE after)."""
    from clave_lite.evaluation.metrics import expected_calibration_error

    allowed = np.array([lab in system_labels for lab in LABELS])
    target = np.array([LABELS.index(g) for g in gold])
    z = np.where(allowed, logits + biases, -np.inf)

    def probs(t: float) -> np.ndarray:
        s = z / t
        s = s - s.max(axis=1, keepdims=True)
        e = np.where(allowed, np.exp(s), 0.0)
        return e / e.sum(axis=1, keepdims=True)

    def nll(t: float) -> float:
        p = probs(t)[np.arange(len(target)), target]
        return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())

    best = min(TEMPERATURES, key=nll)
    return float(best), expected_calibration_error(probs(1.0), target), expected_calibration_error(probs(best), target)
