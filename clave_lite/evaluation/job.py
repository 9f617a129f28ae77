"""``clave-lite eval`` as a library call: one options dataclass in, one typed report out.

>>> report = evaluate_file(EvalOptions(data=Path("dev.jsonl"), baselines=("tfidf",),
...                                    train=Path("train.jsonl")))          # doctest: +SKIP
>>> report.metrics.macro_f1, report.baselines["tfidf"].macro_f1           # doctest: +SKIP

Three jobs share these options: scoring a model against labels (:func:`evaluate_file`),
prompt-injection flip rates (:func:`inject_file`) and the side-by-side comparison
(:func:`clave_lite.evaluation.compare.compare`). The CLI picks one and renders its report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clave_lite.build.loading import ModelOptions
from clave_lite.core.jsonl import check_output, write_jsonl_atomic
from clave_lite.core.tuples import LabelledTuple, read_tuples
from clave_lite.core.valuesystem import resolve_system
from clave_lite.errors import Problem, Remedy, UsageError
from clave_lite.evaluation.compare import limit_texts
from clave_lite.evaluation.metrics import Metrics, PairedDifference
from clave_lite.progress import SILENT, Progress

if TYPE_CHECKING:
    from clave_lite.evaluation.injection import FlipRates


@dataclass(frozen=True, kw_only=True)
class EvalOptions(ModelOptions):
    data: Path
    """Labelled tuples (JSONL/CSV) to measure on."""
    backend: str = "auto"
    reference: str | None = None
    """Also run this backend (``torch``) on the same file and report agreement."""
    predictions: Path | None = None
    """Score these predicted tuples instead of running a model."""
    save_predictions: Path | None = None
    force: bool = False
    system: str | None = None
    """Value system (name or file) of tuples that carry none."""
    limit: int | None = None
    """Only the first N distinct texts."""
    baselines: tuple[str, ...] = ()
    train: Path | None = None
    """The tuples the trained baselines learn from."""
    on_error: str = "stop"


@dataclass(frozen=True)
class EvalReport:
    metrics: Metrics
    """:func:`clave_lite.evaluation.metrics.compute` of the evaluator (with ``calibration``)."""
    model: str | None = None
    backend: str | None = None
    baselines: dict[str, Metrics] = field(default_factory=dict)
    train_data: str | None = None
    reference_model: str | None = None
    agreement: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    paired: dict[str, tuple[PairedDifference, ...]] = field(default_factory=dict)
    """Per baseline: the evaluator minus that baseline on each headline figure, with a paired
    bootstrap interval over the same texts (:func:`clave_lite.evaluation.metrics.paired_differences`)."""
    components: dict[str, Metrics] = field(default_factory=dict)
    """Where the evaluator's verdicts are a hybrid's (it carries a lexical layer): the metrics of
    each half alone, ``evaluator`` (the LM) and ``lexical`` (its TF-IDF + LR), from the same pass."""
    components_paired: dict[str, tuple[PairedDifference, ...]] = field(default_factory=dict)
    """The hybrid minus each half, paired over the same texts."""

    def to_dict(self) -> dict[str, Any]:
        """The ``eval --json`` object: the metrics at the top level, as before this type existed."""
        out = self.metrics.to_dict()
        if self.model is not None:
            out.update(model=self.model, backend=self.backend)
        if self.baselines:
            out.update(baselines={b: m.to_dict() for b, m in self.baselines.items()}, train_data=self.train_data)
        if self.paired:
            out["evaluator_minus_baseline"] = {b: [d.to_dict() for d in ds] for b, ds in self.paired.items()}
        if self.components:
            out["components"] = {c: m.to_dict() for c, m in self.components.items()}
            out["hybrid_minus_component"] = {c: [d.to_dict() for d in ds] for c, ds in self.components_paired.items()}
        if self.reference_model is not None:
            out.update(reference_model=self.reference_model, agreement=self.agreement)
        return out


def read_gold(opts: EvalOptions) -> tuple[Any, list[LabelledTuple], list[Problem]]:
    """(system, the first ``limit`` texts' gold tuples, problems)."""
    system = resolve_system(opts.system)
    gold, problems = read_tuples(opts.data, system, opts.on_error)
    return system, limit_texts(gold, opts.limit), problems


def evaluate_file(opts: EvalOptions, progress: Progress = SILENT) -> EvalReport:
    """Metrics of a model (or of a predictions file) on ``opts.data``, beside the baselines."""
    from clave_lite.evaluation.metrics import compute, join, paired_differences

    if opts.save_predictions is not None:  # refuse before any scoring
        check_output(opts.save_predictions, [p for p in (opts.data, opts.predictions, opts.train) if p], opts.force)
    baseline_names = _check_baselines(opts)
    system, gold, problems = read_gold(opts)
    if opts.predictions is not None:
        pred, more = read_tuples(opts.predictions, system, opts.on_error)
        return EvalReport(compute(join(gold, pred)), problems=tuple(problems + more))
    from clave_lite.build.loading import load_evaluator
    from clave_lite.evaluation import baselines as baseline_mod
    from clave_lite.evaluation.run import evaluate, predict

    name = system.name if system else None  # a --system FILE is known by its name
    with load_evaluator(opts.model, opts.backend, opts.threads, opts.gpu_layers, opts.provider, progress,
                        opts.windows, opts.prevalence) as evaluator:
        anchors: dict[str, Metrics] = {}
        anchor_pairs = {}
        train = read_tuples(opts.train, system, opts.on_error)[0] if opts.train and baseline_names else None
        for b in baseline_names:  # before the evaluator's pass: a failing anchor then costs seconds, not a run
            progress.note(f"baseline: {b}")
            anchor_pairs[b] = join(gold, baseline_mod.run(b, train, gold, evaluator, name))
            anchors[b] = compute(anchor_pairs[b])
        scored = predict(evaluator, gold, name, progress=progress, batch_size=opts.batch_size)
        mine = join(gold, scored.predictions)
        paired = {b: tuple(paired_differences(pairs, mine)) for b, pairs in anchor_pairs.items()}
        part_pairs = {part: join(gold, preds) for part, preds in scored.parts.items()}
        components = {part: compute(pairs) for part, pairs in part_pairs.items()}
        components_paired = {part: tuple(paired_differences(pairs, mine)) for part, pairs in part_pairs.items()}
        metrics = evaluate(gold, scored, lambda s: evaluator.manifest.temperature(
            evaluator.manifest.system(s or name).name))
        model_file, backend = Path(evaluator.backend.path), evaluator.backend.name
    agreement, ref_file = {}, None
    if opts.reference:
        f32 = model_file.with_name(model_file.stem + ".f32.gguf")
        ref_file = f32 if f32.exists() else model_file  # the merged fp32 model when kept
        with load_evaluator(ref_file, opts.reference, opts.threads) as ref:
            from clave_lite.evaluation.run import agreement as agree

            agreement = {opts.reference: agree(scored, predict(ref, gold, name, progress=progress))}
    if opts.save_predictions:
        write_jsonl_atomic(opts.save_predictions, (t.to_dict() for t in scored.predictions))
    return EvalReport(metrics, str(model_file), backend, anchors, str(opts.train) if opts.train else None,
                      str(ref_file) if ref_file else None, agreement, tuple(problems), paired, components,
                      components_paired)


def _check_baselines(opts: EvalOptions) -> list[str]:
    if not opts.baselines:
        return []
    if opts.predictions is not None:
        raise UsageError("--baselines are scored beside a model; with --predictions there is none to score them "
                         "beside (drop --baselines, or pass --model instead of --predictions)")
    from clave_lite.evaluation import baselines as baseline_mod

    names = baseline_mod.parse(",".join(opts.baselines))
    if any(n in baseline_mod.NEEDS_TRAIN for n in names) and opts.train is None:
        raise UsageError("baselines majority/tfidf/minilm are trained on labelled tuples",
                         remedies=(Remedy("train", "FILE"),), lead="pass")
    return names


def inject_file(opts: EvalOptions, progress: Progress = SILENT) -> FlipRates:
    """Verdict flip rates under prompt-injection attacks (:mod:`clave_lite.evaluation.injection`),
    with the lines of ``opts.data`` that were skipped."""
    from clave_lite.build.loading import load_evaluator
    from clave_lite.evaluation.injection import flip_rates

    system, gold, problems = read_gold(opts)
    with load_evaluator(opts.model, opts.backend, opts.threads, opts.gpu_layers, opts.provider, progress,
                        opts.windows, opts.prevalence) as evaluator:
        rates = flip_rates(evaluator, gold, system.name if system else None, progress=progress)
    return replace(rates, problems=tuple(problems))
