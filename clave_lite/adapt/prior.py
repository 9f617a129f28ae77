"""The deployment's label prior: decisions and estimates for the texts a user will score, not
for the labelled sample.

A user labels ~100 tuples per value, about half of them related (supports/opposes), and then
scores a corpus where most (text, value) pairs are unrelated. A readout fitted on the sample
decides as if half were related, so on the corpus it calls many unrelated pairs related, and
the fold estimate, computed on the sample, cannot see it. Told the share of related pairs in
the corpus (``--prevalence``), adapt corrects both (Saerens et al., 2002, "Adjusting the
outputs of a classifier to new a priori probabilities"):

- **Decisions.** Per value, the prior the readout assumes is its mean predicted distribution on
  the sample (out of fold); the corpus prior splits the stated related share between supports
  and opposes as the sample does. Multiplying each probability by ``corpus / sample`` prior is
  the decision that maximises *accuracy* on the corpus; macro-F1 is best served by a softer one
  (its optimal thresholds are lower: Lipton, Elkan & Naryanaswamy, 2014), so adapt applies a
  strength ``alpha`` of it, chosen on the corpus-weighted folds: as a decision bias,
  ``alpha * T * log(corpus / sample)`` added to the label logits (``T``: the system's
  temperature), stored in the evaluator, so every path that scores with it decides so.
- **Estimate.** Each labelled tuple is weighted by ``corpus prior / sample frequency`` of its
  true label, so the fold figures are those expected on a corpus with the stated prior.

Without a stated share, the corpus's own texts tell it (``--unlabelled``): black-box shift
estimation (Lipton, Wang & Smola, 2018, "Detecting and Correcting for Label Shift with Black Box
Predictors"), per value in its two-class form. The evaluator's rate of *related* verdicts on the
corpus texts is ``r = fpr + share * (tpr - fpr)``, where ``tpr`` and ``fpr`` are its related-verdict
rates on the labelled tuples that are related and unrelated (out of fold, so unbiased); solved
for ``share``. It uses verdicts only, never the probabilities, so it survives a miscalibrated
evaluator. One value's estimate from ~100 labels is noisy, so it is shrunk toward the estimate
pooled over all values by its own sampling variance (:func:`estimate_prevalence`). EM on the
probabilities (Saerens et al.) is computed beside it for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from clave_lite.core.labels import LABELS

MIN_GAP = 0.2
"""A value whose ``tpr - fpr`` on the labelled tuples is below this separates related from
unrelated too poorly for its own estimate: it takes the estimate pooled over all values."""
FLOOR = 0.01
"""Estimated shares are kept within ``[FLOOR, 1 - FLOOR]``."""


@dataclass(frozen=True)
class PrevalenceEstimate:
    """The share of related pairs per value in a corpus, estimated from the adapted evaluator's
    verdicts on its texts (no labels) and its out-of-fold verdicts on the labelled tuples."""

    texts: int
    """Corpus texts read."""
    shares: dict[str, float]
    """Per value, the estimate the decisions and the ``@corpus`` figures use."""
    called_related: dict[str, float]
    """Per value, the share of corpus texts the evaluator called related (as fitted)."""
    tpr: dict[str, float]
    fpr: dict[str, float]
    pooled: float
    """One estimate over all values' pairs."""
    em: dict[str, float]
    """Per value, EM on the evaluator's probabilities (Saerens et al. 2002), for comparison only."""
    pooled_for: list[str]
    """Values whose own estimate was unusable (``tpr - fpr < MIN_GAP``): they take ``pooled``."""
    per_value: dict[str, float] = field(default_factory=dict)
    """Per value, its own estimate before shrinking (values in ``pooled_for`` have none)."""
    own_weight: dict[str, float] = field(default_factory=dict)
    """Per value, the weight of its own estimate in ``shares`` (the rest is ``pooled``'s)."""

    def to_dict(self) -> dict[str, Any]:
        def r(d: dict[str, float]) -> dict[str, float]:
            return {k: round(v, 4) for k, v in d.items()}

        return {"method": "bbse", "texts": self.texts, "shares": r(self.shares),
                "called_related": r(self.called_related), "tpr": r(self.tpr), "fpr": r(self.fpr),
                "pooled": round(self.pooled, 4), "em": r(self.em), "pooled_for": self.pooled_for,
                "per_value": r(self.per_value), "own_weight": r(self.own_weight)}


def _em(p_related: np.ndarray, sample_share: float, steps: int = 200) -> float:
    """Saerens et al.'s EM for the related share, from probabilities fitted at ``sample_share``."""
    s = float(np.clip(sample_share, FLOOR, 1 - FLOOR))
    share = s
    for _ in range(steps):
        a, b = p_related * share / s, (1 - p_related) * (1 - share) / (1 - s)
        new = float(np.mean(a / np.maximum(a + b, 1e-12)))
        if abs(new - share) < 1e-6:
            break
        share = new
    return float(np.clip(share, FLOOR, 1 - FLOOR))


@dataclass(frozen=True)
class _Solved:
    share: float
    """Unclipped ``(called - fpr) / (tpr - fpr)``."""
    variance: float | None
    """Its sampling variance (delta method); None where ``tpr - fpr < MIN_GAP``."""


def _bbse(called: np.ndarray, sample_rel: np.ndarray, sample_said_rel: np.ndarray) -> tuple[_Solved, float, float]:
    """Two-class black-box shift estimation from the corpus's related verdicts (``called``) and the
    labelled tuples' truth and out-of-fold verdicts; with binomial variances of the three rates."""
    n_rel, n_unrel, m = int(sample_rel.sum()), int((~sample_rel).sum()), len(called)
    tpr = float(sample_said_rel[sample_rel].mean()) if n_rel else 1.0
    fpr = float(sample_said_rel[~sample_rel].mean()) if n_unrel else 0.0
    c = float(called.mean())
    gap = tpr - fpr
    if gap < MIN_GAP:
        return _Solved(float("nan"), None), tpr, fpr
    share = (c - fpr) / gap
    p = float(np.clip(share, 0.0, 1.0))
    var = (c * (1 - c) / max(m, 1) + (1 - p) ** 2 * fpr * (1 - fpr) / max(n_unrel, 1)
           + p ** 2 * tpr * (1 - tpr) / max(n_rel, 1)) / gap ** 2
    return _Solved(share, var), tpr, fpr


def estimate_prevalence(value_of: Sequence[str], gold: Sequence[str], sample_said: Sequence[str],
                        corpus_value_of: Sequence[str], corpus_said: Sequence[str],
                        corpus_p_related: Sequence[float], texts: int) -> PrevalenceEstimate:
    """``value_of``/``gold``/``sample_said``: each labelled tuple's value, label and out-of-fold
    verdict; ``corpus_value_of``/``corpus_said``/``corpus_p_related``: each (corpus text, value)
    pair's value, verdict and probability of a related label, from the evaluator as fitted.

    With ~50 related and ~50 unrelated labels per value, one value's own estimate has a standard
    error near 0.1, as large as the shares themselves. So each value's estimate is shrunk toward
    the one pooled over all values in proportion to its noise (empirical Bayes: weight
    ``tau² / (tau² + var)``, ``tau²`` the spread of the values' estimates beyond their sampling
    variance), all computed from the labels and the corpus's verdicts alone."""
    g_rel = np.array([x != "unrelated" for x in gold])
    s_rel = np.array([x != "unrelated" for x in sample_said])
    c_rel = np.array([x != "unrelated" for x in corpus_said])
    v_s, v_c, p_c = np.asarray(value_of), np.asarray(corpus_value_of), np.asarray(corpus_p_related, dtype=float)

    whole, _, _ = _bbse(c_rel, g_rel, s_rel)
    pooled = float(np.clip(whole.share if whole.variance is not None else g_rel.mean(), FLOOR, 1 - FLOOR))
    own: dict[str, _Solved] = {}
    called, tprs, fprs, em, fallback = {}, {}, {}, {}, []
    for v in dict.fromkeys(corpus_value_of):
        own[v], tprs[v], fprs[v] = _bbse(c_rel[v_c == v], g_rel[v_s == v], s_rel[v_s == v])
        called[v] = float(c_rel[v_c == v].mean())
        if own[v].variance is None:
            fallback.append(v)
        em[v] = _em(p_c[v_c == v], float(g_rel[v_s == v].mean()) if (v_s == v).any() else 0.5)
    usable = [v for v in own if own[v].variance is not None]
    spread = float(np.mean([(own[v].share - pooled) ** 2 for v in usable])) if usable else 0.0
    tau2 = max(0.0, spread - (float(np.mean([own[v].variance for v in usable])) if usable else 0.0))
    shares, weights = {}, {}
    for v, solved in own.items():
        if solved.variance is None:
            w, mine = 0.0, pooled
        else:
            w, mine = (tau2 / (tau2 + solved.variance) if tau2 + solved.variance > 0 else 1.0), solved.share
        weights[v] = w
        shares[v] = round(float(np.clip(w * mine + (1 - w) * pooled, FLOOR, 1 - FLOOR)), 4)
    per_value = {v: float(np.clip(own[v].share, FLOOR, 1 - FLOOR)) for v in usable}
    return PrevalenceEstimate(texts, shares, called, tprs, fprs, pooled, em, fallback, per_value, weights)


@dataclass(frozen=True)
class PriorShift:
    """Per value: the label prior of the labelled sample (as the readout sees it), of the corpus,
    and the decision bias between them. Arrays are over :data:`LABELS`."""

    sample: dict[str, np.ndarray]
    corpus: dict[str, np.ndarray]
    bias: dict[str, np.ndarray]

    def to_dict(self) -> dict[str, dict[str, dict[str, float]]]:
        def named(a: np.ndarray) -> dict[str, float]:
            return {lab: round(float(x), 4) for lab, x in zip(LABELS, a)}

        return {v: {"sample": named(self.sample[v]), "corpus": named(self.corpus[v]), "bias": named(self.bias[v])}
                for v in self.sample}


def _softmax(z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    z = np.where(mask, z, -np.inf)
    z = z - z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


def prior_shift(logits: np.ndarray, temperature: float, value_of: Sequence[str], gold: Sequence[str],
                allowed: Sequence[str], shares: dict[str, float]) -> PriorShift:
    """``logits``: out-of-fold label logits of every labelled tuple; ``value_of``/``gold``: its
    value and label; ``shares``: the related share per value in the corpus."""
    mask = np.array([lab in allowed for lab in LABELS])
    related = [i for i, lab in enumerate(LABELS) if lab != "unrelated" and mask[i]]
    unrelated = LABELS.index("unrelated")
    sample, corpus, bias = sample_priors(logits, temperature, value_of, allowed, list(shares)), {}, {}
    for v, share in shares.items():
        rows = np.array([i for i, x in enumerate(value_of) if x == v])
        seen = sample[v]
        counts = np.array([sum(1 for i in rows if gold[i] == LABELS[k]) + 1.0 for k in related])
        target = np.zeros(len(LABELS))
        target[related] = share * counts / counts.sum()
        target[unrelated] = 1 - share
        with np.errstate(divide="ignore"):
            b = np.where(mask, temperature * (np.log(np.maximum(target, 1e-12)) - np.log(np.maximum(seen, 1e-12))), 0.0)
        corpus[v], bias[v] = target, b
    return PriorShift(sample, corpus, bias)


def sample_priors(logits: np.ndarray, temperature: float, value_of: Sequence[str], allowed: Sequence[str],
                  values: Sequence[str]) -> dict[str, np.ndarray]:
    """Per value, the label prior the evaluator gives the labelled sample: its mean out-of-fold
    distribution over :data:`LABELS` (every allowed label equally likely for a value with no tuple)."""
    mask = np.array([lab in allowed for lab in LABELS])
    probs = _softmax(logits / temperature, mask)
    rows_of: dict[str, list[int]] = {}
    for i, x in enumerate(value_of):
        rows_of.setdefault(x, []).append(i)
    return {v: probs[rows_of[v]].mean(0) if rows_of.get(v) else np.where(mask, 1 / mask.sum(), 0.0) for v in values}


def fitted_mix(logits: np.ndarray, temperature: float, value_of: Sequence[str], allowed: Sequence[str],
               values: Sequence[str]) -> dict[str, float]:
    """Per value, the related share an adapted evaluator decides for: one minus its mean
    out-of-fold ``unrelated`` probability on the labelled tuples (the sample prior
    :func:`prior_shift` starts from), what score-time ``--prevalence`` shifts away from."""
    unrelated = LABELS.index("unrelated")
    return {v: round(min(0.999, max(0.001, 1 - float(p[unrelated]))), 4)
            for v, p in sample_priors(logits, temperature, value_of, allowed, values).items()}


def corpus_weights(value_of: Sequence[str], gold: Sequence[str], shift: PriorShift) -> np.ndarray:
    """Per labelled tuple, ``corpus prior / sample frequency`` of its true label within its
    value: weighting by it turns sample counts into the counts expected on the corpus."""
    weights = np.ones(len(gold))
    for v in shift.corpus:
        rows = [i for i, x in enumerate(value_of) if x == v]
        for k, lab in enumerate(LABELS):
            mine = [i for i in rows if gold[i] == lab]
            if mine:
                weights[mine] = shift.corpus[v][k] / (len(mine) / len(rows))
    return weights


def weighted_macro_f1(gold: Sequence[str], pred: Sequence[str], weights: np.ndarray,
                      labels: Sequence[str] = LABELS) -> float:
    """Macro-F1 over the labels present in ``gold``, with weighted counts (the project's
    ``macro_f1`` when every weight is 1)."""
    g, p = np.asarray(gold), np.asarray(pred)
    f1s = []
    for lab in labels:
        if not (g == lab).any():
            continue
        tp = weights[(g == lab) & (p == lab)].sum()
        fp = weights[(g != lab) & (p == lab)].sum()
        fn = weights[(g == lab) & (p != lab)].sum()
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(f1s)) if f1s else 0.0


def weighted_interval(gold: Sequence[str], pred: Sequence[str], weights: np.ndarray, groups: Sequence[str],
                      n_boot: int = 1000, seed: int = 0) -> list[float]:
    """A 95 % bootstrap interval of :func:`weighted_macro_f1`, resampling groups (texts)."""
    rng = np.random.default_rng(seed)
    keys = sorted(set(groups))
    index = {k: i for i, k in enumerate(keys)}
    rows_of: list[list[int]] = [[] for _ in keys]
    for i, k in enumerate(groups):
        rows_of[index[k]].append(i)
    g, p = np.asarray(gold), np.asarray(pred)
    stats = []
    for _ in range(n_boot):
        rows = np.concatenate([rows_of[j] for j in rng.integers(0, len(keys), len(keys))])
        stats.append(weighted_macro_f1(g[rows], p[rows], weights[rows]))
    return [round(float(np.percentile(stats, 2.5)), 4), round(float(np.percentile(stats, 97.5)), 4)]
