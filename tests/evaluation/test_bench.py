"""`clave-lite bench`: a smoke run on the default evaluator (figures present and sane; speed
itself is measured by running bench, not asserted by a timed test) and its helper figures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from clave_lite.evaluation.bench import (
    Goal,
    distinct_texts,
    low_precision_peaks,
    machine_facts,
    transformer_params,
)
from support.tiny_models import smollm2_file

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "responses.jsonl"


def test_bench_smoke_on_the_default(default_model, run_cli, tmp_path):
    _, path, _ = default_model
    out = tmp_path / "bench.json"
    result = run_cli("bench", EXAMPLES, "--model", path, "--limit", "2", "--latency-texts", "1",
                     "--reference-texts", "0", "--json", "-o", out)
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r == json.loads(out.read_text())
    assert r["texts"] == 2 and r["values"] == 10 and r["backend"] == "gguf"
    assert r["responses_per_s"] > 0 and r["pairs_per_s"] == pytest.approx(r["responses_per_s"] * 10)
    assert r["all_vs_one_value_cost"] > 0 and r["latency_p95_s"] >= r["latency_p50_s"] > 0
    assert 0 < r["peak_rss_mib"] < 4096 and r["model_bytes"] == path.stat().st_size
    assert r["transformer_params"] == transformer_params(path) and r["prefill_gflops"] > 0
    assert r["reference"] == {"skipped": "--reference-texts 0"} and r["speedup_vs_reference"] is None
    if importlib.util.find_spec("torch"):  # the bf16 and int8 units beside fp32, and how much of the best is used
        assert r["bf16_peak_gflops"] > 0 and r["int8_peak_gops"] > 0 and "low_precision_skipped" not in r
        best = max(r["matmul_peak_gflops"], r["bf16_peak_gflops"], r["int8_peak_gops"])
        assert r["best_peak_fraction"] == pytest.approx(r["prefill_gflops"] / best)
    else:
        assert "pip install" in r["low_precision_skipped"] and r["best_peak"] == "fp32"
    assert [g["name"] for g in r["goals"]][0] == "all values cost / one value cost"
    assert r["command"] == f"clave-lite bench {EXAMPLES} --model {path} --limit 2 --reference-texts 0 --latency-texts 1 --output {out} --json"
    human = run_cli("bench", EXAMPLES, "--model", path, "--limit", "1", "--latency-texts", "1",
                    "--reference-texts", "0")
    assert human.exit_code == 0 and "responses/s (all values)" in human.stdout and "goal" in human.stdout


def test_low_precision_peaks_are_measured_with_torch():
    pytest.importorskip("torch")
    peaks = low_precision_peaks(1, n=128, seconds=0.05)
    assert peaks.skipped is None and peaks.bf16_gflops > 0 and peaks.int8_gops > 0


def test_bench_refuses_data_without_texts(run_cli, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": 1}\n')
    result = run_cli("bench", empty, "--model", tmp_path / "missing.gguf")
    assert result.exit_code == 3 and "no texts to benchmark" in result.stderr


def test_transformer_params_from_hyperparameters():
    # SmolLM2-135M: 30 layers, d 576, 9 heads / 3 KV heads of 64, MLP 1536; embeddings excluded
    per_layer = 576 * 576 * 2 + 576 * 192 * 2 + 3 * 576 * 1536
    assert transformer_params(smollm2_file()) == 30 * per_layer


def test_distinct_texts_dedupes_tuples(tmp_path):
    data = tmp_path / "t.jsonl"
    rows = [{"text": "a", "value": "Power"}, {"text": "a", "value": "Security"}, {"text": "b"}, {"text": "  "}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    assert distinct_texts(data, 10) == ["a", "b"]
    assert distinct_texts(data, 1) == ["a"]


def test_goal_direction_and_machine_facts():
    assert Goal("x", 2.0, 1.0, True).met and not Goal("x", 2.0, 1.0, False).met
    assert Goal("x", None, 1.0, True).met is None
    facts = machine_facts()
    assert facts.usable_cpus >= 1 and isinstance(facts.isa, list)


def test_bench_serve_load_test_reports_both_servers(default_model, run_cli, monkeypatch):
    pytest.importorskip("fastapi")
    monkeypatch.setenv("CLAVE_LITE_HOME", str(default_model[0]))
    result = run_cli("bench", REPO / "examples" / "responses.jsonl", "--model", default_model[1], "--serve",
                     "--clients", "2", "--requests", "3", "--time-cap", "120")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for name in ("batched", "one_at_a_time"):
        run = out["runs"][name]
        assert run["errors"] == 0 and run["requests_ok"] == 6 and run["p95_ms"] >= run["p50_ms"] > 0
        assert run["peak_rss_mib_end"] > 0
        # a burst of requests that time out leaves the server serving, as fast and with no errors
        assert set(run["timeout_burst"]["status_codes"]) <= {"504", "200"} and run["worker_alive"]
        assert run["after_timeouts"]["errors"] == 0 and run["after_timeouts"]["requests_ok"] == 6
    assert out["runs"]["one_at_a_time"]["texts_per_decode"] == 1.0 and out["micro_batching_gain"] > 0
