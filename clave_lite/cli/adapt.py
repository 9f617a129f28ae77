"""`adapt`: a new value system from ~100 labels per value, no training."""

from __future__ import annotations

import click

from clave_lite.adapt.options import AdaptOptions
from clave_lite.cli.app import (
    Bars,
    cli,
    emit_json,
    json_option,
    on_error_option,
)
from clave_lite.cli.options import build, flags_from

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
@flags_from(AdaptOptions)
@on_error_option
@json_option
def adapt(on_error: str, as_json: bool, **fields) -> None:
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

    if fields["cache_dir"] is None and not fields["no_cache"]:
        fields["cache_dir"] = subdir("adapt-features")  # the command keeps what it reads; a library caller chooses
    opts = build(AdaptOptions, fields, on_error=on_error)
    if opts.train_epochs > 0:
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
