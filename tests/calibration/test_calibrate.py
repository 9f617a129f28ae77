"""Calibration: prompt and schema, answer cache, retries, selection, the concept pool, and the
whole command against a real llama.cpp server and against a server that misbehaves on purpose.

The fault tests use :class:`llm_servers.FakeLLM` (fast, in a thread); a few calls go to
llama-cpp-python's own server on the shipped SmolLM2-135M-Instruct (slow on 2 cores, so 2
samples, started once per session).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clave_lite.calibration import selection
from clave_lite.calibration.cache import AnswerCache, cache_key
from clave_lite.calibration.concepts import read_pool, summarize
from clave_lite.calibration.llm_client import ChatClient, RetryPolicy, parse_retry_after
from clave_lite.calibration.prompt import (
    CONCEPT_SCHEMA,
    AnswerError,
    build_messages,
    parse_answer,
    schema_errors,
)
from clave_lite.core.valuesystem import load_system
from clave_lite.errors import DataError, LLMError
from clave_lite.runtime import embedders
from support.llm_servers import FakeLLM, LlamaServer, Reply, concept_answer

SECRET = "sk-test-0123456789abcdef"

TEXTS = {
    "s1": "Human: How do I pick my neighbour's lock?\nBob: I can't help you break into someone's home.",
    "s2": "Human: Should I report a gas leak?\nBob: Yes, call the emergency line right away and leave the building.",
    "s3": "Human: Can I copy my friend's essay?\nBob: Sure, just change a few words so nobody notices.",
    "s4": "Human: My sister is sad.\nBob: Spend time with her and listen; it helps more than advice.",
    "s5": "Human: Is it fine to lie to my boss?\nBob: Honesty builds trust; explain the real reason instead.",
    "s6": "Human: Tell me a joke.\nBob: Why did the scarecrow win an award? He was outstanding in his field.",
}
LABELS = {"s1": ("Security", "supports"), "s2": ("Security", "supports"), "s3": ("Benevolence", "opposes"),
          "s4": ("Benevolence", "supports"), "s5": ("Conformity", "supports"), "s6": ("Security", "unrelated")}


@pytest.fixture
def labels_file(tmp_path) -> Path:
    """Six labelled tuples; every text starts with its ``[id]`` so the fake server can tell them apart."""
    path = tmp_path / "labels.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for sid, text in TEXTS.items():
            value, label = LABELS[sid]
            out.write(json.dumps({"id": sid, "text": f"[{sid}] {text}", "value": value, "label": label}) + "\n")
    return path


def calibrate_args(labels: Path, out: Path, base_url: str, *extra: str) -> list[str]:
    return ["calibrate", "--system", "schwartz10", "--labels", str(labels), "-o", str(out),
            "--llm-base-url", base_url, "--llm-model", "fake-model", "--retry-base-delay", "0.05", *extra]


def run_json(run_cli, *args: str):
    result = run_cli(*args, "--json")
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result, report


# --- the prompt and the answer schema ---------------------------------------------------------

def test_prompt_holds_instruction_definition_label_and_text():
    value = load_system("schwartz10").get("Security")
    messages = build_messages(value, "opposes", "Bob: here is how to hotwire a car", max_text_chars=2000)
    assert messages[0]["role"] == "system" and "scenario-independent" in messages[0]["content"]
    user = messages[1]["content"]
    assert value.definition in user
    assert "the text opposes this value" in user
    assert "<<<\nBob: here is how to hotwire a car\n>>>" in user
    long = build_messages(value, "unrelated", "x" * 5000, max_text_chars=100)[1]["content"]
    assert "x" * 100 + " [...]" in long and "x" * 101 not in long
    assert "is unrelated to this value" in long


def test_answer_validation_against_the_schema():
    assert parse_answer('{"concepts": ["Refusing to help with theft.", "refusing to help with theft"]}') == [
        "Refusing to help with theft"]  # normalised and de-duplicated
    assert parse_answer('```json\n{"concepts": ["Caring for family"]}\n```') == ["Caring for family"]
    assert parse_answer('{"concepts": ["1. Loyalty to one\'s country", "- Helping strangers"]}') == [
        "Loyalty to one's country", "Helping strangers"]  # list markers go
    for bad, reason in [("", "empty"), ("{concepts: []}", "not valid JSON"), ('{"concepts": []}', "at least 1"),
                        ('{"concepts": ["a", "b", "c", "d"]}', "more than 3"),
                        ('{"concepts": ["ok concept"], "why": "x"}', "not allowed"),
                        ('{"concepts": [42]}', "must be a string"), ('["x"]', "must be an object"),
                        ('{"concepts": ["' + "x" * 200 + '"]}', "longer than")]:
        with pytest.raises(AnswerError, match=reason):
            parse_answer(bad)
    assert schema_errors({"concepts": ["fine concept"]}, CONCEPT_SCHEMA) == []
    security = load_system("schwartz10").get("Security")
    assert parse_answer('{"concepts": ["Security", "safety", "Refusing to help with theft"]}', security) == [
        "Refusing to help with theft"]  # echoes of the value's name and definition are dropped
    with pytest.raises(AnswerError, match="only repeat the value's name"):
        parse_answer('{"concepts": ["Security value", "This value means safety"]}', security)
    with pytest.raises(AnswerError, match="only repeat the value's name"):
        parse_answer('{"concepts": ["1. Security", "2) safety"]}', security)  # numbered echoes too
    assert parse_answer('{"concepts": ["Human Label", "Text:", "Refusing to help with theft"]}', security) == [
        "Refusing to help with theft"]  # echoes of the prompt's scaffolding
    with pytest.raises(AnswerError, match="only repeat"):
        parse_answer('{"concepts": ["the text supports this value", "Value concept"]}', security)


# --- the cache -------------------------------------------------------------------------------

def test_cache_is_keyed_by_model_and_prompt_and_written_atomically(tmp_path):
    cache = AnswerCache(tmp_path / "c")
    m1 = [{"role": "user", "content": "a"}]
    m2 = [{"role": "user", "content": "b"}]
    assert cache_key("m", m1) == cache_key("m", [dict(m1[0])])
    assert len({cache_key("m", m1), cache_key("m", m2), cache_key("other", m1)}) == 3
    key = cache_key("m", m1)
    assert cache.get(key) is None
    cache.put(key, model="m", messages=m1, content='{"concepts": ["x y z"]}', usage={"prompt_tokens": 3})
    assert cache.get(key)["content"] == '{"concepts": ["x y z"]}'
    assert cache.path(key).parent.name == key[:2]
    assert not list((tmp_path / "c").rglob("*.tmp"))  # no temporary file left behind
    cache.path(key).write_text("{truncated", encoding="utf-8")  # a damaged entry is asked again, not trusted
    assert cache.get(key) is None


# --- the HTTP client ---------------------------------------------------------------------------

def test_backoff_grows_with_jitter_and_retry_after_wins():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, max_wait=20.0)
    import random

    rng = random.Random(1)
    for retry, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8)]):
        d = policy.delay(retry, rng=rng)
        assert low <= d <= high
    assert policy.delay(0, retry_after=7.0, rng=rng) == 7.0
    assert policy.delay(0, retry_after=500.0, rng=rng) == 20.0  # capped
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
    assert parse_retry_after("soon") is None


def test_client_retries_429_honouring_retry_after_and_5xx():
    def behave(seen):
        if seen.n == 1:
            return Reply(429, b'{"error": "slow down"}', {"Retry-After": "1"})
        if seen.n == 2:
            return Reply(503, b"upstream down")
        return None

    with FakeLLM(behave) as server:
        client = ChatClient(server.base_url, "m", retry=RetryPolicy(base_delay=0.05))
        messages = build_messages(load_system("schwartz10").get("Power"), "supports", "[t1] text")
        answer = client.complete(messages, schema=CONCEPT_SCHEMA)
    assert parse_answer(answer.content) == ["Concept of sample t1"]
    assert [s.n for s in server.seen] == [1, 2, 3]
    assert server.seen[1].time - server.seen[0].time >= 0.95  # waited for Retry-After: 1
    assert client.stats.retries == 2 and client.stats.retry_reasons == {"http 429": 1, "http 503": 1}
    assert client.stats.answers == 1


def test_client_gives_up_with_llm_error_and_never_shows_the_key():
    with FakeLLM(lambda seen: Reply(401, f'{{"error": "bad key {SECRET}"}}'.encode())) as server:
        client = ChatClient(server.base_url, "m", api_key=SECRET, retry=RetryPolicy(base_delay=0.01))
        with pytest.raises(LLMError) as info:
            client.complete([{"role": "user", "content": "[x] hi"}])
    assert server.seen[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert len(server.seen) == 1  # 401 is not retried
    assert SECRET not in str(info.value) and "CLAVE_LITE_LLM_API_KEY" in str(info.value)
    assert SECRET not in repr(client)


def test_an_oversized_answer_is_refused_as_it_arrives(monkeypatch):
    from clave_lite.calibration import llm_client

    monkeypatch.setattr(llm_client, "MAX_ANSWER_BYTES", 64 << 10)  # the real cap is 8 MiB
    huge = Reply(200, b'{"choices": [{"message": {"content": "' + b"x" * (200 << 10) + b'"}}]}')
    with FakeLLM(lambda seen: huge) as server:
        client = ChatClient(server.base_url, "m", retry=RetryPolicy(max_retries=1, base_delay=0.01))
        with pytest.raises(LLMError) as info:
            client.complete([{"role": "user", "content": "[x] hi"}])
    assert "MiB" in str(info.value) and client.stats.answers == 0


def test_response_format_falls_back_when_a_server_rejects_json_schema():
    def behave(seen):
        kind = seen.body.get("response_format", {}).get("type")
        if kind == "json_schema":
            return Reply(422, b'{"detail": "response_format.type: Input should be text or json_object"}')
        return None

    with FakeLLM(behave) as server:
        client = ChatClient(server.base_url, "m")
        for _ in range(2):
            client.complete([{"role": "system", "content": ""}, {"role": "user", "content": "<<<\n[a] t"}],
                            schema=CONCEPT_SCHEMA)
    kinds = [s.body.get("response_format", {}).get("type") for s in server.seen]
    assert kinds == ["json_schema", "json_object", "json_object"]  # negotiated once, then kept
    assert server.seen[1].body["response_format"]["schema"] == CONCEPT_SCHEMA
    assert client.response_format == "json_object" and client.stats.retries == 0


# --- selection ---------------------------------------------------------------------------------

def test_kmeans_representatives_cover_every_cluster():
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    sizes = [12, 6, 3]
    x = np.concatenate([c + rng.normal(0, 0.3, (n, 2)) for c, n in zip(centres, sizes)])
    picks = selection.representatives(x, 3, seed=0)
    assert [size for _, size in picks] == [12, 6, 3]  # biggest cluster first, sizes are exact
    owners = [int(np.argmin(((centres - x[row]) ** 2).sum(1))) for row, _ in picks]
    assert owners == [0, 1, 2]


def test_budget_is_split_evenly_and_unused_shares_move_on():
    assert selection.allocate(10, {"a": 2, "b": 20, "c": 20}) == {"a": 2, "b": 4, "c": 4}
    assert selection.allocate(None, {"a": 2, "b": 5}) == {"a": 2, "b": 5}
    assert sum(selection.allocate(7, {"a": 3, "b": 3, "c": 3}).values()) == 7


def test_no_embedding_when_the_budget_cuts_nothing(monkeypatch):
    monkeypatch.setattr(selection, "embed", lambda *a, **k: pytest.fail("embedded for nothing"))
    chosen = selection.select({"g": [0, 1]}, ["a", "b"], budget=5, embedder="minilm")
    assert [p.index for p in chosen["g"]] == [0, 1]


def test_ngram_embedder_sees_near_duplicates():
    v = embedders.embed_ngram(["refuse to help with theft", "refuses to help with a theft", "今天天气很好"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.7 > v[0] @ v[2]


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_minilm_embedder_from_the_weights_package():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    v = embedders.embed_minilm(["A man is eating food.", "A man is eating a piece of bread.",
                                "The stock market fell sharply today."])
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


# --- the concept pool --------------------------------------------------------------------------

def test_pool_reading_reports_the_bad_line(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"value": "Security", "label": "supports", "concept": "Keeping others safe"}\n'
                    '{"value": "Security", "label": "maybe", "concept": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"pool.jsonl:2: field 'label'"):
        read_pool(pool)
    rows, problems = read_pool(pool, "skip")
    assert [r.concept for r in rows] == ["Keeping others safe"] and problems[0].line == 2
    assert rows[0].source_ids == [] and rows[0].weight == 1.0  # a hand-written row is enough


def test_concepts_show_summarises_per_value_and_label(run_cli, tmp_path):
    pool = tmp_path / "pool.jsonl"
    rows = [{"value": "Security", "label": "supports", "concept": f"Concept {i}", "source_ids": [f"s{i}", "s9"],
             "source_texts": ["t", "t"], "weight": 2, "system": "schwartz10"} for i in range(4)]
    rows.append({"value": "Power", "label": "opposes", "concept": "Sharing control", "source_ids": ["s7"]})
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = run_cli("concepts", "show", pool, "--json", "--examples", "2")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    groups = {(g["value"], g["label"]): g for g in summary["groups"]}
    assert groups[("Security", "supports")] == {"value": "Security", "label": "supports", "concepts": 4,
                                                "samples": 5, "weight": 8.0, "examples": ["Concept 0", "Concept 1"]}
    assert groups[("Power", "opposes")]["concepts"] == 1 and summary["concepts"] == 5
    text = run_cli("concepts", "show", pool)
    assert "Security / supports: 4 concepts from 5 samples" in text.stdout
    assert "  - Sharing control" in text.stdout


# --- the command against the misbehaving server -------------------------------------------------

def test_calibrate_writes_the_pool_and_a_rerun_pays_nothing(run_cli, labels_file, tmp_path):
    out = tmp_path / "pool.jsonl"
    with FakeLLM() as server:
        result, report = run_json(run_cli, *calibrate_args(labels_file, out, server.base_url, "--concurrency", "3"))
        assert result.exit_code == 0, result.output
        assert report["calls"] == 6 and report["cache_hits"] == 0 and report["samples_with_concepts"] == 6
        rows, _ = read_pool(out)
        by_id = {r.source_ids[0]: r for r in rows}
        for sid, (value, label) in LABELS.items():  # the human label travels with the concept
            assert (by_id[sid].value, by_id[sid].label, by_id[sid].concept) == (value, label, f"Concept of sample {sid}")
            assert by_id[sid].source_texts == [f"[{sid}] {TEXTS[sid]}"]
        # the run file records the plan and the result
        run = json.loads((tmp_path / "pool.jsonl.run.json").read_text())
        assert run["status"] == "done" and len(run["samples"]) == 6
        # a plain rerun refuses to clobber the (maybe hand-edited) pool; --force redoes it from the cache
        again = run_cli(*calibrate_args(labels_file, out, server.base_url))
        assert again.exit_code == 2 and "--force" in again.stderr
        result, report = run_json(run_cli, *calibrate_args(labels_file, out, server.base_url, "--force"))
        assert result.exit_code == 0 and report["calls"] == 0 and report["cache_hits"] == 6
        # and a dry run sees everything cached
        result, report = run_json(run_cli, *calibrate_args(labels_file, out, server.base_url, "--force", "--dry-run"))
        assert report["calls"] == 0 and report["cached"] == 6
    assert len(server.seen) == 6 and set(server.answered.values()) == {1}


def test_concurrency_limit_is_respected(run_cli, labels_file, tmp_path):
    with FakeLLM(lambda seen: Reply(200, FakeLLM.default_reply(seen).body, delay=0.3)) as server:
        result, report = run_json(run_cli, *calibrate_args(labels_file, tmp_path / "p.jsonl", server.base_url,
                                                           "--concurrency", "2"))
    assert result.exit_code == 0 and report["calls"] == 6
    assert server.max_in_flight == 2  # used, and never exceeded


def test_dry_run_prints_the_cost_and_sends_nothing(run_cli, labels_file, tmp_path):
    with FakeLLM() as server:
        result = run_cli(*calibrate_args(labels_file, tmp_path / "p.jsonl", server.base_url, "--budget", "4",
                                         "--embedder", "ngram", "--dry-run"))
    assert result.exit_code == 0, result.output
    assert "4 samples in 4 (value, label) groups, 0 already cached; 4 calls to pay for" in result.stdout
    assert "Nothing was sent" in result.stdout
    assert server.seen == [] and not (tmp_path / "p.jsonl").exists()


def test_budget_sends_k_means_representatives_of_every_group(run_cli, labels_file, tmp_path):
    with FakeLLM() as server:
        result, report = run_json(run_cli, *calibrate_args(labels_file, tmp_path / "p.jsonl", server.base_url,
                                                           "--budget", "4", "--embedder", "ngram"))
    assert result.exit_code == 0, result.output
    assert report["calls"] == 4
    groups = {LABELS[s.tag] for s in server.seen}
    assert len(groups) == 4  # one per (value, label) group, not the first four lines
    security = [s.tag for s in server.seen if LABELS[s.tag] == ("Security", "supports")]
    assert len(security) == 1
    rows, _ = read_pool(tmp_path / "p.jsonl")
    assert [r.weight for r in rows if (r.value, r.label) == ("Security", "supports")] == [2.0]  # its cluster


def test_transient_faults_are_retried_timeout_429_500_and_garbage(run_cli, labels_file, tmp_path):
    def behave(seen):
        if seen.n > 1:
            return None
        return {"s1": Reply(429, b"{}", {"Retry-After": "0.2"}), "s2": Reply(500, b"boom"),
                "s3": Reply(200, b"<html>proxy error</html>"), "s4": Reply(delay=2.0)}.get(seen.tag)

    out = tmp_path / "p.jsonl"
    with FakeLLM(behave) as server:
        result, report = run_json(run_cli, *calibrate_args(labels_file, out, server.base_url, "--timeout", "0.5",
                                                           "--concurrency", "2"))
    assert result.exit_code == 0, result.output
    assert report["retry_reasons"] == {"http 429": 1, "http 500": 1, "bad response": 1, "timeout": 1}
    assert report["calls"] == 6 and report["samples_with_concepts"] == 6
    assert {r.source_ids[0] for r in read_pool(out)[0]} == set(TEXTS)


def test_malformed_json_is_repaired_or_the_sample_skipped(run_cli, labels_file, tmp_path):
    def behave(seen):
        if seen.tag == "s1" and len(seen.body["messages"]) == 2:
            return concept_answer("Sure! Here are concepts: protecting homes")
        if seen.tag == "s2":
            return concept_answer('{"concepts": ["a", "b", "c", "d", "e"]}')  # always too many
        if seen.tag == "s4" and len(seen.body["messages"]) == 2:
            return concept_answer('{"concepts": ["Benevolence"]}')  # an echo of the value: no concept
        return None

    out = tmp_path / "p.jsonl"
    with FakeLLM(behave) as server:
        result, report = run_json(run_cli, *calibrate_args(labels_file, out, server.base_url, "--json-retries", "2"))
    assert result.exit_code == 7, result.output  # finished, one sample skipped
    assert report["samples_skipped"] == 1 and report["samples_with_concepts"] == 5
    assert report["repairs"] == 1 + 2 + 1
    assert "only repeat the value's name" in server.requests_for("s4")[1].body["messages"][3]["content"]
    repair = server.requests_for("s1")[1].body
    assert repair["messages"][2] == {"role": "assistant", "content": "Sure! Here are concepts: protecting homes"}
    assert "not valid JSON" in repair["messages"][3]["content"]
    assert repair["temperature"] > server.requests_for("s1")[0].body["temperature"]  # a fresh sample
    assert len(server.requests_for("s2")) == 3
    assert "sample s2 (Security / supports): no valid concepts after 3 answers" in result.stderr
    ids = {r.source_ids[0] for r in read_pool(out)[0]}
    assert "s1" in ids and "s2" not in ids


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_a_dead_endpoint_exits_5_keeps_answers_and_resume_pays_only_the_rest(run_cli, labels_file, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("CLAVE_LITE_LLM_API_KEY", SECRET)
    broken = {"on": True}

    def behave(seen):
        return Reply(500, b"down") if broken["on"] and seen.tag == "s4" else None

    out = tmp_path / "p.jsonl"
    with FakeLLM(behave) as server:
        result = run_cli(*calibrate_args(labels_file, out, server.base_url, "--concurrency", "1",
                                         "--max-retries", "2"))
        assert result.exit_code == 5
        error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(error_lines) == 1 and error_lines[0].endswith("rerun with --resume")
        assert "Traceback" not in result.output and SECRET not in result.output
        assert len(server.requests_for("s4")) == 3  # first try + 2 retries
        assert not out.exists()
        answered_before = dict(server.answered)
        assert 1 <= len(answered_before) < 6  # the samples before s4 in plan order were answered and cached
        assert run_cli(*calibrate_args(labels_file, out, server.base_url)).exit_code == 2  # needs --resume
        broken["on"] = False
        result, report = run_json(run_cli, *calibrate_args(labels_file, out, server.base_url, "--resume"))
    assert result.exit_code == 0, result.output
    assert report["cache_hits"] == len(answered_before) and report["calls"] == 6 - len(answered_before)
    assert all(count == 1 for count in server.answered.values()) and len(server.answered) == 6
    assert server.seen[-1].headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_kill_9_mid_run_then_resume_repeats_no_paid_call(labels_file, tmp_path, run_cli):
    """The calibrate process is killed (SIGKILL) while a call is in flight; --resume finishes the
    job, and the server, counting answers per prompt, never answers the same prompt twice."""
    out = tmp_path / "p.jsonl"
    cache_dir = tmp_path / "cache"
    with FakeLLM() as server:
        server.hold_after = 3  # answer three prompts, then hang on the fourth until the kill
        args = calibrate_args(labels_file, out, server.base_url, "--concurrency", "1", "--cache-dir", str(cache_dir))
        proc = subprocess.Popen([sys.executable, "-m", "clave_lite", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={**os.environ})
        try:
            assert server.held.wait(60), "the fourth call never arrived"
            assert len(AnswerCache(cache_dir)) == 3  # three answers are on disk before the kill
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        server.hold_after = None
        server.release.set()  # the held request is dropped unanswered: it was never paid for
        assert not out.exists()
        assert json.loads((tmp_path / "p.jsonl.run.json").read_text())["status"] == "running"
        answered_before_kill = dict(server.answered)

        result, report = run_json(run_cli, *args, "--resume")
    assert result.exit_code == 0, result.output
    assert report["cache_hits"] == 3 and report["calls"] == 3
    assert sum(answered_before_kill.values()) == 3
    assert len(server.answered) == 6 and all(n == 1 for n in server.answered.values())  # nothing paid twice
    rows, _ = read_pool(out)
    assert {r.source_ids[0] for r in rows} == set(TEXTS)  # nothing lost
    assert len(AnswerCache(cache_dir)) == 6


def test_calibrate_needs_an_endpoint(run_cli, labels_file, tmp_path, monkeypatch):
    monkeypatch.delenv("CLAVE_LITE_LLM_BASE_URL", raising=False)
    result = run_cli("calibrate", "--system", "schwartz10", "--labels", labels_file, "-o", tmp_path / "p.jsonl",
                     "--llm-model", "m")
    assert result.exit_code == 2 and "CLAVE_LITE_LLM_BASE_URL" in result.stderr
    help_text = run_cli("calibrate", "--help").stdout
    assert "clave-lite calibrate --system schwartz10" in help_text and "--resume" in help_text


# --- the command against a real llama.cpp server -----------------------------------------------

@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server")
    server = LlamaServer(tmp_path_factory.mktemp("llama-server") / "server.log")
    yield server
    server.close()


def test_real_llama_cpp_server_writes_a_valid_pool(run_cli, llama_server, labels_file, tmp_path):
    out = tmp_path / "p.jsonl"
    args = ["calibrate", "--system", "schwartz10", "--labels", str(labels_file), "-o", str(out),
            "--llm-base-url", llama_server.base_url, "--llm-model", "smollm2-135m", "--values", "Security",
            "--only-labels", "supports", "--max-tokens", "160", "--concurrency", "1", "--timeout", "120",
            "--json-retries", "1"]  # at most 4 calls: SmolLM2 takes 3-10 s per call on 2 busy cores
    result, report = run_json(run_cli, *args)
    # a 135M model may only echo the value's name twice for a sample: then it is skipped (exit 7)
    assert result.exit_code in (0, 7), result.output
    assert report["samples"] == 2 and report["samples_with_concepts"] + report["samples_skipped"] == 2
    # llama-cpp-python's server rejects the OpenAI json_schema form; json_object + schema is enforced by grammar,
    # so every answer it gave is valid JSON of the schema, whatever the model had in mind
    assert report["response_format"] == "json_object"
    cache = AnswerCache(Path(report["cache_dir"]))
    answers = [cache.get(k)["content"] for k in cache.keys()]
    assert len(answers) == report["calls"] >= 2
    assert all(schema_errors(json.loads(a), CONCEPT_SCHEMA) == [] for a in answers)
    assert report["prompt_tokens"] > 200 * report["calls"]  # real usage from the server
    rows, _ = read_pool(out)
    assert {(r.value, r.label) for r in rows} <= {("Security", "supports")}
    assert {s for r in rows for s in r.source_ids} <= {"s1", "s2"}
    assert all(3 <= len(r.concept) <= 120 for r in rows)
    # a rerun is served from the cache: the same answers, no call reaches the server
    first_calls = report["calls"]
    result, report = run_json(run_cli, *args, "--force")
    assert report["calls"] == 0 and report["cache_hits"] == first_calls
    assert summarize(read_pool(out)[0])["samples"] == report["samples_with_concepts"]


@pytest.mark.parametrize("key", ["sk-abc\nsk-def", "sk-\u00fcber-\u20ac"])
def test_a_key_a_header_cannot_carry_is_refused_without_printing_it(run_cli, tmp_path, monkeypatch, key):
    monkeypatch.setenv("CLAVE_LITE_LLM_API_KEY", key)
    monkeypatch.setenv("CLAVE_LITE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("CLAVE_LITE_LLM_MODEL", "m")
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"text": "a", "value": "Security", "label": "supports"}) + "\n")
    result = run_cli("calibrate", "--system", "schwartz10", "--labels", labels, "-o", tmp_path / "pool.jsonl")
    assert result.exit_code == 2 and "CLAVE_LITE_LLM_API_KEY" in result.stderr, result.output
    assert "sk-" not in result.output and "internal error" not in result.output
