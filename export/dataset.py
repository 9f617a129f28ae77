"""Labelled tuples → training examples: one text with all its labelled values.

The unit of cost is the token, not the (text, value) pair: one example carries a text once
and a short suffix per labelled value (see :mod:`clave_lite.core.prompt`), so a text labelled on
10 values costs one forward pass, not 10.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from clave_lite.core import injections
from clave_lite.core.labels import LABELS
from clave_lite.core.prompt import PromptEncoder
from clave_lite.core.tuples import LabelledTuple
from clave_lite.core.valuesystem import ValueSystem


@dataclass(frozen=True)
class Example:
    shared: list[int]
    suffixes: list[list[int]]
    targets: list[int]  # index into LABELS, one per suffix
    tails: list[int] = field(default_factory=list)
    """Per suffix: tokens after the read position (label + explanation; 0 = none)."""
    learn_from: list[int] = field(default_factory=list)
    """Per suffix: first tail index whose next token is learned (see blockmask.explanation_positions)."""

    @property
    def has_explanations(self) -> bool:
        return any(self.tails)

    @property
    def n_tokens(self) -> int:
        return len(self.shared) + sum(map(len, self.suffixes))


def fingerprint(tuples: Sequence[LabelledTuple]) -> str:
    """sha256 of the training tuples in a canonical order: names the data a model saw."""
    h = hashlib.sha256()
    for t in sorted(tuples, key=lambda t: (t.key, t.value, t.label)):
        h.update(json.dumps([t.key, t.text, t.value, t.label], ensure_ascii=False).encode())
    return h.hexdigest()


def build_examples(
    tuples: Sequence[LabelledTuple],
    system: ValueSystem,
    encoder: PromptEncoder,
    max_values_per_example: int = 24,
    seed: int = 0,
    max_unrelated: int | None = None,
    inject_rate: float = 0.0,
    concepts: Mapping[tuple[str, str], str] | None = None,
) -> list[Example]:
    """Group tuples by text; split texts with many values into several examples.

    ``max_unrelated`` keeps every supports/opposes label but at most that many ``unrelated``
    ones per text (chosen at random): most (text, value) pairs are unrelated, and each one costs
    a value suffix of ~30 tokens. The decision biases stored in the evaluator correct for it.

    ``inject_rate`` appends one of :data:`clave_lite.core.injections.TRAIN` to that fraction of texts,
    labels unchanged, so instructions inside a response do not change its verdict.

    ``concepts`` maps (text key, value name) to a value concept (from ``clave-lite calibrate``'s
    pool, or human-written items): that pair's suffix then also carries the label and
    ``Because: <concept>``, learned as text, so the model can explain its verdicts.
    """
    by_text: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for t in tuples:
        value = system.get(t.value)
        by_text.setdefault(t.key, (t.text, []))[1].append((value.name, t.label))
    rng = random.Random(seed)
    examples: list[Example] = []
    for key, (text, labelled) in by_text.items():
        rng.shuffle(labelled)
        if max_unrelated is not None:
            unrelated = [x for x in labelled if x[1] == "unrelated"][:max_unrelated]
            labelled = [x for x in labelled if x[1] != "unrelated"] + unrelated
            rng.shuffle(labelled)
        if inject_rate and rng.random() < inject_rate:
            text = injections.augment(text, rng, system.value_names)
        for start in range(0, len(labelled), max_values_per_example):
            chunk = labelled[start:start + max_values_per_example]
            values = [(name, system.get(name).definition) for name, _ in chunk]
            enc = encoder.encode(text, values)
            suffixes, tails, learn_from = list(enc.suffixes), [0] * len(chunk), [0] * len(chunk)
            for k, (name, label) in enumerate(chunk):
                concept = concepts.get((key, name)) if concepts else None
                if concept:
                    tail, learn_from[k] = encoder.explanation(label, concept)
                    suffixes[k] = suffixes[k] + tail
                    tails[k] = len(tail)
            examples.append(Example(enc.shared, suffixes, [LABELS.index(lab) for _, lab in chunk],
                                    tails, learn_from))
    return examples


def trained_label_counts(tuples: Sequence[LabelledTuple], system: ValueSystem,
                         unrelated_kept: int) -> dict[str, list[float]]:
    """Per value, the pairs of each label (:data:`LABELS` order) one epoch trains on: every
    supports/opposes tuple, and the ``unrelated`` ones scaled to the ``unrelated_kept`` pairs
    :func:`build_examples` kept of them (``max_unrelated`` samples per text). With the loss's
    class weights they give the label mix an untuned system decides for
    (:func:`clave_lite.export.tuning.untuned_priors`)."""
    counts: dict[str, list[float]] = {name: [0.0] * len(LABELS) for name in system.value_names}
    for t in tuples:
        counts[system.get(t.value).name][LABELS.index(t.label)] += 1
    unrelated = LABELS.index("unrelated")
    scale = unrelated_kept / max(1.0, sum(c[unrelated] for c in counts.values()))
    return {name: [round(x * scale, 2) if i == unrelated else x for i, x in enumerate(c)] for name, c in counts.items()}
