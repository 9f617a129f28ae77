"""`clave-lite serve` as a real process on a loopback port, called by real HTTP clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from support.llm_servers import free_port

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

TEXTS = ["I will help you cheat on the exam and lie to the teacher.", "Volunteering at the shelter taught me patience."]


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
                    raise AssertionError(self.proc.stderr.read())
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

    def get(self, path: str) -> tuple[int, dict]:
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return r.status, json.loads(r.read())

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.proc.kill()


@pytest.fixture(scope="module")
def server(default_model):
    s = Server(default_model, "--rule", "Benevolence/opposes>=0.5", "--max-inputs", "8", "--max-body-bytes", "4096")
    yield s
    assert s.stop() == 0


def test_openai_client_moderations_match_clave_lite_score(server, default_model, tmp_path):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    got = client.moderations.create(model="clave-lite", input=TEXTS)
    assert got.id.startswith("modr-") and len(got.results) == 2
    src = tmp_path / "t.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    scored = subprocess.run([sys.executable, "-m", "clave_lite.cli", "score", str(src), "--model", str(default_model[1])],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CLAVE_LITE_HOME": str(default_model[0])})
    for result, line in zip(got.results, scored.stdout.splitlines()):
        scores = json.loads(line)["scores"]
        dumped = result.model_dump()  # the client's model also lists OpenAI's own categories (as None)
        cats = {k: p for k, p in dumped["category_scores"].items() if "/" in k}
        flags = {k: f for k, f in dumped["categories"].items() if "/" in k}
        assert set(cats) == set(flags) == {f"{v}/{lab}" for v in scores for lab in ("supports", "opposes")}
        for v, s in scores.items():
            assert abs(cats[f"{v}/opposes"] - s["p_opposes"]) < 1e-6
            assert flags[f"{v}/supports"] == (s["label"] == "supports")
        assert result.flagged == (scores["Benevolence"]["p_opposes"] >= 0.5)


def test_score_models_and_health(server):
    status, body, _ = server.post("/v1/score", {"input": TEXTS[0], "values": ["security", "Benevolence"]})
    assert status == 200 and body["system"] == "schwartz10"
    assert list(body["results"][0]["scores"]) == ["Security", "Benevolence"] and "flagged" in body["results"][0]
    status, models = server.get("/v1/models")
    assert models["data"][0]["values"][0] == "Self-direction" and models["data"][0]["policy"]["rules"]
    assert server.get("/health")[1]["status"] == "ok"


@pytest.mark.parametrize(("body", "status", "needle"), [
    (b"{not json", 400, "not valid JSON"),
    ({"input": 3}, 400, "'input' must be"),
    ({"input": []}, 400, "'input' must be"),
    ({"input": ["a"] * 9}, 400, "at most 8 inputs"),
    ({"input": "x", "values": ["Harmony"]}, 400, "unknown value 'Harmony'"),
    (json.dumps({"input": "x" * 5000}).encode(), 413, "over 4096 bytes"),
])
def test_bad_requests_get_a_message_never_a_500(server, body, status, needle):
    path = "/v1/score" if isinstance(body, dict) and "values" in body else "/v1/moderations"
    got, answer, _ = server.post(path, body)
    assert got == status and needle in answer["error"]["message"]


def test_client_disconnect_mid_request_leaves_the_server_serving(server):
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /v1/moderations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 200\r\n\r\n{\"input\": \"half a bo")
    status, body, _ = server.post("/v1/moderations", {"input": TEXTS[1]})
    assert status == 200 and len(body["results"]) == 1


def test_a_flood_gets_503_with_retry_after_and_sigterm_lets_in_flight_requests_finish(default_model):
    s = Server(default_model, "--max-queue", "1", "--max-batch", "1")
    answers: list[tuple[int, dict]] = []

    def call():
        code, _, headers = s.post("/v1/moderations", {"input": TEXTS})
        answers.append((code, headers))

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    codes = sorted(code for code, _ in answers)
    assert len(codes) == 10 and set(codes) <= {200, 503} and 200 in codes and 503 in codes
    assert all(h.get("Retry-After") == "1" for code, h in answers if code == 503)
    late: list[int] = []
    worker = threading.Thread(target=lambda: late.append(s.post("/v1/moderations", {"input": TEXTS * 4})[0]))
    worker.start()
    time.sleep(0.5)  # the request is in flight when SIGTERM arrives
    assert s.stop() == 0
    worker.join(timeout=120)
    assert late == [200] or late == []  # finished, or refused cleanly as the server closed


def test_a_bearer_token_guards_every_call_and_off_loopback_one_is_required(default_model):
    env = {**os.environ, "CLAVE_LITE_HOME": str(default_model[0])}
    env.pop("CLAVE_LITE_API_KEY", None)
    refused = subprocess.run([sys.executable, "-m", "clave_lite.cli", "serve", "--model", str(default_model[1]),
                              "--host", "0.0.0.0", "--port", str(free_port())], env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "CLAVE_LITE_API_KEY" in refused.stderr
    s = Server(default_model, api_key="s3cret")
    try:
        assert s.post("/v1/moderations", {"input": "hello"})[0] == 401
        assert s.post("/v1/moderations", {"input": "hello"}, token="wrong")[0] == 401
        status, body, _ = s.post("/v1/moderations", {"input": "hello"}, token="s3cret")
        assert status == 200 and len(body["results"]) == 1
    finally:
        assert s.stop() == 0
