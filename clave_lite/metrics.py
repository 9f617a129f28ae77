"""Agreement between gold and predicted labels, in the figures the literature reports.

* ``accuracy``: share of (text, value) tuples whose label matches.
* ``macro_f1``: F1 per label class present in gold, averaged; pooled over all tuples (how CLAVE
  and FULCRA report 3-way results).
* ``value_f1_mean``: F1 of ``supports`` per value, averaged over values (SemEval-23 Task 4's
  official measure on binary data). A value with no gold ``supports`` has no defined F1 and is
  left out of the mean; it is listed under ``values_without_supports``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from clave_lite import LABELS
from clave_lite.errors import DataError
from clave_lite.tuples import LabelledTuple


@dataclass(frozen=True)
class Pair:
    value: str
    gold: str
    pred: str


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


def compute(pairs: Sequence[Pair]) -> dict[str, Any]:
    """All metrics for already-joined pairs; the dict is what ``eval --json`` prints."""
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
    return {
        "n": len(pairs),
        "accuracy": accuracy(pairs),
        "macro_f1": macro_f1(pairs),
        "value_f1_mean": sum(supports_f1) / len(supports_f1) if supports_f1 else None,
        "per_class_f1": {label: class_f1(pairs, label)[2] for label in LABELS if gold_counts[label]},
        "gold_label_counts": {label: gold_counts[label] for label in LABELS},
        "confusion": confusion(pairs),
        "per_value": per_value,
        "values_without_supports": without,
    }


def join(gold: Sequence[LabelledTuple], predicted: Sequence[LabelledTuple]) -> list[Pair]:
    """Match predictions to gold by (text id or text, value); a gold tuple without a prediction
    is an error, because leaving it out would flatter the figures."""
    preds = {(t.key, t.value.casefold()): t.label for t in predicted}
    pairs: list[Pair] = []
    missing: list[LabelledTuple] = []
    for t in gold:
        label = preds.get((t.key, t.value.casefold()))
        if label is None:
            missing.append(t)
        else:
            pairs.append(Pair(t.value, t.label, label))
    if missing:
        first = missing[0]
        raise DataError(
            f"{len(missing)} gold tuple(s) have no prediction, e.g. value '{first.value}' "
            f"of text {first.key[:60]!r}"
        )
    return pairs
