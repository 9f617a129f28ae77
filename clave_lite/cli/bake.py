"""`train` and `export`: fine-tune a LoRA adapter, then write an evaluator file."""

from __future__ import annotations

from pathlib import Path

import click

from clave_lite import errors
from clave_lite.cli.app import (
    Bars,
    cli,
    emit_json,
    json_option,
    on_error_option,
    per_system,
    system_flag,
)


@cli.command()
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Run directory: adapter, checkpoints, run.json.")
@click.option("--system", "system_name", default=None,
              help="Value system for tuples whose `system` field is empty (each tuple's own field wins).")
@click.option("--base", default="gemma3-270m", show_default=True, envvar="CLAVE_LITE_BASE",
              help="Base model (a card in models/cards) or a path to a .gguf file.")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0), default=2e-4, show_default=True)
@click.option("--rank", type=click.IntRange(1, 512), default=16, show_default=True, help="LoRA rank.")
@click.option("--lora-dropout", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True,
              help="Dropout on the LoRA inputs. 0 skips drawing the masks: 1.26x faster per fp32 CPU step "
                   "(docs/training.md).")
@click.option("--tokens-per-step", type=click.IntRange(min=16), default=2048, show_default=True,
              help="Batch size in tokens (text + value suffixes, padded).")
@click.option("--max-texts", multiple=True, callback=per_system, metavar="[SYSTEM=]N",
              help="Sample at most N texts per value system; SYSTEM=N for one system (repeatable).")
@click.option("--max-unrelated", multiple=True, callback=per_system, metavar="[SYSTEM=]N",
              help="Train on at most N 'unrelated' values per text (all supports/opposes are kept); "
                   "SYSTEM=N for one system (repeatable).")
@click.option("--template", "template_name", type=click.Choice(["short", "full"]), default="short",
              show_default=True,
              help="Value line of the prompt: 'short' = the value's name (~7 tokens), 'full' = name and "
                   "definition (~35 tokens, about 3x the training cost per pair).")
@click.option("--concepts", "concepts_pool", type=click.Path(path_type=Path), default=None,
              help="A concept pool (from `clave-lite calibrate`, or hand-written): concepts become extra "
                   "training texts, and pairs they were extracted from learn to explain their verdict "
                   "(`score --explain`).")
@click.option("--inject-rate", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Fraction of training texts given an appended prompt-injection string with unchanged "
                   "labels (hardening; see SECURITY.md).")
@click.option("--class-weight", type=click.Choice(["none", "sqrt", "balanced"]), default="none",
              show_default=True,
              help="Weight each label in the loss by its rarity among the training pairs: 'sqrt' = "
                   "1/sqrt(share), 'balanced' = 1/share (helps rare labels such as FULCRA's opposes).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "auto"]), default="fp32", show_default=True,
              envvar="CLAVE_LITE_TRAIN_PRECISION",
              help="Matmul precision while training: 'bf16' runs torch autocast (LoRA weights and "
                   "optimizer stay fp32): 1.5x faster per step on a CPU with AMX-BF16 (Intel Sapphire "
                   "Rapids and later), 2.1x with --lora-dropout 0; 'auto' picks bf16 where the CPU "
                   "has AMX-BF16. Measured speed and agreement: docs/training.md.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init-from", "init_from", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Warm-start the LoRA from an earlier run directory (same base and --rank), or from "
                   "'default', the embedded default evaluator (a good start for a new value system); "
                   "its training texts stay out of bias tuning.")
@click.option("--resume", is_flag=True, help="Continue from the run directory's last checkpoint.")
@on_error_option
@json_option
def train(data: tuple[Path, ...], out_dir: Path, system_name: str | None, base: str, epochs: float, lr: float,
          rank: int, lora_dropout: float, tokens_per_step: int, max_texts: dict[str, int],
          max_unrelated: dict[str, int], template_name: str, concepts_pool: Path | None, inject_rate: float,
          class_weight: str, precision: str, seed: int, init_from: Path | None, resume: bool, on_error: str,
          as_json: bool) -> None:
    """Fine-tune a LoRA adapter on labelled tuples (needs the bake extra).

    One pass reads a text once and all its labelled values at once, so cost grows with
    tokens, not with (text, value) pairs.

    \b
    Example (Schwartz-10 from FULCRA):
      clave-lite convert fulcra ../shared/data/fulcra/train.jsonl -o fulcra-train.jsonl
      clave-lite train fulcra-train.jsonl -o runs/fulcra --epochs 1
      clave-lite export runs/fulcra -o fulcra.gguf
    """
    if system_name:
        system_flag(system_name)  # an unknown --system fails now, not after loading the base
    errors.require("torch", "bake")
    errors.require("peft", "bake")
    from clave_lite.export.recipes import train_run
    from clave_lite.export.train import TrainConfig, resolve_precision

    cfg = TrainConfig(epochs=epochs, lr=lr, rank=rank, alpha=2 * rank, dropout=lora_dropout,
                      tokens_per_step=tokens_per_step, seed=seed, class_weight=class_weight,
                      precision=resolve_precision(precision))
    base_file = Path(base) if base.endswith(".gguf") else None
    bars = Bars()
    try:
        report = train_run(list(data), out_dir, system_name, base if not base_file else "gemma3-270m", cfg,
                           resume=resume, on_error=on_error, max_texts=max_texts, max_unrelated=max_unrelated,
                           base_file=base_file, template=template_name, inject_rate=inject_rate,
                           concepts=concepts_pool, init_from=init_from, progress=bars)
    finally:
        bars.finish()
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"trained {report.steps} steps on {report.examples} examples in {report.seconds} s "
                   f"({report.seconds_per_pair} s per (text, value) pair); adapter in {out_dir / 'adapter'}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Evaluator file to write.")
@click.option("--format", "fmt", type=click.Choice(["gguf", "onnx"]), default="gguf", show_default=True,
              help="gguf: one file for llama.cpp. onnx: a directory for onnxruntime.")
@click.option("--quant", type=click.Choice(["q8_0", "q4_k_m", "f16", "f32", "int8", "int8-dynamic", "fp16", "none"]),
              default=None,
              help="gguf: q8_0 (default), q4_k_m, f16, f32. onnx: int8 (default: int8 weights, fp32 "
                   "activations), int8-dynamic (optimum: activations too), fp16 — each refused if it disagrees "
                   "with fp32 on >2% of check decisions — or none (fp32).")
@click.option("--keep-f32", is_flag=True, help="Also keep the merged fp32 file (OUTPUT stem + .f32.gguf).")
@click.option("--force", is_flag=True, help="Overwrite an existing OUTPUT (and .f32.gguf with --keep-f32).")
@click.option("--tune", "tune_data", type=click.Path(path_type=Path), default=None,
              help="Labelled tuples to tune decision biases on (texts used in training are left out).")
@click.option("--tune-limit", type=click.IntRange(min=1), default=None, help="Tune on at most N texts per value system.")
@click.option("--tune-per-value/--tune-per-system", "per_value", default=True, show_default=True,
              help="After the system's bias, move each value's 'supports' bias on its own where that lifts the "
                   "held-out objective (values with >=5 labelled positives only).")
@json_option
def export(run_dir: Path, output: Path, fmt: str, quant: str | None, keep_f32: bool, force: bool,
           tune_data: Path | None, tune_limit: int | None, per_value: bool, as_json: bool) -> None:
    """Merge a training run's adapter into its base and write one evaluator file.

    The file carries its value systems, prompt template, label tokens and training-data
    fingerprint, and is validated before it is handed out.
    """
    from clave_lite.export.recipes import export_evaluator

    report = export_evaluator(run_dir, output, fmt, quant, keep_f32, tune_data, tune_limit, per_value, Bars(), force)
    _say_tuning(report.tuning)
    if as_json:
        emit_json(report.to_dict())
    elif fmt == "onnx":
        checks = report.onnx.to_dict() if report.onnx else {}
        click.echo(f"wrote {output}/ (onnx, {report.quant}): " + ", ".join(f"{k} {v}" for k, v in checks.items()))
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

