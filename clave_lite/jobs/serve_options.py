"""What ``clave-lite serve`` is told: one dataclass, whose fields are also its command-line
flags (:func:`clave_lite.cli.options.flags_from`). No web framework is imported here, so the
CLI can list the flags without the serve extra."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clave_lite.build.loading import ModelOptions
from clave_lite.options import option

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeOptions(ModelOptions):
    policy: Path | None = option(None, "Policy file deciding `flagged` (default: any value decided `opposes`).",
                                 kind="path")
    rules: tuple[str, ...] = option((), "A policy rule VALUE/LABEL[>=P] (repeatable).", kind="multi", flag="--rule")
    system: str | None = option(None, "Value system served (default: the policy's, else the evaluator's first).")
    on_truncated: str | None = option(None, "A text longer than the evaluator reads (--windows): 'flag' it (default) "
                                      "or 'score' it on what was read.", kind="choice", choices=("flag", "score"))
    host: str = option("127.0.0.1", "Address to bind. Anything but loopback needs CLAVE_LITE_API_KEY.",
                       envvar="CLAVE_LITE_HOST")
    port: int = option(8000, "Port.", kind="int", min=1, max=65535, envvar="CLAVE_LITE_PORT")
    allow_hosts: tuple[str, ...] = option((), "A Host header to accept besides the bound address and loopback "
                                          "names (repeatable; '*' accepts any).", kind="multi", flag="--allow-host")
    max_batch: int = option(16, "Texts of concurrent requests scored together in one decode.", kind="int", min=1,
                            max=512)
    max_queue: int = option(64, "Requests that may wait for the model; more get 503 with Retry-After.", kind="int",
                            min=1, max=100000)
    max_inputs: int = option(64, "Inputs per request.", kind="int", min=1, max=10000)
    max_body_bytes: int = option(1 << 20, "Largest request body (then 413).", kind="int", min=1024)
    max_text_chars: int = option(200_000, "Longest input text (then 413; never cut: a long text is read in "
                                 "windows and the result says `truncated` when some of it was not).", kind="int", min=16)
    timeout: float = option(60.0, "Seconds a request may wait for its scores (then 504).", kind="float", min=0.1)
    io_timeout: float = option(10.0, "Seconds a client may take to send its headers or body (then closed / 408).",
                               kind="float", min=0.1)
    max_connections: int = option(256, "Open connections at most; more get 503.", kind="int", min=1)
    shutdown_grace: float = option(2.0, "On SIGTERM, seconds to keep scoring queued requests; the rest get 503.",
                                   kind="float", min=0)
    log_texts: bool = option(False, "Put the scored texts in the request log (off: counts and decisions only).",
                             kind="flag")
