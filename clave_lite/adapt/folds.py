"""Validation folds that never put one group (a text, or a scenario) on both sides.

Two tuples of the same scenario ("You are a doctor ... I lie" and "... I tell the truth") share
most of their words; a fold that trains on one and tests on the other measures memory, not
judgement. ``--group-regex`` names the group inside each tuple's id (MoralChoice:
``^([^-]+)`` turns ``C_348-a1`` into ``C_348``); without it every distinct text is a group.
"""

from __future__ import annotations

import random
import re
from typing import Sequence

import numpy as np

from clave_lite.core.tuples import LabelledTuple
from clave_lite.errors import DataError, Remedy


def group_keys(tuples: Sequence[LabelledTuple], pattern: str | None) -> list[str]:
    """The group of each tuple: the regex's first group (or whole match) in its id, else its text."""
    if pattern is None:
        return [t.text for t in tuples]
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise DataError(f"group pattern {pattern!r} is not a regular expression ({exc})") from None
    keys = []
    for t in tuples:
        m = rx.search(t.id or "")
        if m is None:
            raise DataError(f"{t.source or 'labels'}:{t.line}: id {t.id!r} does not match the group pattern {pattern!r}")
        keys.append(m.group(1) if rx.groups else m.group(0))
    return keys


def assign_folds(groups: Sequence[str], k: int, seed: int = 0) -> np.ndarray:
    """Fold number per item: whole groups dealt round-robin in a seeded shuffled order."""
    unique = sorted(set(groups))
    if len(unique) < k:
        raise DataError(f"{len(unique)} groups cannot make {k} folds; label more texts",
                        remedies=(Remedy("folds", len(unique), "or fewer"),), groups=len(unique))
    random.Random(seed).shuffle(unique)
    fold_of = {g: i % k for i, g in enumerate(unique)}
    return np.array([fold_of[g] for g in groups])
