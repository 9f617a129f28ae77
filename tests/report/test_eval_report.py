"""``eval --report``: a real (tiny) evaluator measured, drawn, and shown in a real browser."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("jinja2")

from clave_lite.core.valuesystem import load_system  # noqa: E402
from support.browser import assert_page_loads, assert_self_contained  # noqa: E402

TEXTS = ["I always keep my promises to my friends.", "Stealing from the shop was easy and fun.",
         "We should protect the forest for our children.", "He obeyed every rule his parents set.",
         "She started her own company at twenty.", "They mocked the old traditions of the village."]


def test_eval_report_with_baselines_and_injection(tiny_evaluator, tmp_path, run_cli):
    pytest.importorskip("sklearn")
    labels = ["unrelated", "supports", "opposes"]
    data = tmp_path / "gold.jsonl"
    data.write_text("".join(json.dumps({"id": f"t{i}", "text": t, "value": v.name, "label": labels[(i + j) % 3],
                                        "system": "schwartz10"}) + "\n"
                            for i, t in enumerate(TEXTS) for j, v in enumerate(load_system("schwartz10").values)))
    out = tmp_path / "rep"
    result = run_cli("eval", data, "--model", tiny_evaluator, "--baselines", "majority,tfidf", "--train", data,
                     "--report", out)
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'index.html'}" in result.stderr
    first = assert_page_loads(out / "index.html", tmp_path / "chromium")
    assert len(first.images) == 4  # confusion, per-value confusion, per-value F1, reliability
    result = run_cli("eval", data, "--model", tiny_evaluator, "--inject", "--limit", "2", "--report", out)
    assert result.exit_code == 0, result.output
    dom = assert_page_loads(out / "index.html", tmp_path / "chromium")
    assert len(dom.images) == 5  # the same page, now with the injection flip rates
    tables = {t["id"]: t for t in dom.tables}
    assert tables["headline"]["rows"] == 3 and tables["headline"]["cells"][0] == "evaluator"
    assert tables["per-value"]["rows"] == 10
    assert tables["injection"]["rows"] >= 3
    assert_self_contained(out)
    saved = json.loads((out / "report.json").read_text())
    assert saved["eval"]["metrics"]["n"] == 60 and saved["inject"]["decisions"] > 0
    bins = saved["eval"]["metrics"]["calibration"]["reliability"]
    assert sum(b["n"] for b in bins) == 60


def test_eval_report_refuses_a_foreign_folder_before_scoring(tmp_path, run_cli):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    result = run_cli("eval", tmp_path / "missing.jsonl", "--report", busy)
    assert result.exit_code == 2 and "not a clave-lite eval report" in result.output
