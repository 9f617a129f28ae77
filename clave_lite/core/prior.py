"""A corpus's label prior at scoring time: the share of (text, value) pairs that are related.

An evaluator decides as if the texts it scores were mixed like the data its decisions were fitted
on: the held-out texts its biases were tuned on, or, for a system trained with balanced class
weights and never tuned, every label equally likely. A corpus that is mostly unrelated (the usual
case) then gets too many supports/opposes verdicts. Told the corpus's share of related pairs
(``--prevalence``), the evaluator moves each probability toward it (Saerens et al., 2002,
"Adjusting the outputs of a classifier to new a priori probabilities"): related labels are
multiplied by ``(corpus / assumed) ** strength``, ``unrelated`` by ``((1 - corpus) / (1 - assumed))
** strength``, and the result is renormalised. The full shift (strength 1) maximises accuracy;
macro-F1 is served by a softer one (Lipton, Elkan & Naryanaswamy, 2014), and on held-out MoralChoice
actions half the shift beat the full one (0.555 vs 0.451, docs/calibrate.md), so scoring uses
:data:`STRENGTH`, fixed, not tuned on any split it is reported on.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from clave_lite.core.labels import LABELS
from clave_lite.errors import UsageError

STRENGTH = 0.5
"""The share of the full prior shift that scoring applies (see the module docstring)."""

UNRELATED = LABELS.index("unrelated")


def parse_prevalence(spec: str, values: Sequence[str]) -> dict[str, float]:
    """``"0.17"`` (every value) or ``"0.1,Do not kill=0.02,Do not cheat=0.3"`` (a default and
    per-value shares): the share of a value's (text, value) pairs in the corpus that are related
    (supports or opposes). Every value gets a share; an unknown value name is refused."""
    out: dict[str, float] = {}
    default: float | None = None
    by_fold = {v.casefold(): v for v in values}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, number = part.rpartition("=")
        try:
            share = float(number)
        except ValueError:
            raise UsageError(f"prevalence {part!r}: expected a share between 0 and 1, or VALUE=SHARE") from None
        if not 0 < share < 1:
            raise UsageError(f"prevalence {part!r}: the share must be between 0 and 1 (exclusive)")
        if not name:
            default = share
        elif name.strip().casefold() in by_fold:
            out[by_fold[name.strip().casefold()]] = share
        else:
            raise UsageError(f"prevalence {part!r}: no value {name.strip()!r} (values: {', '.join(values)})")
    missing = [v for v in values if v not in out]
    if missing and default is None:
        raise UsageError(f"prevalence gives no share for {', '.join(missing)}: add a default share, e.g. '0.2,...'")
    return {v: out.get(v, default) for v in values}  # type: ignore[misc]


def related_shares(pairs: Iterable[tuple[str, str]], values: Sequence[str]) -> dict[str, float]:
    """Per value, the share of related (supports/opposes) labels among ``(value, label)`` pairs,
    add-one smoothed (a value no pair relates to gets a small share, not none); a value with no
    pair takes the share of all pairs."""
    related: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for value, label in pairs:
        related[value] += label != "unrelated"
        total[value] += 1
    overall = (sum(related.values()) + 1) / (sum(total.values()) + 2)
    return {v: round((related[v] + 1) / (total[v] + 2) if total[v] else overall, 4) for v in values}


def balanced_prior(labels: Sequence[str]) -> float:
    """The related share a system's decisions assume when it was trained with balanced class
    weights and never tuned: every one of its labels equally likely."""
    return 1 - 1 / len(labels)


def shift(probs: np.ndarray, allowed: Sequence[str], assumed: float, corpus: float,
          strength: float = STRENGTH) -> np.ndarray:
    """``probs`` (over :data:`LABELS`) moved from a related share of ``assumed`` toward ``corpus``."""
    related = np.array([lab != "unrelated" and lab in allowed for lab in LABELS])
    factor = np.where(related, (corpus / assumed) ** strength, 1.0)
    factor[UNRELATED] = ((1 - corpus) / (1 - assumed)) ** strength
    moved = np.where([lab in allowed for lab in LABELS], probs * factor, 0.0)
    return moved / moved.sum()
