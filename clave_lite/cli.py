"""The ``clave-lite`` command line. It parses flags and prints; the work happens in the library.

Exit codes (scripts may rely on them): 0 ok, 1 internal error (a bug), 2 usage, 3 bad input
data, 4 bad model file, 5 hosted LLM failed after retries, 6 a quality gate refused, 7 finished
but some input lines were skipped (``--on-error skip``).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from clave_lite import __version__, errors
from clave_lite.jsonl import ON_ERROR_CHOICES

DEBUG_ENV = "CLAVE_LITE_DEBUG"


class _Group(click.Group):
    """Turns library errors into one line and a documented exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.ClaveError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # a bug: say so plainly, keep the traceback for those who ask
            if os.environ.get(DEBUG_ENV):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} "
                       f"(a bug in clave-lite; rerun with {DEBUG_ENV}=1 for the traceback)", err=True)
            ctx.exit(errors.EXIT_INTERNAL)


def _emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def _report_problems(problems: list[errors.Problem], limit: int = 20) -> int:
    """Print problems to stderr; return how many lines were skipped."""
    for p in problems[:limit]:
        click.echo(str(p), err=True)
    if len(problems) > limit:
        click.echo(f"... and {len(problems) - limit} more", err=True)
    return sum(p.kind == "skipped" for p in problems)


on_error_option = click.option(
    "--on-error", type=click.Choice(ON_ERROR_CHOICES), default="stop", show_default=True,
    envvar="CLAVE_LITE_ON_ERROR",
    help="A malformed input line: 'stop' with its file:line, or 'skip' it, report it, and exit 7.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clave-lite")
def cli() -> None:
    """Tell, offline, which human values an LLM response supports or opposes.

    \b
    Typical path:
      clave-lite systems                       # the built-in value systems
      clave-lite systems show schwartz10       # one system's values and definitions
      clave-lite convert fulcra train.jsonl -o tuples.jsonl
      clave-lite eval gold.jsonl --predictions pred.jsonl

    Labelled data is JSONL, one {"text", "value", "label"} per line, label one of
    supports / opposes / unrelated (or 1 / -1 / 0). The user directory for built
    evaluators and caches is $CLAVE_LITE_HOME (default ~/.cache/clave-lite).
    """


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def systems(ctx: click.Context, as_json: bool) -> None:
    """List the built-in value systems (or `systems show NAME|FILE`)."""
    if ctx.invoked_subcommand is not None:
        return
    from clave_lite.render import systems_table
    from clave_lite.valuesystem import builtin_names, load_system

    loaded = [load_system(name) for name in builtin_names()]
    if as_json:
        _emit_json([{"name": s.name, "title": s.title, "values": s.value_names, "labels": list(s.labels)}
                    for s in loaded])
    else:
        click.echo(systems_table(loaded))
        click.echo("\nShow one: clave-lite systems show NAME   (or a path to your own YAML/JSON file)")


@systems.command("show")
@click.argument("name")
@json_option
def systems_show(name: str, as_json: bool) -> None:
    """Print one system: a built-in NAME or a YAML/JSON FILE (validated)."""
    from clave_lite.render import system_detail
    from clave_lite.valuesystem import load_system

    system = load_system(name)
    if as_json:
        _emit_json(system.to_dict())
    else:
        click.echo(system_detail(system))


@cli.command()
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["fulcra", "touche23", "valuecsv"]))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Labelled-tuple JSONL to write ('-' for stdout).")
@on_error_option
@json_option
def convert(fmt: str, inputs: tuple[Path, ...], output: Path, on_error: str, as_json: bool) -> None:
    """Turn a shipped raw data set into labelled tuples.

    \b
    FORMAT and INPUT:
      fulcra    FULCRA jsonl file(s)            → 10 Schwartz tuples per dialogue
      touche23  ARGUMENTS.tsv [LABELS.tsv]      → 20 tuples per argument
                (LABELS defaults to the labels-*.tsv beside ARGUMENTS)
      valuecsv  ValueCSV csv file(s)            → 12 tuples per text

    \b
    Example:
      clave-lite convert fulcra ../shared/data/fulcra/dev.jsonl -o dev.jsonl
    """
    from clave_lite.convert import CONVERTERS
    from clave_lite.jsonl import write_jsonl_atomic

    tuples, problems = CONVERTERS[fmt](list(inputs), on_error)
    count = write_jsonl_atomic(output, (t.to_dict() for t in tuples))
    skipped = _report_problems(problems)
    summary = {
        "format": fmt,
        "output": str(output),
        "tuples": count,
        "texts": len({t.key for t in tuples}),
        "labels": dict(Counter(t.label for t in tuples)),
        "skipped_lines": skipped,
        "notes": sum(p.kind == "note" for p in problems),
    }
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False), err=str(output) == "-")
    else:
        click.echo(f"wrote {count} tuples ({summary['texts']} texts) to {output}; labels: "
                   + ", ".join(f"{k} {v}" for k, v in sorted(summary["labels"].items())), err=True)
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


@cli.command("eval")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--predictions", type=click.Path(path_type=Path), required=True,
              help="Predicted tuples (same format as DATA) to score against DATA.")
@click.option("--system", "system_name", default=None,
              help="Check value names against this system (built-in name or file).")
@on_error_option
@json_option
def evaluate(data: Path, predictions: Path, system_name: str | None, on_error: str, as_json: bool) -> None:
    """Compare predictions with gold labelled tuples: accuracy, macro_f1, value_f1_mean,
    per-value F1 and confusion matrices.

    Predictions are joined to gold by (id, value), or (text, value) where there is no id.
    """
    from clave_lite.metrics import compute, join
    from clave_lite.render import metrics_report
    from clave_lite.tuples import read_tuples
    from clave_lite.valuesystem import load_system

    system = load_system(system_name) if system_name else None
    gold, p1 = read_tuples(data, system, on_error)
    pred, p2 = read_tuples(predictions, system, on_error)
    skipped = _report_problems(p1 + p2)
    result = compute(join(gold, pred))
    if as_json:
        _emit_json(result)
    else:
        click.echo(metrics_report(result))
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


def main() -> None:
    cli(prog_name="clave-lite")


if __name__ == "__main__":
    main()
