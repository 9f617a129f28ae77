"""`systems`, `convert`, `split`, `concepts`: value systems, data sets and concept pools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from clave_lite import errors
from clave_lite.cli.app import (
    cli,
    emit_json,
    json_option,
    on_error_option,
    report_problems,
)


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def systems(ctx: click.Context, as_json: bool) -> None:
    """List the built-in value systems (or `systems show NAME|FILE`)."""
    if ctx.invoked_subcommand is not None:
        return
    from clave_lite.cli.render import systems_table
    from clave_lite.core.valuesystem import builtin_names, load_system

    loaded = [load_system(name) for name in builtin_names()]
    if as_json:
        emit_json([{"name": s.name, "title": s.title, "values": s.value_names, "labels": list(s.labels)}
                    for s in loaded])
    else:
        click.echo(systems_table(loaded))
        click.echo("\nShow one: clave-lite systems show NAME   (or a path to your own YAML/JSON file)")


@systems.command("show")
@click.argument("name")
@json_option
def systems_show(name: str, as_json: bool) -> None:
    """Print one system: a built-in NAME or a YAML/JSON FILE (validated)."""
    from clave_lite.cli.render import system_detail
    from clave_lite.core.valuesystem import load_system

    system = load_system(name)
    if as_json:
        emit_json(system.to_dict())
    else:
        click.echo(system_detail(system))


@cli.command()
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["fulcra", "fulcra-teacher", "touche23", "valuecsv"]))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Labelled-tuple JSONL to write ('-' for stdout); an existing non-empty file needs --force.")
@click.option("--force", is_flag=True, help="Overwrite an existing -o FILE (never one of the inputs).")
@on_error_option
@json_option
def convert(fmt: str, inputs: tuple[Path, ...], output: Path, force: bool, on_error: str, as_json: bool) -> None:
    """Turn a shipped raw data set into labelled tuples.

    \b
    FORMAT and INPUT:
      fulcra    FULCRA jsonl file(s)            → 10 Schwartz tuples per dialogue
      fulcra-teacher  FULCRA evaluator_outputs/*.jsonl (machine scores, for distillation)
                → up to 10 tuples per answer: ≥0.5 supports, ≤-0.5 opposes, |s|<0.2 unrelated
      touche23  ARGUMENTS.tsv [LABELS.tsv]      → 20 tuples per argument
                (LABELS defaults to the labels-*.tsv beside ARGUMENTS)
      valuecsv  ValueCSV csv file(s)            → 12 tuples per text

    \b
    Example:
      clave-lite convert fulcra ../shared/data/fulcra/dev.jsonl -o dev.jsonl
    """
    from clave_lite.datasets.jobs import ConvertOptions, convert_file

    report = convert_file(ConvertOptions(fmt, inputs, output, force, on_error))
    skipped = report_problems(list(report.problems))
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False), err=str(output) == "-")
    else:
        click.echo(f"wrote {report.tuples} tuples ({report.texts} texts) to {output}; labels: "
                   + ", ".join(f"{k} {v}" for k, v in report.labels.items()), err=True)
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--validation-texts", "n_texts", type=click.IntRange(min=1), required=True,
              help="Whole texts to put in the validation file.")
@click.option("--exclude-keys", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="A run's train_keys.json: texts it trained on never go to validation.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Training tuples to write.")
@click.option("--validation", "val_out", required=True, type=click.Path(path_type=Path),
              help="Validation tuples to write.")
@click.option("--force", is_flag=True, help="Overwrite existing output files (never the input).")
@on_error_option
@json_option
def split(data: Path, n_texts: int, exclude_keys: Path | None, seed: int, output: Path, val_out: Path,
          force: bool, on_error: str, as_json: bool) -> None:
    """Carve a seeded validation split, by whole texts, out of training tuples.

    Recipe decisions are made on this split, never on a dev split (docs/accuracy.md).

    \b
    Example (validation the default evaluator never trained on):
      clave-lite split touche-train.jsonl --validation-texts 500 \\
        --exclude-keys models/default/train_keys.json -o touche-fit.jsonl --validation touche-val.jsonl
    """
    from clave_lite.datasets.jobs import SplitOptions, split_file

    report = split_file(SplitOptions(data, n_texts, output, val_out, exclude_keys, seed, force, on_error))
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"train: {report.train_texts} texts → {output}; validation: "
                   f"{report.validation_texts} texts → {val_out}", err=True)
    if report_problems(list(report.problems)):
        sys.exit(errors.EXIT_PARTIAL)


@cli.group()
def concepts() -> None:
    """Inspect a concept pool written by `calibrate` (`concepts show POOL`)."""


@concepts.command("show")
@click.argument("pool", type=click.Path(path_type=Path))
@click.option("--examples", type=click.IntRange(min=0), default=3, show_default=True,
              help="Example concepts per value and label.")
@on_error_option
@json_option
def concepts_show(pool: Path, examples: int, on_error: str, as_json: bool) -> None:
    """Summarise a concept pool: per value and label, counts and example concepts.

    \b
    Example:
      clave-lite concepts show concepts.jsonl
      clave-lite concepts show concepts.jsonl --json --examples 10
    """
    from clave_lite.calibration.concepts import format_summary, read_pool, summarize

    rows, problems = read_pool(pool, on_error)
    skipped = report_problems(problems)
    summary = summarize(rows, examples)
    if as_json:
        emit_json({"pool": str(pool), **summary})
    else:
        click.echo(format_summary(summary, str(pool)))
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


@concepts.command("from-touche")
@click.argument("labels", type=click.Path(path_type=Path))
@click.option("--categories", type=click.Path(path_type=Path), default=None,
              help="The level-1 → category table (default: value-categories.json beside LABELS).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The concept pool to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing -o file (never an input).")
@on_error_option
@json_option
def concepts_from_touche(labels: Path, categories: Path | None, output: Path, force: bool, on_error: str,
                         as_json: bool) -> None:
    """Human-written concepts: Touché23's 54 level-1 values as a concept pool for touche20.

    One concept per level-1 value ("have privacy"), labelled supports on its category, its
    sources the arguments annotated with it, so `train --concepts` teaches the model to name
    the level-1 value behind a verdict. No LLM involved.

    \b
    Example:
      clave-lite concepts from-touche ../shared/data/touche23-valueeval/level1-labels-training.tsv -o l1.jsonl
    """
    from clave_lite.calibration.concepts import write_pool
    from clave_lite.calibration.human_concepts import touche_level1_pool
    from clave_lite.core.jsonl import check_output

    inputs = (labels,) if categories is None else (labels, categories)
    check_output(output, inputs, force)  # before any work
    pool, problems = touche_level1_pool(labels, categories, on_error)
    count = write_pool(output, pool)
    skipped = report_problems(problems)
    summary = {"output": str(output), "concepts": count, "sources": sum(len(c.source_ids) for c in pool),
               "skipped_lines": skipped}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"wrote {count} concepts ({summary['sources']} annotated (argument, level-1 value) sources) "
                   f"to {output}")
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


@concepts.command("from-fulcra")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The concept pool to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing -o file (never an input).")
@on_error_option
@json_option
def concepts_from_fulcra(inputs: tuple[Path, ...], output: Path, force: bool, on_error: str, as_json: bool) -> None:
    """Human-written concepts: FULCRA's fine-grained value items as a concept pool.

    One concept per item and sign ("be honest", "against: be honest"), its sources the
    dialogues annotated with it (ids as `convert fulcra` writes them), so `train --concepts`
    teaches the model to name the items behind its verdicts. No LLM involved.

    \b
    Example:
      clave-lite convert fulcra ../shared/data/fulcra/train.jsonl -o fulcra-train.jsonl
      clave-lite concepts from-fulcra ../shared/data/fulcra/train.jsonl -o items.jsonl
      clave-lite train fulcra-train.jsonl --concepts items.jsonl -o runs/items
    """
    from clave_lite.calibration.concepts import write_pool
    from clave_lite.calibration.human_concepts import fulcra_item_pool
    from clave_lite.core.jsonl import check_output

    check_output(output, inputs, force)  # before any work
    pool, problems = fulcra_item_pool(list(inputs), on_error)
    count = write_pool(output, pool)
    skipped = report_problems(problems)
    summary = {"output": str(output), "concepts": count, "sources": sum(len(c.source_ids) for c in pool),
               "notes": sum(p.kind == "note" for p in problems), "skipped_lines": skipped}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"wrote {count} concepts ({summary['sources']} annotated (dialogue, item) sources) to {output}")
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)

