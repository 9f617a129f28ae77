"""``clave-lite adapt --train-epochs N``: adapt by fine-tuning a LoRA on the user's tuples.

The readout path (:mod:`clave_lite.adapt.job`) trains nothing and copies the weights; this path
trains, so it lives at bake time (torch, peft) and the CLI calls it:

1. Read the system and tuples, group them, assign the same outer group folds as the readout path.
2. Load the evaluator to adapt (any evaluator GGUF: its merged weights are the base), and read
   the label logits of every tuple as it is (the "as-is" row).
3. For each outer fold: a fresh LoRA (every decoder layer, or the top ``train_layers``), trained on the
   other folds' tuples (label-token loss, balanced class weights), then the held-out fold's label
   logits: the fold estimate. TF-IDF + LR on the same folds beside it.
4. A temperature fitted on the pooled out-of-fold logits; the final LoRA trained on every tuple,
   merged into the evaluator's weights and written as q8_0, with a manifest that carries only the
   new system (the weights changed, so the old systems' heads, biases and temperatures no longer
   describe them).

Why a fresh LoRA on the evaluator's merged weights (not the default's own adapter continued): it
works for any evaluator file (no training run needed), and on gert10's design fold it scored as
well (``docs/calibrate.md``).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from clave_lite.adapt import job
from clave_lite.adapt.folds import assign_folds, group_keys
from clave_lite.adapt.options import AdaptOptions
from clave_lite.core.blockmask import pack
from clave_lite.core.prompt import PromptEncoder
from clave_lite.core.tuples import LabelledTuple
from clave_lite.core.valuesystem import ValueSystem
from clave_lite.errors import ModelError
from clave_lite.export.dataset import build_examples
from clave_lite.export.forward import LabelLogits
from clave_lite.export.torch_model import load_base
from clave_lite.export.train import TrainConfig, resolve_precision, train
from clave_lite.progress import Progress, Silent

READ_BATCH = 16
"""Texts per forward pass when reading label logits (as training batches them)."""


class _Stage:
    """Progress that names which training a bar belongs to (``fold 2/5: training``)."""

    def __init__(self, progress: Progress, prefix: str) -> None:
        self.progress, self.prefix = progress, prefix

    def start(self, stage: str, total: int) -> None:
        self.progress.start(f"{self.prefix}: {stage}", total)

    def advance(self, n: int = 1, status: str | None = None) -> None:
        self.progress.advance(n, status)

    def finish(self) -> None:
        self.progress.finish()

    def note(self, message: str) -> None:
        self.progress.note(message)


@dataclass(frozen=True)
class _Setup:
    system: ValueSystem
    tuples: list[LabelledTuple]
    groups: list[str]
    outer: np.ndarray
    source: Path
    encoder: PromptEncoder
    vocab: object
    label_ids: list[int]
    config: TrainConfig


def train_config(opts: AdaptOptions) -> TrainConfig:
    """The LoRA recipe of ``opts`` (``docs/calibrate.md`` says how its defaults were measured)."""
    return TrainConfig(epochs=opts.train_epochs, lr=opts.train_lr, dropout=0.0, class_weight="balanced",
                       precision=resolve_precision(opts.precision), seed=opts.seed, checkpoint_every=1_000_000,
                       top_layers=opts.train_layers)


def _setup(opts: AdaptOptions, progress: Progress) -> _Setup:
    from clave_lite.build.default_model import default_evaluator_path
    from clave_lite.formats.manifest import read_gguf_manifest
    from clave_lite.runtime.llamacpp import LlamaModel

    system, tuples = job._read(opts)
    groups = group_keys(tuples, opts.group_regex)
    outer = assign_folds(groups, opts.folds, opts.seed)  # enough groups? refuse before any training
    source = Path(opts.model) if opts.model is not None else default_evaluator_path(progress)
    if source.suffix.lower() != ".gguf":
        raise ModelError(f"{source}: adapt --train-epochs needs a .gguf evaluator (its weights are the base)")
    manifest = read_gguf_manifest(source)
    vocab = LlamaModel(source, vocab_only=True)  # the encoder tokenizes with it: closed by adapt_lora
    return _Setup(system, tuples, groups, outer, source, PromptEncoder(manifest.template, vocab.tokenize), vocab,
                  list(manifest.label_token_ids), train_config(opts))


def read_label_logits(model, s: _Setup, rows: Sequence[int]) -> np.ndarray:
    """``[len(rows), 3]`` label logits of the tuples ``rows`` (every value of a text in one pass)."""
    wrapper = LabelLogits(model, s.label_ids)
    by_text: dict[str, list[int]] = {}
    for i in rows:
        by_text.setdefault(s.tuples[i].text, []).append(i)
    texts = list(by_text.items())
    out = np.zeros((len(s.tuples), len(s.label_ids)), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), READ_BATCH):
            items, order = [], []
            for text, idx in texts[start:start + READ_BATCH]:
                values = [s.system.get(s.tuples[i].value) for i in idx]
                e = s.encoder.encode(text, [(v.name, v.definition) for v in values])
                items.append((e.shared, e.suffixes))
                order += idx
            out[order] = wrapper(*(torch.from_numpy(x) for x in pack(items, 0))).float().numpy()
    return out[list(rows)]


def _train_on(s: _Setup, rows: Sequence[int], workdir: Path, progress: Progress):
    examples = build_examples([s.tuples[i] for i in rows], s.system, s.encoder, seed=s.config.seed)
    model, _ = load_base(s.source)
    model, summary = train(model, examples, s.label_ids, 0, workdir, s.config, progress=progress)
    return model, summary


def adapt_lora(opts: AdaptOptions, progress: Progress | None = None) -> job.AdaptReport:
    """Adapt by LoRA (``opts.train_epochs`` > 0); writes ``opts.output``; the fold estimate beside
    the evaluator as it was and TF-IDF on the same folds."""
    from clave_lite.core.jsonl import check_output

    progress = progress or Silent()
    if not opts.train_epochs > 0:
        raise ValueError("adapt_lora needs train_epochs > 0")
    t0 = time.time()
    check_output(opts.output, [opts.labels, opts.system] + ([opts.model] if opts.model else []), opts.force)
    s = _setup(opts, progress)
    try:
        return _adapt(opts, s, progress, t0)
    finally:
        s.vocab.close()


def _adapt(opts: AdaptOptions, s: _Setup, progress: Progress, t0: float) -> job.AdaptReport:
    from clave_lite.evaluation import metrics
    from clave_lite.evaluation.thresholds import fit_temperature

    if opts.threads:
        torch.set_num_threads(opts.threads)
    everything = np.arange(len(s.tuples))
    model, _ = load_base(s.source)
    progress.note(f"reading {len(s.tuples)} tuples with {s.source.name} as it is")
    as_is = read_label_logits(model, s, everything)
    del model
    oof = np.zeros_like(as_is)
    fold_seconds = []
    with tempfile.TemporaryDirectory(prefix="clave-adapt-") as tmp:
        for f in range(opts.folds):
            started = time.time()
            test = np.flatnonzero(s.outer == f)
            model, _ = _train_on(s, np.flatnonzero(s.outer != f), Path(tmp) / f"fold{f}",
                                 _Stage(progress, f"fold {f + 1}/{opts.folds}"))
            oof[test] = read_label_logits(model, s, test)
            del model
            fold_seconds.append(round(time.time() - started, 1))
        t_folds = time.time() - t0
        tfidf = job._tfidf_on_folds(s.tuples, s.outer)

        def pairs(labels: list[str]):
            return job._pairs(s.tuples, labels, s.groups)

        estimates = [job.Estimate("adapted", metrics.compute(pairs(job._decide(oof, s.system.labels)))),
                     job.Estimate("as-is", metrics.compute(pairs(job._decide(as_is, s.system.labels)))),
                     job.Estimate("tfidf", metrics.compute(pairs(tfidf)))]
        gold = [t.label for t in s.tuples]
        temperature, _, _ = fit_temperature(oof, gold, np.zeros_like(oof), s.system.labels)

        model, summary = _train_on(s, everything, Path(tmp) / "final", _Stage(progress, "final (every tuple)"))
        adapter = Path(tmp) / "adapter"
        model.save_pretrained(adapter)
        del model
        progress.note(f"merging and writing {opts.output} (q8_0)")
        _write(opts, s, adapter, temperature, estimates, summary)
    layers = "all layers" if s.config.top_layers is None else f"top {s.config.top_layers} layers"
    chosen = f"LoRA, {layers}, {s.config.epochs:g} epochs, lr {s.config.lr:g}"
    return job.AdaptReport(
        output=str(opts.output), system=s.system.name, tuples=len(s.tuples), groups=len(set(s.groups)),
        folds=opts.folds, readout="lora", chosen=chosen, chosen_per_fold=[], estimates=estimates, ablation={},
        temperature=temperature, objective="macro_f1" if "opposes" in s.system.labels else "value_f1_mean",
        seconds={"folds": round(t_folds, 1), "per_fold": fold_seconds, "total": round(time.time() - t0, 1)})


def _write(opts: AdaptOptions, s: _Setup, adapter: Path, temperature: float, estimates, summary) -> None:
    from dataclasses import asdict

    from clave_lite.build.merge import build_evaluator
    from clave_lite.formats.manifest import read_gguf_manifest

    m = read_gguf_manifest(s.source)
    cfg = {k: v for k, v in asdict(s.config).items() if k != "target_modules"}
    manifest = replace(
        m, systems=[s.system], default_system=s.system.name, heads={}, biases={},
        temperatures={s.system.name: temperature},
        training={**m.training, "adapt": {
            "mode": "lora", "system": s.system.name, "from": s.source.name, "labels": Path(opts.labels).name,
            "labels_sha256": hashlib.sha256(Path(opts.labels).read_bytes()).hexdigest(),
            "tuples": len(s.tuples), "folds": opts.folds, "group_regex": opts.group_regex, "train": cfg,
            "train_seconds": summary["seconds"], "final_loss": summary["final_loss"],
            "fold_estimate": {e.name: e.to_dict() for e in estimates}}})
    out = Path(opts.output)
    tmp = out.with_name(out.stem + ".tmp.gguf")
    try:
        build_evaluator(s.source, adapter, manifest, tmp, quant="q8_0")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)

