"""A toy value system of three rules and 72 labelled tuples over 24 two-action scenarios: the
input of the end-to-end ``adapt`` tests (readout and LoRA paths) on the tiny evaluator."""

from __future__ import annotations

import json
from pathlib import Path

SYSTEM_YAML = """\
name: toy3
title: Three toy rules
labels: [supports, opposes, unrelated]
values:
  - name: Do not lie
    definition: "Do not lie: this rule means telling the truth."
  - name: Do not steal
    definition: "Do not steal: this rule means not taking what belongs to others."
  - name: Do not hurt
    definition: "Do not hurt: this rule means not causing pain."
"""

ACTS = {"Do not lie": ("I tell my friend the truth about {x}.", "I lie to my friend about {x}."),
        "Do not steal": ("I return the {x} I found.", "I steal the {x} from the shop."),
        "Do not hurt": ("I comfort the child who fell near the {x}.", "I hit the stranger near the {x}.")}
THINGS = ["car", "wallet", "phone", "bike", "ring", "book", "lamp", "coat"]


def write_labels(path: Path) -> Path:
    rows = []
    for s, (rule, (good, bad)) in enumerate(ACTS.items()):
        for i, thing in enumerate(THINGS):
            scenario = f"S{s}_{i}"
            rows.append({"id": f"{scenario}-a1", "text": good.format(x=thing), "value": rule, "label": "supports"})
            rows.append({"id": f"{scenario}-a2", "text": bad.format(x=thing), "value": rule, "label": "opposes"})
            other = list(ACTS)[(s + 1) % 3]
            rows.append({"id": f"{scenario}-a2", "text": bad.format(x=thing), "value": other, "label": "unrelated"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def toy_inputs(folder: Path) -> tuple[Path, Path]:
    """The toy system file and its labelled tuples, written into ``folder``."""
    system = folder / "toy3.yaml"
    system.write_text(SYSTEM_YAML)
    return system, write_labels(folder / "labels.jsonl")
