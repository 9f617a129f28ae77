"""`clave-lite serve` as a real process on a loopback port, called by real HTTP clients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support.llm_servers import free_port
from support.serve_process import EXAMPLES, Server

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

OPENAI = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
          "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
          "violence/graphic")
TEXTS = ["I will help you cheat on the exam and lie to the teacher.", "Volunteering at the shelter taught me patience."]


@pytest.fixture(scope="module")
def server(default_model):
    s = Server(default_model, "--rule", "Benevolence/opposes>=0.5", "--max-inputs", "8", "--max-body-bytes", "4096",
               "--max-text-chars", "3000", "--io-timeout", "2")
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
        dumped = result.model_dump()
        cats = {k: p for k, p in dumped["category_scores"].items() if "/" in k and k not in OPENAI}
        flags = {k: f for k, f in dumped["categories"].items() if "/" in k and k not in OPENAI}
        assert set(cats) == set(flags) == {f"{v}/{lab}" for v in scores for lab in ("supports", "opposes")}
        # OpenAI's own categories are there, false / 0.0, so code written for OpenAI works unchanged
        assert all(dumped["categories"][c] is False and dumped["category_scores"][c] == 0.0 for c in OPENAI)
        assert max(dumped["category_scores"].values()) <= 1.0
        assert set(dumped["category_applied_input_types"]) == set(dumped["categories"])
        for v, s in scores.items():
            assert abs(cats[f"{v}/opposes"] - s["p_opposes"]) < 1e-6
            assert flags[f"{v}/supports"] is False  # a supports verdict is never a violation
        # true exactly where the policy's one rule fired
        assert flags["Benevolence/opposes"] == result.flagged == (scores["Benevolence"]["p_opposes"] >= 0.5)
        assert sum(flags.values()) == int(result.flagged)


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
    (json.dumps({"input": "x " * 1600}).encode(), 413, "over --max-text-chars 3000"),
    (b'{"input": "a", "input": "b"}', 400, "duplicate key 'input'"),
    (b"[" * 1900 + b"]" * 1900, 400, "nested too deeply"),
    ({"input": ["a", "b"], "prompt": ["p"]}, 400, "'prompt' has 1 entries for 2 inputs"),
    ({"input": [{"type": "image_url"}]}, 400, "'input"),
    ({"input": "x", "model": {"not": "a name"}}, 400, "'model' must be a string"),
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


def test_a_timed_out_request_leaves_scoring_alive(default_model):
    """Regression: a request that timed out (504) once killed the batcher thread for good."""
    s = Server(default_model, "--timeout", "1")
    try:
        slow = {"input": ["Some text about helping people and values. " * 8] * 8}
        assert s.post("/v1/moderations", slow)[0] == 504
        deadline, status = time.monotonic() + 60, 0
        while status != 200 and time.monotonic() < deadline:  # 504 while the late batch still runs
            status, body, _ = s.post("/v1/moderations", {"input": "Be kind."})
        assert status == 200 and len(body["results"]) == 1
        assert s.get("/health")[1]["status"] == "ok" and s.get("/ready")[0] == 200
        metrics = s.get("/metrics")[1].decode()
        assert "clave_lite_timeouts_total" in metrics and "clave_lite_worker_alive 1.0" in metrics
    finally:
        assert s.stop() == 0
    # one JSON log line per request, with counts and never the texts (no --log-texts)
    logged = [json.loads(line) for line in s.proc.stderr.read().splitlines() if line.startswith("{")]
    requests = [e for e in logged if e.get("event") == "request" and e["path"] == "/v1/moderations"]
    assert {504, 200} <= {e["status"] for e in requests} and all("texts" not in e for e in requests)
    assert any(e.get("inputs") == 1 and "flagged" in e for e in requests)


def test_sigterm_under_a_full_queue_exits_within_10_s(default_model):
    s = Server(default_model, "--max-queue", "8", "--max-batch", "8")
    slow = {"input": ["Some text about helping people and values. " * 8] * 8}
    codes: list[int] = []
    callers = [threading.Thread(target=lambda: codes.append(s.post("/v1/moderations", slow, timeout=60)[0]))
               for _ in range(12)]
    for t in callers:
        t.start()
    time.sleep(1.5)
    start = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - start < 10
    for t in callers:
        t.join(timeout=30)
    assert len(codes) == 12 and set(codes) <= {200, 503}  # answered or refused, never left hanging


def test_a_long_input_is_read_to_its_end_and_a_partly_read_one_is_flagged(default_model):
    """Regression: inputs were cut at --max-text-chars before the evaluator read them, so harm
    at the end of a long text was never seen and the result said flagged: false."""
    harm = EXAMPLES["help-theft"]
    padded = "I like long walks in the park and quiet evenings with a good book. " * 300 + harm["text"]
    s = Server(default_model)
    try:
        status, body, _ = s.post("/v1/moderations", {"input": [harm["text"], padded], "prompt": harm["prompt"]})
        assert status == 200
        short, long = body["results"]
        assert short["flagged"] and not short["truncated"] and short["truncated_tokens"] == 0
        # ~4,000 tokens: more than 8 windows read, so some of the middle is unread, and said so
        assert long["truncated"] and long["truncated_tokens"] > 0 and long["flagged"]
        assert any(f.startswith("truncated:") for f in long["fired"])  # fail-closed by default
        assert any(not f.startswith("truncated:") for f in long["fired"]), long["fired"]  # the end was read
    finally:
        assert s.stop() == 0


def test_a_prompt_gives_the_scores_of_clave_lite_score_with_that_prompt(server, default_model, tmp_path):
    ex = EXAMPLES["mocking"]
    status, body, _ = server.post("/v1/score", {"input": ex["text"], "prompt": ex["prompt"]})
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"text": ex["text"], "prompt": ex["prompt"]}) + "\n")
    scored = subprocess.run([sys.executable, "-m", "clave_lite.cli", "score", str(src), "--model", str(default_model[1])],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CLAVE_LITE_HOME": str(default_model[0])})
    want = json.loads(scored.stdout.splitlines()[0])["scores"]
    got = body["results"][0]["scores"]
    assert status == 200 and {v: s["label"] for v, s in got.items()} == {v: s["label"] for v, s in want.items()}
    assert max(abs(got[v]["p_opposes"] - want[v]["p_opposes"]) for v in got) < 1e-6


def test_operations_endpoints_and_json_errors(server):
    status, spec = server.get("/openapi.json")
    assert status == 200 and {"/v1/moderations", "/v1/score", "/beta/litellm_basic_guardrail_api"} <= set(spec["paths"])
    assert "input" in json.dumps(spec["paths"]["/v1/moderations"]["post"]["requestBody"])
    assert server.get("/docs")[0] == 200
    assert server.get("/ready")[1]["status"] == "ready"
    status, body = server.get("/v1/moderations")
    assert status == 405 and "error" in body
    status, body = server.get("/health", headers={"Host": "rebind.attacker.example"})
    assert status == 400 and "--allow-host" in body["error"]["message"]
    status, body, _ = server.post("/beta/litellm_basic_guardrail_api",
                                  {"input_type": "response", "texts": [EXAMPLES["help-theft"]["text"]],
                                   "structured_messages": [{"role": "user", "content": EXAMPLES["help-theft"]["prompt"]}]})
    assert status == 200 and body["action"] == "BLOCKED" and "Benevolence" in body["blocked_reason"]
    status, body, _ = server.post("/beta/litellm_basic_guardrail_api", {"input_type": "response", "texts": [TEXTS[1]]})
    assert status == 200 and body == {"action": "NONE"}


def test_an_over_limit_chunked_body_gets_json_413(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/moderations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b'{"input": "' + b"x" * 3000
        try:
            for _ in range(3):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:  # the server answered 413 and closed before the last chunk
            pass
        sock.settimeout(20)
        answer = b""
        while b'"error"' not in answer:
            try:
                part = sock.recv(65536)
            except ConnectionResetError:  # the server may close right after answering
                break
            if not part:
                break
            answer += part
    assert answer.startswith(b"HTTP/1.1 413") and b'"error"' in answer, answer


def test_a_client_that_never_finishes_its_headers_is_disconnected(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/moderations HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(15)
        start = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server (--io-timeout 2)
        assert time.monotonic() - start < 10


def test_the_readme_serve_examples_answer_as_documented(server):
    """README's serve block, run against a live server: every curl line answers 200 with JSON."""
    import re
    import shlex

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Serving: `clave-lite serve`"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    calls = [shlex.split(line.split("#")[0]) for line in block.splitlines() if line.startswith("curl ")]
    calls = [[part.rstrip(";") for part in call if part != ";"] for call in calls]
    assert len(calls) >= 4
    seen = set()
    for call in calls:
        urls = [p for p in call if p.startswith("localhost:8000")]
        body = call[call.index("-d") + 1] if "-d" in call else None
        for url in urls:
            path = url.removeprefix("localhost:8000")
            if body is None:
                status, answer = server.get(path)
            else:
                status, answer, _ = server.post(path, json.loads(body))
            assert status == 200, (path, answer)
            seen.add(path)
    assert {"/v1/moderations", "/v1/score", "/health", "/ready", "/metrics"} <= seen
