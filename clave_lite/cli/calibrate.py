"""`calibrate`: value concepts from labelled samples via a hosted LLM."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from clave_lite import errors
from clave_lite.cli.app import (
    Bars,
    cli,
    csv_list,
    emit_json,
    json_option,
    on_error_option,
    report_problems,
)


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
      python -m clave_lite.runtime.llm_server --model SmolLM2-135M-Instruct.Q4_1.gguf --port 8080
      clave-lite calibrate --system schwartz10 --labels fulcra-train.jsonl -o concepts.jsonl \\
          --llm-base-url http://127.0.0.1:8080/v1 --llm-model smollm2 --budget 40 --dry-run
      clave-lite calibrate ... (same flags, without --dry-run)
      clave-lite concepts show concepts.jsonl
    """
    from clave_lite.calibration.run import CalibrateOptions
    from clave_lite.calibration.run import calibrate as run_calibration
    from clave_lite.calibration.run import dry_run as estimate

    opts = CalibrateOptions(
        system=system_name, labels=labels_path, output=output, model=llm_model, base_url=llm_base_url,
        budget=budget, values=csv_list(values), only_labels=csv_list(only_labels), embedder=embedder, seed=seed,
        concurrency=concurrency, timeout=timeout, max_retries=max_retries, retry_base_delay=retry_base_delay,
        json_retries=json_retries, max_tokens=max_tokens, temperature=temperature, response_format=response_format,
        max_text_chars=max_text_chars, cache_dir=cache_dir, resume=resume, force=force, on_error=on_error)
    if opts.only_labels:
        from clave_lite.core.tuples import normalize_label

        bad = [lab for lab in opts.only_labels if normalize_label(lab) is None]
        if bad:
            raise click.BadParameter(f"{', '.join(bad)}: not a label", param_hint="--only-labels")
        opts.only_labels = [normalize_label(lab) for lab in opts.only_labels]  # type: ignore[misc]
    report = estimate(opts, Bars()) if dry_run else run_calibration(opts, Bars())
    problems = report.pop("problems", [])
    skipped = report_problems(problems)
    if as_json:
        emit_json({**report, "problems": [str(p) for p in problems]})
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

