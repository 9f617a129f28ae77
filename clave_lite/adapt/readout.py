"""Fitting a linear readout on ~100 labels per value, and choosing it by folds only.

A candidate is what the readout reads (the final hidden state at the verdict position, or the
evaluator's own three label logits), after which value lines (the template's, name +
definition, or both concatenated), whether each value gets its own regression or all share
one (with per-value offsets: the thresholds that do not transfer from the default's systems),
and how strongly it is regularised. Each fit is a class-balanced multinomial logistic
regression on standardised features. Two ways to settle on one readout, both honest: a fixed
:class:`Ensemble` of the candidates (nothing is chosen, so a plain out-of-fold figure is its
estimate; ``adapt``'s default), or a choice among them whose fold estimate is *nested*: inside
each outer fold the candidate is chosen by inner folds of the training part only, so the figure
reported was never used to choose anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from clave_lite.adapt.folds import assign_folds
from clave_lite.core.labels import LABELS
from clave_lite.formats.head import Head

MISSING_LABEL_LOGIT = -50.0
"""Logit of a label no training tuple had (a system whose labels never include it)."""


@dataclass(frozen=True)
class Candidate:
    features: str
    """``hidden`` (the final hidden state, from logits: :mod:`clave_lite.adapt.basis`) or
    ``label_logits`` (the evaluator's own three)."""
    lines: tuple[str, ...]
    """Value lines whose features are concatenated: ``template`` (the evaluator's line) and/or
    ``definition`` (name + definition)."""
    scope: str
    """``per-value`` (one regression per value, on its ~100 tuples) or ``shared`` (one for all
    values, with a one-hot of the value for per-value offsets)."""
    c: float
    """Inverse L2 strength of the logistic regression."""

    @property
    def name(self) -> str:
        return f"{self.features}/{'+'.join(self.lines)}/{self.scope}/C={self.c:g}"


@dataclass(frozen=True)
class Ensemble:
    """The average of its members' logits: still one linear map of the concatenated features,
    so it folds into one head like any member. Averaging over the regularisation grid and the
    value lines replaces a choice among them that ~100 tuples per value make noisy."""
    members: tuple[Candidate, ...]

    @property
    def features(self) -> str:
        return self.members[0].features

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(line for m in self.members for line in m.lines))

    @property
    def name(self) -> str:
        scopes = "+".join(dict.fromkeys(m.scope for m in self.members))
        cs = ",".join(f"{c:g}" for c in sorted({m.c for m in self.members}))
        return f"mean of {len(self.members)}/{self.features}/{'+'.join(self.lines)}/{scopes}/C={cs}"


Readout = Candidate | Ensemble
"""What a fold fits: one regression, or the mean of several."""


HIDDEN_C = {"per-value": (0.001, 0.003, 0.01), "shared": (0.003, 0.01, 0.03)}
"""Over standardised 640-d (per line) hidden states; the folds pick one."""


def candidates(lines: Sequence[str]) -> list[Candidate]:
    line_sets = [(line,) for line in lines] + ([tuple(lines)] if len(lines) > 1 else [])
    out = [Candidate("label_logits", (lines[0],), "shared", 1.0)]
    out += [Candidate("hidden", ls, scope, c) for scope in ("per-value", "shared") for ls in line_sets
            for c in HIDDEN_C[scope]]
    return out


def fixed_ensemble(cands: Sequence[Candidate]) -> Ensemble:
    """``adapt``'s default readout: the mean of every hidden-state candidate (both scopes, every
    value line, every regularisation strength). It chooses nothing, so its plain out-of-fold
    figure is already an honest estimate; on gert10 it beat the nested choice
    (``docs/calibrate.md``)."""
    return Ensemble(tuple(c for c in cands if c.features == "hidden"))


@dataclass(frozen=True)
class Linear:
    """One readout in standardised form: ``logits = ((x - mean) / scale) @ coef.T + intercept``."""
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    """``[3, k]`` in LABELS order."""
    intercept: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef.T + self.intercept

    def folded(self, blocks: int, project: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(weight over the raw features, bias): standardisation folded in and, for hidden
        states ``h = project @ z`` (one block of features per value line), the projection too."""
        weight = self.coef / self.scale
        bias = self.intercept - weight @ self.mean
        if project is not None:
            weight = np.hstack([w @ project for w in np.split(weight, blocks, axis=1)])
        return weight, bias


@dataclass(frozen=True)
class Fitted:
    per_value: tuple[Linear, ...]
    """One readout per value index (the same coefficients for a shared fit, own offsets)."""

    def logits(self, x: np.ndarray, value_idx: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), len(LABELS)))
        for v in np.unique(value_idx):
            rows = value_idx == v
            out[rows] = self.per_value[v].logits(x[rows])
        return out

    def head(self, token_ids: Sequence[int], project: np.ndarray | None, value_lines: Sequence[str | None],
             values: Sequence[str]) -> Head:
        weights, biases = {}, {}
        for v, lin in zip(values, self.per_value):
            weights[v], biases[v] = lin.folded(len(value_lines), project)
        return Head(tuple(value_lines), tuple(int(i) for i in token_ids), weights, biases)


def _logreg(design: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced multinomial logistic regression → (coef [3, f], intercept [3]) in LABELS
    order; a label absent from ``y`` gets a logit that never wins."""
    coef = np.zeros((len(LABELS), design.shape[1]))
    intercept = np.full(len(LABELS), MISSING_LABEL_LOGIT)
    classes = sorted({int(v) for v in y})
    if len(classes) == 1:
        intercept[classes[0]] = 0.0
        return coef, intercept
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    clf.fit(design, y)
    if len(classes) == 2:  # sklearn keeps one row for two classes: logit of classes[1] vs classes[0]
        coef[classes[1]], intercept[classes[1]], intercept[classes[0]] = clf.coef_[0], clf.intercept_[0], 0.0
    else:
        for row, cl in enumerate(int(c_) for c_ in clf.classes_):
            coef[cl], intercept[cl] = clf.coef_[row], clf.intercept_[row]
    return coef, intercept


def fit(x: np.ndarray, y: np.ndarray, value_idx: np.ndarray, n_values: int, c: float,
        scope: str = "shared") -> Fitted:
    """``y``: label indices into LABELS; ``value_idx``: each row's value."""
    if scope == "per-value":
        readouts = []
        for v in range(n_values):
            rows = value_idx == v
            if not rows.any():  # no tuple of this value in this fold's training part: say unrelated
                xv, yv = x[:1], np.array([LABELS.index("unrelated")])
            else:
                xv, yv = x[rows], y[rows]
            mean, scale = xv.mean(0), xv.std(0) + 1e-6
            readouts.append(Linear(mean, scale, *_logreg((xv - mean) / scale, yv, c)))
        return Fitted(tuple(readouts))
    mean, scale = x.mean(0), x.std(0) + 1e-6
    k = x.shape[1]
    coef, intercept = _logreg(np.hstack([(x - mean) / scale, np.eye(n_values)[value_idx]]), y, c)
    return Fitted(tuple(Linear(mean, scale, coef[:, :k], intercept + coef[:, k + v]) for v in range(n_values)))


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

    def x(self, cand: Readout) -> np.ndarray:
        return np.hstack([self.features[(cand.features, line)] for line in cand.lines])

    def fit(self, cand: Readout, rows: np.ndarray) -> Fitted:
        if isinstance(cand, Ensemble):
            return self._fit_mean(cand, rows)
        return fit(self.x(cand)[rows], self.y[rows], self.value_idx[rows], self.n_values, cand.c, cand.scope)

    def _fit_mean(self, ens: Ensemble, rows: np.ndarray) -> Fitted:
        """Each member fitted on its own lines, its standardisation folded in, its weights put in
        its lines' blocks of the ensemble's features, and the members averaged."""
        width = {line: self.features[(ens.features, line)].shape[1] for line in ens.lines}
        start = dict(zip(ens.lines, np.cumsum([0] + [width[line] for line in ens.lines])))
        k = sum(width.values())
        weight = np.zeros((self.n_values, len(LABELS), k))
        bias = np.zeros((self.n_values, len(LABELS)))
        for member in ens.members:
            for v, lin in enumerate(self.fit(member, rows).per_value):
                w, b = lin.folded(1, None)
                at = 0
                for line in member.lines:
                    weight[v, :, start[line]:start[line] + width[line]] += w[:, at:at + width[line]]
                    at += width[line]
                bias[v] += b
        n = len(ens.members)
        return Fitted(tuple(Linear(np.zeros(k), np.ones(k), weight[v] / n, bias[v] / n) for v in range(self.n_values)))


def out_of_fold(cand: Readout, data: Data, rows: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Logits of every item in ``rows``, each predicted by a fit on the other folds of ``rows``."""
    x, out = data.x(cand), np.zeros((len(rows), len(LABELS)))
    for f in np.unique(folds):
        train, test = rows[folds != f], folds == f
        out[test] = data.fit(cand, train).logits(x[rows[test]], data.value_idx[rows[test]])
    return out


def out_of_fold_all(cands: Sequence[Readout], data: Data, rows: np.ndarray, folds: np.ndarray,
                    step: Callable[[], None] = lambda: None) -> dict[str, np.ndarray]:
    """:func:`out_of_fold` of every candidate, by name (``step`` after each)."""
    out = {}
    for c in cands:
        out[c.name] = out_of_fold(c, data, rows, folds)
        step()
    return out


def choose(cands: Sequence[Readout], data: Data, rows: np.ndarray, k: int, seed: int,
           score: Score) -> tuple[Readout, dict[str, float]]:
    """The candidate with the best out-of-fold objective on ``rows`` (ties: the earlier one)."""
    folds = assign_folds(list(data.groups[rows]), k, seed)
    table = {name: score(z, rows) for name, z in out_of_fold_all(cands, data, rows, folds).items()}
    best = max(cands, key=lambda c: table[c.name])
    return best, table


def nested_estimate(cands: Sequence[Readout], data: Data, k: int, seed: int, score: Score,
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
        out[test] = data.fit(best, train).logits(data.x(best)[test], data.value_idx[test])
        step()
    return out, chosen
