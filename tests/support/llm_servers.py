"""Two OpenAI-compatible servers on loopback for the calibration tests.

- :class:`FakeLLM`: stdlib ``http.server`` in a thread that answers chat completions and
  misbehaves on purpose (429, 5xx, slow answers, malformed JSON, rejected fields, holding a
  request until the client is killed). It counts requests and *answered* (paid) requests per
  prompt, which is how the tests prove that nothing is paid for twice.
- :func:`start_llama_server`: llama-cpp-python's own server, through ``python -m
  clave_lite.calibration.llm_server`` (the same server with clave-lite's CPU-path decision: on an AMX CPU
  plain ``python -m llama_cpp.server`` dies with SIGILL)
  on the shipped SmolLM2-135M-Instruct GGUF, on a free port.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from support.tiny_models import smollm2_file


def prompt_key(messages: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()


def sample_tag(messages: list[dict[str, str]]) -> str:
    """The ``[tag]`` the test texts start with, read from the first user message that has one."""
    for message in messages:
        found = re.search(r"\[(\w+)\]", message["content"]) if message["role"] == "user" else None
        if found:
            return found.group(1)
    return "unknown"


def concept_answer(content: str, status: int = 200) -> "Reply":
    body = {"id": "x", "object": "chat.completion", "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10}}
    return Reply(status, json.dumps(body).encode())


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    """One request as the server received it."""

    time: float
    key: str
    n: int  # 1 for the first request of this prompt, 2 for the second, ...
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def tag(self) -> str:
        return sample_tag(self.body["messages"])


Behaviour = Callable[[Seen], "Reply | None"]  # None: the default, a valid answer


class FakeLLM:
    """A chat-completions endpoint whose behaviour per request the test chooses."""

    def __init__(self, behave: Behaviour | None = None) -> None:
        self.behave = behave or (lambda seen: None)
        self.seen: list[Seen] = []
        self.answered: Counter[str] = Counter()
        self.hold_after: int | None = None  # answer this many, then hold every later request
        self.held = threading.Event()  # set when a request is being held
        self.release = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests handled at the same time
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FakeLLM":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def requests_for(self, tag: str) -> list[Seen]:
        return [s for s in self.seen if s.tag == tag]

    @staticmethod
    def default_reply(seen: Seen) -> Reply:
        return concept_answer(json.dumps({"concepts": [f"Concept of sample {seen.tag}"]}))

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._respond(handler)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = json.loads(handler.rfile.read(length))
        key = prompt_key(body["messages"])
        with self._lock:
            n = 1 + sum(s.key == key for s in self.seen)
            seen = Seen(time.monotonic(), key, n, body, dict(handler.headers))
            self.seen.append(seen)
            hold = self.hold_after is not None and sum(self.answered.values()) >= self.hold_after
        if hold:  # never answered: the client is killed while waiting, so this call is not paid
            self.held.set()
            self.release.wait(120)
            handler.close_connection = True
            return
        reply = self.behave(seen) or self.default_reply(seen)
        if reply.delay:
            time.sleep(reply.delay)
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(reply.body)
            handler.wfile.flush()
        except OSError:  # the client gave up (timeout): nothing was delivered
            return
        if reply.status == 200:
            with self._lock:
                self.answered[key] += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m clave_lite.calibration.llm_server`` (llama-cpp-python's server) on SmolLM2, started on a free port and killed on close."""

    def __init__(self, log_path: Path, startup_timeout: float = 180.0) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.model_path = smollm2_file()
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clave_lite.calibration.llm_server", "--model", str(self.model_path), "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "2"],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}; log: {log_path}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"llama_cpp.server not ready after {startup_timeout} s; log: {log_path}")
            time.sleep(0.5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
