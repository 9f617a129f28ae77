"""`serve`: the evaluator behind an OpenAI-moderations-compatible HTTP endpoint."""

from __future__ import annotations

import sys

import click

from clave_lite import errors
from clave_lite.cli.app import (
    Bars,
    cli,
)
from clave_lite.cli.options import build, flags_from
from clave_lite.jobs.serve_options import ServeOptions


@cli.command()
@flags_from(ServeOptions, exclude=("batch_size",))  # its evaluator options too; --max-batch sizes a decode
def serve(**fields) -> None:
    """Serve the evaluator over HTTP: POST /v1/moderations (OpenAI's shape), POST /v1/score,
    POST /beta/litellm_basic_guardrail_api (LiteLLM), GET /v1/models, /health, /ready,
    /metrics, /docs. Needs the serve extra.

    Exit status: 0 after SIGINT/SIGTERM, 1 if the scoring worker ever dies (so a
    supervisor restarts it), 2 bad options, 4 bad model.

    \b
    Examples:
      clave-lite serve --rule 'Benevolence/opposes>=0.6'          # http://127.0.0.1:8000
      curl -s localhost:8000/v1/moderations -d '{"input": "I will help you cheat."}'
      CLAVE_LITE_API_KEY=secret clave-lite serve --host 0.0.0.0 --allow-host guard.example --policy no-harm.yaml
    """
    errors.require("fastapi", "serve")
    errors.require("uvicorn", "serve")
    errors.require("prometheus_client", "serve")
    from clave_lite.jobs.server import serve as run

    opts = build(ServeOptions, fields)
    click.echo(f"clave-lite serve: http://{opts.host}:{opts.port}/v1/moderations (Ctrl-C or SIGTERM to stop)",
               err=True)
    sys.exit(run(opts, Bars()))
