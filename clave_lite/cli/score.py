"""`score`: label texts with an evaluator, resumable, with optional explanations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from clave_lite import errors
from clave_lite.cli import app
from clave_lite.cli.app import (
    cli,
    gpu_option,
    model_option,
    on_error_option,
    provider_option,
    report_problems,
    threads_option,
)


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path), default="-")
@model_option
@click.option("--system", "system_name", default=None, help="Value system inside the evaluator (default: its first).")
@click.option("--values", default=None, help="Comma-separated values to score (default: all of the system).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write JSONL here, one line per text as it is scored, in input order; default stdout. "
                   "An existing non-empty file is refused unless --resume or --force.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run into -o FILE: its lines are checked against this input, "
                   "evaluator and options, a torn last line is dropped, and the result equals an "
                   "uninterrupted run's.")
@click.option("--force", is_flag=True, help="Overwrite an existing -o FILE.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=8, show_default=True, help="Texts per llama.cpp decode.")
@click.option("--explain", is_flag=True,
              help="Add, per supports/opposes verdict, the value concept the model itself writes (offline; "
                   "a GGUF evaluator trained with `train --concepts`).")
@threads_option
@gpu_option
@provider_option
@on_error_option
def score(input_path: Path, model_path: Path | None, system_name: str | None, values: str | None,
          output: Path | None, resume: bool, force: bool, batch_size: int, explain: bool, threads: int | None,
          gpu_layers: int, provider: str, on_error: str) -> None:
    """Score texts: per value, a label and the three probabilities.

    INPUT is JSONL (or .csv) with `text` and optional `id` and `prompt` ('-' or
    nothing: stdin). Output is one JSON object per text:

    \b
      {"id": "1", "scores": {"Security": {"label": "supports", "p_supports": 0.91, ...}, ...}}

    \b
    Examples:
      clave-lite score examples/responses.jsonl
      cat replies.jsonl | clave-lite score --values Security,Benevolence > scored.jsonl
      clave-lite score --model my.gguf --system csv12 texts.csv -o scores.jsonl
      clave-lite score texts.csv -o scores.jsonl --resume   # after a crash or kill
      clave-lite score --model mine.gguf --explain texts.jsonl  # + the model's own concepts
    """
    from clave_lite.core.jsonl import ProblemLog
    from clave_lite.runtime.output import ScoreOutput, run_state
    from clave_lite.runtime.scoring import read_texts

    writer = ScoreOutput(output, resume=resume, force=force)  # refuses an existing file before any work
    log = ProblemLog(on_error)
    records = list(read_texts(input_path, log))
    skipped = report_problems(log.problems)
    if not records:  # documented: exit 0 (or 7 if every line was skipped), and say so
        click.echo(f"note: no texts in {'stdin' if str(input_path) == '-' else input_path}; nothing to score", err=True)
    evaluator = app.load_evaluator(model_path, "auto", threads, gpu_layers, provider)
    value_list = [v.strip() for v in values.split(",")] if values else None
    sys_, chosen = evaluator.resolve_values(system_name, value_list)
    if explain:
        evaluator.require_explanations()
    truncated = 0
    try:
        state = run_state(records, evaluator, sys_.name, [v.name for v in chosen], batch_size)
        if explain:
            state["explain"] = True
        done = writer.begin(state, [r.id for r in records])
        if done:
            click.echo(f"resuming {output}: {done} of {len(records)} texts already scored", err=True)
        todo = records[done:]
        with click.progressbar(length=len(todo), label="scoring", file=sys.stderr,
                               show_eta=True, show_pos=True) as bar:
            scores = evaluator.iter_scores([r.text for r in todo], [v.name for v in chosen], sys_.name, batch_size)
            for rec, result in zip(todo, scores):
                out: dict[str, Any] = {"id": rec.id, "system": sys_.name, "scores": result.to_dict()}
                if explain:
                    decided = {v.value: v.label for v in result.scores if v.label != "unrelated"}
                    out["explanations"] = evaluator.explain(rec.text, decided, sys_.name)
                if result.truncated_tokens:
                    out["truncated_tokens"] = result.truncated_tokens
                    truncated += 1
                writer.write(out)
                bar.update(1)
        writer.finish()
    finally:
        writer.close()
        evaluator.close()
    if truncated:
        click.echo(f"note: {truncated} text(s) were longer than {evaluator.manifest.template.max_text_tokens} "
                   "tokens and were scored on their head and tail (see truncated_tokens)", err=True)
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)

