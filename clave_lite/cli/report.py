"""`report`: value profiles of score files, as an HTML page with PNG figures."""

from __future__ import annotations

from pathlib import Path

import click

from clave_lite.cli.app import Bars, cli, emit_json, json_option


@cli.command()
@click.argument("scores", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--by", "by", default=None, metavar="FIELD",
              help="Group answers by this input field (score with --keep FIELD to carry it), e.g. model. "
                   "Default: one group per score file.")
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The report folder: index.html, its PNG figures and report.json (the numbers).")
@click.option("--title", default=None, help="The page's title.")
@click.option("--force", is_flag=True, help="Write into a non-empty folder that is not a clave-lite report.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap intervals.")
@click.option("--pair-by", default=None, metavar="FIELD",
              help="The field naming the prompt each answer replies to (id, or a field kept with `score --keep`): "
                   "groups are compared on the prompts both answered, with a paired interval.")
@json_option
def report(scores: tuple[Path, ...], by: str | None, output: Path, title: str | None, force: bool, seed: int,
           pair_by: str | None, as_json: bool) -> None:
    """Draw value profiles from score files: per value, the share of answers that
    support / oppose it per group (95 % intervals), differences between groups
    (Newcombe intervals, corrected for the number of comparisons; paired on the
    prompts both groups answered with --pair-by), probability
    distributions and the strongest examples, with the evaluator and command that
    produced the scores. Needs the report extra: pip install 'clave-lite[report]'.

    The page is self-contained: open OUTPUT/index.html anywhere, offline.

    \b
    Examples:
      clave-lite score answers.jsonl --keep model,text -o scores.jsonl
      clave-lite report scores.jsonl --by model -o profile/
      clave-lite report gpt4.jsonl llama.jsonl -o profile/    # one group per file
      clave-lite report gpt4.jsonl llama.jsonl --pair-by prompt -o profile/   # same prompts, paired
    """
    from clave_lite.report.job import ReportOptions, build_report

    result = build_report(ReportOptions(scores=scores, output=output, by=by, title=title, force=force, seed=seed,
                                        pair_by=pair_by),
                          Bars())
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(f"{result.page}: {result.texts} texts in {len(result.groups)} group(s) "
               f"({', '.join(result.groups)}), {len(result.figures)} figures")
    if result.comparisons:
        click.echo(f"{result.differences} of {result.comparisons} between-group differences hold after the "
                   "correction for all comparisons")
