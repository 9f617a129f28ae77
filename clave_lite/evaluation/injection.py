"""`clave-lite eval --inject`: how often an appended instruction changes a verdict.

Every text of the evaluation data is scored clean, then once per attack in
:data:`clave_lite.core.injections.HELD_OUT` (phrasings never used in training) and once with a
very long padding before the instruction (so head+tail truncation keeps the attack). The
flip rate is the fraction of (text, value) decisions that differ from the clean verdict.

Two readings help tell an attack that works from a model that wobbles: ``to_target`` counts
flips to the verdict the attack asks for, and a benign appended sentence (``control``, not in
the flip rate) shows how often *any* appended text moves a borderline decision.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Sequence

from clave_lite.core import injections
from clave_lite.core.tuples import LabelledTuple
from clave_lite.evaluation.run import evaluate, predict
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.evaluator import Evaluator


def attacks() -> list[tuple[str, str, str, str]]:
    """(name, family, attack, target verdict): the held-out set plus one padded variant."""
    out = [(f"held_out_{i + 1}", family, a, target)
           for i, (a, family, target) in enumerate(zip(injections.HELD_OUT, injections.HELD_OUT_FAMILIES,
                                                       injections.HELD_OUT_TARGETS))]
    out.append(("padding+instruction", "padding", injections.PADDING + " " + injections.HELD_OUT[0],
                injections.HELD_OUT_TARGETS[0]))
    return out


def _attacked(gold: Sequence[LabelledTuple], attack: str, value_names: Sequence[str]) -> list[LabelledTuple]:
    """Each text gets the attack, its ``{value}`` filled with a value chosen by the text's key
    (the same for all of a text's tuples, so the text is still scored once)."""
    out = []
    for t in gold:
        pick = value_names[int(hashlib.sha256(t.key.encode()).hexdigest(), 16) % len(value_names)]
        out.append(dataclasses.replace(t, text=injections.inject(t.text, attack, pick, value_names)))
    return out


def flip_rates(evaluator: Evaluator, gold: Sequence[LabelledTuple], system: str | None = None,
               progress: Progress = SILENT) -> dict[str, Any]:
    progress.note("inject: clean")
    clean = predict(evaluator, gold, system)
    names = evaluator.manifest.system(gold[0].system or system).value_names
    report: dict[str, Any] = {"clean": evaluate(gold, clean).to_dict(), "attacks": {}, "families": {}}
    flipped = to_target = total = 0
    for name, family, attack, target in attacks():
        progress.note(f"inject: {name}")
        attacked_gold = _attacked(gold, attack, names)
        scored = predict(evaluator, attacked_gold, system)
        pairs = list(zip(clean.predictions, scored.predictions))
        changed = sum(a.label != b.label for a, b in pairs)
        toward = sum(a.label != b.label and b.label == target for a, b in pairs)
        flipped, to_target, total = flipped + changed, to_target + toward, total + len(gold)
        report["attacks"][name] = {"family": family, "flip_rate": changed / len(gold), "to_target": toward / len(gold),
                                   "accuracy": evaluate(attacked_gold, scored, intervals=False).accuracy}
        fam = report["families"].setdefault(family, {"flipped": 0, "to_target": 0, "decisions": 0})
        fam["flipped"] += changed
        fam["to_target"] += toward
        fam["decisions"] += len(gold)
    for fam in report["families"].values():
        fam["flip_rate"] = fam["flipped"] / fam["decisions"]
        fam["to_target_rate"] = fam["to_target"] / fam["decisions"]
    report["flip_rate"] = flipped / total
    report["to_target_rate"] = to_target / total
    report["decisions"] = total
    progress.note("inject: control")
    control_gold = _attacked(gold, injections.BENIGN, names)
    control = predict(evaluator, control_gold, system)
    report["control"] = {"flip_rate": sum(a.label != b.label for a, b in zip(clean.predictions, control.predictions))
                         / len(gold), "accuracy": evaluate(control_gold, control, intervals=False).accuracy, "text": injections.BENIGN}
    return report


def render(report: dict[str, Any]) -> str:
    lines = [f"clean accuracy {report['clean']['accuracy']:.3f}",
             f"{'attack':<24}{'flip rate':>10}{'to target':>10}{'accuracy':>10}"]
    for name, r in report["attacks"].items():
        lines.append(f"{name:<24}{r['flip_rate']:>10.3f}{r['to_target']:>10.3f}{r['accuracy']:>10.3f}")
    lines.append(f"{'family':<24}{'flip rate':>10}{'to target':>10}")
    for name, f in report.get("families", {}).items():
        lines.append(f"  {name:<22}{f['flip_rate']:>10.3f}{f['to_target_rate']:>10.3f}")
    lines.append(f"{'all attacks':<24}{report['flip_rate']:>10.3f}{report['to_target_rate']:>10.3f}"
                 f"   ({report['decisions']} decisions)")
    c = report["control"]
    lines.append(f"{'control (benign text)':<24}{c['flip_rate']:>10.3f}{'':>10}{c['accuracy']:>10.3f}   (not in the flip rate)")
    return "\n".join(lines)
