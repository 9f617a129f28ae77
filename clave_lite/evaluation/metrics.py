"""Agreement between gold and predicted labels, in the figures the literature reports.

* ``accuracy``: share of (text, value) tuples whose label matches.
* ``macro_f1``: F1 per label class present in gold, averaged; pooled over all tuples (how CLAVE
  and FULCRA report 3-way results).
* ``value_f1_mean``: F1 of ``supports`` per value, averaged over values. A value with no gold
  ``supports`` has no defined F1 and is left out of the mean; it is listed under
  ``values_without_supports``.
* ``touche_f1``: SemEval-2023 Task 4's official "All" F1: the harmonic mean of the
  macro-averaged precision and macro-averaged recall of ``supports`` over the values (the same
  values as ``value_f1_mean``), not the mean of per-value F1s.
* ``intervals``: 95 % bootstrap intervals of the headline figures, resampling *texts* (a
  text's values move together), seeded, so two runs print the same interval.
* ``calibration``: expected calibration error (ECE, 10 equal-width bins of the top label's
  probability) when the predictions carry probabilities.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from clave_lite.core.labels import LABELS
from clave_lite.core.tuples import LabelledTuple
from clave_lite.errors import DataError


@dataclass(frozen=True)
class Pair:
    value: str
    gold: str
    pred: str
    key: str = field(default="", compare=False)
    """The text the pair belongs to (bootstrap intervals resample texts; not part of equality)."""


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def class_f1(pairs: Sequence[Pair], label: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of one label class, one-vs-rest."""
    tp = sum(1 for p in pairs if p.gold == label and p.pred == label)
    fp = sum(1 for p in pairs if p.gold != label and p.pred == label)
    fn = sum(1 for p in pairs if p.gold == label and p.pred != label)
    return _f1(tp, fp, fn)


def confusion(pairs: Iterable[Pair]) -> dict[str, dict[str, int]]:
    """``confusion[gold][pred]`` counts over the canonical label order."""
    counts = Counter((p.gold, p.pred) for p in pairs)
    return {g: {p: counts[(g, p)] for p in LABELS} for g in LABELS}


def macro_f1(pairs: Sequence[Pair]) -> float:
    present = [label for label in LABELS if any(p.gold == label for p in pairs)]
    if not present:
        return 0.0
    return sum(class_f1(pairs, label)[2] for label in present) / len(present)


def accuracy(pairs: Sequence[Pair]) -> float:
    return sum(p.gold == p.pred for p in pairs) / len(pairs) if pairs else 0.0


def touche_f1(per_value: dict[str, Any]) -> float | None:
    """F1 of macro-precision and macro-recall of ``supports`` over values with gold supports."""
    rows = [v for v in per_value.values() if v["gold_supports"]]
    if not rows:
        return None
    p = sum(v["precision_supports"] for v in rows) / len(rows)
    r = sum(v["recall_supports"] for v in rows) / len(rows)
    return 2 * p * r / (p + r) if p + r else 0.0


HEADLINE = ("accuracy", "macro_f1", "value_f1_mean", "touche_f1", "f1_opposes")


def _resampled_figures(pairs: Sequence[Pair], keys: Sequence[str], w) -> dict[str, Any]:
    """The headline figures of ``pairs`` under each row of text weights ``w`` ([n_boot, len(keys)]).

    Vectorised: each text becomes a vector of its tp/fp/fn counts per (value, label), and a
    resample's totals are one matrix product."""
    import numpy as np

    values = sorted({p.value for p in pairs})
    k_index = {k: i for i, k in enumerate(keys)}
    v_index = {v: i for i, v in enumerate(values)}
    n_l = len(LABELS)
    counts = np.zeros((len(keys), len(values), n_l, 3))  # tp, fp, fn
    correct = np.zeros((len(keys), 2))  # right, total
    for p in pairs:
        t, v = k_index[p.key], v_index[p.value]
        g, q = LABELS.index(p.gold), LABELS.index(p.pred)
        correct[t, 1] += 1
        if g == q:
            counts[t, v, g, 0] += 1
            correct[t, 0] += 1
        else:
            counts[t, v, q, 1] += 1
            counts[t, v, g, 2] += 1
    n_boot = w.shape[0]
    tot = (w @ counts.reshape(len(keys), -1)).reshape(n_boot, len(values), n_l, 3)
    acc = (w @ correct)
    tp, fp, fn = tot[..., 0], tot[..., 1], tot[..., 2]

    def f1(tp, fp, fn):
        with np.errstate(divide="ignore", invalid="ignore"):
            prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
            rec = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
            return prec, rec, np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)

    out: dict[str, Any] = {"accuracy": acc[:, 0] / np.maximum(acc[:, 1], 1)}
    ptp, pfp, pfn = tp.sum(1), fp.sum(1), fn.sum(1)  # pooled over values: [B, labels]
    present = (ptp + pfn) > 0
    out["macro_f1"] = (f1(ptp, pfp, pfn)[2] * present).sum(1) / np.maximum(present.sum(1), 1)
    s = LABELS.index("supports")
    prec, rec, f = f1(tp[:, :, s], fp[:, :, s], fn[:, :, s])  # per value: [B, values]
    has = (tp[:, :, s] + fn[:, :, s]) > 0
    n_has = np.maximum(has.sum(1), 1)
    out["value_f1_mean"] = (f * has).sum(1) / n_has
    mp, mr = (prec * has).sum(1) / n_has, (rec * has).sum(1) / n_has
    out["touche_f1"] = np.where(mp + mr > 0, 2 * mp * mr / np.maximum(mp + mr, 1e-12), 0.0)
    o = LABELS.index("opposes")
    if (ptp[:, o] + pfn[:, o]).max() > 0:
        out["f1_opposes"] = f1(ptp[:, o], pfp[:, o], pfn[:, o])[2]
    return out


def _text_weights(n_texts: int, n_boot: int, seed: int):
    """``n_boot`` bootstrap resamples of ``n_texts`` texts, as multinomial counts per text."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.multinomial(n_texts, np.full(n_texts, 1 / n_texts), size=n_boot).astype(float)


def _percentiles(x, level: float) -> list[float]:
    import numpy as np

    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return [round(float(np.percentile(x, lo)), 4), round(float(np.percentile(x, hi)), 4)]


def bootstrap_intervals(pairs: Sequence[Pair], n_boot: int = 1000, seed: int = 0,
                        level: float = 0.95) -> dict[str, list[float]]:
    """Percentile intervals of the headline figures over ``n_boot`` resamples of texts."""
    keys = sorted({p.key for p in pairs})
    figures = _resampled_figures(pairs, keys, _text_weights(len(keys), n_boot, seed))
    return {name: _percentiles(x, level) for name, x in figures.items()}


@dataclass(frozen=True)
class PairedDifference:
    """Model B minus model A on one figure, both scored on the same texts: the point difference,
    its 95 % interval over the same text resamples for both models (paired, so the texts' own
    difficulty cancels), and the share of resamples in which B is at least A minus ``tolerance``."""

    figure: str
    a: float
    b: float
    difference: float
    interval: tuple[float, float]
    share_within_tolerance: float
    tolerance: float
    texts: int

    def to_dict(self) -> dict[str, Any]:
        return {"figure": self.figure, "a": round(self.a, 4), "b": round(self.b, 4),
                "difference": round(self.difference, 4), "interval": list(self.interval),
                "share_within_tolerance": round(self.share_within_tolerance, 4), "tolerance": self.tolerance,
                "texts": self.texts}


def paired_differences(pairs_a: Sequence[Pair], pairs_b: Sequence[Pair], tolerance: float = 0.0,
                       n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> list[PairedDifference]:
    """B − A for every headline figure, with a paired bootstrap over the texts both were scored on
    (an error if they were not scored on the same (text, value) tuples)."""
    import numpy as np

    if sorted((p.key, p.value, p.gold) for p in pairs_a) != sorted((p.key, p.value, p.gold) for p in pairs_b):
        raise DataError("the two models were not scored on the same (text, value) tuples")
    keys = sorted({p.key for p in pairs_a})
    # row 0 weighs every text once (the figures themselves), the other rows are the shared resamples
    w = np.vstack([np.ones(len(keys)), _text_weights(len(keys), n_boot, seed)])
    fa, fb = _resampled_figures(pairs_a, keys, w), _resampled_figures(pairs_b, keys, w)
    out = []
    for name in fa:  # the same gold, so the same figures
        d = fb[name][1:] - fa[name][1:]
        lo, hi = _percentiles(d, level)
        out.append(PairedDifference(name, float(fa[name][0]), float(fb[name][0]), float(fb[name][0] - fa[name][0]),
                                    (lo, hi), float((d >= -tolerance).mean()), tolerance,
                                    len(keys)))
    return out


def reliability(probs, gold_index, n_bins: int = 10) -> list[dict[str, float]]:
    """The reliability diagram of the top label: per equal-width confidence bin that has any
    tuple, its range, size, mean confidence and observed accuracy."""
    import numpy as np

    probs = np.asarray(probs, dtype=float)
    conf = probs.max(1)
    right = probs.argmax(1) == np.asarray(gold_index)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            out.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": int(mask.sum()),
                        "confidence": float(conf[mask].mean()), "accuracy": float(right[mask].mean())})
    return out


def expected_calibration_error(probs, gold_index, n_bins: int = 10) -> float:
    """ECE of the top label: |accuracy − confidence| per equal-width bin, weighted by bin size."""
    bins = reliability(probs, gold_index, n_bins)
    total = sum(b["n"] for b in bins)
    return float(sum(b["n"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins))


@dataclass(frozen=True)
class Metrics:
    """What :func:`compute` measures on (gold, prediction) pairs; ``to_dict()`` is the JSON
    ``eval --json`` prints."""

    n: int
    texts: int
    accuracy: float
    macro_f1: float
    value_f1_mean: float | None
    """The mean F1 of ``supports`` over the values that have gold ``supports``."""
    touche_f1: float | None
    per_class_f1: dict[str, float]
    gold_label_counts: dict[str, int]
    confusion: dict[str, dict[str, int]]
    per_value: dict[str, dict[str, Any]]
    values_without_supports: list[str]
    intervals: dict[str, list[float]] = field(default_factory=dict)
    """95 % bootstrap intervals over texts, by figure name."""
    calibration: dict[str, Any] | None = None
    """The calibration error of the probabilities (:func:`clave_lite.evaluation.run.evaluate`)."""

    def figure(self, name: str) -> float | None:
        """A headline figure by name: ``macro_f1``, ``value_f1_mean``, ``touche_f1``, ``accuracy``,
        ``f1_opposes`` (any label's ``f1_LABEL``)."""
        if name.startswith("f1_"):
            return self.per_class_f1.get(name[3:])
        value = {"macro_f1": self.macro_f1, "value_f1_mean": self.value_f1_mean, "touche_f1": self.touche_f1,
                 "accuracy": self.accuracy}[name]
        return None if value is None else float(value)

    def interval(self, name: str) -> list[float] | None:
        return self.intervals.get(name)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metrics:
        """The metrics :meth:`to_dict` wrote (read back from JSON, e.g. another process's)."""
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "texts": self.texts, "accuracy": self.accuracy, "macro_f1": self.macro_f1,
               "value_f1_mean": self.value_f1_mean, "touche_f1": self.touche_f1, "per_class_f1": self.per_class_f1,
               "gold_label_counts": self.gold_label_counts, "confusion": self.confusion, "per_value": self.per_value,
               "values_without_supports": self.values_without_supports}
        if self.intervals:
            out["intervals"] = self.intervals
        if self.calibration is not None:
            out["calibration"] = self.calibration
        return out


def compute(pairs: Sequence[Pair], intervals: bool = True) -> Metrics:
    """All metrics for already-joined pairs."""
    if not pairs:
        raise DataError("no (gold, prediction) pairs to evaluate")
    by_value: dict[str, list[Pair]] = {}
    for p in pairs:
        by_value.setdefault(p.value, []).append(p)
    per_value: dict[str, Any] = {}
    supports_f1: list[float] = []
    without: list[str] = []
    for value, vpairs in by_value.items():
        precision, recall, f1 = class_f1(vpairs, "supports")
        gold_supports = sum(p.gold == "supports" for p in vpairs)
        per_value[value] = {
            "n": len(vpairs),
            "gold_supports": gold_supports,
            "accuracy": accuracy(vpairs),
            "macro_f1": macro_f1(vpairs),
            "f1_supports": f1 if gold_supports else None,
            "precision_supports": precision,
            "recall_supports": recall if gold_supports else None,
            "confusion": confusion(vpairs),
        }
        if gold_supports:
            supports_f1.append(f1)
        else:
            without.append(value)
    gold_counts = Counter(p.gold for p in pairs)
    return Metrics(
        n=len(pairs),
        texts=len({p.key for p in pairs}),
        accuracy=accuracy(pairs),
        macro_f1=macro_f1(pairs),
        value_f1_mean=sum(supports_f1) / len(supports_f1) if supports_f1 else None,
        touche_f1=touche_f1(per_value),
        per_class_f1={label: class_f1(pairs, label)[2] for label in LABELS if gold_counts[label]},
        gold_label_counts={label: gold_counts[label] for label in LABELS},
        confusion=confusion(pairs),
        per_value=per_value,
        values_without_supports=without,
        intervals=bootstrap_intervals(pairs) if intervals else {},
    )


def join(gold: Sequence[LabelledTuple], predicted: Sequence[LabelledTuple]) -> list[Pair]:
    """Match predictions to gold by (text id or text, value); a gold tuple without a prediction
    is an error, because leaving it out would flatter the figures, and so is a prediction whose
    text is not the gold text under the same id (predictions for other texts would score)."""
    preds = {(t.key, t.value.casefold()): t for t in predicted}
    pairs: list[Pair] = []
    missing: list[LabelledTuple] = []
    for t in gold:
        p = preds.get((t.key, t.value.casefold()))
        if p is None:
            missing.append(t)
            continue
        if " ".join(p.text.split()).casefold() != " ".join(t.text.split()).casefold():  # spacing and case aside
            raise DataError(f"id {t.key[:40]!r}: the prediction is for another text than the gold tuple "
                            f"({p.text[:40]!r} vs {t.text[:40]!r}); predictions must be for the same texts")
        pairs.append(Pair(t.value, t.label, p.label, t.key))
    if missing:
        first = missing[0]
        raise DataError(
            f"{len(missing)} gold tuple(s) have no prediction, e.g. value '{first.value}' "
            f"of text {first.key[:60]!r}"
        )
    return pairs
