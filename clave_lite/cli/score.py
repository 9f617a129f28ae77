"""`score`: label texts with an evaluator, resumable, with optional explanations."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from clave_lite import errors
from clave_lite.cli.app import (
    Bars,
    cli,
    model_flags,
    on_error_option,
    report_problems,
)


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path), default="-")
@model_flags()
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
@click.option("--explain", is_flag=True,
              help="Add, per supports/opposes verdict, the value concept the model itself writes (offline; "
                   "a GGUF evaluator trained with `train --concepts`).")
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Policy file (YAML/JSON): each line also says `flagged` and which rules `fired`.")
@click.option("--rule", "rules", multiple=True, metavar="VALUE/LABEL[>=P]",
              help="A policy rule, e.g. 'Benevolence/opposes>=0.6', '*/opposes', 'Security/!supports' "
                   "(repeatable; added to --policy's rules).")
@click.option("--keep", default=None, metavar="FIELDS",
              help="Copy these input fields into each output line (comma-separated; `text` always works; "
                   "'*': all), e.g. --keep model,text for `clave-lite report --by model`.")
@click.option("--text-field", "--text-column", "text_column", default="text", show_default=True,
              help="The JSONL field, or CSV / Parquet column, holding the answer to score.")
@click.option("--prompt-field", "--prompt-column", "prompt_column", default="prompt", show_default=True,
              help="The field or column holding the prompt each answer replies to; where present, the answer "
                   "is judged in its dialogue (the same input on every path: JSONL, CSV, Parquet, Ray, serve, API).")
@click.option("--chunk-rows", type=click.IntRange(min=1), default=256, show_default=True,
              help="Parquet: rows per part written (a multiple of --batch-size): what a killed run can lose.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Score a Parquet file or folder on Ray Data: a running cluster's ADDRESS (ray://host:10001, "
                   "auto), or a local Ray with no ADDRESS; -o names the output folder. Needs the ray extra.")
@click.option("--actors", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --ray: scoring actors (each loads the evaluator once).")
@click.option("--cpus-per-actor", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --ray: CPUs each actor reserves; llama.cpp runs that many threads.")
@on_error_option
def score(input_path: Path, system_name: str | None, values: str | None,
          output: Path | None, resume: bool, force: bool, explain: bool, policy: Path | None,
          rules: tuple[str, ...], keep: str | None, text_column: str, prompt_column: str, chunk_rows: int,
          ray_address: str | None, actors: int, cpus_per_actor: int, on_error: str, **model) -> None:
    """Score texts: per value, a label and the three probabilities.

    INPUT is JSONL (or .csv) with `text` and optional `id` and `prompt` ('-' or
    nothing: stdin), or a Parquet corpus (scored into -o FILE.parquet: every
    input column plus "VALUE:label", "VALUE:p_supports", ... columns, streamed
    in chunks, resumable). JSONL output is one JSON object per text:

    \b
      {"id": "1", "scores": {"Security": {"label": "supports", "p_supports": 0.91, ...}, ...}}

    \b
    Examples:
      clave-lite score examples/responses.jsonl
      cat replies.jsonl | clave-lite score --values Security,Benevolence > scored.jsonl
      clave-lite score --model my.gguf --system csv12 texts.csv -o scores.jsonl
      clave-lite score texts.csv -o scores.jsonl --resume   # after a crash or kill
      clave-lite score --model mine.gguf --explain texts.jsonl  # + the model's own concepts
      clave-lite score answers.jsonl --keep model,text -o s.jsonl && clave-lite report s.jsonl --by model -o rep
      clave-lite score corpus.parquet -o scores.parquet [--resume]   # flat memory (pip install 'clave-lite[parquet]')
    """
    from clave_lite.jobs.score import ScoreOptions, score_file

    if ray_address is not None:
        _score_on_ray(input_path, output, ray_address, model["model"], system_name, values, explain, text_column,
                      prompt_column, model["batch_size"], actors, cpus_per_actor, resume, policy, rules, keep)
        return

    opts = ScoreOptions(input=input_path, system=system_name, **model,
                        values=tuple(v.strip() for v in values.split(",")) if values else (), output=output,
                        resume=resume, force=force, explain=explain, policy=policy,
                        rules=rules, command=shlex.join(["clave-lite", *sys.argv[1:]]),
                        keep=tuple(k.strip() for k in keep.split(",") if k.strip()) if keep else (),
                        text_column=text_column, prompt_column=prompt_column, chunk_rows=chunk_rows,
                        on_error=on_error)
    report = score_file(opts, Bars())
    skipped = report_problems(list(report.problems))
    if report.truncated:
        windows, tokens = report.reads_at_most
        click.echo(f"note: {report.truncated} text(s) were too long to read whole (at most {windows} window(s) of "
                   f"{tokens} tokens); truncated_tokens says how many tokens each left unread", err=True)
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


def _score_on_ray(input_path: Path, output: Path | None, address: str, model_path: Path | None,
                  system_name: str | None, values: str | None, explain: bool, text_column: str, prompt_column: str,
                  batch_size: int,
                  actors: int, cpus_per_actor: int, resume: bool, policy: Path | None, rules: tuple[str, ...],
                  keep: str | None) -> None:
    from clave_lite.engines.ray_data import score_files_on_ray

    if output is None:
        raise errors.UsageError("--ray writes a folder of Parquet files", remedies=(errors.Remedy("output", "DIR"),))
    if resume or policy or rules or keep:
        raise errors.UsageError("--ray runs a whole dataset as one Ray job: no --resume (Ray retries failed "
                                "tasks itself), --policy, --rule or --keep (every input column is kept)")
    ctx = click.get_current_context()
    if ctx.get_parameter_source("batch_size") == click.core.ParameterSource.DEFAULT:
        batch_size = 1  # each text decoded alone: equal to a single-process `score --batch-size 1`
    done = score_files_on_ray(input_path, output, None if address == "local" else address, model=model_path,
                              system=system_name, values=tuple(v.strip() for v in values.split(",")) if values else (),
                              explain=explain, text_column=text_column, prompt_column=prompt_column,
                              batch_size=batch_size, actors=actors,
                              cpus_per_actor=cpus_per_actor)
    click.echo(f"{done.rows} rows scored on Ray ({actors} actor(s) x {cpus_per_actor} CPU) in "
               f"{done.seconds} s -> {done.output}", err=True)
