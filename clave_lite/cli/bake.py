"""`train` and `export`: fine-tune a LoRA adapter, then write an evaluator file."""

from __future__ import annotations

from pathlib import Path

import click

from clave_lite import errors
from clave_lite.build.bake_options import ExportOptions, TrainOptions
from clave_lite.cli.app import (
    Bars,
    cli,
    emit_json,
    json_option,
    on_error_option,
    system_flag,
)
from clave_lite.cli.options import build, flags_from


@cli.command()
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@flags_from(TrainOptions)
@on_error_option
@json_option
def train(data: tuple[Path, ...], on_error: str, as_json: bool, **fields) -> None:
    """Fine-tune a LoRA adapter on labelled tuples (needs the bake extra).

    One pass reads a text once and all its labelled values at once, so cost grows with
    tokens, not with (text, value) pairs.

    \b
    Example (Schwartz-10 from FULCRA):
      clave-lite convert fulcra ../shared/data/fulcra/train.jsonl -o fulcra-train.jsonl
      clave-lite train fulcra-train.jsonl -o runs/fulcra --epochs 1
      clave-lite export runs/fulcra -o fulcra.gguf
    """
    opts = build(TrainOptions, fields, data=data, on_error=on_error)
    if opts.system:
        system_flag(opts.system)  # an unknown --system fails now, not after loading the base
    errors.require("torch", "bake")
    errors.require("peft", "bake")
    from clave_lite.export.recipes import train_run

    bars = Bars()
    try:
        report = train_run(opts, progress=bars)
    finally:
        bars.finish()
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"trained {report.steps} steps on {report.examples} examples in {report.seconds} s "
                   f"({report.seconds_per_pair} s per (text, value) pair); adapter in {opts.output / 'adapter'}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@flags_from(ExportOptions)
@json_option
def export(run_dir: Path, as_json: bool, **fields) -> None:
    """Merge a training run's adapter into its base and write one evaluator file.

    The file carries its value systems, prompt template, label tokens and training-data
    fingerprint, and is validated before it is handed out.
    """
    from clave_lite.export.recipes import export_evaluator

    opts = build(ExportOptions, fields, run_dir=run_dir)
    report = export_evaluator(opts, Bars())
    _say_tuning(report.tuning)
    if as_json:
        emit_json(report.to_dict())
    elif report.onnx is not None:
        click.echo(f"wrote {opts.output}/ (onnx, {report.quant}): "
                   + ", ".join(f"{k} {v}" for k, v in report.onnx.to_dict().items()))
    else:
        click.echo(f"wrote {report.output} ({report.bytes / 2**20:.1f} MiB, {report.quant})")


def _say_tuning(tuning: dict) -> None:
    for name, t in tuning.items():
        if "skipped" in t:
            continue
        click.echo(f"{name}: bias {t['bias']} on {t['texts']} held-out texts: "
                   f"{t['objective_before']:.3f} -> {t['objective_after']:.3f}", err=True)
        if t.get("value_biases"):
            click.echo(f"{name}: per-value 'supports' biases " + ", ".join(
                f"{v} {b[0]:+.2f}" for v, b in t["value_biases"].items())
                + f": -> {t['objective_after_values']:.3f}", err=True)
        if "temperature" in t:
            click.echo(f"{name}: temperature {t['temperature']:g}: held-out ECE {t['ece_before']:.3f} -> "
                       f"{t['ece_after']:.3f}", err=True)

