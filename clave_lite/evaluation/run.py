"""Score labelled tuples with an evaluator and measure it (and its agreement with another)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from clave_lite.core.labels import LABELS
from clave_lite.core.tuples import LabelledTuple
from clave_lite.errors import DataError
from clave_lite.evaluation import metrics
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.evaluator import BATCH_SIZE, Evaluator


@dataclass
class Scored:
    predictions: list[LabelledTuple]
    probs: np.ndarray  # [n_tuples, 3] in gold order
    parts: dict[str, list[LabelledTuple]] = field(default_factory=dict)
    """Where the verdicts are a hybrid's: each half's own verdicts (``evaluator``, ``lexical``)."""


def predict(evaluator: Evaluator, gold: Sequence[LabelledTuple], system: str | None = None,
            progress: Progress = SILENT, batch_size: int = BATCH_SIZE) -> Scored:
    """Score each distinct text once, on exactly the values it is labelled with.

    Texts labelled on the same values are scored together, so all-values data (FULCRA,
    Touché) runs in full batches.
    """
    check_against(evaluator, gold, system)
    by_text: dict[tuple[str, str], tuple[str, str | None, list[int]]] = {}
    for i, t in enumerate(gold):
        sys_name = t.system or system
        by_text.setdefault((sys_name or "", t.key), (t.text, sys_name, []))[2].append(i)
    groups: dict[tuple[str | None, tuple[str, ...]], list[tuple[str, list[int]]]] = {}
    for text, sys_name, idxs in by_text.values():
        values = tuple(gold[i].value for i in idxs)
        groups.setdefault((sys_name, values), []).append((text, idxs))
    probs = np.zeros((len(gold), 3))
    labels = [""] * len(gold)
    part_labels: dict[str, list[str]] = {}
    progress.start(f"eval ({evaluator.backend.name})", len(by_text))
    for (sys_name, values), items in groups.items():
        scores = evaluator.iter_scores([text for text, _ in items], values, sys_name, batch_size)
        for (_, idxs), score in zip(items, scores):
            for i, vs in zip(idxs, score.scores):
                labels[i] = vs.label
                probs[i] = [vs.probs[lab] for lab in LABELS]
                for part, p in (vs.parts or {}).items():
                    part_labels.setdefault(part, [""] * len(gold))[i] = max(p, key=p.__getitem__)
            progress.advance(1)
    progress.finish()
    def as_tuples(labels: list[str]) -> list[LabelledTuple]:
        return [LabelledTuple(t.text, t.value, labels[i], t.id, t.system) for i, t in enumerate(gold)]

    parts = {part: as_tuples(ls) for part, ls in part_labels.items() if all(ls)}  # every tuple a hybrid's
    return Scored(as_tuples(labels), probs, parts)


def check_against(evaluator: Evaluator, gold: Sequence[LabelledTuple], system: str | None = None) -> None:
    """Before any scoring: every tuple's system and value must exist in the evaluator; the first
    that does not is a :class:`DataError` naming its file, line and field."""
    from clave_lite.errors import ModelError, one_line

    known: dict[str | None, Any] = {}
    texts: dict[tuple[str | None, str], LabelledTuple] = {}
    for t in gold:
        where = f"{t.source}:{t.line}: " if t.source else ""
        sys_name = t.system or system
        first = texts.setdefault((sys_name, t.key), t)
        if first.text != t.text:  # scored once per id: the second text would get the first's verdict
            at = f" (line {first.line})" if first.line else ""
            raise DataError(one_line(f"{where}field 'id': {t.key[:60]!r} is also the id of a different text{at}; "
                                     "give each text its own id"))
        if sys_name not in known:
            try:
                known[sys_name] = evaluator.manifest.system(sys_name)
            except ModelError:
                from clave_lite.errors import UnknownNameError

                names = ", ".join(s.name for s in evaluator.manifest.systems)
                if not t.system:  # it came from --system: a usage error, as in every command
                    raise UnknownNameError(f"--system: the evaluator has no value system '{sys_name}' "
                                           f"(it has: {names})") from None
                raise DataError(one_line(f"{where}field 'system': the evaluator has no value system '{sys_name}' "
                                         f"(it has: {names})")) from None
        sys_ = known[sys_name]
        if sys_.find(t.value) is None:
            raise DataError(one_line(f"{where}field 'value': unknown value '{t.value}' in system '{sys_.name}' "
                                     f"(known: {', '.join(sys_.value_names)})"))


def evaluate(gold: Sequence[LabelledTuple], scored: Scored,
             temperature: Callable[[str | None], float] | None = None, intervals: bool = True) -> metrics.Metrics:
    """Metrics, intervals and the calibration error; with ``temperature`` (the evaluator's per
    system), also the ECE the probabilities had before it (``ece_untempered``)."""
    if not gold:
        raise DataError("no labelled tuples to evaluate")
    result = metrics.compute(metrics.join(gold, scored.predictions), intervals=intervals)
    gold_index = [LABELS.index(t.label) for t in gold]
    calibration: dict[str, Any] = {"ece": metrics.expected_calibration_error(scored.probs, gold_index), "bins": 10,
                                   "reliability": metrics.reliability(scored.probs, gold_index)}
    if temperature is not None:
        t = np.array([temperature(g.system) for g in gold])[:, None]
        if np.any(t != 1.0):
            with np.errstate(divide="ignore"):
                z = np.where(scored.probs > 0, np.log(np.clip(scored.probs, 1e-300, 1)) * t, -np.inf)
            z = z - z.max(axis=1, keepdims=True)
            raw = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            calibration["ece_untempered"] = metrics.expected_calibration_error(raw, gold_index)
            calibration["temperatures"] = sorted({float(x) for x in t[:, 0]})
    return replace(result, calibration=calibration)


def agreement(a: Scored, b: Scored) -> dict[str, float]:
    """How closely two backends agree on the same tuples: argmax agreement and prob error."""
    from clave_lite.build.quality_gate import agreement as measure

    m = measure(b.probs, a.probs)
    return {"argmax_agreement": m.argmax, "max_prob_diff": m.max_diff, "mean_prob_diff": m.mean_diff, "n": m.n}
