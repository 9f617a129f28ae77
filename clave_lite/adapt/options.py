"""What ``clave-lite adapt`` takes: one options dataclass whose fields are also the command's
flags (:func:`clave_lite.cli.options.flags_from`). Nothing of the adapt or bake extras is
imported here: the CLI lists the flags without them.

>>> AdaptOptions(system=Path("gert10.yaml"), labels=Path("labels.jsonl"), output=Path("g.gguf"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass
from pathlib import Path

from clave_lite.build.loading import ModelOptions
from clave_lite.errors import UsageError
from clave_lite.options import flag_of, option, option_of

READOUTS = ("ensemble", "choose")
"""``ensemble``: the mean of every hidden-state readout, no choice (default); ``choose``: the
best candidate by folds, reported by nested folds."""


LINES = ("both", "template")
"""The value lines a readout reads: ``both`` (the template's line and name + definition: two
suffixes per value when scoring, 0.30x the default's texts/s on gert10) or ``template`` only (one
suffix per value, as the default scores: 0.86x; ``docs/calibrate.md``)."""

READOUT_ONLY = ("readout", "lines")
"""Options of the readout path (``train_epochs`` 0): refused, when set, with ``train_epochs`` > 0."""

LORA_ONLY = ("train_layers", "train_lr", "precision")
"""Options of the LoRA path (``train_epochs`` > 0): refused, when set, without it."""


@dataclass(frozen=True, kw_only=True)
class AdaptOptions:
    """A new value system and its labelled tuples in, an adapted evaluator out: by readouts of the
    evaluator's hidden state (``train_epochs`` 0, :func:`clave_lite.adapt.adapt`) or by a LoRA
    (:func:`clave_lite.export.adapt_train.adapt_lora`)."""

    system: Path = option(MISSING, "The new value system: a YAML/JSON file (name, values with definitions, labels) "
                                   "or a built-in name.", kind="file")
    labels: Path = option(MISSING, "Labelled-tuple JSONL of that system (~100 per value is enough).", kind="file")
    output: Path = option(MISSING, "The adapted evaluator (.gguf) to write.", kind="file")
    model: Path | None = option_of(ModelOptions, "model", flag="--from",
                                   help="Evaluator (.gguf) to adapt. Default: the embedded default evaluator.")
    """The evaluator to adapt; ``None`` = the embedded default."""
    folds: int = option(5, "Group folds of the fold estimate (and, with --readout choose, of the choice).",
                        kind="int", min=2, max=20)
    group_regex: str | None = option(None, "Tuples whose ids share this regex's first group stay in one fold (e.g. "
                                           "'^([^-]+)' keeps both actions of a MoralChoice scenario together). "
                                           "Default: one group per text.", metavar="REGEX")
    seed: int = option(0, "Seed of the fold assignment.", kind="int")
    readout: str = option("ensemble", "'ensemble': the mean of every hidden-state readout (both value lines, "
                                      "per-value and shared, every L2 strength), so nothing is chosen on your labels; "
                                      "'choose': the single best readout by group folds, reported by nested folds "
                                      "(slower, and noisier with ~100 labels per value).",
                          kind="choice", choices=READOUTS)
    """One of :data:`READOUTS`."""
    lines: str = option("both", "Value lines the readout reads: 'both' (the template's line and name + definition; "
                                "two suffixes per value when scoring) or 'template' only (one suffix per value, as "
                                "the default scores: fewer tokens per text; compare the fold estimates).",
                        kind="choice", choices=LINES)
    """One of :data:`LINES`."""
    cache_dir: Path | None = option(None, "Where the features read (and, with --train-epochs, each finished fold and "
                                          "training checkpoints) are kept, so an interrupted run resumes and a rerun "
                                          "reads (or trains) nothing. Default: ~/.cache/clave-lite/adapt-features "
                                          "(under CLAVE_LITE_HOME if set).",
                                    kind="dir", envvar="CLAVE_LITE_ADAPT_CACHE")
    """Where the features read are kept (:mod:`clave_lite.adapt.cache`); ``None``: not kept. The
    CLI passes ``~/.cache/clave-lite/adapt-features`` unless ``--no-cache``."""
    no_cache: bool = option(False, "Keep nothing on disk (an interrupted run starts over).", kind="flag")
    """Keep nothing, whatever ``cache_dir`` says (it is then None)."""
    train_epochs: float = option(0.0, "0: the readout (no training). More: fine-tune a LoRA on your tuples for this "
                                      "many epochs, once per fold for the estimate and once on all of them; slower, "
                                      "and better on gert10 (measured figures and times: docs/adapt.md). Needs "
                                      "`pip install 'clave-lite[bake]'`.",
                                 kind="float", min=0, envvar="CLAVE_LITE_ADAPT_TRAIN_EPOCHS")
    """0: the readout path (no training). More: a LoRA trained on the tuples for this many epochs
    (``clave_lite.export.adapt_train``; the bake extra), per outer fold for the estimate, then on all."""
    train_layers: int | None = option(None, "With --train-epochs: LoRA on the top N decoder layers only (faster, and "
                                            "weaker: docs/adapt.md). Default: every layer.", kind="int", min=1)
    """LoRA on the top this many decoder layers (``None``: all; the top 6 of 18 lost 0.19 on gert10's fold 0)."""
    train_lr: float = option(1e-3, "With --train-epochs: the LoRA learning rate.", kind="float", min=0, min_open=True)
    precision: str = option("auto", "With --train-epochs: training matmuls; auto = bf16 where the CPU has bf16 "
                                    "instructions (AMX-BF16, AVX512-BF16), else fp32.", kind="choice", choices=("auto", "fp32", "bf16"))
    """Training matmuls: ``fp32``, ``bf16``, or ``auto`` (bf16 where the CPU has AMX-BF16 or AVX512-BF16)."""
    prevalence: str | None = option(None, "The share of (text, value) pairs that are related (supports/opposes) in "
                                          "the corpus you will score, e.g. 0.15, or a default and per-value shares "
                                          "('0.1,Do not kill=0.02'). The evaluator then decides for that corpus, and "
                                          "the estimate is reweighted to it. Without it, decisions and the estimate "
                                          "are for your labels' own mix, which is usually far more related than a "
                                          "corpus.", metavar="SHARE[,VALUE=SHARE...]")
    """The share of related (supports/opposes) pairs in the corpus to be scored: ``"0.17"``, or
    a default and per-value shares (``"0.1,Do not kill=0.02"``). Decisions and the estimate are
    then for that corpus (:mod:`clave_lite.adapt.prior`); None: for the labelled sample's mix."""
    unlabelled: Path | None = option(None, "Texts of the corpus you will score, no labels needed (JSONL with 'text' "
                                           "and optional 'prompt', or CSV). adapt estimates from them the share of "
                                           "related pairs per value (black-box shift estimation: docs/adapt.md) and "
                                           "then decides and estimates for that corpus, as with --prevalence. Not "
                                           "with --prevalence.", kind="file", metavar="CORPUS")
    """Texts of the corpus to be scored, without labels (JSONL with ``text`` and optional ``prompt``,
    or CSV): the related share per value is estimated from the adapted evaluator's verdicts on them
    (:func:`clave_lite.adapt.prior.estimate_prevalence`) and used as ``prevalence`` is. Not with
    ``prevalence``."""
    unlabelled_limit: int = option(200, "With --unlabelled: read at most this many of its texts (a seeded sample).",
                                   kind="int", min=20)
    """At most this many texts of ``unlabelled`` are read (a seeded sample of them beyond it):
    each costs one scoring of every value."""
    threads: int | None = option_of(ModelOptions, "threads")
    force: bool = option(False, "Overwrite an existing output file (never an input).", kind="flag")
    on_error: str = "stop"
    """A malformed input line: ``stop``, or ``skip`` it (the CLI's ``--on-error``)."""

    def __post_init__(self) -> None:
        lora = self.train_epochs > 0
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        wrong = [name for name in (READOUT_ONLY if lora else LORA_ONLY) if getattr(self, name) != defaults[name]]
        if wrong:
            other = "the readout path (no --train-epochs)" if lora else "--train-epochs N"
            raise UsageError(f"{', '.join(flag_of(AdaptOptions, name) for name in wrong)} "
                             f"{'applies' if len(wrong) == 1 else 'apply'} only with {other}")
        if self.readout not in READOUTS:
            raise UsageError(f"unknown readout {self.readout!r}; one of {', '.join(READOUTS)}")
        if self.lines not in LINES:
            raise UsageError(f"unknown value lines {self.lines!r}; one of {', '.join(LINES)}")
        if self.prevalence and self.unlabelled:
            raise UsageError("give the corpus prior one way: prevalence (the share you know) or unlabelled "
                             "(texts it is estimated from), not both")
        if self.unlabelled_limit < 20:
            raise UsageError(f"unlabelled_limit {self.unlabelled_limit}: at least 20 texts are needed to "
                             "estimate a share")
        if self.no_cache:
            object.__setattr__(self, "cache_dir", None)
