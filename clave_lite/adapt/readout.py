"""Fitting a linear readout on ~100 labels per value, and choosing it by folds only.

A candidate is what the readout reads (the final hidden state at the verdict position, or the
evaluator's own three label logits), with which value line (the template's, or name +
definition), and how strongly it is regularised. Each fit is a class-balanced multinomial
logistic regression on standardised features plus a one-hot of the value (so every value gets
its own offsets: the thresholds that do not transfer from the default's systems). The fold
estimate is *nested*: inside each outer fold the candidate is chosen by inner folds of the
training part only, so the figure reported was never used to choose anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from clave_lite import LABELS
from clave_lite.adapt.folds import assign_folds
from clave_lite.head import Head

MISSING_LABEL_LOGIT = -50.0
"""Logit of a label no training tuple had (a system whose labels never include it)."""


@dataclass(frozen=True)
class Candidate:
    features: str
    """``hidden`` or ``label_logits`` (:mod:`clave_lite.head`)."""
    line: str
    """``template`` (the evaluator's value line) or ``definition`` (name + definition)."""
    c: float
    """Inverse L2 strength of the logistic regression."""

    @property
    def name(self) -> str:
        return f"{self.features}/{self.line}/C={self.c:g}"


HIDDEN_C = (0.003, 0.01, 0.03, 0.1)
"""Over standardised 640-d hidden states with ~1,000 tuples; the folds pick one."""


def candidates(lines: Sequence[str]) -> list[Candidate]:
    out = [Candidate("label_logits", line, 1.0) for line in lines]
    out += [Candidate("hidden", line, c) for line in lines for c in HIDDEN_C]
    return out


@dataclass(frozen=True)
class Fitted:
    """A fitted readout: ``logits = ((x - mean) / scale) @ coef[:, :k].T + coef[:, k + value] + intercept``."""
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    """``[3, k + n_values]`` in LABELS order."""
    intercept: np.ndarray

    def logits(self, x: np.ndarray, value_idx: np.ndarray) -> np.ndarray:
        k = len(self.mean)
        z = ((x - self.mean) / self.scale) @ self.coef[:, :k].T + self.intercept
        return z + self.coef[:, k + value_idx].T

    def head(self, features: str, value_line: str | None, values: Sequence[str]) -> tuple[Head, dict[str, list[float]]]:
        """The runtime head (standardisation folded into the weights) and per-value biases."""
        k = len(self.mean)
        weight = self.coef[:, :k] / self.scale
        bias = self.intercept - weight @ self.mean
        value_bias = {v: [float(f"{b:.6g}") for b in self.coef[:, k + i]] for i, v in enumerate(values)}
        return Head(features, weight, bias, value_line), value_bias


def fit(x: np.ndarray, y: np.ndarray, value_idx: np.ndarray, n_values: int, c: float) -> Fitted:
    """``y``: label indices into LABELS."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(0)
    scale = x.std(0) + 1e-6
    design = np.hstack([(x - mean) / scale, np.eye(n_values)[value_idx]])
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    clf.fit(design, y)
    coef = np.zeros((len(LABELS), design.shape[1]))
    intercept = np.full(len(LABELS), MISSING_LABEL_LOGIT)
    classes = [int(cl) for cl in clf.classes_]
    if len(classes) == 2:  # sklearn keeps one row for two classes: logit of classes[1] vs classes[0]
        coef[classes[1]], intercept[classes[1]], intercept[classes[0]] = clf.coef_[0], clf.intercept_[0], 0.0
    else:
        for row, cl in enumerate(classes):
            coef[cl], intercept[cl] = clf.coef_[row], clf.intercept_[row]
    return Fitted(mean, scale, coef, intercept)


Score = Callable[[np.ndarray, np.ndarray], float]
"""(logits [n, 3] of some items, their indices) → the system's objective on them."""


@dataclass(frozen=True)
class Data:
    """Everything a fold needs, indexed by tuple."""
    features: Mapping[tuple[str, str], np.ndarray]
    """``(features, line)`` → ``[n, k]``."""
    y: np.ndarray
    value_idx: np.ndarray
    n_values: int
    groups: np.ndarray

    def x(self, cand: Candidate) -> np.ndarray:
        return self.features[(cand.features, cand.line)]


def out_of_fold(cand: Candidate, data: Data, rows: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Logits of every item in ``rows``, each predicted by a fit on the other folds of ``rows``."""
    x, out = data.x(cand), np.zeros((len(rows), len(LABELS)))
    for f in np.unique(folds):
        train, test = rows[folds != f], folds == f
        model = fit(x[train], data.y[train], data.value_idx[train], data.n_values, cand.c)
        out[test] = model.logits(x[rows[test]], data.value_idx[rows[test]])
    return out


def choose(cands: Sequence[Candidate], data: Data, rows: np.ndarray, k: int, seed: int,
           score: Score) -> tuple[Candidate, dict[str, float]]:
    """The candidate with the best out-of-fold objective on ``rows`` (ties: the earlier one)."""
    folds = assign_folds(list(data.groups[rows]), k, seed)
    table = {c.name: score(out_of_fold(c, data, rows, folds), rows) for c in cands}
    best = max(cands, key=lambda c: table[c.name])
    return best, table


def nested_estimate(cands: Sequence[Candidate], data: Data, k: int, seed: int, score: Score,
                    step: Callable[[], None] = lambda: None) -> tuple[np.ndarray, list[str]]:
    """Out-of-fold logits for every tuple where each outer fold's candidate was chosen on its
    own training part by inner folds; returns (logits [n, 3], chosen candidate per fold)."""
    n = len(data.y)
    outer = assign_folds(list(data.groups), k, seed)
    out, chosen = np.zeros((n, len(LABELS))), []
    for f in range(k):
        train = np.flatnonzero(outer != f)
        test = np.flatnonzero(outer == f)
        best, _ = choose(cands, data, train, max(2, k - 1), seed + 1 + f, score)
        chosen.append(best.name)
        x = data.x(best)
        model = fit(x[train], data.y[train], data.value_idx[train], data.n_values, best.c)
        out[test] = model.logits(x[test], data.value_idx[test])
        step()
    return out, chosen
