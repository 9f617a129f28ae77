"""What ``clave-lite adapt`` takes: one options dataclass, light to import (the CLI reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clave_lite.errors import UsageError

READOUTS = ("ensemble", "choose")
"""``ensemble``: the mean of every hidden-state readout, no choice (default); ``choose``: the
best candidate by folds, reported by nested folds."""


LINES = ("both", "template")
"""The value lines a readout reads: ``both`` (the template's line and name + definition: two
suffixes per value when scoring, 0.30x the default's texts/s on gert10) or ``template`` only (one
suffix per value, as the default scores: 0.86x; ``docs/calibrate.md``)."""


@dataclass(frozen=True)
class AdaptOptions:
    system: Path
    labels: Path
    output: Path
    model: Path | None = None
    """The evaluator to adapt; ``None`` = the embedded default."""
    folds: int = 5
    group_regex: str | None = None
    seed: int = 0
    threads: int | None = None
    force: bool = False
    on_error: str = "stop"
    readout: str = "ensemble"
    """One of :data:`READOUTS`."""
    lines: str = "both"
    """One of :data:`LINES`."""
    cache_dir: Path | None = None
    """Where the features read are kept (:mod:`clave_lite.adapt.cache`); ``None``: not kept. The
    CLI passes ``~/.cache/clave-lite/adapt-features`` unless ``--no-cache``."""
    train_epochs: float = 0.0
    """0: the readout path (no training). More: a LoRA trained on the tuples for this many epochs
    (``clave_lite.export.adapt_train``; the bake extra), per outer fold for the estimate, then on all."""
    train_layers: int | None = None
    """LoRA on the top this many decoder layers (``None``: all; the top 6 of 18 lost 0.19 on gert10's fold 0)."""
    train_lr: float = 1e-3
    precision: str = "auto"
    """Training matmuls: ``fp32``, ``bf16``, or ``auto`` (bf16 where the CPU has AMX-BF16)."""
    prevalence: str | None = None
    """The share of related (supports/opposes) pairs in the corpus to be scored: ``"0.17"``, or
    a default and per-value shares (``"0.1,Do not kill=0.02"``). Decisions and the estimate are
    then for that corpus (:mod:`clave_lite.adapt.prior`); None: for the labelled sample's mix."""
    unlabelled: Path | None = None
    """Texts of the corpus to be scored, without labels (JSONL with ``text`` and optional ``prompt``,
    or CSV): the related share per value is estimated from the adapted evaluator's verdicts on them
    (:func:`clave_lite.adapt.prior.estimate_prevalence`) and used as ``prevalence`` is. Not with
    ``prevalence``."""
    unlabelled_limit: int = 200
    """At most this many texts of ``unlabelled`` are read (a seeded sample of them beyond it):
    each costs one scoring of every value."""

    def __post_init__(self) -> None:
        if self.prevalence and self.unlabelled:
            raise UsageError("give the corpus prior one way: prevalence (the share you know) or unlabelled "
                             "(texts it is estimated from), not both")
        if self.unlabelled_limit < 20:
            raise UsageError(f"unlabelled_limit {self.unlabelled_limit}: at least 20 texts are needed to "
                             "estimate a share")
