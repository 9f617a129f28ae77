"""`filter`: pass the texts a policy allows, route the flagged ones aside, with exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from clave_lite import errors
from clave_lite.cli.app import (
    Bars,
    cli,
    model_flags,
    on_error_option,
    on_truncated_option,
    report_problems,
)
from clave_lite.runtime.texts import INPUT_FORMATS


@cli.command("filter")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Policy file (YAML/JSON). Without it and without --rule: flag a text when any value "
                   "is decided `opposes` (the evaluator's own tuned decision).")
@click.option("--rule", "rules", multiple=True, metavar="VALUE/LABEL[>=P]",
              help="A rule: 'Benevolence/opposes>=0.6', '*/opposes', 'Security/!supports>=0.3' (repeatable).")
@click.option("--flagged", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write flagged texts here (JSONL: id, text, scores, fired rules); default: drop them.")
@click.option("--force", is_flag=True, help="Let --flagged overwrite an existing file (never an input).")
@click.option("--format", "fmt", type=click.Choice(INPUT_FORMATS), default="auto", show_default=True,
              help="Input format: auto (by suffix: .csv, .txt = one text per line, else JSONL; stdin is JSONL).")
@model_flags()
@click.option("--system", "system_name", default=None, help="Value system (default: the policy's, else the evaluator's first).")
@click.option("--values", default=None, help="Comma-separated values to score (default: all of the system).")
@click.option("--text-field", default="text", show_default=True,
              help="The JSONL field or CSV column holding the answer to judge.")
@click.option("--prompt-field", default="prompt", show_default=True,
              help="The field or column holding the prompt it answers; where present, the answer is judged in "
                   "its dialogue.")
@on_error_option
@on_truncated_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON on stderr at the end.")
def filter_(inputs: tuple[Path, ...], policy: Path | None, rules: tuple[str, ...], flagged: Path | None, force: bool,
            fmt: str, system_name: str | None, values: str | None, text_field: str, prompt_field: str,
            on_error: str, on_truncated: str | None, as_json: bool, **model) -> None:
    """Pass the texts a policy allows to stdout; set the flagged ones aside.

    Reads INPUTS (files, or stdin when none or '-') text by text and writes each
    passed text to stdout exactly as it came in, as soon as it is scored, so it
    works in a pipeline on a stream. A text longer than the evaluator reads is
    flagged unless --on-truncated score. Exit code: 0 nothing flagged, 8 at least one
    text flagged, 7 lines skipped (--on-error skip) and none flagged; errors as
    for every command.

    \b
    Examples:
      cat replies.jsonl | clave-lite filter --rule 'Benevolence/opposes>=0.6' > ok.jsonl
      clave-lite filter replies.txt --policy policy.yaml --flagged held.jsonl | next-tool
      tail -f chat.log | clave-lite filter --format lines --rule '*/opposes'
    """
    from clave_lite.jobs.filter import FilterOptions, filter_texts

    opts = FilterOptions(inputs=inputs or (Path("-"),), format=fmt, policy=policy, rules=rules, flagged=flagged,
                         force=force, system=system_name,
                         values=tuple(v.strip() for v in values.split(",")) if values else (), **model,
                         on_error=on_error, on_truncated=on_truncated, text_field=text_field,
                         prompt_field=prompt_field)
    report = filter_texts(opts, sys.stdout, Bars())
    skipped = report_problems(list(report.problems))
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False), err=True)
    else:
        click.echo(f"filter: {report.texts} texts, {report.passed} passed, {report.flagged} flagged"
                   + (f" (written to {flagged})" if flagged and report.flagged else ""), err=True)
    if report.flagged:
        sys.exit(errors.EXIT_FLAGGED)
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)

