"""`serve`: the evaluator behind an OpenAI-moderations-compatible HTTP endpoint."""

from __future__ import annotations

from pathlib import Path

import click

from clave_lite import errors
from clave_lite.cli.app import (
    Bars,
    cli,
    gpu_option,
    model_option,
    provider_option,
    threads_option,
)


@cli.command()
@model_option
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Policy file deciding `flagged` (default: any value decided `opposes`).")
@click.option("--rule", "rules", multiple=True, metavar="VALUE/LABEL[>=P]", help="A policy rule (repeatable).")
@click.option("--system", "system_name", default=None, help="Value system served (default: the policy's, else the evaluator's first).")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="CLAVE_LITE_HOST",
              help="Address to bind. Anything but loopback needs CLAVE_LITE_API_KEY (a bearer token).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, envvar="CLAVE_LITE_PORT")
@click.option("--max-batch", type=click.IntRange(1, 512), default=16, show_default=True,
              help="Texts of concurrent requests scored together in one decode.")
@click.option("--max-queue", type=click.IntRange(1, 100000), default=64, show_default=True,
              help="Requests that may wait for the model; more get 503 with Retry-After.")
@click.option("--max-inputs", type=click.IntRange(1, 10000), default=64, show_default=True, help="Inputs per request.")
@click.option("--max-body-bytes", type=click.IntRange(1024), default=1 << 20, show_default=True)
@click.option("--max-text-chars", type=click.IntRange(16), default=20000, show_default=True,
              help="Longer inputs are cut (the result says `truncated`).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds a request may wait for its scores (then 504).")
@threads_option
@gpu_option
@provider_option
def serve(model_path: Path | None, policy: Path | None, rules: tuple[str, ...], system_name: str | None, host: str,
          port: int, max_batch: int, max_queue: int, max_inputs: int, max_body_bytes: int, max_text_chars: int,
          timeout: float, threads: int | None, gpu_layers: int, provider: str) -> None:
    """Serve the evaluator over HTTP: POST /v1/moderations (OpenAI's shape), POST /v1/score,
    GET /v1/models, GET /health. Needs the serve extra.

    \b
    Examples:
      clave-lite serve --rule 'Benevolence/opposes>=0.6'          # http://127.0.0.1:8000
      curl -s localhost:8000/v1/moderations -d '{"input": "I will help you cheat."}'
      CLAVE_LITE_API_KEY=secret clave-lite serve --host 0.0.0.0 --port 8080 --policy no-harm.yaml
    """
    errors.require("fastapi", "serve")
    errors.require("uvicorn", "serve")
    from clave_lite.runtime.server import ServeOptions
    from clave_lite.runtime.server import serve as run

    opts = ServeOptions(model=model_path, policy=policy, rules=rules, system=system_name, host=host, port=port,
                        max_batch=max_batch, max_queue=max_queue, max_inputs=max_inputs,
                        max_body_bytes=max_body_bytes, max_text_chars=max_text_chars, timeout=timeout,
                        threads=threads, gpu_layers=gpu_layers, provider=provider)
    click.echo(f"clave-lite serve: http://{host}:{port}/v1/moderations (Ctrl-C or SIGTERM to stop)", err=True)
    run(opts, Bars())
