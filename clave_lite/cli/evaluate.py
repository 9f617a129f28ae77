"""`eval` and `bench`: measure an evaluator's accuracy and speed."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click

from clave_lite import errors
from clave_lite.cli.app import (
    Bars,
    cli,
    command_line,
    default_evaluator_path,
    emit_json,
    json_option,
    model_flags,
    on_error_option,
    report_problems,
    system_flag,
)


@cli.command("eval")
@click.argument("data", type=click.Path(path_type=Path))
@model_flags()
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
@click.option("--force", is_flag=True, help="Let --save-predictions overwrite an existing file (and --report write "
              "into a non-empty folder that is not a report).")
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
@click.option("--inject", is_flag=True,
              help="Prompt-injection check: score each text clean and with held-out appended instructions; "
                   "report how often a verdict flips.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also draw the result into this folder (index.html + PNGs: confusion matrices, per-value F1 "
                   "beside the baselines, reliability, injection flip rates); an --inject run into the same "
                   "folder adds to the page. Needs the report extra.")
@on_error_option
@json_option
def evaluate(data: Path, backend: str, reference_backend: str | None,
             predictions: Path | None, save_predictions: Path | None, force: bool, system_name: str | None,
             limit: int | None, baseline_spec: str | None, train_data: Path | None, compare_specs: tuple[str, ...],
             inject: bool, report_dir: Path | None, on_error: str, as_json: bool, **model) -> None:
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
      clave-lite eval dev.jsonl --baselines tfidf --train train.jsonl --report rep/   # + rep/index.html
    """
    from clave_lite.evaluation.job import EvalOptions, evaluate_file, inject_file

    opts = EvalOptions(data=data, **model, backend=backend, reference=reference_backend,
                       predictions=predictions, save_predictions=save_predictions, force=force, system=system_name,
                       limit=limit, baselines=tuple(b for b in (baseline_spec or "").split(",") if b.strip()),
                       train=train_data, on_error=on_error)
    if report_dir is not None:  # refuse a bad folder (and a missing extra) before any scoring
        from clave_lite.errors import require
        from clave_lite.report.job import prepare_folder, write_eval_report

        require("matplotlib", "report")
        require("jinja2", "report")
        prepare_folder(report_dir, "eval", force)
    if compare_specs:
        from clave_lite.evaluation.compare import ModelSpec, compare, render

        name = system_flag(system_name).name if system_name else None
        result = compare([ModelSpec.parse(spec) for spec in compare_specs], data, name, limit, opts.threads,
                         progress=Bars(), windows=opts.windows, prevalence=opts.prevalence)
        click.echo(json.dumps(result.to_dict(), indent=2) if as_json else render(result))
        return
    if inject:
        from clave_lite.evaluation.injection import render as render_flips

        flips = inject_file(opts, Bars())
        report_problems(list(flips.problems))
        click.echo(json.dumps(flips.to_dict(), indent=2) if as_json else render_flips(flips))
        if report_dir is not None:
            page = write_eval_report(report_dir, data, inject=flips, force=force).page
            click.echo(f"report: {page}", err=True)
        return
    report = evaluate_file(opts, Bars())
    skipped = report_problems(list(report.problems))
    if as_json:
        emit_json(report.to_dict())
    else:
        _render_eval(report)
    if report_dir is not None:
        click.echo(f"report: {write_eval_report(report_dir, data, evaluation=report, force=force).page}", err=True)
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


def _render_eval(report) -> None:
    from clave_lite.cli.render import anchors_table, metrics_report, paired_table

    result = report.to_dict()
    click.echo(metrics_report(result))
    if report.baselines or report.components:
        click.echo("\nbeside the anchors (same texts; 95 % bootstrap intervals over texts):")
        click.echo(anchors_table(result))
        click.echo("\nthe evaluator minus each anchor (paired: the same text resamples for both; an interval "
                   "that excludes 0 is a difference these texts resolve):")
        click.echo(paired_table(result))
    for name, agree in report.agreement.items():
        click.echo(f"\nagreement with {name}: argmax {agree['argmax_agreement']:.4f}, "
                   f"max prob diff {agree['max_prob_diff']:.4f} over {agree['n']} tuples")


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@model_flags("model", "threads", "provider", "batch_size")
@click.option("--system", "system_name", default=None, help="Value system to score (default: the evaluator's first).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Distinct texts to time.")
@click.option("--reference-texts", type=click.IntRange(min=0), default=3, show_default=True,
              help="Texts for the naive transformers reference (0 = skip; needs the bake extra).")
@click.option("--latency-texts", type=click.IntRange(min=0), default=10, show_default=True, help="Texts timed one at a time.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Also write the JSON result here.")
@click.option("--serve", "serve_load", is_flag=True,
              help="Instead: load-test `clave-lite serve` on loopback, micro-batched vs one request at a time.")
@click.option("--clients", type=click.IntRange(1, 256), default=8, show_default=True, help="--serve: concurrent clients.")
@click.option("--requests", type=click.IntRange(1, 100000), default=50, show_default=True,
              help="--serve: requests per client.")
@click.option("--time-cap", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="--serve: seconds each load may take at most.")
@json_option
def bench(data: Path, model: Path | None, system_name: str | None, limit: int, batch_size: int,
          reference_texts: int, latency_texts: int, threads: int | None, provider: str, output: Path | None,
          serve_load: bool, clients: int, requests: int, time_cap: float, as_json: bool) -> None:
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
      clave-lite bench examples/responses.jsonl --serve --clients 8 --requests 50
    """
    from clave_lite.evaluation.bench import (
        distinct_texts,
        render,
        run_bench,
        save_result,
    )

    texts = distinct_texts(data, limit)
    path = model or default_evaluator_path()
    command = command_line(click.get_current_context())
    if serve_load:
        from clave_lite.evaluation.serve_bench import bench_serve

        served = replace(bench_serve(path, texts, clients, requests, time_cap, Bars()), command=command)
        if output:
            save_result(output, served)
        emit_json(served.to_dict())
        return
    result = replace(run_bench(path, texts, system_name, batch_size, threads, reference_texts, latency_texts,
                               provider, progress=Bars()), command=command)
    if output:
        save_result(output, result)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(render(result, command))

