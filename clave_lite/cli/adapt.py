"""`adapt`: a new value system from ~100 labels per value, no training."""

from __future__ import annotations

from pathlib import Path

import click

from clave_lite.adapt.options import LINES, READOUTS, AdaptOptions
from clave_lite.cli.app import (
    Bars,
    cli,
    emit_json,
    json_option,
    model_flags,
    on_error_option,
)

ESTIMATE_NAMES = {"adapted": "clave-lite adapted", "readout": "  its evaluator half", "as-is": "evaluator as it was", "tfidf": "TF-IDF + LR",
                  "adapted@corpus": "adapted, prior-shifted", "adapted-unshifted@corpus": "adapted, as fitted",
                  "tfidf@corpus": "TF-IDF + LR"}


def _render_adapt(report) -> None:
    how = {"choose": "nested", "lora": "a LoRA trained per fold on the other folds"}.get(report.readout,
                                                                                      "a fixed readout")
    click.echo(f"fold estimate on {report.system}: {report.tuples} tuples, {report.groups} groups, "
               f"{report.folds} group folds ({how}: nothing reported here chose anything)")
    goal = report.objective
    title = {"macro_f1": "macro-F1", "value_f1_mean": "value-F1"}.get(goal, goal)
    click.echo(f"  {'':22} {title:>8}  {'95 % interval':>15}  {'supports':>8}  {'opposes':>8}  {'unrelated':>9}")
    click.echo(f"  on the labelled sample's mix ({report.related_share:.0%} of tuples related) only; a corpus with "
               "fewer related pairs scores lower (--unlabelled CORPUS or --prevalence SHARE estimates it)")
    first_corpus = next((e for e in report.estimates if e.name.endswith("@corpus")), None)
    for e in report.estimates:
        if e is first_corpus:
            shares = sorted(set(report.prevalence.values()))
            said = f"{shares[0]:.0%}" if len(shares) == 1 else f"{shares[0]:.0%}-{shares[-1]:.0%} per value"
            how = "--prevalence" if report.prevalence_estimate is None else \
                f"estimated from {report.prevalence_estimate.texts} unlabelled texts"
            click.echo(f"  on a corpus with {said} related ({how}), the sample reweighted:")
        lo, hi = e.interval(goal) or (float("nan"), float("nan"))
        figure = e.figure(goal)
        cells = [f"{e.f1(lab):8.3f}" if e.f1(lab) is not None else f"{'-':>8}"
                 for lab in ("supports", "opposes", "unrelated")]
        click.echo(f"  {ESTIMATE_NAMES.get(e.name, e.name):22} {figure if figure is not None else float('nan'):8.3f}  "
                   f"[{lo:.3f}, {hi:.3f}]  "
                   f"{cells[0]}  {cells[1]}  {cells[2]:>9}")
    if report.shift_strength is not None:
        click.echo(f"  prior shift: {report.shift_strength:g} of the full shift toward the corpus prior, chosen on the "
                   "corpus-weighted folds (nested for the estimate above); stored in the evaluator's decisions")
    if report.readout == "lora":
        per_fold = ", ".join(f"{s:.0f}" for s in report.seconds["per_fold"])
        click.echo(f"trained: {report.chosen}; per fold {per_fold} s; temperature {report.temperature:g}")
        click.echo(f"wrote {report.output} in {report.seconds['total']:.0f} s; score with "
                   f"`clave-lite score TEXTS --model {report.output}`")
        return
    if report.readout == "choose":
        how = f"chosen by folds; per outer fold: {', '.join(report.chosen_per_fold)}"
    else:
        how = "fixed; --readout choose picks one candidate by nested folds instead"
    click.echo(f"readout: {report.chosen} ({how}); temperature {report.temperature:g}, "
               f"of the pooled verdicts {report.pool_temperature:g}")
    click.echo(f"wrote {report.output} in {report.seconds['total']:.0f} s; score with "
               f"`clave-lite score TEXTS --model {report.output}`")


@cli.command()
@click.option("--system", "system_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The new value system: a YAML/JSON file (name, values with definitions, labels) or a "
                   "built-in name.")
@click.option("--labels", "labels_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Labelled-tuple JSONL of that system (~100 per value is enough).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The adapted evaluator (.gguf) to write.")
@click.option("--from", "model_path", type=click.Path(path_type=Path), envvar="CLAVE_LITE_MODEL", default=None,
              help="Evaluator (.gguf) to adapt. Default: the embedded default evaluator. [env CLAVE_LITE_MODEL]")
@click.option("--folds", type=click.IntRange(min=2, max=20), default=5, show_default=True,
              help="Group folds of the fold estimate (and, with --readout choose, of the choice).")
@click.option("--group-regex", default=None, metavar="REGEX",
              help="Tuples whose ids share this regex's first group stay in one fold (e.g. '^([^-]+)' keeps "
                   "both actions of a MoralChoice scenario together). Default: one group per text.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fold assignment.")
@click.option("--readout", "readout_mode", type=click.Choice(READOUTS), default=AdaptOptions.readout,
              show_default=True,
              help="'ensemble': the mean of every hidden-state readout (both value lines, per-value and shared, "
                   "every L2 strength), so nothing is chosen on your labels; 'choose': the single best readout "
                   "by group folds, reported by nested folds (slower, and noisier with ~100 labels per value).")
@click.option("--lines", "value_lines", type=click.Choice(LINES), default=AdaptOptions.lines, show_default=True,
              help="Value lines the readout reads: 'both' (the template's line and name + definition; two "
                   "suffixes per value when scoring) or 'template' only (one suffix per value, as the default "
                   "scores: fewer tokens per text; compare the fold estimates).")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), envvar="CLAVE_LITE_ADAPT_CACHE",
              default=None,
              help="Where the features read (and, with --train-epochs, each finished fold and training "
                   "checkpoints) are kept, so an interrupted run resumes and a rerun reads (or trains) nothing. "
                   "Default: ~/.cache/clave-lite/adapt-features (under CLAVE_LITE_HOME if set). "
                   "[env CLAVE_LITE_ADAPT_CACHE]")
@click.option("--no-cache", is_flag=True, help="Keep nothing on disk (an interrupted run starts over).")
@click.option("--train-epochs", type=click.FloatRange(min=0, min_open=False), default=AdaptOptions.train_epochs,
              show_default=True, envvar="CLAVE_LITE_ADAPT_TRAIN_EPOCHS",
              help="0: the readout (no training). More: fine-tune a LoRA on your tuples for this many epochs, "
                   "once per fold for the estimate and once on all of them; slower, and better on gert10 "
                   "(measured figures and times: docs/adapt.md). Needs `pip install 'clave-lite[bake]'`. "
                   "[env CLAVE_LITE_ADAPT_TRAIN_EPOCHS]")
@click.option("--train-layers", type=click.IntRange(min=1), default=AdaptOptions.train_layers,
              help="With --train-epochs: LoRA on the top N decoder layers only (faster, and weaker: "
                   "docs/adapt.md). Default: every layer.")
@click.option("--train-lr", type=click.FloatRange(min=0, min_open=True), default=AdaptOptions.train_lr,
              show_default=True, help="With --train-epochs: the LoRA learning rate.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default=AdaptOptions.precision,
              show_default=True,
              help="With --train-epochs: training matmuls; auto = bf16 where the CPU has AMX-BF16, else fp32.")
@click.option("--prevalence", default=None, metavar="SHARE[,VALUE=SHARE...]",
              help="The share of (text, value) pairs that are related (supports/opposes) in the corpus you will "
                   "score, e.g. 0.15, or a default and per-value shares ('0.1,Do not kill=0.02'). The evaluator "
                   "then decides for that corpus, and the estimate is reweighted to it. Without it, decisions and "
                   "the estimate are for your labels' own mix, which is usually far more related than a corpus.")
@click.option("--unlabelled", "unlabelled", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="CORPUS",
              help="Texts of the corpus you will score, no labels needed (JSONL with 'text' and optional 'prompt', "
                   "or CSV). adapt estimates from them the share of related pairs per value (black-box shift "
                   "estimation: docs/adapt.md) and then decides and estimates for that corpus, as with "
                   "--prevalence. Not with --prevalence.")
@click.option("--unlabelled-limit", type=click.IntRange(min=20), default=AdaptOptions.unlabelled_limit,
              show_default=True, help="With --unlabelled: read at most this many of its texts (a seeded sample).")
@model_flags("threads")
@click.option("--force", is_flag=True, help="Overwrite an existing output file (never an input).")
@on_error_option
@json_option
def adapt(system_path: Path, labels_path: Path, output: Path, model_path: Path | None, folds: int,
          group_regex: str | None, seed: int, readout_mode: str, value_lines: str, cache_dir: Path | None,
          no_cache: bool, train_epochs: float, train_layers: int, train_lr: float, precision: str,
          prevalence: str | None, unlabelled: Path | None, unlabelled_limit: int, threads: int | None, force: bool, on_error: str, as_json: bool) -> None:
    """Adapt an evaluator to a new value system from ~100 labelled tuples per value.

    By default reads every labelled text once with the evaluator, fits linear readouts of its
    hidden state (per value and shared, averaged; no model training), and writes a copy of the
    evaluator that carries your system, with a lexical layer (TF-IDF + LR) fitted on your
    tuples pooled into its verdicts. Needs `pip install 'clave-lite[adapt]'`; minutes on 2
    cores for 1,000 short tuples (docs/adapt.md). What it reads is kept (--cache-dir): an
    interrupted run resumes where it stopped, and a rerun with another --seed or --readout
    reads nothing.

    With --train-epochs N it fine-tunes a LoRA on your tuples instead: once per fold (the
    estimate) and once on all of them, merged into a new q8_0 file that carries only your
    system. Slower, and better on gert10 (docs/adapt.md). Needs `pip install 'clave-lite[bake]'`.

    Either way it prints the fold estimate next to the evaluator as it was and TF-IDF +
    logistic regression on the same folds, so you know whether to trust it.

    \b
    Example (Gert's ten moral rules, 100 labels per rule):
      clave-lite adapt --system gert10.yaml --labels calibration.jsonl \\
        --group-regex '^([^-]+)' -o gert10.gguf
      clave-lite score texts.jsonl --model gert10.gguf
      clave-lite adapt ... --train-epochs 3 --folds 3 -o gert10-lora.gguf   # LoRA
    """
    from clave_lite.adapt import adapt as run_adapt
    from clave_lite.paths import subdir

    ctx = click.get_current_context()
    given = {name for name in ("readout_mode", "value_lines", "train_layers", "train_lr", "precision")
             if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
    path_only = {"readout_mode": "--readout", "value_lines": "--lines"} if train_epochs > 0 else {
        "train_layers": "--train-layers", "train_lr": "--train-lr", "precision": "--precision"}
    wrong = [flag for name, flag in path_only.items() if name in given]
    if wrong:
        other = "the readout path (no --train-epochs)" if train_epochs > 0 else "--train-epochs N"
        raise click.UsageError(f"{', '.join(wrong)} {'applies' if len(wrong) == 1 else 'apply'} only with {other}")
    if no_cache:
        cache_dir = None
    elif cache_dir is None:
        cache_dir = subdir("adapt-features")
    opts = AdaptOptions(system=system_path, labels=labels_path, output=output, model=model_path, folds=folds,
                        group_regex=group_regex, seed=seed, threads=threads, force=force, on_error=on_error,
                        readout=readout_mode, lines=value_lines, cache_dir=cache_dir, train_epochs=train_epochs,
                        train_layers=train_layers, train_lr=train_lr, precision=precision, prevalence=prevalence,
                        unlabelled=unlabelled, unlabelled_limit=unlabelled_limit)
    if train_epochs > 0:
        from clave_lite.errors import require

        require("torch", "bake")
        require("peft", "bake")
        from clave_lite.export.adapt_train import adapt_lora

        run_adapt = adapt_lora
    report = run_adapt(opts, Bars())
    if as_json:
        emit_json(report.to_dict())
    else:
        _render_adapt(report)

