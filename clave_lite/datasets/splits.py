"""Validation data carved from training files, so recipe decisions never touch a dev split.

The accuracy protocol (docs/accuracy.md) makes every choice (epochs, LR, loss, stage mix,
which candidate ships, bias tuning) on a validation split taken from the *training* files,
seeded and by whole texts (never a text's values on both sides). ``exclude`` keeps texts an
earlier stage already trained on (its ``train_keys.json``) out of validation: a warm-started
model has those texts in its weights.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from clave_lite.core.tuples import LabelledTuple
from clave_lite.errors import DataError


@dataclass(frozen=True)
class Split:
    train: tuple[LabelledTuple, ...]
    validation: tuple[LabelledTuple, ...]

    def to_dict(self) -> dict[str, int]:
        return {"train_tuples": len(self.train), "train_texts": len({t.key for t in self.train}),
                "validation_tuples": len(self.validation),
                "validation_texts": len({t.key for t in self.validation})}


def read_seen_keys(path: Path) -> set[str]:
    """The text keys of a run's ``train_keys.json`` (``{system: [key, ...]}``), all systems."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read train keys ({exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise DataError(f"{path}: expected {{system: [text key, ...]}}")
    return {k for keys in data.values() for k in keys}


def carve(tuples: Sequence[LabelledTuple], n_texts: int, seed: int = 0,
          exclude: set[str] | None = None) -> Split:
    """Put ``n_texts`` whole texts (drawn with ``seed`` among those not in ``exclude``) in
    validation, the rest in train. Same input and seed, same split."""
    keys = sorted({t.key for t in tuples})
    eligible = [k for k in keys if k not in (exclude or set())]
    if n_texts > len(eligible):
        raise DataError(f"asked for {n_texts} validation texts, only {len(eligible)} are eligible "
                        f"({len(keys) - len(eligible)} of {len(keys)} are excluded as seen)")
    chosen = set(random.Random(seed).sample(eligible, n_texts))
    return Split(train=tuple(t for t in tuples if t.key not in chosen),
                 validation=tuple(t for t in tuples if t.key in chosen))
