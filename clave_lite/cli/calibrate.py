"""`calibrate`: value concepts from labelled samples via a hosted LLM."""

from __future__ import annotations

import sys
from typing import Any

import click

from clave_lite import errors
from clave_lite.calibration.options import CalibrateOptions, DryRunReport
from clave_lite.cli.app import (
    Bars,
    cli,
    emit_json,
    json_option,
    report_problems,
)
from clave_lite.cli.options import build, flags_from


@cli.command()
@flags_from(CalibrateOptions)
@click.option("--dry-run", is_flag=True, help="Print calls and estimated tokens, send nothing.")
@json_option
def calibrate(dry_run: bool, as_json: bool, **fields: Any) -> None:
    """Extract value concepts from labelled samples with an LLM (CLAVE's calibration).

    Calls any OpenAI-compatible chat-completions endpoint (hosted, vLLM, llama.cpp) once per
    selected sample and writes the concept pool: one JSONL row per concept with its value,
    human label and source samples. The API key comes from CLAVE_LITE_LLM_API_KEY (or
    OPENAI_API_KEY), never from a flag. Every answer is cached, so a rerun or --resume after
    a crash never pays twice.

    \b
    Example (a local llama.cpp server):
      python -m clave_lite.calibration.llm_server --model SmolLM2-135M-Instruct.Q4_1.gguf --port 8080
      clave-lite calibrate --system schwartz10 --labels fulcra-train.jsonl -o concepts.jsonl \\
          --llm-base-url http://127.0.0.1:8080/v1 --llm-model smollm2 --budget 40 --dry-run
      clave-lite calibrate ... (same flags, without --dry-run)
      clave-lite concepts show concepts.jsonl
    """
    from clave_lite.calibration.run import calibrate as run_calibration
    from clave_lite.calibration.run import dry_run as estimate

    opts = build(CalibrateOptions, fields)
    report = estimate(opts, Bars()) if dry_run else run_calibration(opts, Bars())
    skipped = report_problems(list(report.problems))
    if as_json:
        emit_json(report.to_dict())
    elif isinstance(report, DryRunReport):  # dry_run
        click.echo(f"dry run: {report.samples} samples in {report.groups} (value, label) groups, "
                   f"{report.cached} already cached; {report.calls} calls to pay for "
                   f"(at most {report.max_calls} with JSON repairs), about {report.prompt_tokens_estimate} "
                   f"prompt tokens and at most {report.completion_tokens_max} completion tokens. Nothing was sent.")
    elif report.status == "already complete":
        click.echo(f"{report.pool}: already complete (see {report.run_file}); nothing to do")
    else:
        click.echo(f"wrote {report.concepts} concepts from {report.samples_with_concepts} of {report.samples} "
                   f"samples to {report.pool}: {report.calls} calls ({report.retries} retries, "
                   f"{report.repairs} JSON repairs), {report.cache_hits} cache hits, "
                   f"{report.prompt_tokens}+{report.completion_tokens} tokens, {report.seconds} s")
    if skipped:
        sys.exit(errors.EXIT_PARTIAL)

