"""``clave-lite serve``: the evaluator behind an HTTP API shaped like OpenAI's moderations.

- ``POST /v1/moderations``: ``{"input": str | [str], "model"?: str}`` → ``{"id", "model",
  "results": [{"flagged", "categories": {"Value/label": bool}, "category_scores": {"Value/label":
  p}, "fired": [...]}]}``. A category is one value and one label other than ``unrelated``
  (``Benevolence/opposes``): true when the evaluator decides that label; ``flagged`` is the
  policy's decision (default: any value decided ``opposes``).
- ``POST /v1/score``: ``{"input", "values"?, "explain"?}`` → the ``clave-lite score`` line of each
  input.
- ``GET /v1/models`` (the evaluator, its system, values, labels and policy) and ``GET /health``.

Concurrent requests share llama.cpp decodes through :class:`~clave_lite.runtime.batcher.Batcher`;
a full queue answers 503 with ``Retry-After``. Limits (body size, inputs per request, text
length, request time) answer 413 / 422 / 504 with a JSON message, never a traceback. It binds to
loopback unless told otherwise, and then only with a bearer token (``CLAVE_LITE_API_KEY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from clave_lite.errors import ClaveError, UsageError
from clave_lite.runtime.batcher import Batcher, QueueFull
from clave_lite.runtime.evaluator import ModelOptions

API_KEY_ENV = "CLAVE_LITE_API_KEY"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeOptions(ModelOptions):
    policy: Path | None = None
    rules: tuple[str, ...] = ()
    system: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 16
    """Texts per shared decode."""
    max_queue: int = 64
    """Requests waiting for the model before new ones get 503."""
    max_inputs: int = 64
    max_body_bytes: int = 1 << 20
    max_text_chars: int = 20000
    """Longer texts are cut (and the result says ``truncated``)."""
    timeout: float = 60.0
    """Seconds a request may wait for its scores before 504."""


def _error(status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


class _BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes is answered 413 before it is all read."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _error(413, f"request body over {self.limit} bytes")(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _error(413, f"request body over {self.limit} bytes")(scope, receive, send)


class _TooLarge(Exception):
    pass


class Service:
    """What the endpoints share: the evaluator, its system and policy, the batcher, the limits."""

    def __init__(self, evaluator: Any, opts: ServeOptions) -> None:
        from clave_lite.runtime.policy import load_policy

        policy = load_policy(opts.policy, opts.rules)
        self.policy, self.system, chosen = policy.resolve(evaluator, opts.system)
        self.values = tuple(v.name for v in chosen)
        self.evaluator, self.opts = evaluator, opts
        self.model_id = Path(evaluator.backend.path).stem
        self.batcher = Batcher(evaluator, self.system.name, opts.max_batch, opts.max_queue)

    def inputs(self, body: dict[str, Any]) -> tuple[list[str], list[bool]]:
        raw = body.get("input")
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
            raise _Invalid("'input' must be a string or a non-empty array of strings")
        if len(items) > self.opts.max_inputs:
            raise _Invalid(f"at most {self.opts.max_inputs} inputs per request, got {len(items)}")
        if any(not x.strip() for x in items):
            raise _Invalid("an input is empty")
        cut = self.opts.max_text_chars
        return [x[:cut] for x in items], [len(x) > cut for x in items]

    def chosen_values(self, body: dict[str, Any]) -> tuple[str, ...]:
        values = body.get("values")
        if values is None:
            return self.values
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise _Invalid("'values' must be a non-empty array of value names")
        out = []
        for v in values:
            found = self.system.find(v)
            if found is None:
                raise _Invalid(f"unknown value '{v}' in system '{self.system.name}' "
                               f"(known: {', '.join(self.system.value_names)})")
            out.append(found.name)
        return tuple(out)

    async def scores(self, texts: list[str], values: tuple[str, ...]):
        future = self.batcher.submit(texts, values)
        return await asyncio.wait_for(asyncio.wrap_future(future), self.opts.timeout)

    def moderation(self, result, truncated: bool) -> dict[str, Any]:
        labels = [lab for lab in self.system.labels if lab != "unrelated"]
        decision = self.policy.decide(result.scores)
        out = {"flagged": decision.flagged,
               "categories": {f"{s.value}/{lab}": s.label == lab for s in result.scores for lab in labels},
               "category_scores": {f"{s.value}/{lab}": round(s.probs[lab], 6) for s in result.scores for lab in labels},
               "fired": list(decision.fired)}
        if truncated:
            out["truncated"] = True
        return out


class _Invalid(Exception):
    pass


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Invalid(f"the body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise _Invalid("the body must be a JSON object")
    return body


class Endpoints:
    """The HTTP endpoints over one :class:`Service`; each answers JSON, errors included."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def _run(self, texts, values):
        """(scores, None), or (None, the error response): 503 when busy, 504 late, 422 refused."""
        try:
            return await self.service.scores(texts, values), None
        except QueueFull as exc:
            return None, _error(503, f"busy: {exc}; retry shortly", "server_busy", {"Retry-After": "1"})
        except asyncio.TimeoutError:
            return None, _error(504, f"no answer within {self.service.opts.timeout:g} s", "timeout")
        except ClaveError as exc:
            return None, _error(422, str(exc))

    async def moderations(self, request: Request):
        s = self.service
        try:
            body = await _json_body(request)
            texts, cut = s.inputs(body)
        except _Invalid as exc:
            return _error(400, str(exc))
        results, failure = await self._run(texts, s.values)
        if failure is not None:
            return failure
        return {"id": f"modr-{uuid.uuid4().hex}", "model": body.get("model") or s.model_id,
                "results": [s.moderation(r, c) for r, c in zip(results, cut)]}

    async def score(self, request: Request):
        s = self.service
        try:
            body = await _json_body(request)
            texts, cut = s.inputs(body)
            values = s.chosen_values(body)
            explain = body.get("explain", False)
            if not isinstance(explain, bool):
                raise _Invalid("'explain' must be true or false")
            if explain:
                s.evaluator.require_explanations()
        except _Invalid as exc:
            return _error(400, str(exc))
        except ClaveError as exc:
            return _error(422, str(exc))
        results, failure = await self._run(texts, values)
        if failure is not None:
            return failure
        rows = [await self._score_row(i, text, result, c, explain)
                for i, (text, result, c) in enumerate(zip(texts, results, cut))]
        return {"model": s.model_id, "system": s.system.name, "results": rows}

    async def _score_row(self, i: int, text: str, result, truncated: bool, explain: bool) -> dict[str, Any]:
        from clave_lite.runtime.score_job import score_record

        s, explanations = self.service, None
        if explain:  # on the batcher's thread: an explanation decodes on the model too
            decided = {v.value: v.label for v in result.scores if v.label != "unrelated"}
            explanations = await asyncio.wrap_future(s.batcher.call(s.evaluator.explain, text, decided, s.system.name))
        row = score_record(str(i), s.system.name, result, explanations, s.policy.decide(result.scores))
        if truncated:
            row["truncated"] = True
        return row

    async def models(self):
        s = self.service
        m = {"id": s.model_id, "object": "model", "owned_by": "clave-lite", "system": s.system.name,
             "values": list(s.values), "labels": list(s.system.labels), "policy": s.policy.to_dict()}
        return {"object": "list", "data": [m]}

    async def health(self):
        b = self.service.batcher
        return {"status": "ok", "waiting": b.waiting, "batches": b.batches, "texts": b.texts}


def create_app(service: Service, api_key: str | None = None) -> Any:
    """The ASGI app (FastAPI) around one :class:`Service`, behind the body limit and the token."""
    app = FastAPI(title="clave-lite", docs_url=None, redoc_url=None, openapi_url=None)
    endpoints = Endpoints(service)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if api_key is not None and request.url.path != "/health":
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return _error(401, "missing or wrong bearer token", "authentication_error")
        return await call_next(request)

    app.add_api_route("/v1/moderations", endpoints.moderations, methods=["POST"])
    app.add_api_route("/v1/score", endpoints.score, methods=["POST"])
    app.add_api_route("/v1/models", endpoints.models, methods=["GET"])
    app.add_api_route("/health", endpoints.health, methods=["GET"])
    return _BodyLimit(app, service.opts.max_body_bytes)


def serve(opts: ServeOptions, progress=None) -> None:
    """Load the evaluator and serve until SIGINT/SIGTERM (in-flight requests finish first)."""
    import uvicorn

    from clave_lite.progress import SILENT
    api_key = os.environ.get(API_KEY_ENV) or None
    if opts.host not in LOOPBACK and api_key is None:
        raise UsageError(f"serving on {opts.host} (not loopback) needs a bearer token: set {API_KEY_ENV}")
    evaluator = opts.load(progress or SILENT)
    service = Service(evaluator, opts)
    config = uvicorn.Config(create_app(service, api_key), host=opts.host, port=opts.port, log_level="warning",
                            timeout_graceful_shutdown=int(opts.timeout) + 5, access_log=False)
    server = uvicorn.Server(config)

    def stop(_signum, _frame) -> None:  # graceful: stop accepting, let in-flight requests finish
        server.should_exit = True

    # uvicorn re-raises a captured SIGTERM after shutting down (exit -15); a service manager
    # wants a clean exit 0 after a graceful stop, so clave-lite handles the signals itself.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        service.batcher.close()
        evaluator.close()
