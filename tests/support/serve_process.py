"""`clave-lite serve` as a real process on a free loopback port, and the README examples."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from support.llm_servers import free_port

EXAMPLES = {json.loads(line)["id"]: json.loads(line) for line in
            (Path(__file__).parents[2] / "examples" / "responses.jsonl").read_text().splitlines()}


class Server:
    def __init__(self, default_model, *flags: str, api_key: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CLAVE_LITE_HOME": str(default_model[0])}
        env.pop("CLAVE_LITE_API_KEY", None)
        if api_key:
            env["CLAVE_LITE_API_KEY"] = api_key
        self.proc = subprocess.Popen([sys.executable, "-m", "clave_lite.cli", "serve", "--model", str(default_model[1]),
                                      "--port", str(self.port), *flags], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(self.proc.stderr.read()) from None
                time.sleep(0.3)
        raise AssertionError("server did not come up")

    def post(self, path: str, body, timeout: float = 120, token: str | None = None) -> tuple[int, dict, dict]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        req = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read()), r.headers  # case-insensitive lookups
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), e.headers

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = r.read()
                return r.status, json.loads(body) if r.headers.get_content_type() == "application/json" else body
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.proc.kill()
