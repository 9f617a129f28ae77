"""A small client for OpenAI-compatible chat-completions endpoints, standard library only.

Why not the ``openai`` package: calibration makes a few hundred calls once, and the wire format
(``POST {base}/chat/completions``) is the one thing hosted providers, vLLM and llama.cpp servers
all share. ``urllib.request`` keeps the runtime install free of an HTTP stack and lets this
module own the parts that matter for money: which failures are retried (timeouts, connection
errors, 429, 5xx), how long to wait (exponential backoff with jitter, ``Retry-After`` honoured),
and that the API key never appears in a message, a repr or a log line.

Two guarantees need more than ``urlopen``: the key goes only to the configured origin (a
redirect is refused, never followed: urllib would copy the ``Authorization`` header to the new
host), and ``--timeout`` bounds a whole call, not each socket read (a server trickling a byte a
second would otherwise hold a call forever): a timer shuts the socket down at the deadline.

``response_format`` differs between servers: OpenAI and vLLM take ``json_schema``; llama.cpp
and llama-cpp-python take ``{"type": "json_object", "schema": ...}`` (enforced by a grammar).
In ``auto`` mode the client starts with ``json_schema`` and, when a server rejects the field
(HTTP 400/422, or 500 from llama-cpp-python, naming it), falls back to ``json_object`` and then to no ``response_format`` at
all, once for the whole run.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from clave_lite.errors import LLMError
from clave_lite.version import __version__

API_KEY_ENVS = ("CLAVE_LITE_LLM_API_KEY", "OPENAI_API_KEY")
RESPONSE_FORMATS = ("auto", "json_schema", "json_object", "none")
_FALLBACK = {"json_schema": "json_object", "json_object": "none"}
_RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx


MAX_ANSWER_BYTES = 8 << 20
"""A chat answer larger than this is refused as it arrives (an answer here is a few kB; a
misbehaving server must not fill memory)."""


def api_key_from_env() -> str | None:
    """The API key from ``CLAVE_LITE_LLM_API_KEY``, else ``OPENAI_API_KEY``; never a flag. A key
    an HTTP header cannot carry (a line break inside, a character outside Latin-1) is refused,
    naming the variable and never printing the key."""
    from clave_lite.errors import UsageError

    for name in API_KEY_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            if any(c in value for c in "\r\n\x00") or not value.isprintable():
                raise UsageError(f"{name} holds a line break or another control character (a pasting accident?); "
                                 "set it to the key alone")
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                raise UsageError(f"{name} holds a character an HTTP header cannot carry; set it to the key "
                                 "alone") from None
            return value
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a server's ``Retry-After`` wins when it asks for longer.

    ``max_retries`` counts retries after the first try, so a call is sent at most
    ``max_retries + 1`` times. ``max_wait`` caps any single wait, ``Retry-After`` included, so
    a server cannot park the run for an hour.
    """

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_wait: float = 120.0

    def delay(self, retry: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): "equal jitter" backoff."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** retry))
        wait = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.max_wait)


@dataclass
class CallStats:
    """Counters shared by all threads of one run (what the user is told, and billed, for)."""

    requests: int = 0  # HTTP requests sent, retries included
    answers: int = 0  # 200 answers received (paid calls)
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def retry(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "answers": self.answers, "retries": self.retries,
                    "retry_reasons": dict(self.retry_reasons), "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": self.completion_tokens}


@dataclass(frozen=True)
class ChatAnswer:
    """The text of the first choice, with what the server said about its cost and ending."""

    content: str
    finish_reason: str | None
    usage: dict[str, int]
    response_format: str  # the mode that produced it


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's own hint in seconds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: following one would send the API key to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise LLMError(f"{req.full_url}: the server redirected (HTTP {code}) to {newurl}; clave-lite does not "
                       "follow redirects, so the API key only goes to --llm-base-url (set it to the final address)")


class _Deadline:
    """Shuts down a call's socket when its time is up (the whole call, not one read)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._timer: threading.Timer | None = None

    def watch(self, sock: socket.socket) -> None:
        def fire() -> None:
            self.expired = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        self._timer = threading.Timer(max(0.0, self.at - time.monotonic()), fire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _handlers(deadline: _Deadline) -> list[urllib.request.BaseHandler]:
    """HTTP(S) handlers whose connections report their socket to ``deadline``."""

    class _HTTP(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    class _HTTPS(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(_HTTP, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        _context: ssl.SSLContext | None  # set by urllib's HTTPSHandler.__init__; not in its type stubs

        def https_open(self, req):
            return self.do_open(_HTTPS, req, context=self._context)

    return [HTTPHandler(), HTTPSHandler(), _NoRedirect()]


class _FormatRejected(Exception):
    """The server refused the ``response_format`` field (HTTP 400/422/500 naming it)."""


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: an integer/float, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ChatClient:
    """``complete(messages)`` → :class:`ChatAnswer`, retried per :class:`RetryPolicy`.

    Thread-safe: one client serves the whole thread pool (the negotiated response format
    and the counters are shared).
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 60.0,
                 retry: RetryPolicy | None = None, response_format: str = "auto",
                 stats: CallStats | None = None, sleep: Callable[[float], None] = time.sleep,
                 seed: int | None = None) -> None:
        if response_format not in RESPONSE_FORMATS:
            raise ValueError(f"response_format must be one of {RESPONSE_FORMATS}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.stats = stats or CallStats()
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._format = "json_schema" if response_format == "auto" else response_format
        self._negotiate = response_format == "auto"
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the key
        return f"ChatClient(url={self.url!r}, model={self.model!r}, key={'set' if self._api_key else 'none'})"

    @property
    def response_format(self) -> str:
        """The mode requests are sent with now (after any fallback)."""
        return self._format

    def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any] | None = None,
                 max_tokens: int = 256, temperature: float = 0.2) -> ChatAnswer:
        """One chat completion; raises :class:`LLMError` once retries are spent."""
        retry = 0
        while True:
            mode = self._format
            body = self._body(messages, schema, mode, max_tokens, temperature)
            try:
                return self._send(body, mode)
            except _FormatRejected as exc:
                with self._lock:
                    if self._format == mode:  # another thread may have downgraded already
                        nxt = _FALLBACK.get(mode)
                        if not self._negotiate or nxt is None:
                            raise LLMError(self._clean(str(exc))) from None
                        self._format = nxt
                continue  # a format downgrade is not a retry
            except _Transient as exc:
                if retry >= self.retry.max_retries:
                    raise LLMError(self._clean(
                        f"{self.url}: {exc.reason} (gave up after {retry + 1} attempts)")) from None
                self.stats.retry(exc.reason.split(":")[0])
                self._sleep(self.retry.delay(retry, exc.retry_after, self._rng))
                retry += 1

    def _body(self, messages: list[dict[str, str]], schema: dict[str, Any] | None, mode: str,
              max_tokens: int, temperature: float) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": temperature}
        if schema is not None and mode == "json_schema":
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "value_concepts", "schema": schema, "strict": True}}
        elif schema is not None and mode == "json_object":
            body["response_format"] = {"type": "json_object", "schema": schema}
        return body

    def _send(self, body: dict[str, Any], mode: str) -> ChatAnswer:
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": f"clave-lite/{__version__}"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers,
                                         method="POST")
        self.stats.count(requests=1)
        deadline = _Deadline(self.timeout)
        opener = urllib.request.build_opener(*_handlers(deadline))
        timeout = f"timeout: no complete answer within {self.timeout:g} s"
        try:
            with opener.open(request, timeout=self.timeout) as response:
                raw = response.read(MAX_ANSWER_BYTES + 1)
                if len(raw) > MAX_ANSWER_BYTES:
                    raise _Transient(f"bad response: the answer is over {MAX_ANSWER_BYTES >> 20} MiB")
            if deadline.expired:  # the socket was shut mid-body: what arrived is incomplete
                raise _Transient(timeout)
        except urllib.error.HTTPError as exc:
            if deadline.expired:
                raise _Transient(timeout) from None
            self._raise_http(exc, mode)
        except (TimeoutError, socket.timeout):
            raise _Transient(timeout) from None
        except urllib.error.URLError as exc:
            if deadline.expired or isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise _Transient(timeout) from None
            raise _Transient(f"connection: {exc.reason}") from None
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            if deadline.expired:
                raise _Transient(timeout) from None
            raise _Transient(f"connection: {type(exc).__name__}: {exc}") from None
        finally:
            deadline.cancel()
        return self._parse(raw, mode)

    def _raise_http(self, exc: urllib.error.HTTPError, mode: str) -> None:
        try:
            detail = exc.read(2000).decode("utf-8", "replace")
        except Exception:  # the body is only for the message
            detail = ""
        status = exc.code
        snippet = " ".join(detail.split())[:300]
        # llama-cpp-python's server answers a rejected field with 500, not 400/422.
        if status in (400, 422, 500) and mode != "none" and "response_format" in detail:
            raise _FormatRejected(f"{self.url}: HTTP {status}: {snippet}")
        if status in _RETRY_STATUS or status >= 500:
            raise _Transient(f"http {status}", parse_retry_after(exc.headers.get("Retry-After"))) from None
        hint = {401: " (check CLAVE_LITE_LLM_API_KEY)", 403: " (check CLAVE_LITE_LLM_API_KEY and the model's access)",
                404: " (check --llm-base-url, which usually ends in /v1, and --llm-model)"}.get(status, "")
        raise LLMError(self._clean(f"{self.url}: HTTP {status}{hint}: {snippet}")) from None

    def _parse(self, raw: bytes, mode: str) -> ChatAnswer:
        try:
            data = json.loads(raw.decode("utf-8"))
            choice = data["choices"][0]
            content = choice["message"]["content"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, IndexError, TypeError):
            raise _Transient("bad response: not a chat-completions JSON body") from None
        if not isinstance(content, str):
            raise _Transient("bad response: message content is not text")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        usage = {k: int(usage[k]) for k in ("prompt_tokens", "completion_tokens") if isinstance(usage.get(k), int)}
        self.stats.count(answers=1, prompt_tokens=usage.get("prompt_tokens", 0),
                         completion_tokens=usage.get("completion_tokens", 0))
        return ChatAnswer(content, choice.get("finish_reason"), usage, mode)

    def _clean(self, message: str) -> str:
        """Remove the API key from a message, whatever a server chose to echo back."""
        if self._api_key:
            message = message.replace(self._api_key, "***")
        return message
