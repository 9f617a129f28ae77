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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clave_lite.core.labels import LABELS
from clave_lite.errors import UsageError


def parse_prevalence(spec: str, values: Sequence[str]) -> dict[str, float]:
    """``"0.17"`` (every value) or ``"0.1,Do not kill=0.02,Do not cheat=0.3"`` (a default and
    per-value shares): the share of a value's (text, value) pairs in the corpus that are related
    (supports or opposes). Every value gets a share; an unknown value name is refused."""
    out: dict[str, float] = {}
    default: float | None = None
    by_fold = {v.casefold(): v for v in values}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, number = part.rpartition("=")
        try:
            share = float(number)
        except ValueError:
            raise UsageError(f"prevalence {part!r}: expected a share between 0 and 1, or VALUE=SHARE") from None
        if not 0 < share < 1:
            raise UsageError(f"prevalence {part!r}: the share must be between 0 and 1 (exclusive)")
        if not name:
            default = share
        elif name.strip().casefold() in by_fold:
            out[by_fold[name.strip().casefold()]] = share
        else:
            raise UsageError(f"prevalence {part!r}: no value {name.strip()!r} (values: {', '.join(values)})")
    missing = [v for v in values if v not in out]
    if missing and default is None:
        raise UsageError(f"prevalence gives no share for {', '.join(missing)}: add a default share, e.g. '0.2,...'")
    return {v: out.get(v, default) for v in values}  # type: ignore[misc]


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
    probs = _softmax(logits / temperature, mask)
    related = [i for i, lab in enumerate(LABELS) if lab != "unrelated" and mask[i]]
    unrelated = LABELS.index("unrelated")
    sample, corpus, bias = {}, {}, {}
    for v, share in shares.items():
        rows = np.array([i for i, x in enumerate(value_of) if x == v])
        seen = probs[rows].mean(0) if len(rows) else np.where(mask, 1 / mask.sum(), 0.0)
        counts = np.array([sum(1 for i in rows if gold[i] == LABELS[k]) + 1.0 for k in related])
        target = np.zeros(len(LABELS))
        target[related] = share * counts / counts.sum()
        target[unrelated] = 1 - share
        with np.errstate(divide="ignore"):
            b = np.where(mask, temperature * (np.log(np.maximum(target, 1e-12)) - np.log(np.maximum(seen, 1e-12))), 0.0)
        sample[v], corpus[v], bias[v] = seen, target, b
    return PriorShift(sample, corpus, bias)


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
