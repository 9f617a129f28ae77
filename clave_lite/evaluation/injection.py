"""`clave-lite eval --inject`: how often an appended instruction changes a verdict.

Every text of the evaluation data is scored clean, then once per attack in
:data:`clave_lite.core.injections.HELD_OUT` (phrasings never used in training) and once with a
very long padding before the instruction (repeated, and varied: windows away from the answer). The
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
from clave_lite.errors import Problem
from clave_lite.evaluation.metrics import Metrics
from clave_lite.evaluation.run import evaluate, predict
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.evaluator import Evaluator


def attacks() -> list[tuple[str, str, str, str]]:
    """(name, family, attack, target verdict): the held-out set plus two padded variants (a
    repeated filler, which escaping collapses, and a varied one, which it cannot)."""
    out = [(f"held_out_{i + 1}", family, a, target)
           for i, (a, family, target) in enumerate(zip(injections.HELD_OUT, injections.HELD_OUT_FAMILIES,
                                                       injections.HELD_OUT_TARGETS))]
    out.append(("padding+instruction", "padding", injections.PADDING + " " + injections.HELD_OUT[0],
                injections.HELD_OUT_TARGETS[0]))
    out.append(("varied padding+instruction", "varied_padding", injections.VARIED_PADDING + " "
                + injections.HELD_OUT[0], injections.HELD_OUT_TARGETS[0]))
    return out


def _attacked(gold: Sequence[LabelledTuple], attack: str, value_names: Sequence[str]) -> list[LabelledTuple]:
    """Each text gets the attack, its ``{value}`` filled with a value chosen by the text's key
    (the same for all of a text's tuples, so the text is still scored once)."""
    out = []
    for t in gold:
        pick = value_names[int(hashlib.sha256(t.key.encode()).hexdigest(), 16) % len(value_names)]
        out.append(dataclasses.replace(t, text=injections.inject(t.text, attack, pick, value_names)))
    return out


@dataclasses.dataclass(frozen=True)
class AttackFlips:
    """One attack: the share of decisions it flipped, the share flipped to its target verdict,
    and the accuracy under it."""

    family: str
    flip_rate: float
    to_target: float
    accuracy: float


@dataclasses.dataclass(frozen=True)
class FamilyFlips:
    """The attacks of one family together: decisions flipped, flipped to the target, in all."""

    flipped: int
    to_target: int
    decisions: int

    @property
    def flip_rate(self) -> float:
        return self.flipped / self.decisions

    @property
    def to_target_rate(self) -> float:
        return self.to_target / self.decisions

    def to_dict(self) -> dict[str, Any]:
        return {"flipped": self.flipped, "to_target": self.to_target, "decisions": self.decisions,
                "flip_rate": self.flip_rate, "to_target_rate": self.to_target_rate}


@dataclasses.dataclass(frozen=True)
class ControlFlips:
    """The benign appended sentence: how often any appended text moves a verdict."""

    flip_rate: float
    accuracy: float
    text: str


@dataclasses.dataclass(frozen=True)
class FlipRates:
    """What :func:`flip_rates` measures; ``to_dict()`` is the JSON ``eval --inject --json`` prints."""

    clean: Metrics
    """The metrics of the clean texts."""
    attacks: dict[str, AttackFlips]
    families: dict[str, FamilyFlips]
    control: ControlFlips
    problems: tuple[Problem, ...] = ()
    """Lines of the data file that were skipped (:func:`clave_lite.evaluation.job.inject_file`)."""

    @property
    def decisions(self) -> int:
        return sum(f.decisions for f in self.families.values())

    @property
    def flip_rate(self) -> float:
        """The share of all attacked decisions that differ from the clean verdict."""
        return sum(f.flipped for f in self.families.values()) / self.decisions

    @property
    def to_target_rate(self) -> float:
        return sum(f.to_target for f in self.families.values()) / self.decisions

    def to_dict(self) -> dict[str, Any]:
        return {"clean": self.clean.to_dict(), "attacks": {k: dataclasses.asdict(a) for k, a in self.attacks.items()},
                "families": {k: f.to_dict() for k, f in self.families.items()}, "flip_rate": self.flip_rate,
                "to_target_rate": self.to_target_rate, "decisions": self.decisions,
                "control": dataclasses.asdict(self.control)}


def flip_rates(evaluator: Evaluator, gold: Sequence[LabelledTuple], system: str | None = None,
               progress: Progress = SILENT, only: Sequence[str] | None = None) -> FlipRates:
    """Every held-out attack (or those of the families ``only`` names) appended to every text of ``gold``."""
    progress.note("inject: clean")
    clean = predict(evaluator, gold, system)
    names = evaluator.manifest.system(gold[0].system or system).value_names
    attacked: dict[str, AttackFlips] = {}
    families: dict[str, FamilyFlips] = {}
    for name, family, attack, target in attacks():
        if only is not None and family not in only:
            continue
        progress.note(f"inject: {name}")
        attacked_gold = _attacked(gold, attack, names)
        scored = predict(evaluator, attacked_gold, system)
        pairs = list(zip(clean.predictions, scored.predictions))
        changed = sum(a.label != b.label for a, b in pairs)
        toward = sum(a.label != b.label and b.label == target for a, b in pairs)
        attacked[name] = AttackFlips(family, changed / len(gold), toward / len(gold),
                                     evaluate(attacked_gold, scored, intervals=False).accuracy)
        fam = families.get(family, FamilyFlips(0, 0, 0))
        families[family] = FamilyFlips(fam.flipped + changed, fam.to_target + toward, fam.decisions + len(gold))
    progress.note("inject: control")
    control_gold = _attacked(gold, injections.BENIGN, names)
    control = predict(evaluator, control_gold, system)
    flips = sum(a.label != b.label for a, b in zip(clean.predictions, control.predictions)) / len(gold)
    control_accuracy = evaluate(control_gold, control, intervals=False).accuracy
    return FlipRates(evaluate(gold, clean), attacked, families, ControlFlips(flips, control_accuracy, injections.BENIGN))


def render(report: FlipRates) -> str:
    lines = [f"clean accuracy {report.clean.accuracy:.3f}",
             f"{'attack':<24}{'flip rate':>10}{'to target':>10}{'accuracy':>10}"]
    for name, r in report.attacks.items():
        lines.append(f"{name:<24}{r.flip_rate:>10.3f}{r.to_target:>10.3f}{r.accuracy:>10.3f}")
    lines.append(f"{'family':<24}{'flip rate':>10}{'to target':>10}")
    for name, f in report.families.items():
        lines.append(f"  {name:<22}{f.flip_rate:>10.3f}{f.to_target_rate:>10.3f}")
    lines.append(f"{'all attacks':<24}{report.flip_rate:>10.3f}{report.to_target_rate:>10.3f}"
                 f"   ({report.decisions} decisions)")
    c = report.control
    lines.append(f"{'control (benign text)':<24}{c.flip_rate:>10.3f}{'':>10}{c.accuracy:>10.3f}   (not in the flip rate)")
    return "\n".join(lines)
