"""The ``clave-lite`` command line. It parses flags and prints; the work happens in the library.

Exit codes (scripts may rely on them): 0 ok, 1 internal error (a bug), 2 usage, 3 bad input
data, 4 bad model file, 5 hosted LLM failed after retries, 6 a quality gate refused, 7 finished
but some input lines were skipped (``--on-error skip``), 141 the reader of stdout went away
(``| head``; nothing is printed, as for Unix tools killed by SIGPIPE).
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
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`


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
        except BrokenPipeError:  # `clave-lite score ... | head -1`: the reader left; stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail again
            ctx.exit(EXIT_BROKEN_PIPE)
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


def cpu_paths_line() -> str:
    """What llama.cpp was built with and which of its CPU paths clave-lite lets it use."""
    from clave_lite.cpu import llama_features

    f = llama_features()
    return (f"llama.cpp (llama-cpp-python {f['llama_cpp_python']}): {f['system_info']}\n"
            f"extra buffer types: {'on' if f['use_extra_bufts'] else 'off'} ({f['reason']})")


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"clave-lite, version {__version__}\n{cpu_paths_line()}")
    ctx.exit()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version, llama.cpp's CPU features and the CPU-path decision, and exit.")
def cli() -> None:
    """Tell, offline, which human values an LLM response supports or opposes.

    \b
    Score with the embedded default evaluator (Schwartz-10, Touché-20, CSV-12):
      clave-lite score examples/responses.jsonl
      clave-lite score texts.csv --system touche20 -o scores.jsonl
    \b
    Calibrate your own evaluator:
      clave-lite systems show schwartz10       # a value system (or your YAML file)
      clave-lite convert fulcra train.jsonl -o tuples.jsonl
      clave-lite train tuples.jsonl -o runs/mine
      clave-lite export runs/mine -o mine.gguf
      clave-lite eval dev.jsonl --model mine.gguf

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
    from clave_lite.convert import CONVERTERS
    from clave_lite.jsonl import check_output, write_jsonl_atomic

    check_output(output, inputs, force)
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
    from clave_lite.jsonl import check_output, write_jsonl_atomic
    from clave_lite.splits import carve, read_seen_keys
    from clave_lite.tuples import read_tuples

    if Path(output) == Path(val_out):
        raise click.UsageError("-o and --validation must be different files")
    for path in (output, val_out):
        check_output(path, [data], force)
    tuples, problems = read_tuples(data, None, on_error)
    result = carve(tuples, n_texts, seed, read_seen_keys(exclude_keys) if exclude_keys else None)
    write_jsonl_atomic(output, (t.to_dict() for t in result.train))
    write_jsonl_atomic(val_out, (t.to_dict() for t in result.validation))
    summary = {"input": str(data), "seed": seed, **result.to_dict()}
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"train: {summary['train_texts']} texts → {output}; validation: "
                   f"{summary['validation_texts']} texts → {val_out}", err=True)
    if _report_problems(problems):
        sys.exit(errors.EXIT_PARTIAL)


model_option = click.option(
    "--model", "model_path", type=click.Path(path_type=Path), envvar="CLAVE_LITE_MODEL",
    help="Evaluator file (.gguf). Default: the embedded default evaluator, built on first use. [env CLAVE_LITE_MODEL]")
threads_option = click.option("--threads", type=click.IntRange(min=1), default=None, envvar="CLAVE_LITE_THREADS",
                              help="CPU threads (default: the CPUs this process may use).")
provider_option = click.option(
    "--provider", type=click.Choice(["cpu", "cuda"]), default="cpu", envvar="CLAVE_LITE_PROVIDER", show_default=True,
    help="onnxruntime execution provider for ONNX evaluators (cuda needs onnxruntime-gpu).")
gpu_option = click.option("--gpu-layers", type=click.IntRange(min=-1), default=0, envvar="CLAVE_LITE_GPU_LAYERS", show_default=True,
                          help="Layers to offload to a GPU (llama.cpp n_gpu_layers; -1 = all).")


def _command_line(ctx: click.Context) -> str:
    """The command as it would be typed to rerun it: arguments and every non-default option."""
    import shlex

    parts = ["clave-lite", ctx.info_name or ""]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if isinstance(param, click.Argument):
            parts.append(str(value))
        elif value is not None and value is not False and value != param.default and isinstance(param, click.Option):
            parts.append(param.opts[-1] if len(param.opts) > 1 and param.opts[-1].startswith("--") else param.opts[0])
            if not param.is_flag:
                parts.append(str(value))
    return " ".join(shlex.quote(p) for p in parts)


def _system_flag(name: str):
    """``--system NAME|FILE``: an unknown name is a bad flag (exit 2, as in every command); a
    file that exists but is not a valid value system stays a data error (exit 3)."""
    from clave_lite.valuesystem import load_system

    try:
        return load_system(name)
    except errors.ValueSystemError as exc:
        if Path(name).exists():
            raise
        raise errors.UnknownNameError(f"--system: {exc}") from None


def _default_evaluator_path() -> Path:
    from clave_lite.default_model import default_evaluator_path

    return default_evaluator_path(progress=lambda msg: click.echo(msg, err=True))


def _load_evaluator(model_path: Path | None, backend: str = "gguf", threads: int | None = None, gpu_layers: int = 0,
                    provider: str = "cpu"):
    from clave_lite.evaluator import Evaluator

    path = model_path or _default_evaluator_path()
    return Evaluator.load(path, backend=backend, n_threads=threads, n_gpu_layers=gpu_layers, provider=provider)


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
    from clave_lite.jsonl import ProblemLog
    from clave_lite.output import ScoreOutput, run_state
    from clave_lite.scoring import read_texts

    writer = ScoreOutput(output, resume=resume, force=force)  # refuses an existing file before any work
    log = ProblemLog(on_error)
    records = list(read_texts(input_path, log))
    skipped = _report_problems(log.problems)
    if not records:  # documented: exit 0 (or 7 if every line was skipped), and say so
        click.echo(f"note: no texts in {'stdin' if str(input_path) == '-' else input_path}; nothing to score", err=True)
    evaluator = _load_evaluator(model_path, "gguf", threads, gpu_layers, provider)
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


@cli.command("eval")
@click.argument("data", type=click.Path(path_type=Path))
@model_option
@click.option("--backend", type=click.Choice(["gguf", "torch"]), default="gguf", show_default=True,
              help="What runs the model: llama.cpp, or the fp32 torch reference (needs the bake extra).")
@click.option("--reference", "reference_backend", type=click.Choice(["torch"]), default=None,
              help="Also run this backend on the same file and report agreement with it.")
@click.option("--predictions", type=click.Path(path_type=Path), default=None,
              help="Score these predicted tuples instead of running a model.")
@click.option("--save-predictions", type=click.Path(path_type=Path), default=None,
              help="Write the model's predicted tuples (JSONL) here (checked before scoring; an existing "
                   "non-empty file needs --force, an input file is never overwritten).")
@click.option("--force", is_flag=True, help="Let --save-predictions overwrite an existing file.")
@click.option("--system", "system_name", default=None,
              help="Value system of DATA when its tuples carry none.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Evaluate only the first N texts (quick checks; reported figures use full splits).")
@click.option("--baselines", "baseline_spec", default=None, metavar="LIST",
              help="Also train and score anchors on the same texts, comma-separated: majority, tfidf, "
                   "minilm (these need --train), zeroshot (the bare base model). Needs the baselines extra.")
@click.option("--train", "train_data", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Labelled tuples the baselines are trained on (the evaluator's own training data).")
@click.option("--compare", "compare_specs", multiple=True, metavar="MODEL",
              help="Evaluate several models side by side (repeatable): a .gguf file, an ONNX directory, or "
                   "torch:FILE.gguf for the fp32 reference, which the others' agreement is measured against.")
@provider_option
@click.option("--inject", is_flag=True,
              help="Prompt-injection check: score each text clean and with held-out appended instructions; "
                   "report how often a verdict flips.")
@threads_option
@on_error_option
@json_option
def evaluate(data: Path, model_path: Path | None, backend: str, reference_backend: str | None,
             predictions: Path | None, save_predictions: Path | None, force: bool, system_name: str | None,
             limit: int | None, baseline_spec: str | None, train_data: Path | None, compare_specs: tuple[str, ...],
             provider: str, inject: bool, threads: int | None, on_error: str, as_json: bool) -> None:
    """Measure an evaluator on labelled tuples: accuracy, macro_f1, value_f1_mean,
    per-value F1 and confusion matrices.

    \b
    Examples:
      clave-lite eval dev.jsonl                               # the default evaluator
      clave-lite eval dev.jsonl --model my.gguf --reference torch --json
      clave-lite eval dev.jsonl --predictions predicted.jsonl # no model: compare files
      clave-lite eval dev.jsonl --compare torch:m.f32.gguf --compare m.gguf --compare m-onnx/
      clave-lite eval dev.jsonl --inject --limit 100          # verdict flip rate under attack
      clave-lite eval dev.jsonl --model my.gguf --baselines majority,tfidf,minilm,zeroshot --train train.jsonl
    """
    if compare_specs:
        from clave_lite.comparison import ModelSpec, compare, render

        specs = [ModelSpec.parse(spec) for spec in compare_specs]
        result = compare(specs, data, system_name, limit, threads, progress=lambda m: click.echo(m, err=True))
        click.echo(json.dumps(result, indent=2) if as_json else render(result))
        return
    from clave_lite.evaluation import agreement, evaluate as run_eval, predict
    from clave_lite.jsonl import write_jsonl_atomic
    from clave_lite.metrics import compute, join
    from clave_lite.render import metrics_report
    from clave_lite.tuples import read_tuples
    from clave_lite.valuesystem import load_system

    if save_predictions is not None:
        from clave_lite.jsonl import check_output

        check_output(save_predictions, [p for p in (data, predictions, train_data) if p is not None], force)
    system = _system_flag(system_name) if system_name else None
    system_name = system.name if system else None  # a --system FILE is known by its name
    baseline_names = []
    if baseline_spec:
        from clave_lite import baselines as baseline_mod

        baseline_names = baseline_mod.parse(baseline_spec)
        if any(n in baseline_mod.NEEDS_TRAIN for n in baseline_names) and train_data is None:
            raise click.UsageError("--baselines majority/tfidf/minilm are trained: pass --train FILE")
    gold, problems = read_tuples(data, system, on_error)
    if limit:
        keep = list(dict.fromkeys(t.key for t in gold))[:limit]
        keep_set = set(keep)
        gold = [t for t in gold if t.key in keep_set]
    if predictions is not None:
        pred, p2 = read_tuples(predictions, system, on_error)
        problems += p2
        result: dict[str, Any] = compute(join(gold, pred))
    else:
        evaluator = _load_evaluator(model_path, backend, threads, provider=provider)
        if inject:
            from clave_lite.injection_eval import flip_rates, render as render_flips

            report = flip_rates(evaluator, gold, system_name, progress=lambda m: click.echo(f"inject: {m}", err=True))
            evaluator.close()
            click.echo(json.dumps(report, indent=2) if as_json else render_flips(report))
            return
        anchors: dict[str, Any] = {}
        if baseline_names:  # before the evaluator's pass: a failing anchor then costs seconds, not a run
            from clave_lite import baselines as baseline_mod

            train_tuples = read_tuples(train_data, system, on_error)[0] if train_data else None
            for name in baseline_names:
                click.echo(f"baseline: {name}", err=True)
                anchors[name] = compute(join(gold, baseline_mod.run(name, train_tuples, gold, evaluator, system_name)))
        n_texts = len({t.key for t in gold})
        with click.progressbar(length=n_texts, label=f"eval ({backend})", file=sys.stderr, show_eta=True) as bar:
            scored = predict(evaluator, gold, system_name, progress=bar.update)
        result = run_eval(gold, scored, lambda s: evaluator.manifest.temperature(
            evaluator.manifest.system(s or system_name).name))
        result["model"] = str(evaluator.backend.path) if hasattr(evaluator.backend, "path") else str(model_path)
        result["backend"] = backend
        if baseline_names:
            result["baselines"] = anchors
            result["train_data"] = str(train_data) if train_data else None
        evaluator.close()
        if reference_backend:
            model_file = Path(result["model"])
            f32 = model_file.with_name(model_file.stem + ".f32.gguf")
            ref_file = f32 if f32.exists() else model_file  # the merged fp32 model when kept
            result["reference_model"] = str(ref_file)
            ref = _load_evaluator(ref_file, reference_backend, threads)
            with click.progressbar(length=n_texts, label=f"eval ({reference_backend})", file=sys.stderr) as bar:
                ref_scored = predict(ref, gold, system_name, progress=bar.update)
            result["agreement"] = {reference_backend: agreement(scored, ref_scored)}
            ref.close()
        if save_predictions:
            write_jsonl_atomic(save_predictions, (t.to_dict() for t in scored.predictions))
    skipped = _report_problems(problems)
    if as_json:
        _emit_json(result)
    else:
        click.echo(metrics_report(result))
        if result.get("baselines"):
            from clave_lite.render import anchors_table

            click.echo("\nbeside the anchors (same texts; 95 % bootstrap intervals over texts):")
            click.echo(anchors_table(result))
        for name, agree in result.get("agreement", {}).items():
            click.echo(f"\nagreement with {name}: argmax {agree['argmax_agreement']:.4f}, "
                       f"max prob diff {agree['max_prob_diff']:.4f} over {agree['n']} tuples")
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@model_option
@click.option("--system", "system_name", default=None, help="Value system to score (default: the evaluator's first).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Distinct texts to time.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=8, show_default=True, help="Texts per decode / onnxruntime run.")
@click.option("--reference-texts", type=click.IntRange(min=0), default=3, show_default=True,
              help="Texts for the naive transformers reference (0 = skip; needs the bake extra).")
@click.option("--latency-texts", type=click.IntRange(min=0), default=10, show_default=True, help="Texts timed one at a time.")
@threads_option
@provider_option
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Also write the JSON result here.")
@json_option
def bench(data: Path, model_path: Path | None, system_name: str | None, limit: int, batch_size: int,
          reference_texts: int, latency_texts: int, threads: int | None, provider: str, output: Path | None,
          as_json: bool) -> None:
    """Time an evaluator here: responses/s, pairs/s, latency, memory, roofline.

    DATA is JSONL with a `text` field (scoring input or labelled tuples; each distinct
    text is used once). Every figure comes with its ratio to what it should be compared
    with, measured in the same run: one value vs all values, a naive transformers
    reference (one prompt per (text, value)), and numpy's matmul peak on this CPU.

    \b
    Examples:
      clave-lite bench examples/responses.jsonl
      clave-lite bench fulcra-dev.jsonl --limit 40 --json -o bench.json
      clave-lite bench dev.jsonl --model evaluator-onnx/ --reference-texts 0
    """
    from clave_lite.bench import distinct_texts, render, run_bench, save_result

    texts = distinct_texts(data, limit)
    path = model_path or _default_evaluator_path()
    result = run_bench(path, texts, system_name, batch_size, threads, reference_texts, latency_texts, provider,
                       progress=lambda m: click.echo(f"bench: {m}", err=True))
    result["command"] = _command_line(click.get_current_context())
    if output:
        save_result(output, result)
    if as_json:
        _emit_json(result)
    else:
        click.echo(render(result, result["command"]))


def _per_system(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> dict[str, int]:
    """``N`` or ``SYSTEM=N`` (repeatable) → {system or "*": N}."""
    limits: dict[str, int] = {}
    for item in items:
        key, _, number = item.rpartition("=")
        try:
            limits[key or "*"] = int(number)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected N or SYSTEM=N") from None
        if limits[key or "*"] < 0:
            raise click.BadParameter(f"{item!r}: N must be 0 or more")
    return limits


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
@click.option("--tokens-per-step", type=click.IntRange(min=16), default=2048, show_default=True,
              help="Batch size in tokens (text + value suffixes, padded).")
@click.option("--max-texts", multiple=True, callback=_per_system, metavar="[SYSTEM=]N",
              help="Sample at most N texts per value system; SYSTEM=N for one system (repeatable).")
@click.option("--max-unrelated", multiple=True, callback=_per_system, metavar="[SYSTEM=]N",
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
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init-from", "init_from", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Warm-start the LoRA from an earlier run directory (same base and --rank), or from "
                   "'default', the embedded default evaluator (a good start for a new value system); "
                   "its training texts stay out of bias tuning.")
@click.option("--resume", is_flag=True, help="Continue from the run directory's last checkpoint.")
@on_error_option
@json_option
def train(data: tuple[Path, ...], out_dir: Path, system_name: str | None, base: str, epochs: float, lr: float,
          rank: int, tokens_per_step: int, max_texts: dict[str, int], max_unrelated: dict[str, int],
          template_name: str, concepts_pool: Path | None, inject_rate: float, class_weight: str, seed: int,
          init_from: Path | None, resume: bool, on_error: str, as_json: bool) -> None:
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
        _system_flag(system_name)  # an unknown --system fails now, not after loading the base
    errors.require("torch", "bake")
    errors.require("peft", "bake")
    from clave_lite.export.recipes import train_run
    from clave_lite.export.train import TrainConfig

    cfg = TrainConfig(epochs=epochs, lr=lr, rank=rank, alpha=2 * rank, tokens_per_step=tokens_per_step, seed=seed,
                      class_weight=class_weight)
    base_file = Path(base) if base.endswith(".gguf") else None
    bar = None

    def progress(step: int, total: int, loss: float) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="training", file=sys.stderr, show_eta=True, show_pos=True)
            bar.__enter__()
            bar.update(step - 1)
        bar.label = f"training (loss {loss:.3f})"
        bar.update(1)

    if init_from is not None and str(init_from) == "default" and not init_from.is_dir():
        from clave_lite.default_model import default_dir
        init_from = default_dir()
    try:
        run = train_run(list(data), out_dir, system_name, base if not base_file else "gemma3-270m", cfg,
                        resume=resume, on_error=on_error, max_texts=max_texts, max_unrelated=max_unrelated,
                        base_file=base_file, template=template_name, inject_rate=inject_rate,
                        concepts=concepts_pool, init_from=init_from, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    summary = {"run": str(out_dir), **run["train"], "data": run["data"]}
    if as_json:
        _emit_json(summary)
    else:
        t = run["train"]
        click.echo(f"trained {t['steps']} steps on {t['examples']} examples in {t['seconds']} s "
                   f"({t['seconds_per_pair']} s per (text, value) pair); adapter in {out_dir / 'adapter'}")


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
@click.option("--tune", "tune_data", type=click.Path(path_type=Path), default=None,
              help="Labelled tuples to tune decision biases on (texts used in training are left out).")
@click.option("--tune-limit", type=click.IntRange(min=1), default=None, help="Tune on at most N texts per value system.")
@click.option("--tune-per-value/--tune-per-system", "per_value", default=True, show_default=True,
              help="After the system's bias, move each value's 'supports' bias on its own where that lifts the "
                   "held-out objective (values with >=5 labelled positives only).")
@json_option
def export(run_dir: Path, output: Path, fmt: str, quant: str | None, keep_f32: bool, tune_data: Path | None,
           tune_limit: int | None, per_value: bool, as_json: bool) -> None:
    """Merge a training run's adapter into its base and write one evaluator file.

    The file carries its value systems, prompt template, label tokens and training-data
    fingerprint, and is validated before it is handed out.
    """
    from clave_lite.export.recipes import export_onnx_run, export_run

    valid = {"gguf": ("q8_0", "q4_k_m", "f16", "f32"), "onnx": ("int8", "int8-dynamic", "fp16", "none")}[fmt]
    quant = quant or valid[0]
    if quant not in valid:
        raise click.UsageError(f"--quant {quant} does not apply to --format {fmt} (choose {', '.join(valid)})")
    if fmt == "onnx":  # the ONNX graph is traced from torch; GGUF export needs neither
        errors.require("torch", "bake")
        errors.require("onnx", "bake")
        report = export_onnx_run(run_dir, output, quant)
        if as_json:
            _emit_json({"output": str(output), "format": fmt, **report})
        else:
            click.echo(f"wrote {output}/ (onnx, {quant}): " + ", ".join(f"{k} {v}" for k, v in report.items()))
        return
    path, tuning = export_run(run_dir, output, quant=quant, keep_f32=keep_f32, tune_data=tune_data,
                              tune_limit=tune_limit, per_value=per_value, progress=lambda m: click.echo(m, err=True))
    info = {"output": str(path), "format": fmt, "quant": quant, "bytes": path.stat().st_size, "tuning": tuning}
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
    if as_json:
        _emit_json(info)
    else:
        click.echo(f"wrote {path} ({info['bytes'] / 2**20:.1f} MiB, {quant})")


class _StageBars:
    """calibrate's stages (embedding, calls) as click progress bars on stderr."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, stage: str, total: int) -> None:
        self.finish()
        self._bar = click.progressbar(length=total, label=stage, file=sys.stderr, show_eta=True, show_pos=True)
        self._bar.__enter__()

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


ESTIMATE_NAMES = {"adapted": "clave-lite adapted", "as-is": "evaluator as it was", "tfidf": "TF-IDF + LR"}


def _render_adapt(report) -> None:
    click.echo(f"fold estimate on {report.system}: {report.tuples} tuples, {report.groups} groups, "
               f"{report.folds} group folds (nested: nothing reported here chose anything)")
    goal = report.objective
    title = {"macro_f1": "macro-F1", "value_f1_mean": "value-F1"}.get(goal, goal)
    click.echo(f"  {'':22} {title:>8}  {'95 % interval':>15}  {'supports':>8}  {'opposes':>8}  {'unrelated':>9}")
    for e in report.estimates:
        lo, hi = e.interval(goal) or (float("nan"), float("nan"))
        figure = e.figure(goal)
        cells = [f"{e.f1(lab):8.3f}" if e.f1(lab) is not None else f"{'-':>8}"
                 for lab in ("supports", "opposes", "unrelated")]
        click.echo(f"  {ESTIMATE_NAMES.get(e.name, e.name):22} {figure if figure is not None else float('nan'):8.3f}  "
                   f"[{lo:.3f}, {hi:.3f}]  "
                   f"{cells[0]}  {cells[1]}  {cells[2]:>9}")
    click.echo(f"readout: {report.chosen} (chosen by folds; per outer fold: {', '.join(report.chosen_per_fold)}); "
               f"temperature {report.temperature:g}")
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
              help="Group folds for choosing the readout and for the fold estimate.")
@click.option("--group-regex", default=None, metavar="REGEX",
              help="Tuples whose ids share this regex's first group stay in one fold (e.g. '^([^-]+)' keeps "
                   "both actions of a MoralChoice scenario together). Default: one group per text.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fold assignment.")
@threads_option
@click.option("--force", is_flag=True, help="Overwrite an existing output file (never an input).")
@on_error_option
@json_option
def adapt(system_path: Path, labels_path: Path, output: Path, model_path: Path | None, folds: int,
          group_regex: str | None, seed: int, threads: int | None, force: bool, on_error: str, as_json: bool) -> None:
    """Adapt an evaluator to a new value system from ~100 labelled tuples per value.

    Reads every labelled text once with the evaluator, fits a linear readout of its hidden
    state per value (chosen by group folds over your labels, no model training), and writes a
    copy of the evaluator that carries your system. Prints the fold estimate next to the
    evaluator as it was and TF-IDF + logistic regression on the same folds, so you know
    whether to trust it. Needs `pip install 'clave-lite[adapt]'`; 8 min for gert10's 1,000
    short tuples on 2 cores (measured).

    \b
    Example (Gert's ten moral rules, 100 labels per rule):
      clave-lite adapt --system gert10.yaml --labels calibration.jsonl \\
        --group-regex '^([^-]+)' -o gert10.gguf
      clave-lite score texts.jsonl --model gert10.gguf
    """
    from clave_lite.adapt import AdaptOptions, adapt as run_adapt

    if model_path is None:
        _default_evaluator_path()  # build it now, with its message, not inside the job
    opts = AdaptOptions(system=system_path, labels=labels_path, output=output, model=model_path, folds=folds,
                        group_regex=group_regex, seed=seed, threads=threads, force=force, on_error=on_error)
    report = run_adapt(opts, _StageBars())
    if as_json:
        _emit_json(report.to_dict())
    else:
        _render_adapt(report)


def _csv_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@cli.command()
@click.option("--system", "system_name", required=True, help="Value system of the labels (built-in name or YAML file).")
@click.option("--labels", "labels_path", required=True, type=click.Path(path_type=Path),
              help="Labelled-tuple JSONL: the human-labelled samples.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Concept pool to write (JSONL); its plan and status go to OUTPUT.run.json.")
@click.option("--llm-base-url", envvar="CLAVE_LITE_LLM_BASE_URL", default=None,
              help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1. [env CLAVE_LITE_LLM_BASE_URL]")
@click.option("--llm-model", envvar="CLAVE_LITE_LLM_MODEL", required=True,
              help="Model name sent to the endpoint (also the cache's key). [env CLAVE_LITE_LLM_MODEL]")
@click.option("--budget", type=click.IntRange(min=1), default=None,
              help="At most N samples (one call each, plus JSON repairs): K-Means representatives per "
                   "value and label. Default: every sample.")
@click.option("--values", default=None, help="Comma-separated values to extract (default: all).")
@click.option("--only-labels", default=None, help="Comma-separated labels to extract, e.g. supports,opposes.")
@click.option("--embedder", type=click.Choice(["minilm", "ngram"]), default="minilm", show_default=True,
              help="Sample embeddings for K-Means (only used when --budget cuts): all-MiniLM-L6-v2 "
                   "(calibrate extra), or hashed character n-grams (numpy, any language).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Calls in flight.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds to wait for one answer.")
@click.option("--max-retries", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Retries per call on timeouts, connection errors, 429 and 5xx.")
@click.option("--retry-base-delay", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="First backoff in seconds (doubles per retry, with jitter; Retry-After wins if longer).")
@click.option("--json-retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Repair prompts for an answer that is not valid concept JSON, before the sample is skipped.")
@click.option("--max-tokens", type=click.IntRange(min=16), default=256, show_default=True)
@click.option("--temperature", type=click.FloatRange(0, 2), default=0.2, show_default=True)
@click.option("--response-format", type=click.Choice(["auto", "json_schema", "json_object", "none"]),
              default="auto", show_default=True,
              help="How the JSON schema is sent; auto falls back json_schema → json_object → none.")
@click.option("--max-text-chars", type=click.IntRange(min=100), default=2000, show_default=True,
              help="Longer texts are cut to this many characters in the prompt.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Answer cache (default: $CLAVE_LITE_HOME/llm-cache).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue OUTPUT.run.json's plan; cached answers are not asked again.")
@click.option("--force", is_flag=True, help="Start over even if OUTPUT or an unfinished run exists.")
@click.option("--dry-run", is_flag=True, help="Print calls and estimated tokens, send nothing.")
@on_error_option
@json_option
def calibrate(system_name: str, labels_path: Path, output: Path, llm_base_url: str | None, llm_model: str,
              budget: int | None, values: str | None, only_labels: str | None, embedder: str, concurrency: int,
              timeout: float, max_retries: int, retry_base_delay: float, json_retries: int, max_tokens: int,
              temperature: float, response_format: str, max_text_chars: int, cache_dir: Path | None, seed: int,
              resume: bool, force: bool, dry_run: bool, on_error: str, as_json: bool) -> None:
    """Extract value concepts from labelled samples with an LLM (CLAVE's calibration).

    Calls any OpenAI-compatible chat-completions endpoint (hosted, vLLM, llama.cpp) once per
    selected sample and writes the concept pool: one JSONL row per concept with its value,
    human label and source samples. The API key comes from CLAVE_LITE_LLM_API_KEY (or
    OPENAI_API_KEY), never from a flag. Every answer is cached, so a rerun or --resume after
    a crash never pays twice.

    \b
    Example (a local llama.cpp server):
      python -m clave_lite.llm_server --model SmolLM2-135M-Instruct.Q4_1.gguf --port 8080
      clave-lite calibrate --system schwartz10 --labels fulcra-train.jsonl -o concepts.jsonl \\
          --llm-base-url http://127.0.0.1:8080/v1 --llm-model smollm2 --budget 40 --dry-run
      clave-lite calibrate ... (same flags, without --dry-run)
      clave-lite concepts show concepts.jsonl
    """
    from clave_lite.calibrate import CalibrateOptions, calibrate as run_calibration, dry_run as estimate

    opts = CalibrateOptions(
        system=system_name, labels=labels_path, output=output, model=llm_model, base_url=llm_base_url,
        budget=budget, values=_csv_list(values), only_labels=_csv_list(only_labels), embedder=embedder, seed=seed,
        concurrency=concurrency, timeout=timeout, max_retries=max_retries, retry_base_delay=retry_base_delay,
        json_retries=json_retries, max_tokens=max_tokens, temperature=temperature, response_format=response_format,
        max_text_chars=max_text_chars, cache_dir=cache_dir, resume=resume, force=force, on_error=on_error)
    if opts.only_labels:
        from clave_lite.tuples import normalize_label

        bad = [lab for lab in opts.only_labels if normalize_label(lab) is None]
        if bad:
            raise click.BadParameter(f"{', '.join(bad)}: not a label", param_hint="--only-labels")
        opts.only_labels = [normalize_label(lab) for lab in opts.only_labels]  # type: ignore[misc]
    report = estimate(opts, _StageBars()) if dry_run else run_calibration(opts, _StageBars())
    problems = report.pop("problems", [])
    skipped = _report_problems(problems)
    if as_json:
        _emit_json({**report, "problems": [str(p) for p in problems]})
    elif dry_run:
        click.echo(f"dry run: {report['samples']} samples in {report['groups']} (value, label) groups, "
                   f"{report['cached']} already cached; {report['calls']} calls to pay for "
                   f"(at most {report['max_calls']} with JSON repairs), about {report['prompt_tokens_estimate']} "
                   f"prompt tokens and at most {report['completion_tokens_max']} completion tokens. Nothing was sent.")
    elif report["status"] == "already complete":
        click.echo(f"{report['pool']}: already complete (see {report['run_file']}); nothing to do")
    else:
        click.echo(f"wrote {report['concepts']} concepts from {report['samples_with_concepts']} of {report['samples']} "
                   f"samples to {report['pool']}: {report['calls']} calls ({report['retries']} retries, "
                   f"{report['repairs']} JSON repairs), {report['cache_hits']} cache hits, "
                   f"{report['prompt_tokens']}+{report['completion_tokens']} tokens, {report['seconds']} s")
    if skipped:
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
    from clave_lite.concepts import format_summary, read_pool, summarize

    rows, problems = read_pool(pool, on_error)
    skipped = _report_problems(problems)
    summary = summarize(rows, examples)
    if as_json:
        _emit_json({"pool": str(pool), **summary})
    else:
        click.echo(format_summary(summary, str(pool)))
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


@concepts.command("from-fulcra")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The concept pool to write.")
@on_error_option
@json_option
def concepts_from_fulcra(inputs: tuple[Path, ...], output: Path, on_error: str, as_json: bool) -> None:
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
    from clave_lite.concepts import write_pool
    from clave_lite.human_concepts import fulcra_item_pool

    pool, problems = fulcra_item_pool(list(inputs), on_error)
    count = write_pool(output, pool)
    skipped = _report_problems(problems)
    summary = {"output": str(output), "concepts": count, "sources": sum(len(c.source_ids) for c in pool),
               "notes": sum(p.kind == "note" for p in problems), "skipped_lines": skipped}
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"wrote {count} concepts ({summary['sources']} annotated (dialogue, item) sources) to {output}")
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)


def main() -> None:
    cli(prog_name="clave-lite")


if __name__ == "__main__":
    main()
