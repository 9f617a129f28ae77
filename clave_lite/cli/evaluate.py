"""`eval` and `bench`: measure an evaluator's accuracy and speed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from clave_lite import errors
from clave_lite.cli import app
from clave_lite.cli.app import (
    cli,
    command_line,
    default_evaluator_path,
    emit_json,
    json_option,
    model_option,
    on_error_option,
    provider_option,
    report_problems,
    system_flag,
    threads_option,
)


@cli.command("eval")
@click.argument("data", type=click.Path(path_type=Path))
@model_option
@click.option("--backend", type=click.Choice(["auto", "gguf", "onnx", "torch"]), default="auto", show_default=True,
              help="What runs the model: auto (by the path), llama.cpp (gguf), onnxruntime, or the fp32 "
                   "torch reference of a .gguf file (needs the bake extra).")
@click.option("--reference", "reference_backend", type=click.Choice(["torch"]), default=None,
              help="Also run this backend on the same file and report agreement with it.")
@click.option("--predictions", type=click.Path(path_type=Path), default=None,
              help="Score these predicted tuples instead of running a model.")
@click.option("--save-predictions", type=click.Path(path_type=Path), default=None,
              help="Write the model's predicted tuples (JSONL) here (checked before scoring; an existing "
                   "non-empty file needs --force, an input file is never overwritten).")
@click.option("--force", is_flag=True, help="Let --save-predictions overwrite an existing file.")
@click.option("--system", "system_name", default=None,
              help="Value system of DATA when its tuples carry none.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Evaluate only the first N texts (quick checks; reported figures use full splits).")
@click.option("--baselines", "baseline_spec", default=None, metavar="LIST",
              help="Also train and score anchors on the same texts, comma-separated: majority, tfidf, "
                   "minilm (these need --train), zeroshot (the bare base model). Needs the baselines extra.")
@click.option("--train", "train_data", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Labelled tuples the baselines are trained on (the evaluator's own training data).")
@click.option("--compare", "compare_specs", multiple=True, metavar="MODEL",
              help="Evaluate several models side by side (repeatable): a .gguf file, an ONNX directory, or "
                   "torch:FILE.gguf for the fp32 reference, which the others' agreement is measured against.")
@provider_option
@click.option("--inject", is_flag=True,
              help="Prompt-injection check: score each text clean and with held-out appended instructions; "
                   "report how often a verdict flips.")
@threads_option
@on_error_option
@json_option
def evaluate(data: Path, model_path: Path | None, backend: str, reference_backend: str | None,
             predictions: Path | None, save_predictions: Path | None, force: bool, system_name: str | None,
             limit: int | None, baseline_spec: str | None, train_data: Path | None, compare_specs: tuple[str, ...],
             provider: str, inject: bool, threads: int | None, on_error: str, as_json: bool) -> None:
    """Measure an evaluator on labelled tuples: accuracy, macro_f1, value_f1_mean,
    per-value F1 and confusion matrices.

    \b
    Examples:
      clave-lite eval dev.jsonl                               # the default evaluator
      clave-lite eval dev.jsonl --model my.gguf --reference torch --json
      clave-lite eval dev.jsonl --predictions predicted.jsonl # no model: compare files
      clave-lite eval dev.jsonl --compare torch:m.f32.gguf --compare m.gguf --compare m-onnx/
      clave-lite eval dev.jsonl --inject --limit 100          # verdict flip rate under attack
      clave-lite eval dev.jsonl --model my.gguf --baselines majority,tfidf,minilm,zeroshot --train train.jsonl
    """
    if compare_specs:
        from clave_lite.evaluation.compare import ModelSpec, compare, render

        specs = [ModelSpec.parse(spec) for spec in compare_specs]
        result = compare(specs, data, system_name, limit, threads, progress=lambda m: click.echo(m, err=True))
        click.echo(json.dumps(result, indent=2) if as_json else render(result))
        return
    from clave_lite.cli.render import metrics_report
    from clave_lite.core.jsonl import write_jsonl_atomic
    from clave_lite.core.tuples import read_tuples
    from clave_lite.evaluation.metrics import compute, join
    from clave_lite.evaluation.run import agreement, predict
    from clave_lite.evaluation.run import evaluate as run_eval

    if save_predictions is not None:
        from clave_lite.core.jsonl import check_output

        check_output(save_predictions, [p for p in (data, predictions, train_data) if p is not None], force)
    system = system_flag(system_name) if system_name else None
    system_name = system.name if system else None  # a --system FILE is known by its name
    baseline_names = []
    if baseline_spec:
        from clave_lite.evaluation import baselines as baseline_mod

        baseline_names = baseline_mod.parse(baseline_spec)
        if any(n in baseline_mod.NEEDS_TRAIN for n in baseline_names) and train_data is None:
            raise click.UsageError("--baselines majority/tfidf/minilm are trained: pass --train FILE")
    gold, problems = read_tuples(data, system, on_error)
    if limit:
        keep = list(dict.fromkeys(t.key for t in gold))[:limit]
        keep_set = set(keep)
        gold = [t for t in gold if t.key in keep_set]
    if predictions is not None:
        pred, p2 = read_tuples(predictions, system, on_error)
        problems += p2
        result: dict[str, Any] = compute(join(gold, pred))
    else:
        evaluator = app.load_evaluator(model_path, backend, threads, provider=provider)
        if inject:
            from clave_lite.evaluation.injection import flip_rates
            from clave_lite.evaluation.injection import render as render_flips

            report = flip_rates(evaluator, gold, system_name, progress=lambda m: click.echo(f"inject: {m}", err=True))
            evaluator.close()
            click.echo(json.dumps(report, indent=2) if as_json else render_flips(report))
            return
        anchors: dict[str, Any] = {}
        if baseline_names:  # before the evaluator's pass: a failing anchor then costs seconds, not a run
            from clave_lite.evaluation import baselines as baseline_mod

            train_tuples = read_tuples(train_data, system, on_error)[0] if train_data else None
            for name in baseline_names:
                click.echo(f"baseline: {name}", err=True)
                anchors[name] = compute(join(gold, baseline_mod.run(name, train_tuples, gold, evaluator, system_name)))
        n_texts = len({t.key for t in gold})
        with click.progressbar(length=n_texts, label=f"eval ({backend})", file=sys.stderr, show_eta=True) as bar:
            scored = predict(evaluator, gold, system_name, progress=bar.update)
        result = run_eval(gold, scored, lambda s: evaluator.manifest.temperature(
            evaluator.manifest.system(s or system_name).name))
        result["model"] = str(evaluator.backend.path)
        result["backend"] = backend
        if baseline_names:
            result["baselines"] = anchors
            result["train_data"] = str(train_data) if train_data else None
        evaluator.close()
        if reference_backend:
            model_file = Path(result["model"])
            f32 = model_file.with_name(model_file.stem + ".f32.gguf")
            ref_file = f32 if f32.exists() else model_file  # the merged fp32 model when kept
            result["reference_model"] = str(ref_file)
            ref = app.load_evaluator(ref_file, reference_backend, threads)
            with click.progressbar(length=n_texts, label=f"eval ({reference_backend})", file=sys.stderr) as bar:
                ref_scored = predict(ref, gold, system_name, progress=bar.update)
            result["agreement"] = {reference_backend: agreement(scored, ref_scored)}
            ref.close()
        if save_predictions:
            write_jsonl_atomic(save_predictions, (t.to_dict() for t in scored.predictions))
    skipped = report_problems(problems)
    if as_json:
        emit_json(result)
    else:
        click.echo(metrics_report(result))
        if result.get("baselines"):
            from clave_lite.cli.render import anchors_table

            click.echo("\nbeside the anchors (same texts; 95 % bootstrap intervals over texts):")
            click.echo(anchors_table(result))
        for name, agree in result.get("agreement", {}).items():
            click.echo(f"\nagreement with {name}: argmax {agree['argmax_agreement']:.4f}, "
                       f"max prob diff {agree['max_prob_diff']:.4f} over {agree['n']} tuples")
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@model_option
@click.option("--system", "system_name", default=None, help="Value system to score (default: the evaluator's first).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Distinct texts to time.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=8, show_default=True, help="Texts per decode / onnxruntime run.")
@click.option("--reference-texts", type=click.IntRange(min=0), default=3, show_default=True,
              help="Texts for the naive transformers reference (0 = skip; needs the bake extra).")
@click.option("--latency-texts", type=click.IntRange(min=0), default=10, show_default=True, help="Texts timed one at a time.")
@threads_option
@provider_option
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Also write the JSON result here.")
@json_option
def bench(data: Path, model_path: Path | None, system_name: str | None, limit: int, batch_size: int,
          reference_texts: int, latency_texts: int, threads: int | None, provider: str, output: Path | None,
          as_json: bool) -> None:
    """Time an evaluator here: responses/s, pairs/s, latency, memory, roofline.

    DATA is JSONL with a `text` field (scoring input or labelled tuples; each distinct
    text is used once). Every figure comes with its ratio to what it should be compared
    with, measured in the same run: one value vs all values, a naive transformers
    reference (one prompt per (text, value)), and numpy's matmul peak on this CPU.

    \b
    Examples:
      clave-lite bench examples/responses.jsonl
      clave-lite bench fulcra-dev.jsonl --limit 40 --json -o bench.json
      clave-lite bench dev.jsonl --model evaluator-onnx/ --reference-texts 0
    """
    from clave_lite.evaluation.bench import (
        distinct_texts,
        render,
        run_bench,
        save_result,
    )

    texts = distinct_texts(data, limit)
    path = model_path or default_evaluator_path()
    result = run_bench(path, texts, system_name, batch_size, threads, reference_texts, latency_texts, provider,
                       progress=lambda m: click.echo(f"bench: {m}", err=True))
    result["command"] = command_line(click.get_current_context())
    if output:
        save_result(output, result)
    if as_json:
        emit_json(result)
    else:
        click.echo(render(result, result["command"]))

