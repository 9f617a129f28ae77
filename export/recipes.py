"""The two bake-time jobs the CLI runs: ``train`` (tuples → adapter run dir) and ``export``
(run dir → evaluator file). A run directory holds everything export needs::

    run/adapter/          peft LoRA adapter (adapter_config.json, adapter_model.safetensors)
    run/run.json          base model, value systems, template, label tokens, data fingerprint
    run/checkpoint/       resumable training state
    run/train_summary.json
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from clave_lite.build.bake_options import ExportOptions, TrainOptions, limit_for
from clave_lite.build.merge import build_evaluator
from clave_lite.core.labels import LABELS
from clave_lite.core.prompt import PromptEncoder, PromptTemplate, with_markers
from clave_lite.core.tuples import LabelledTuple, read_tuples
from clave_lite.core.valuesystem import ValueSystem, load_system
from clave_lite.errors import DataError, Remedy, UsageError, require
from clave_lite.export.dataset import build_examples, fingerprint, trained_label_counts
from clave_lite.export.tuning import MIN_TUNE_TEXTS, held_out_by_system, tune_system, tuned_prior, untuned_priors
from clave_lite.formats.base_models import base_path, card
from clave_lite.formats.manifest import Manifest
from clave_lite.options import PerSystem
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.llamacpp import LlamaModel, usable_cpus
from clave_lite.version import __version__

if TYPE_CHECKING:  # torch is imported by train_run only: GGUF export and tuning need none
    from clave_lite.export.onnx_export import OnnxExport


def load_training_tuples(paths: Sequence[Path], system: str | None, on_error: str,
                         max_texts: PerSystem | None, seed: int) -> dict[str, list[LabelledTuple]]:
    """Tuples grouped by value system (``--system`` or each tuple's own ``system`` field)."""
    grouped: dict[str, list[LabelledTuple]] = defaultdict(list)
    for path in paths:
        tuples, _ = read_tuples(path, None, on_error)
        for t in tuples:
            name = t.system or system
            if not name:
                raise DataError(f"{path}: tuple for text {t.key[:40]!r} names no system; pass --system")
            grouped[name].append(t)
    rng = random.Random(seed)
    for name, tuples in grouped.items():
        limit = limit_for(max_texts, load_system(name).name)
        if limit:
            keys = sorted({t.key for t in tuples})
            if len(keys) > limit:
                keep = set(rng.sample(keys, limit))
                grouped[name] = [t for t in tuples if t.key in keep]
    return dict(grouped)


@dataclass(frozen=True)
class TrainReport:
    """What ``train`` wrote: the run directory and its ``run.json`` record; ``to_dict()`` is the
    JSON ``train --json`` prints."""

    directory: Path
    run: dict[str, Any]
    """``run.json`` as written (a file format, read back by :func:`load_run`): base, systems,
    template, ``data``, the ``train`` summary (steps, examples, seconds, config, ...), ``chain``."""

    @property
    def steps(self) -> int:
        return self.run["train"]["steps"]

    @property
    def examples(self) -> int:
        return self.run["train"]["examples"]

    @property
    def seconds(self) -> float:
        return self.run["train"]["seconds"]

    @property
    def seconds_per_pair(self) -> float | None:
        return self.run["train"]["seconds_per_pair"]

    def to_dict(self) -> dict[str, Any]:
        """The training summary (``train_summary.json``) with the run directory and its data."""
        return {"run": str(self.directory), **self.run["train"], "data": self.run["data"]}


def train_run(opts: TrainOptions, progress: Progress = SILENT) -> TrainReport:
    """Train one stage: read and check the tuples, encode them, fine-tune, and write the run
    directory (``adapter/``, ``run.json`` with the whole chain, ``train_keys.json``)."""
    import torch

    from clave_lite.export.torch_model import load_base
    from clave_lite.export.train import TrainConfig, resolve_precision, train

    cfg = TrainConfig(epochs=opts.epochs, lr=opts.lr, rank=opts.rank, alpha=2 * opts.rank, dropout=opts.lora_dropout,
                      tokens_per_step=opts.tokens_per_step, seed=opts.seed, class_weight=opts.class_weight,
                      precision=resolve_precision(opts.precision))
    init_from, out_dir = opts.init_from, opts.output
    if init_from is not None and str(init_from) == "default" and not Path(init_from).is_dir():
        from clave_lite.build.default_model import default_dir

        init_from = default_dir()  # the embedded default evaluator's own run
    earlier = load_run(Path(init_from))[0] if init_from else None
    this_base = str(opts.base_file) if opts.base_file else opts.base
    if earlier and earlier["base"] != this_base:
        raise DataError(f"{init_from}: was trained on base {earlier['base']!r}, not {this_base!r}")
    torch.set_num_threads(usable_cpus())
    systems, grouped = _by_system(load_training_tuples(opts.data, opts.system, opts.on_error, opts.max_texts,
                                                       cfg.seed))
    base_gguf = opts.base_file or base_path(opts.base)
    vocab = LlamaModel(base_gguf, vocab_only=True)
    template = with_markers(opts.template, vocab.tokenize)
    earlier_version = earlier["template"].get("version") if earlier else None
    if earlier_version is not None and earlier_version != template.version:
        # e.g. the embedded default (template v2) warm-starting a stage on a vocabulary with control tokens (v3)
        progress.note(f"{init_from} was trained with template v{earlier_version}; this stage trains template "
                      f"v{template.version}, so the warm-started adapter has to learn the new layout from this "
                      "stage's data (docs/training.md, 'Warm start')")
    encoder = PromptEncoder(template, vocab.tokenize)
    explained, concept_report = (attach_concepts(opts.concepts, systems, grouped, opts.system) if opts.concepts
                                 else ({}, None))
    examples, kept = [], {}
    for s in systems:
        built = build_examples(grouped[s.name], s, encoder, seed=cfg.seed,
                               max_unrelated=limit_for(opts.max_unrelated, s.name), inject_rate=opts.inject_rate,
                               concepts=explained.get(s.name))
        kept[s.name] = sum(t == LABELS.index("unrelated") for e in built for t in e.targets)
        examples += built
    model, rd = load_base(base_gguf)
    pad = model.config.pad_token_id
    model, summary = train(model, examples, encoder.label_ids, int(pad) if pad is not None else 0,
                           out_dir, cfg, resume=opts.resume, progress=progress,
                           init_adapter=Path(init_from) / "adapter" if init_from else None)
    model.save_pretrained(out_dir / "adapter")
    run = _run_record(opts, systems, grouped, template, encoder.label_ids, concept_report, summary)
    run["data"]["label_counts"] = {s.name: trained_label_counts(grouped[s.name], s, kept[s.name]) for s in systems}
    if earlier:
        run["data"]["init_from"] = {"run": str(init_from), "fingerprint": earlier["data"]["fingerprint"],
                                    "files": earlier["data"]["files"], "train": earlier["train"],
                                    "template_version": earlier_version}
    run["chain"] = stage_chain(earlier, str(init_from) if init_from else None) + [stage_record(run, str(out_dir))]
    (out_dir / "run.json").write_text(json.dumps(run, indent=2, ensure_ascii=False))
    write_train_keys(out_dir, grouped, also=Path(init_from) / "train_keys.json" if init_from else None)
    return TrainReport(out_dir, run)


def _by_system(by_source: dict[str, list[LabelledTuple]]) -> tuple[list[ValueSystem], dict[str, list[LabelledTuple]]]:
    """Group tuples by system name (a source is what the user wrote: a built-in name or a YAML
    path), checking every value and label against its system."""
    systems: list[ValueSystem] = []
    grouped: dict[str, list[LabelledTuple]] = {}
    for source, tuples in by_source.items():
        s = load_system(source)
        if s.name not in grouped:
            systems.append(s)
            grouped[s.name] = []
        grouped[s.name].extend(tuples)
    for s in systems:
        for t in grouped[s.name]:
            s.get(t.value)  # unknown values fail here, naming the value and the system
            if t.label not in s.labels:
                raise DataError(f"label '{t.label}' is not used by system '{s.name}'")
    return systems, grouped


def _run_record(opts: TrainOptions, systems: Sequence[ValueSystem], grouped: dict[str, list[LabelledTuple]],
                template: PromptTemplate, label_ids: list[int], concept_report: dict[str, Any] | None,
                summary: dict[str, Any]) -> dict[str, Any]:
    """``run.json`` of one stage (the chain is added by the caller)."""
    all_tuples = [t for ts in grouped.values() for t in ts]
    system, base_file = opts.system, opts.base_file
    return {
        "clave_lite_version": __version__,
        "base": opts.base_card if not base_file else str(base_file),
        "base_card": card(opts.base_card) if not base_file else {"file": str(base_file)},
        "systems": [s.to_dict() for s in systems],
        "template": template.to_dict(),
        "label_token_ids": label_ids,
        "data": {"files": [str(p) for p in opts.data], "fingerprint": fingerprint(all_tuples),
                 "tuples": {s.name: len(grouped[s.name]) for s in systems},
                 "texts": {s.name: len({t.key for t in grouped[s.name]}) for s in systems},
                 "max_texts": opts.max_texts, "max_unrelated": opts.max_unrelated,
                 # the system's name, not the path the user typed: tuning and eval match by name
                 "fallback_system": load_system(system).name if system else None,
                 "fallback_system_file": system if system and system != load_system(system).name else None,
                 "template": opts.template, "inject_rate": opts.inject_rate, "concepts": concept_report},
        "train": summary,
    }


def stage_record(run: dict[str, Any], where: str) -> dict[str, Any]:
    """One training stage as the chain records it: data, flags and cost."""
    data, train_summary = run.get("data", {}), run.get("train", {})
    flags = {k: data.get(k) for k in ("max_texts", "max_unrelated", "template", "inject_rate", "fallback_system")}
    return {"run": where, "files": data.get("files"), "fingerprint": data.get("fingerprint"),
            "texts": data.get("texts"), "flags": flags, "config": train_summary.get("config"),
            "steps": train_summary.get("steps"), "seconds": train_summary.get("seconds"),
            "seconds_per_pair": train_summary.get("seconds_per_pair")}


def stage_chain(earlier: dict[str, Any] | None, where: str | None) -> list[dict[str, Any]]:
    """Every stage before this one, oldest first. Runs written before chains existed recorded
    one level (``data.init_from``); that level is kept, marked ``partial``."""
    if earlier is None:
        return []
    if earlier.get("chain"):
        return list(earlier["chain"])
    older = earlier.get("data", {}).get("init_from")
    out = []
    if older:
        out.append({"run": older.get("run"), "files": older.get("files"), "fingerprint": older.get("fingerprint"),
                    "config": (older.get("train") or {}).get("config"), "steps": (older.get("train") or {}).get("steps"),
                    "seconds": (older.get("train") or {}).get("seconds"),
                    "partial": "recorded one level only by a pre-chain run; earlier stages are not known"})
    return out + [stage_record(earlier, where or "?")]


def attach_concepts(pool: Path, systems: Sequence[ValueSystem], grouped: dict[str, list[LabelledTuple]],
                    fallback_system: str | None) -> tuple[dict[str, dict[tuple[str, str], str]], dict[str, Any]]:
    """Concept-aware training data from a concept pool (``clave-lite calibrate``, or hand-written).

    Two uses, as in CLAVE: (1) a labelled pair whose text a concept was extracted from, with the
    same human label, learns to write that concept after its verdict (``score --explain``);
    (2) every concept becomes a short training text of its own, labelled on its value, so the
    model learns the value boundary from abstractions as well as from surface wording.
    Returns ``{system: {(text key, value): concept}}`` (tuples of use 2 are added to ``grouped``).
    """
    from clave_lite.calibration.concepts import read_pool

    rows, _ = read_pool(pool)
    by_name = {s.name: s for s in systems}
    explained: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    added: dict[str, int] = defaultdict(int)
    for i, c in enumerate(rows):
        fallback = load_system(fallback_system).name if fallback_system else None
        name = c.system or fallback or (systems[0].name if len(systems) == 1 else None)
        if name not in by_name:
            raise DataError(f"{pool}: concept row {i + 1} names system {name!r}, which training has no tuples for")
        s = by_name[name]
        value = s.get(c.value).name
        if c.label not in s.labels:
            raise DataError(f"{pool}: concept row {i + 1}: label '{c.label}' is not used by system '{name}'")
        ids, texts = set(c.source_ids), set(c.source_texts)  # tuples without an id are keyed by text
        for t in grouped[name]:
            if (t.key in ids or t.text in texts) and s.get(t.value).name == value and t.label == c.label:
                explained[name].setdefault((t.key, value), c.concept)
        grouped[name].append(LabelledTuple(c.concept, value, c.label, f"concept:{i + 1}", name))
        added[name] += 1
    report = {"pool": str(pool), "rows": len(rows), "concept_texts": dict(added),
              "explained_pairs": {k: len(v) for k, v in explained.items()}}
    return dict(explained), report


def write_train_keys(out_dir: Path, grouped: dict[str, list[LabelledTuple]], also: Path | None = None) -> None:
    """Which texts training saw, so tuning and evaluation can leave them out; ``also`` adds the
    keys of the run this one was warm-started from (its texts are in the weights too)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for name, tuples in grouped.items():
        seen[name].update(t.key for t in tuples)
    if also is not None and also.exists():
        for name, keys in json.loads(also.read_text()).items():
            seen[name].update(keys)
    keys = {name: sorted(k) for name, k in seen.items()}
    (out_dir / "train_keys.json").write_text(json.dumps(keys, ensure_ascii=False))


def load_run(run_dir: Path) -> tuple[dict[str, Any], Path]:
    """A run directory's ``run.json`` and the verified path of its base model."""
    run_path = run_dir / "run.json"
    if not run_path.exists():
        raise DataError(f"{run_dir}: not a training run (no run.json); run `clave-lite train` first")
    run = json.loads(run_path.read_text())
    base = Path(run["base"]) if Path(run["base"]).suffix == ".gguf" else base_path(run["base"])
    return run, base


def export_run(opts: ExportOptions, progress: Progress = SILENT) -> tuple[Path, dict[str, Any]]:
    """Build the GGUF evaluator; with ``opts.tune_data``, tune its decision biases on held-out
    texts (texts training saw are left out) and rebuild it with them."""
    run_dir, out, quant, keep_f32 = opts.run_dir, Path(opts.output), opts.chosen_quant, opts.keep_f32
    tune_data, tune_limit = opts.tune_data, opts.tune_limit
    run, base = load_run(run_dir)
    priors = untuned_priors(run)
    if tune_data is None:
        run["decision_priors"] = priors
    path = build_evaluator(base, run_dir / "adapter", Manifest.from_run(run), out, quant=quant, keep_f32=keep_f32)
    report: dict[str, Any] = {}
    if tune_data is None:
        return path, report
    from clave_lite.runtime.evaluator import Evaluator

    by_system = held_out_by_system(run, run_dir, tune_data)
    biases: dict[str, dict[str, list[float]]] = {}
    temperatures: dict[str, float] = {}
    with Evaluator.load(path) as ev:
        for s in ev.manifest.systems:
            held = by_system.get(s.name, [])
            texts = list(dict.fromkeys(t.key for t in held))[:tune_limit]
            if len(texts) < MIN_TUNE_TEXTS:
                # a bias fitted to a handful of texts is noise: leave the system untuned, and say so
                report[s.name] = {"texts": len(texts), "skipped": f"fewer than {MIN_TUNE_TEXTS} held-out texts"}
                progress.note(f"not tuning {s.name}: {len(texts)} held-out texts in {tune_data} "
                              f"(need {MIN_TUNE_TEXTS}; texts training saw are left out)")
                continue
            progress.note(f"tuning {s.name} on {len(texts)} held-out texts")
            biases[s.name], temperatures[s.name], report[s.name] = tune_system(ev, s, held, texts, opts.per_value)
            priors[s.name] = tuned_prior(s, held, texts)
    run["biases"] = biases
    run["temperatures"] = temperatures
    run["decision_priors"] = priors
    run["tuning"] = {"data": str(tune_data), "limit": tune_limit, "report": report}
    (run_dir / "run.json").write_text(json.dumps(run, indent=2, ensure_ascii=False))
    path = build_evaluator(base, run_dir / "adapter", Manifest.from_run(run), out, quant=quant, keep_f32=keep_f32)
    return path, report


@dataclass(frozen=True)
class ExportReport:
    output: str
    format: str
    quant: str
    bytes: int
    tuning: dict[str, Any] = field(default_factory=dict)
    """Per system: held-out texts, bias, objective before/after, temperature and ECE (or ``skipped``)."""
    onnx: OnnxExport | None = None
    """ONNX only: the export's checks (agreement of the quantized graph with fp32, ...)."""

    def to_dict(self) -> dict[str, Any]:
        if self.onnx is not None:
            return {"output": self.output, "format": self.format, **self.onnx.to_dict()}
        return {"output": self.output, "format": self.format, "quant": self.quant, "bytes": self.bytes,
                "tuning": self.tuning}


def export_evaluator(opts: ExportOptions, progress: Progress = SILENT) -> ExportReport:
    """A run directory → one evaluator: a GGUF file (numpy + llama.cpp only) or an ONNX
    directory (traced with torch: the bake extra). An existing output (or, with ``keep_f32``,
    an existing ``.f32.gguf`` beside it) is refused unless ``force``."""
    from clave_lite.core.jsonl import check_output

    out, quant = Path(opts.output), opts.chosen_quant
    if opts.format == "onnx":
        if out.is_dir() and any(out.iterdir()) and not opts.force:
            raise UsageError(f"{out} already exists and is not empty", path=out,
                             remedies=(Remedy("force", True, "to overwrite it"),))
    else:
        check_output(out, [opts.tune_data], opts.force)
        if opts.keep_f32:
            check_output(out.with_name(out.stem + ".f32.gguf"), [opts.tune_data], opts.force)
    if opts.format == "onnx":
        require("torch", "bake")
        require("onnx", "bake")
        report = export_onnx_run(opts.run_dir, out, quant)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        return ExportReport(str(out), opts.format, quant, size, onnx=report)
    path, tuning = export_run(opts, progress=progress)
    return ExportReport(str(path), opts.format, quant, path.stat().st_size, tuning)


def export_onnx_run(run_dir: Path, out_dir: Path, quant: str = "int8") -> OnnxExport:
    """Run directory → ONNX evaluator directory, via the merged fp32 GGUF (biases included)."""
    import tempfile

    from clave_lite.export.onnx_export import export_onnx

    run, base = load_run(run_dir)
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as tmp:
        f32 = build_evaluator(base, run_dir / "adapter", Manifest.from_run(run), Path(tmp) / "merged.gguf", quant="f32")
        return export_onnx(f32, out_dir, quant)

