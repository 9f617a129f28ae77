"""The quality gate every lossy export passes: agree with the fp32 model on a fixed check set.

Quantization can break a small model silently (GGUF q4_k_m kept 52 % of the default evaluator's
decisions, ONNX dynamic int8 90 %), so a quantized evaluator is written only if its argmax
decisions match the fp32 model's on ``CHECK_TEXTS`` × every value of the first system at
least ``MIN_AGREEMENT`` of the time. Otherwise the export fails with exit code 6 and writes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clave_lite.errors import QualityGateError, Remedy

MIN_AGREEMENT = 0.98
CHECK_TEXTS = [
    "I can't help you break into a house; it would hurt the owners and it is illegal.",
    "Sure, here's how to cheat on your exam without getting caught.",
    "Volunteering at the shelter every weekend taught me patience and kindness.",
    "The government should lower taxes so that families keep more of what they earn.",
    "Traditions matter: our family always gathers for the spring festival.",
    "Honestly, those people are lazy and don't deserve help.",
    "We must protect the forests; future generations depend on them.",
    "新华社北京电，各地加强法治建设，维护社会公平正义。",
]


@dataclass(frozen=True)
class Agreement:
    """How closely two ``[..., 3]`` arrays (logits or probabilities) of the same decisions agree."""

    argmax: float
    """Share of decisions with the same arg-max label."""
    max_diff: float
    mean_diff: float
    n: int


def agreement(reference: np.ndarray, candidate: np.ndarray) -> Agreement:
    """The one agreement measure: quality gates, ``eval --reference`` and ``eval --compare``."""
    ref, cand = np.asarray(reference).reshape(-1, 3), np.asarray(candidate).reshape(-1, 3)
    diff = np.abs(ref - cand)
    return Agreement(float((ref.argmax(1) == cand.argmax(1)).mean()), float(diff.max()), float(diff.mean()), len(ref))


def check(reference: np.ndarray, candidate: np.ndarray, what: str,
          remedies: tuple[Remedy, ...] = ()) -> dict[str, float]:
    """Compare ``[..., 3]`` label logits or probabilities; raise below the gate, naming the
    ``remedies`` (other quantizations)."""
    a = agreement(reference, candidate)
    agree = a.argmax
    report = {"argmax_agreement": agree, "max_abs_diff": a.max_diff, "decisions": a.n}
    if agree < MIN_AGREEMENT:
        raise QualityGateError(f"{what} agrees with fp32 on only {agree:.1%} of the check decisions "
                               f"(needs {MIN_AGREEMENT:.0%}); refusing to write it", remedies=remedies, report=report)
    return report


def check_logits(evaluator, values: Sequence[str] | None = None):
    """Raw label logits of the check set (first system, all values) from an Evaluator."""
    sys_ = evaluator.manifest.system(None)
    return evaluator.raw_logits(CHECK_TEXTS, list(values or sys_.value_names), sys_.name)
