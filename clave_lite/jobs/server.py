"""``clave-lite serve``: the evaluator behind an HTTP API shaped like OpenAI's moderations.

- ``POST /v1/moderations``: ``{"input": str | [str], "model"?, "prompt"?}`` → OpenAI's
  moderation object. ``flagged`` is the policy's decision (default: any value decided
  ``opposes``, or a text the evaluator read only in part). ``categories["Value/label"]`` is
  true only where a policy rule fired on that value and label (a *supports* verdict is never a
  violation); ``category_scores`` carries the probability of every value and label; OpenAI's own
  13 categories are present as false / 0.0 (clave-lite does not judge them), and
  ``category_applied_input_types`` lists ``["text"]`` per category, as LiteLLM requires.
  clave-lite's own fields ride along: ``labels`` (each value's decided label), ``fired``,
  ``truncated`` and ``truncated_tokens``.
- ``POST /v1/score``: ``{"input", "values"?, "explain"?, "prompt"?}`` → the ``clave-lite score``
  line of each input.
- ``POST /beta/litellm_basic_guardrail_api``: LiteLLM's generic guardrail contract
  (``{"texts", "input_type"}`` → ``{"action": "BLOCKED" | "NONE", "blocked_reason"?}``).
- ``GET /v1/models``, ``GET /health`` (liveness: 503 once the scoring worker has died),
  ``GET /ready`` (readiness: 503 also while the queue is full or the server stops),
  ``GET /metrics`` (Prometheus), ``GET /docs`` and ``/openapi.json``.

``prompt`` (the user turn the input answers; a string, or one per input) is clave-lite's
extension: with it, the evaluator judges the answer in its dialogue, as ``clave-lite score``
does with a JSONL ``prompt`` field.

Concurrent requests share llama.cpp decodes through :class:`~clave_lite.jobs.batcher.Batcher`.
Every failure answers JSON (``{"error": {"message", "type"}}``), never a traceback: 400 malformed
body (duplicate keys, nesting too deep, wrong types), 401 token, 404/405, 408 body too slow, 413
body or text too long, 422 refused by the evaluator, 503 busy or stopping, 504 late. It binds to
loopback unless told otherwise, and then only with a bearer token (``CLAVE_LITE_API_KEY``);
the Host header must name the bound address (or an ``--allow-host``), so a DNS-rebinding page
cannot reach a key-less loopback server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from clave_lite.core.prompt import with_prompt
from clave_lite.errors import ClaveError, UsageError
from clave_lite.jobs.batcher import Batcher, QueueFull, ShuttingDown, WorkerDied
from clave_lite.jobs.serve_options import LOOPBACK, ServeOptions
from clave_lite.jobs.server_metrics import Metrics

if TYPE_CHECKING:
    from clave_lite.runtime.evaluator import Evaluator

API_KEY_ENV = "CLAVE_LITE_API_KEY"
OPENAI_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
                     "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent", "sexual",
                     "sexual/minors", "violence", "violence/graphic")
"""OpenAI's own moderation categories: always present (false / 0.0), so code written for OpenAI
(``max(category_scores.values())``) keeps working."""
EXIT_WORKER_DIED = 1
log = logging.getLogger("clave_lite.serve")


# --- request bodies: validated by pydantic, shown in /docs -------------------------------------------

Inputs = Union[str, list[str]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    input: Inputs = Field(description="A text, or an array of texts, to judge.")
    prompt: Union[str, list[str], None] = Field(
        None, description="clave-lite extension: the user turn each input answers (one string for all, or "
                          "one per input); the evaluator then judges the answer in its dialogue.")


class ModerationRequest(_Body):
    model: Union[str, None] = Field(None, description="Echoed back; clave-lite serves one evaluator.")


class ScoreRequest(_Body):
    values: Union[list[str], None] = Field(None, description="Value names to score (default: all served).")
    explain: bool = Field(False, description="Add the model's own value concept per verdict.")


class GuardrailRequest(BaseModel):
    """LiteLLM's generic guardrail API (``guardrail: generic_guardrail_api``)."""

    model_config = ConfigDict(extra="ignore")
    texts: list[str] = Field(default_factory=list)
    input_type: str = "response"
    structured_messages: Union[list[dict[str, Any]], None] = None

    def prompt(self) -> str | None:
        """For a response, the last user turn (the answer is judged in its dialogue)."""
        if self.input_type != "response":
            return None
        for m in reversed(self.structured_messages or []):
            if m.get("role") == "user" and isinstance(m.get("content"), str) and m["content"].strip():
                return m["content"]
        return None


class _Invalid(Exception):
    """A request body clave-lite refuses (400), with the message the client sees."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Invalid(f"duplicate key '{key}' in the JSON body")
        out[key] = value
    return out


_FIELD_ERRORS = {
    "input": "'input' must be a string or a non-empty array of strings",
    "prompt": "'prompt' must be a string or an array of strings, one per input",
    "values": "'values' must be a non-empty array of value names",
    "explain": "'explain' must be true or false",
    "texts": "'texts' must be an array of strings",
    "input_type": "'input_type' must be a string",
    "model": "'model' must be a string",
}


def parse_body(raw: bytes, model: type[BaseModel]) -> Any:
    """The body as ``model``: strict JSON (no duplicate keys, bounded nesting), then pydantic."""
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _Invalid("the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Invalid(f"the body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _Invalid("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "body"
        raise _Invalid(_FIELD_ERRORS.get(field, f"'{field}': {first['msg']}")) from None


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that parses its body itself (FastAPI's documented way)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def error(status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


class _TooLarge(Exception):
    """Raised (as a status) by :func:`read_limited`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def read_limited(receive, limit: int, timeout: float) -> list[dict]:
    """Every ``http.request`` message of one body, refusing more than ``limit`` bytes (413) or a
    client slower than ``timeout`` seconds per chunk (408)."""
    messages, seen = [], 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), timeout)
        except asyncio.TimeoutError:
            raise _TooLarge(408, f"the request body did not arrive within {timeout:g} s") from None
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _TooLarge(413, f"request body over {limit} bytes")
        if not message.get("more_body", False):
            return messages


class Gate:
    """ASGI middleware in front of every route: Host check, bearer token, body limits and
    timeouts (the body is read here, so the app never sees a partial one), one log line and
    the metrics per request."""

    def __init__(self, app, opts: ServeOptions, api_key: str | None, metrics: Metrics) -> None:
        self.app, self.opts, self.api_key, self.metrics = app, opts, api_key, metrics
        hosts = set(opts.allow_hosts) | {opts.host, *LOOPBACK, "[::1]"}
        self.any_host = "*" in hosts
        self.hosts = {h.lower() for h in hosts}

    def _host_ok(self, headers: dict[bytes, bytes]) -> bool:
        if self.any_host:
            return True
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        if host.startswith("["):  # [::1]:8000
            name = host.split("]", 1)[0] + "]"
        else:
            name = host.rsplit(":", 1)[0] if ":" in host else host
        return name in self.hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [0]
        path = scope["path"]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        headers = dict(scope.get("headers") or [])
        try:
            refusal = self._refuse(headers, path)
            if refusal is not None:
                return await refusal(scope, receive, sending)
            try:
                messages = await read_limited(receive, self.opts.max_body_bytes, self.opts.io_timeout)
            except _TooLarge as exc:
                return await error(exc.status, exc.message)(scope, receive, sending)

            async def replay():
                return messages.pop(0) if messages else await receive()

            await self.app(scope, replay, sending)
        finally:
            seconds = time.perf_counter() - start
            self.metrics.request(path, status[0], seconds)
            extra = scope.get("state", {}).get("clave_lite", {})
            entry = {"event": "request", "method": scope.get("method"), "path": path, "status": status[0],
                     "ms": round(seconds * 1000, 1), **extra}
            if not self.opts.log_texts:
                entry.pop("texts", None)
            log.info(json.dumps(entry, ensure_ascii=False))

    def _refuse(self, headers: dict[bytes, bytes], path: str) -> JSONResponse | None:
        if not self._host_ok(headers):
            return error(400, "Host header not allowed (DNS rebinding guard); start the server with --allow-host NAME")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.opts.max_body_bytes:
            return error(413, f"request body over {self.opts.max_body_bytes} bytes")
        if self.api_key is not None and path not in ("/health", "/ready"):
            given = headers.get(b"authorization", b"")
            if b"x-api-key" in headers:  # how LiteLLM's generic guardrail sends its api_key
                given = b"Bearer " + headers[b"x-api-key"]
            if not hmac.compare_digest(given, f"Bearer {self.api_key}".encode()):
                return error(401, "missing or wrong bearer token", "authentication_error")
        return None


class Service:
    """What the endpoints share: the evaluator, its system and policy, the batcher, the limits."""

    def __init__(self, evaluator: Evaluator, opts: ServeOptions, on_failure=None) -> None:
        from clave_lite.jobs.policy import load_policy

        policy = load_policy(opts.policy, opts.rules, opts.on_truncated)
        self.policy, self.system, chosen = policy.resolve(evaluator, opts.system)
        self.values = tuple(v.name for v in chosen)
        self.evaluator, self.opts = evaluator, opts
        self.model_id = Path(evaluator.backend.path).stem
        self.metrics = Metrics()
        self.batcher = Batcher(evaluator, self.system.name, opts.max_batch, opts.max_queue, on_failure)
        self.metrics.watch(self.batcher)
        self.stopping = False

    def texts(self, body: _Body) -> list[str]:
        """The texts the evaluator judges: each input, in its dialogue when a prompt is given."""
        items = [body.input] if isinstance(body.input, str) else list(body.input)
        if not items:
            raise _Invalid("'input' must be a string or a non-empty array of strings")
        if len(items) > self.opts.max_inputs:
            raise _Invalid(f"at most {self.opts.max_inputs} inputs per request, got {len(items)}")
        if any(not x.strip() for x in items):
            raise _Invalid("an input is empty")
        for i, x in enumerate(items):
            if len(x) > self.opts.max_text_chars:
                raise _TooLarge(413, f"input {i} is {len(x)} characters, over --max-text-chars "
                                     f"{self.opts.max_text_chars}")
        prompts = body.prompt
        if prompts is None:
            return items
        if isinstance(prompts, str):
            prompts = [prompts] * len(items)
        if len(prompts) != len(items):
            raise _Invalid(f"'prompt' has {len(prompts)} entries for {len(items)} inputs")
        return [with_prompt(x, p) for x, p in zip(items, prompts)]

    def chosen_values(self, values: list[str] | None) -> tuple[str, ...]:
        if values is None:
            return self.values
        if not values:
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

    def moderation(self, result) -> dict[str, Any]:
        labels = [lab for lab in self.system.labels if lab != "unrelated"]
        decision = self.policy.decide(result.scores, result.truncated_tokens)
        categories: dict[str, bool] = {c: False for c in OPENAI_CATEGORIES}
        scores: dict[str, float] = {c: 0.0 for c in OPENAI_CATEGORIES}
        for s in result.scores:
            for lab in labels:
                key = f"{s.value}/{lab}"
                categories[key] = key in decision.violations
                scores[key] = round(s.probs[lab], 6)
        for key in decision.violations:  # a require rule's violation: Security/!supports
            if key not in categories:
                value, label = key.split("/!")
                categories[key] = True
                scores[key] = round(1 - scores.get(f"{value}/{label}", 0.0), 6)
        self.metrics.decided(decision.flagged, bool(result.truncated_tokens))
        return {"flagged": decision.flagged, "categories": categories, "category_scores": scores,
                "category_applied_input_types": {c: ["text"] for c in categories},
                "labels": {s.value: s.label for s in result.scores}, "fired": list(decision.fired),
                "truncated": bool(result.truncated_tokens), "truncated_tokens": result.truncated_tokens}


class Endpoints:
    """The HTTP endpoints over one :class:`Service`; each answers JSON, errors included."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def _run(self, texts, values):
        """(scores, None), or (None, the error response): 503 when busy, 504 late, 422 refused."""
        try:
            return await self.service.scores(texts, values), None
        except QueueFull as exc:
            return None, error(503, f"busy: {exc}; retry shortly", "server_busy", {"Retry-After": "1"})
        except ShuttingDown as exc:
            return None, error(503, str(exc), "server_stopping", {"Connection": "close"})
        except WorkerDied as exc:
            return None, error(503, str(exc), "server_failed")
        except asyncio.TimeoutError:
            self.service.metrics.timeouts.inc()
            return None, error(504, f"no answer within {self.service.opts.timeout:g} s", "timeout")
        except ClaveError as exc:
            return None, error(422, str(exc))

    async def _body(self, request: Request, model: type[BaseModel]):
        return parse_body(await request.body(), model)

    @staticmethod
    def _note(request: Request, **fields) -> None:
        """Fields of this request's log line (the Gate writes it)."""
        request.scope.setdefault("state", {}).setdefault("clave_lite", {}).update(fields)

    async def moderations(self, request: Request):
        s = self.service
        try:
            body = await self._body(request, ModerationRequest)
            texts = s.texts(body)
        except _Invalid as exc:
            return error(400, str(exc))
        except _TooLarge as exc:
            return error(exc.status, exc.message)
        results, failure = await self._run(texts, s.values)
        if failure is not None:
            return failure
        out = [s.moderation(r) for r in results]
        self._note(request, inputs=len(texts), flagged=sum(o["flagged"] for o in out),
                   truncated=sum(o["truncated"] for o in out), texts=texts)
        model = body.model if isinstance(body.model, str) and body.model else s.model_id
        return {"id": f"modr-{uuid.uuid4().hex}", "model": model, "results": out}

    async def score(self, request: Request):
        s = self.service
        try:
            body = await self._body(request, ScoreRequest)
            texts = s.texts(body)
            values = s.chosen_values(body.values)
            if body.explain:
                s.evaluator.require_explanations()
        except _Invalid as exc:
            return error(400, str(exc))
        except _TooLarge as exc:
            return error(exc.status, exc.message)
        except ClaveError as exc:
            return error(422, str(exc))
        results, failure = await self._run(texts, values)
        if failure is not None:
            return failure
        rows = [await self._score_row(i, text, result, body.explain)
                for i, (text, result) in enumerate(zip(texts, results))]
        self._note(request, inputs=len(texts), flagged=sum(r["flagged"] for r in rows), texts=texts)
        return {"model": s.model_id, "system": s.system.name, "results": rows}

    async def _score_row(self, i: int, text: str, result, explain: bool) -> dict[str, Any]:
        from clave_lite.jobs.score import score_record

        s, explanations = self.service, None
        if explain:  # on the batcher's thread: an explanation decodes on the model too
            decided = {v.value: v.label for v in result.scores if v.label != "unrelated"}
            explanations = await asyncio.wrap_future(s.batcher.call(s.evaluator.explain, text, decided, s.system.name))
        row = score_record(str(i), s.system.name, result, explanations,
                           s.policy.decide(result.scores, result.truncated_tokens))
        row["truncated"] = bool(result.truncated_tokens)
        row.setdefault("truncated_tokens", 0)
        return row

    async def guardrail(self, request: Request):
        """LiteLLM's generic guardrail API: BLOCKED when the policy flags any text."""
        s = self.service
        try:
            body = await self._body(request, GuardrailRequest)
        except _Invalid as exc:
            return error(400, str(exc))
        texts = [t for t in body.texts if t.strip()]
        if not texts:
            return {"action": "NONE"}
        if len(texts) > s.opts.max_inputs:
            return error(400, f"at most {s.opts.max_inputs} texts per request, got {len(texts)}")
        if any(len(t) > s.opts.max_text_chars for t in texts):
            return error(413, f"a text is over --max-text-chars {s.opts.max_text_chars}")
        texts = [with_prompt(t, body.prompt()) for t in texts]
        results, failure = await self._run(texts, s.values)
        if failure is not None:
            return failure
        fired = [f for r in results for f in s.moderation(r)["fired"]]
        self._note(request, inputs=len(texts), flagged=int(bool(fired)), texts=texts)
        if fired:
            return {"action": "BLOCKED", "blocked_reason": f"clave-lite policy '{s.policy.name}': {'; '.join(fired)}"}
        return {"action": "NONE"}

    async def models(self):
        s = self.service
        m = {"id": s.model_id, "object": "model", "owned_by": "clave-lite", "system": s.system.name,
             "values": list(s.values), "labels": list(s.system.labels), "policy": s.policy.to_dict()}
        return {"object": "list", "data": [m]}

    def _state(self) -> dict[str, Any]:
        b = self.service.batcher
        return {"waiting": b.waiting, "batches": b.batches, "texts": b.texts, "dropped": b.dropped}

    async def health(self):
        b = self.service.batcher
        if not b.alive:
            return JSONResponse({"status": "failed", "error": repr(b.failure), **self._state()}, status_code=503)
        return {"status": "ok", **self._state()}

    async def ready(self):
        b, s = self.service.batcher, self.service
        reason = ("worker failed" if not b.alive else "stopping" if s.stopping
                  else "queue full" if b.waiting >= s.opts.max_queue else None)
        if reason:
            return JSONResponse({"status": "not ready", "reason": reason, **self._state()}, status_code=503)
        return {"status": "ready", **self._state()}

    async def metrics(self):
        body, content_type = self.service.metrics.render()
        return Response(body, media_type=content_type)


def create_app(service: Service, api_key: str | None = None) -> Any:
    """The ASGI app (FastAPI) around one :class:`Service`, behind the :class:`Gate`."""
    from clave_lite.version import __version__

    app = FastAPI(title="clave-lite", version=__version__,
                  description="Offline value evaluator: OpenAI-compatible moderations, scores, LiteLLM guardrail.")
    endpoints = Endpoints(service)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        return error(400, str(exc.errors()[:1]))

    @app.exception_handler(Exception)
    async def crashed(_request: Request, exc: Exception):
        log.exception("internal error")
        return error(500, f"internal error: {type(exc).__name__}", "server_error")

    app.add_api_route("/v1/moderations", endpoints.moderations, methods=["POST"],
                      openapi_extra=_body_schema(ModerationRequest), summary="OpenAI-shaped moderation")
    app.add_api_route("/v1/score", endpoints.score, methods=["POST"], openapi_extra=_body_schema(ScoreRequest),
                      summary="clave-lite score lines")
    app.add_api_route("/beta/litellm_basic_guardrail_api", endpoints.guardrail, methods=["POST"],
                      openapi_extra=_body_schema(GuardrailRequest), summary="LiteLLM generic guardrail API")
    app.add_api_route("/v1/models", endpoints.models, methods=["GET"])
    app.add_api_route("/health", endpoints.health, methods=["GET"])
    app.add_api_route("/ready", endpoints.ready, methods=["GET"])
    app.add_api_route("/metrics", endpoints.metrics, methods=["GET"])
    return Gate(app, service.opts, api_key, service.metrics)


def _protocol(header_timeout: float) -> type:
    """uvicorn's h11 protocol with a header deadline: a connection that has not sent a whole
    request head ``header_timeout`` seconds after it opened (or after its last response) is
    closed. uvicorn itself times out idle keep-alive connections only, so a client that sends
    half a request line would otherwise hold its socket forever."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadline(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(header_timeout, self._expire)

        def _expire(self) -> None:
            waiting_for_head = self.cycle is None or self.cycle.response_complete
            if waiting_for_head and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

    return HeaderDeadline


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def serve(opts: ServeOptions, progress=None) -> int:
    """Load the evaluator and serve until SIGINT/SIGTERM; the exit status: 0 after a stop, 1
    when the scoring worker died (so a supervisor restarts the process)."""
    import uvicorn

    from clave_lite.progress import SILENT
    api_key = os.environ.get(API_KEY_ENV) or None
    if opts.host not in LOOPBACK and api_key is None:
        raise UsageError(f"serving on {opts.host} (not loopback) needs a bearer token: set {API_KEY_ENV}")
    _configure_logging()
    evaluator = opts.load(progress or SILENT)
    died: list[BaseException] = []

    def worker_died(exc: BaseException) -> None:
        log.error(json.dumps({"event": "worker_failed", "error": repr(exc)}))
        died.append(exc)
        server.should_exit = True

    service = Service(evaluator, opts, worker_died)
    config = uvicorn.Config(create_app(service, api_key), host=opts.host, port=opts.port, log_level="warning",
                            timeout_graceful_shutdown=int(opts.shutdown_grace) + 5, access_log=False,
                            timeout_keep_alive=int(max(1, opts.io_timeout)), limit_concurrency=opts.max_connections,
                            http=_protocol(opts.io_timeout))
    server = uvicorn.Server(config)

    def stop(_signum, _frame) -> None:  # stop accepting; queued work gets shutdown_grace, then 503
        service.stopping = True
        service.batcher.shutdown(opts.shutdown_grace)
        server.should_exit = True

    # uvicorn re-raises a captured SIGTERM after shutting down (exit -15); a service manager
    # wants a clean exit 0 after a graceful stop, so clave-lite handles the signals itself.
    # a deliberate monkeypatch: any no-op context manager does, not only uvicorn's generator-based one
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        service.batcher.shutdown(opts.shutdown_grace)
        if service.batcher.join(5.0):  # else the worker is still in a decode: leave the model to exit
            evaluator.close()
    return EXIT_WORKER_DIED if died else 0
