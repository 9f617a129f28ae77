"""What ``clave-lite train`` and ``clave-lite export`` are told: one dataclass each, whose fields
are also their command-line flags (:func:`clave_lite.cli.options.flags_from`). Nothing heavy is
imported here (the jobs themselves, :mod:`clave_lite.export.recipes`, need torch), so the CLI can
list the flags without the bake extra.

>>> TrainOptions(data=(Path("train.jsonl"),), output=Path("runs/a"), epochs=2)      # doctest: +SKIP
>>> ExportOptions(run_dir=Path("runs/a"), output=Path("a.gguf"), quant="q4_k_m")     # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path

from clave_lite.errors import UsageError
from clave_lite.options import PerSystem, option

DEFAULT_BASE = "gemma3-270m"

EXPORT_QUANTS = {"gguf": ("q8_0", "q4_k_m", "f16", "f32"), "onnx": ("int8", "int8-dynamic", "fp16", "none")}
"""Quantizations per evaluator format; the first is the default."""


def limit_for(limits: PerSystem | None, system: str) -> int | None:
    """The limit of ``system`` (or of every system, ``"*"``); None when there is none."""
    if not limits:
        return None
    return limits.get(system, limits.get("*"))


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """One training stage: labelled tuples in, a run directory (LoRA adapter, ``run.json``) out."""

    data: tuple[Path, ...]
    """Labelled tuples (JSONL/CSV), one file or more."""
    output: Path = option(MISSING, "Run directory: adapter, checkpoints, run.json.", kind="path")
    system: str | None = option(None, "Value system for tuples whose `system` field is empty (each tuple's own "
                                      "field wins).")
    base: str = option(DEFAULT_BASE, "Base model (a card in models/cards) or a path to a .gguf file.",
                       envvar="CLAVE_LITE_BASE")
    epochs: float = option(1.0, kind="float", min=0, min_open=True)
    lr: float = option(2e-4, kind="float", min=0)
    rank: int = option(16, "LoRA rank.", kind="int", min=1, max=512)
    lora_dropout: float = option(0.05, "Dropout on the LoRA inputs. 0 skips drawing the masks: 1.26x faster per fp32 "
                                       "CPU step (docs/training.md).", kind="float", min=0, max=1, max_open=True)
    tokens_per_step: int = option(2048, "Batch size in tokens (text + value suffixes, padded).", kind="int", min=16)
    max_texts: PerSystem | None = option(None, "Sample at most N texts per value system; SYSTEM=N for one system "
                                               "(repeatable).", kind="per_system", metavar="[SYSTEM=]N")
    max_unrelated: PerSystem | None = option(None, "Train on at most N 'unrelated' values per text (all "
                                                   "supports/opposes are kept); SYSTEM=N for one system (repeatable).",
                                             kind="per_system", metavar="[SYSTEM=]N")
    template: str = option("short", "Value line of the prompt: 'short' = the value's name (~7 tokens), 'full' = name "
                                    "and definition (~35 tokens, about 3x the training cost per pair).",
                           kind="choice", choices=("short", "full"))
    concepts: Path | None = option(None, "A concept pool (from `clave-lite calibrate`, or hand-written): concepts "
                                         "become extra training texts, and pairs they were extracted from learn to "
                                         "explain their verdict (`score --explain`).", kind="path")
    inject_rate: float = option(0.1, "Fraction of training texts given an appended prompt-injection string with "
                                     "unchanged labels (hardening; see SECURITY.md).", kind="float", min=0, max=1)
    class_weight: str = option("none", "Weight each label in the loss by its rarity among the training pairs: 'sqrt' "
                                       "= 1/sqrt(share), 'balanced' = 1/share (helps rare labels such as FULCRA's "
                                       "opposes).", kind="choice", choices=("none", "sqrt", "balanced"))
    precision: str = option("fp32", "Matmul precision while training: 'bf16' runs torch autocast (LoRA weights and "
                                    "optimizer stay fp32): 1.5x faster per step on a CPU with bf16 instructions "
                                    "(Intel AMX-BF16, AMD AVX512-BF16), 2.1x with --lora-dropout 0; 'auto' picks "
                                    "bf16 on such a CPU. Measured speed and agreement: docs/training.md.",
                            kind="choice", choices=("fp32", "bf16", "auto"), envvar="CLAVE_LITE_TRAIN_PRECISION")
    seed: int = option(0, kind="int")
    init_from: Path | None = option(None, "Warm-start the LoRA from an earlier run directory (same base and --rank), "
                                          "or from 'default', the embedded default evaluator (a good start for a new "
                                          "value system); its training texts stay out of bias tuning.", kind="dir")
    resume: bool = option(False, "Continue from the run directory's last checkpoint.", kind="flag")
    on_error: str = "stop"
    """A malformed input line: ``stop``, or ``skip`` it."""

    @property
    def base_file(self) -> Path | None:
        """``base`` when it names a .gguf file (None for a model card)."""
        return Path(self.base) if self.base.endswith(".gguf") else None

    @property
    def base_card(self) -> str:
        """The model card of ``base`` (the default card when ``base`` is a .gguf file)."""
        return DEFAULT_BASE if self.base_file else self.base


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """A training run directory in, one evaluator out: a GGUF file or an ONNX directory."""

    run_dir: Path
    """The ``train`` run directory."""
    output: Path = option(MISSING, "Evaluator file to write.", kind="path")
    format: str = option("gguf", "gguf: one file for llama.cpp. onnx: a directory for onnxruntime.", kind="choice",
                         choices=tuple(EXPORT_QUANTS))
    quant: str | None = option(None, "gguf: q8_0 (default), q4_k_m, f16, f32. onnx: int8 (default: int8 weights, fp32 "
                                     "activations), int8-dynamic (optimum: activations too), fp16 — each refused if it "
                                     "disagrees with fp32 on >2% of check decisions — or none (fp32).",
                               kind="choice", choices=tuple(q for qs in EXPORT_QUANTS.values() for q in qs))
    keep_f32: bool = option(False, "Also keep the merged fp32 file (OUTPUT stem + .f32.gguf).", kind="flag")
    force: bool = option(False, "Overwrite an existing OUTPUT (and .f32.gguf with --keep-f32).", kind="flag")
    tune_data: Path | None = option(None, "Labelled tuples to tune decision biases on (texts used in training are "
                                          "left out).", kind="path", flag="--tune")
    tune_limit: int | None = option(None, "Tune on at most N texts per value system.", kind="int", min=1)
    per_value: bool = option(True, "After the system's bias, move each value's 'supports' bias on its own where that "
                                   "lifts the held-out objective (values with >=5 labelled positives only).",
                             kind="flag", flag="--tune-per-value/--tune-per-system")

    def __post_init__(self) -> None:
        if self.format not in EXPORT_QUANTS:
            raise UsageError(f"format must be one of {', '.join(EXPORT_QUANTS)}, not {self.format!r}")
        if self.quant is not None and self.quant not in EXPORT_QUANTS[self.format]:
            raise UsageError(f"quantization {self.quant} does not apply to the {self.format} format "
                             f"(choose {', '.join(EXPORT_QUANTS[self.format])})")

    @property
    def chosen_quant(self) -> str:
        """``quant``, or the format's default."""
        return self.quant or EXPORT_QUANTS[self.format][0]
