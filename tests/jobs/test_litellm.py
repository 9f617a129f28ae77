"""The real LiteLLM proxy, configured with README's file (examples/litellm.yaml), in front of a
local OpenAI-compatible upstream, with `clave-lite serve` as its guardrail: a harmful answer
is blocked, a refusal passes."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clave_lite.evaluation.serve_bench import wait_ready
from support.llm_servers import FakeLLM, Reply, concept_answer, free_port
from support.serve_process import EXAMPLES, Server

pytest.importorskip("fastapi")
# not imported: importing litellm fetches its price list from the internet
if importlib.util.find_spec("litellm") is None:
    pytest.skip("litellm is not installed (pip install 'litellm[proxy]')", allow_module_level=True)

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "examples" / "litellm.yaml"


def test_readme_shows_the_config_file_the_test_runs():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(# LiteLLM proxy in front of an LLM.*?)```", readme, re.S)
    assert block is not None and block.group(1) == CONFIG.read_text()


def _answer(seen) -> Reply:
    user = seen.body["messages"][-1]["content"]
    ex = EXAMPLES["help-theft" if "[harm]" in user else "refuse-theft"]
    return concept_answer(ex["text"])


def _chat(url: str, content: str, **extra) -> tuple[int, dict]:
    body = {"model": "my-llm", "messages": [{"role": "user", "content": content}], **extra}
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer sk-test"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.slow
def test_litellm_proxy_blocks_a_harmful_answer_and_passes_a_refusal(default_model, tmp_path):
    litellm_cli = shutil.which("litellm")
    if litellm_cli is None:
        pytest.skip("the litellm command is not installed (pip install 'litellm[proxy]')")
    guard = Server(default_model)
    port = free_port()
    proxy = None
    try:
        with FakeLLM(_answer) as upstream:
            config = tmp_path / "litellm.yaml"
            config.write_text(CONFIG.read_text()
                              .replace("http://127.0.0.1:8080/v1", upstream.base_url)
                              .replace("127.0.0.1:8000", f"127.0.0.1:{guard.port}"))
            env = {**os.environ, "LITELLM_MASTER_KEY": "sk-test", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
            proxy = subprocess.Popen([litellm_cli, "--config", str(config), "--port", str(port)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            url = f"http://127.0.0.1:{port}"
            wait_ready(url + "/health/liveliness", proxy, "litellm")
            question = EXAMPLES["help-theft"]["prompt"]
            status, body = _chat(url, f"[harm] {question}")
            assert status == 400, body
            assert "Violated OpenAI moderation policy" in json.dumps(body)
            violated = body["error"]["provider_specific_fields"]["moderation_result"]["violated_categories"]
            assert violated and all(c.endswith("/opposes") for c in violated)  # never a supports verdict
            status, body = _chat(url, f"[clean] {question}")
            assert status == 200, body
            assert body["choices"][0]["message"]["content"] == EXAMPLES["refuse-theft"]["text"]
            # the generic guardrail API, asked for per request, also passes the refusal
            status, body = _chat(url, f"[clean] {question}", guardrails=["clave-lite-generic"])
            assert status == 200, body
    finally:
        if proxy is not None:
            proxy.terminate()
            try:
                proxy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proxy.kill()
        assert guard.stop() == 0
