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
well (``docs/calibrate.md``, with the measured time: ~30 min for 5 folds x 4 epochs on 2 cores).

With a cache directory the work is resumable: finished folds, training checkpoints and the final
adapter are kept under ``cache_dir/lora/<key>`` (:func:`work_key`).
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from clave_lite.adapt import job
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
from clave_lite.progress import SILENT, Progress, Silent

if TYPE_CHECKING:
    from clave_lite.runtime.llamacpp import LlamaModel

CHECKPOINT_EVERY = 20
"""Training steps between checkpoints (adapter + optimizer state): a crash loses at most this many."""
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
    read: job.Inputs
    """What :func:`clave_lite.adapt.job.inputs` read: system, tuples, their hash, groups, folds, corpus."""
    source: Path
    encoder: PromptEncoder
    vocab: "LlamaModel"
    label_ids: list[int]
    config: TrainConfig


def train_config(opts: AdaptOptions) -> TrainConfig:
    """The LoRA recipe of ``opts`` (``docs/calibrate.md`` says how its defaults were measured)."""
    return TrainConfig(epochs=opts.train_epochs, lr=opts.train_lr, dropout=0.0, class_weight="balanced",
                       precision=resolve_precision(opts.precision), seed=opts.seed, checkpoint_every=CHECKPOINT_EVERY,
                       top_layers=opts.train_layers)


def _setup(opts: AdaptOptions, progress: Progress) -> _Setup:
    from clave_lite.build.default_model import default_evaluator_path
    from clave_lite.formats.manifest import read_gguf_manifest
    from clave_lite.runtime.llamacpp import LlamaModel

    read = job.inputs(opts)  # refuses bad input and too few groups before any training
    source = Path(opts.model) if opts.model is not None else default_evaluator_path(progress)
    if source.suffix.lower() != ".gguf":
        raise ModelError(f"{source}: adapt --train-epochs needs a .gguf evaluator (its weights are the base)")
    manifest = read_gguf_manifest(source)
    vocab = LlamaModel(source, vocab_only=True)  # the encoder tokenizes with it: closed by adapt_lora
    return _Setup(read, source, PromptEncoder(manifest.template, vocab.tokenize), vocab,
                  list(manifest.label_token_ids), train_config(opts))


def read_hidden(model, encoder: PromptEncoder, system: ValueSystem, tuples: Sequence[LabelledTuple],
                rows: Sequence[int], progress: Progress = SILENT, stage: str = "reading") -> np.ndarray:
    """``[len(rows), hidden]`` final hidden states at the verdict positions of the tuples ``rows``
    (fp32, no grad; every value of a text in one sequence block, ``READ_BATCH`` texts per pass)."""
    wrapper = LabelLogits(model, [])
    by_text: dict[str, list[int]] = {}
    for i in rows:
        by_text.setdefault(tuples[i].text, []).append(i)
    texts = list(by_text.items())
    out = np.zeros((len(tuples), model.config.hidden_size), dtype=np.float32)
    model.eval()
    progress.start(f"{stage} {len(texts)} texts", len(texts))
    with torch.no_grad():
        for start in range(0, len(texts), READ_BATCH):
            items, order = [], []
            for text, idx in texts[start:start + READ_BATCH]:
                values = [system.get(tuples[i].value) for i in idx]
                e = encoder.encode(text, [(v.name, v.definition) for v in values])
                items.append((e.shared, e.suffixes))
                order += idx
            ids, pos, mask, rr, cc = (torch.from_numpy(x) for x in pack(items, 0))
            out[order] = wrapper.hidden(ids, pos, mask)[rr, cc].float().numpy()
            progress.advance(len(items))
    progress.finish()
    return out[list(rows)]


def read_label_logits(model, s: _Setup, rows: Sequence[int], progress: Progress = SILENT,
                      stage: str = "reading") -> np.ndarray:
    """``[len(rows), 3]`` label logits of the tuples ``rows``: the label rows of the output embedding
    applied to :func:`read_hidden` (what :class:`LabelLogits` does in one graph)."""
    h = read_hidden(model, s.encoder, s.read.system, s.read.tuples, rows, progress, stage)
    with torch.no_grad():
        return LabelLogits(model, s.label_ids).head(torch.from_numpy(h), s.label_ids).float().numpy()


def _train_on(s: _Setup, pristine, rows: Sequence[int], workdir: Path, progress: Progress):
    """A fresh LoRA on a copy of ``pristine`` (the evaluator's weights, read once: parsing a GGUF's
    262k-token vocabulary costs seconds) on ``rows``; resumes from ``workdir``'s checkpoint when an
    earlier run left one."""
    examples = build_examples([s.read.tuples[i] for i in rows], s.read.system, s.encoder, seed=s.config.seed)
    model = copy.deepcopy(pristine)
    model, summary = train(model, examples, s.label_ids, 0, workdir, s.config, resume=True, progress=progress)
    return model, summary


def work_key(opts: AdaptOptions, s: _Setup) -> str:
    """What makes two runs' folds the same work: the evaluator's weights and template, the labels,
    the system, the folds and the recipe. A rerun with the same key reuses every finished fold."""
    from dataclasses import asdict

    from clave_lite.adapt.cache import weights_digest

    blob = json.dumps({
        "weights": weights_digest(s.source), "template": s.encoder.template.to_dict(),
        "labels": s.read.labels_sha256,
        "system": [[v.name, v.definition] for v in s.read.system.values] + [list(s.read.system.labels)],
        "folds": opts.folds, "seed": opts.seed, "group_regex": opts.group_regex,
        "train": {k: v for k, v in asdict(s.config).items() if k != "checkpoint_every"}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)


def adapt_lora(opts: AdaptOptions, progress: Progress | None = None) -> job.AdaptReport:
    """Adapt by LoRA (``opts.train_epochs`` > 0); writes ``opts.output``; the fold estimate beside
    the evaluator as it was and TF-IDF on the same folds.

    With ``opts.cache_dir``, the work lives in ``cache_dir/lora/<key>``: each finished fold's held-out
    logits, training checkpoints every few steps and the final adapter, so an interrupted run
    resumes (mid-fold from its last checkpoint) and a rerun trains nothing."""
    from clave_lite.core.jsonl import check_output

    progress = progress or Silent()
    if not opts.train_epochs > 0:
        raise ValueError("adapt_lora needs train_epochs > 0")
    t0 = time.time()
    check_output(opts.output, [opts.labels, opts.system] + ([opts.model] if opts.model else []), opts.force)
    s = _setup(opts, progress)
    try:
        if opts.cache_dir is None:
            with tempfile.TemporaryDirectory(prefix="clave-adapt-") as tmp:
                return _adapt(opts, s, progress, t0, Path(tmp))
        work = Path(opts.cache_dir) / "lora" / work_key(opts, s)[:32]
        work.mkdir(parents=True, exist_ok=True)
        return _adapt(opts, s, progress, t0, work)
    finally:
        s.vocab.close()


def _adapt(opts: AdaptOptions, s: _Setup, progress: Progress, t0: float, work: Path) -> job.AdaptReport:
    from clave_lite.evaluation.thresholds import fit_temperature, objective

    if opts.threads:
        torch.set_num_threads(opts.threads)
    everything = np.arange(len(s.read.tuples))
    pristine, _ = load_base(s.source)
    if (work / "as-is.npy").exists():
        as_is = np.load(work / "as-is.npy")
    else:
        as_is = read_label_logits(pristine, s, everything, progress, f"reading (as {s.source.name} is)")
        _save(work / "as-is.npy", as_is)
    oof = np.zeros_like(as_is)
    fold_seconds: list[float] = []
    done = [f for f in range(opts.folds) if (work / f"fold-{f}.npy").exists()]
    if done:
        progress.note(f"{len(done)} of {opts.folds} folds already trained ({work})")
    for f in range(opts.folds):
        test = np.flatnonzero(s.read.outer == f)
        if f in done:
            oof[test] = np.load(work / f"fold-{f}.npy")
            continue
        started = time.time()
        stage = _Stage(progress, f"fold {f + 1}/{opts.folds}")
        model, _ = _train_on(s, pristine, np.flatnonzero(s.read.outer != f), work / f"fold-{f}", stage)
        oof[test] = read_label_logits(model, s, test, stage, "reading the held-out")
        del model
        gc.collect()  # peft's modules hold cycles: free this model before the next one loads
        _save(work / f"fold-{f}.npy", oof[test])
        shutil.rmtree(work / f"fold-{f}", ignore_errors=True)  # its checkpoints: the logits are what counts
        fold_seconds.append(round(time.time() - started, 1))
        left = np.mean(fold_seconds) * (opts.folds - f - 1 + len(s.read.tuples) / max(1, np.sum(s.read.outer != f)))
        progress.note(f"fold {f + 1}/{opts.folds} done in {fold_seconds[-1]:.0f} s; "
                      f"about {left / 60:.0f} min left (the other folds and the final training)")
    t_folds = time.time() - t0
    gold = [t.label for t in s.read.tuples]
    temperature, _, _ = fit_temperature(oof, gold, np.zeros_like(oof), s.read.system.labels)
    lexical = job.lexical_on_folds(s.read.system, s.read.tuples, s.read.outer).calibrated(oof, temperature, gold, s.read.system.labels)
    estimates = job.fold_estimates(s.read.system, s.read.tuples, s.read.groups, oof, as_is, lexical, temperature)
    estimates, biases, prior_record = job.corpus_estimates(opts, s.read.system, s.read.tuples, s.read.groups, oof, temperature,
                                                           estimates, lexical, job.stated_prior(opts, s.read.system),
                                                           shift_decisions=False)

    adapter, summary_file = work / "final-adapter", work / "final.json"
    if summary_file.exists():
        summary = json.loads(summary_file.read_text())
    else:
        model, summary = _train_on(s, pristine, everything, work / "final", _Stage(progress, "final (every tuple)"))
        model.save_pretrained(adapter)
        del model
        gc.collect()  # peft's modules hold cycles: free this model before the next one loads
        summary_file.write_text(json.dumps({k: summary[k] for k in ("seconds", "final_loss")}))
        shutil.rmtree(work / "final", ignore_errors=True)
    del pristine
    gc.collect()
    progress.note(f"merging and writing {opts.output} (q8_0)")
    _write(opts, s, adapter, temperature, estimates, summary, biases, prior_record, lexical.temperature)
    estimated = None
    if s.read.corpus:  # the final model decides as fitted (no shift on this path): it reads the corpus as written
        estimated = job.estimated_prior(opts, s.read, lexical.labels(oof, temperature, s.read.system.labels),
                                        Path(opts.output), progress)
        estimates, biases, prior_record = job.corpus_estimates(opts, s.read.system, s.read.tuples, s.read.groups, oof, temperature,
                                                               estimates, lexical, estimated.shares,
                                                               shift_decisions=False)
        prior_record["prevalence_estimate"] = estimated.to_dict()
        job.restamp_adapt_record(Path(opts.output), job.adapt_record(
            opts, s.read.system, s.read.tuples, s.read.labels_sha256, estimates, **_record_extra(s, summary), **prior_record))
    layers = "all layers" if s.config.top_layers is None else f"top {s.config.top_layers} layers"
    chosen = f"LoRA, {layers}, {s.config.epochs:g} epochs, lr {s.config.lr:g}"
    return job.AdaptReport(
        output=str(opts.output), system=s.read.system.name, tuples=len(s.read.tuples), groups=len(set(s.read.groups)),
        folds=opts.folds, readout="lora", chosen=chosen, chosen_per_fold=[], estimates=estimates, ablation={},
        temperature=temperature, objective=objective(s.read.system.labels),
        seconds={"folds": round(t_folds, 1), "per_fold": fold_seconds, "total": round(time.time() - t0, 1)},
        related_share=job.related_share(s.read.tuples), prevalence=prior_record.get("prevalence", {}),
        shift_strength=prior_record.get("shift_strength"), prevalence_estimate=estimated,
        pool_temperature=lexical.temperature)


def _record_extra(s: _Setup, summary: dict[str, Any]) -> dict[str, Any]:
    """What the adapt record of a LoRA-adapted evaluator says about its training."""
    from dataclasses import asdict

    cfg = {k: v for k, v in asdict(s.config).items() if k != "target_modules"}
    return {"mode": "lora", "from": s.source.name, "train": cfg, "train_seconds": summary["seconds"],
            "final_loss": summary["final_loss"]}


def _write(opts: AdaptOptions, s: _Setup, adapter: Path, temperature: float, estimates, summary,
           biases: dict[str, list[float]], prior_record: dict[str, Any], lexical_temperature: float) -> None:
    from clave_lite.build.merge import build_evaluator
    from clave_lite.formats.lexical import LexicalLayers
    from clave_lite.formats.manifest import read_gguf_manifest

    m = read_gguf_manifest(s.source)
    record = job.adapt_record(opts, s.read.system, s.read.tuples, s.read.labels_sha256, estimates, **_record_extra(s, summary),
                              **prior_record)
    manifest = replace(m, systems=[s.read.system], default_system=s.read.system.name, heads={},
                       lexical=LexicalLayers(parsed={s.read.system.name: job.fit_lexical_layer(
                           s.read.system, s.read.tuples, opts.labels, lexical_temperature)}),
                       biases={s.read.system.name: biases} if biases else {},
                       temperatures={s.read.system.name: temperature},
                       decision_priors={s.read.system.name: job.adapted_decision_prior(s.read.system, biases,
                                                                                     prior_record)},
                       training={**m.training, "adapt": record})
    build_evaluator(s.source, adapter, manifest, opts.output, quant="q8_0")
