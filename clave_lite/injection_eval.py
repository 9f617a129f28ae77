"""`clave-lite eval --inject`: how often an appended instruction changes a verdict.

Every text of the evaluation data is scored clean, then once per attack in
:data:`clave_lite.injections.HELD_OUT` (phrasings never used in training) and once with a
very long padding before the instruction (so head+tail truncation keeps the attack). The
flip rate is the fraction of (text, value) decisions that differ from the clean verdict.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Callable, Sequence

from clave_lite import injections
from clave_lite.evaluation import evaluate, predict
from clave_lite.evaluator import Evaluator
from clave_lite.tuples import LabelledTuple


def attacks() -> list[tuple[str, str]]:
    """(name, attack) pairs: the held-out set plus one padded variant."""
    out = [(f"held_out_{i + 1}", a) for i, a in enumerate(injections.HELD_OUT)]
    out.append(("padding+instruction", injections.PADDING + " " + injections.HELD_OUT[0]))
    return out


def _attacked(gold: Sequence[LabelledTuple], attack: str, value_names: Sequence[str]) -> list[LabelledTuple]:
    """Each text gets the attack, its ``{value}`` filled with a value chosen by the text's key
    (the same for all of a text's tuples, so the text is still scored once)."""
    out = []
    for t in gold:
        pick = value_names[int(hashlib.sha256(t.key.encode()).hexdigest(), 16) % len(value_names)]
        out.append(dataclasses.replace(t, text=injections.inject(t.text, attack, pick)))
    return out


def flip_rates(evaluator: Evaluator, gold: Sequence[LabelledTuple], system: str | None = None,
               progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    progress("clean")
    clean = predict(evaluator, gold, system)
    names = evaluator.manifest.system(gold[0].system or system).value_names
    report: dict[str, Any] = {"clean": evaluate(gold, clean), "attacks": {}}
    flipped = total = 0
    for name, attack in attacks():
        progress(name)
        attacked_gold = _attacked(gold, attack, names)
        scored = predict(evaluator, attacked_gold, system)
        changed = sum(a.label != b.label for a, b in zip(clean.predictions, scored.predictions))
        flipped, total = flipped + changed, total + len(gold)
        report["attacks"][name] = {"flip_rate": changed / len(gold),
                                   "accuracy": evaluate(attacked_gold, scored)["accuracy"]}
    report["flip_rate"] = flipped / total
    report["decisions"] = total
    return report


def render(report: dict[str, Any]) -> str:
    lines = [f"clean accuracy {report['clean']['accuracy']:.3f}", f"{'attack':<24}{'flip rate':>10}{'accuracy':>10}"]
    for name, r in report["attacks"].items():
        lines.append(f"{name:<24}{r['flip_rate']:>10.3f}{r['accuracy']:>10.3f}")
    lines.append(f"{'all attacks':<24}{report['flip_rate']:>10.3f}   ({report['decisions']} decisions)")
    return "\n".join(lines)
