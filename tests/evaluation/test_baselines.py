"""The anchors of `eval --baselines`: trained on the training tuples, scored on the same texts."""

from __future__ import annotations

import json

import pytest

from clave_lite.core.tuples import LabelledTuple

pytest.importorskip("sklearn")


def _tuples(texts_labels, value="Security"):
    return [LabelledTuple(t, value, lab, f"id{i}", "schwartz10") for i, (t, lab) in enumerate(texts_labels)]


TRAIN = _tuples([("we must keep people safe and protect the city", "supports")] * 10
                + [("let us burn the city and hurt people", "opposes")] * 10
                + [("the recipe needs two eggs and flour", "unrelated")] * 20)
TEST = _tuples([("keep people safe, protect them", "supports"), ("burn it and hurt them", "opposes"),
                ("add flour and eggs", "unrelated")])


def test_majority_and_tfidf_baselines_predict_every_test_tuple():
    from clave_lite.evaluation import baselines

    maj = baselines.run("majority", TRAIN, TEST)
    assert [t.label for t in maj] == ["unrelated"] * 3 and [t.id for t in maj] == [t.id for t in TEST]
    tfidf = baselines.run("tfidf", TRAIN, TEST)
    assert [t.label for t in tfidf] == ["supports", "opposes", "unrelated"]


def test_unknown_baseline_and_missing_train_are_clear_errors():
    from clave_lite.errors import DataError
    from clave_lite.evaluation import baselines

    with pytest.raises(DataError, match="choose from"):
        baselines.parse("tfidf,bert")
    with pytest.raises(DataError, match="--train"):
        baselines.run("tfidf", None, TEST)


def test_eval_prints_the_evaluator_beside_its_anchors(run_cli, default_model, shared_data, tmp_path):
    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    assert run_cli("convert", "fulcra", shared_data / "fulcra" / "train.jsonl", "-o", train).exit_code == 0
    assert run_cli("convert", "fulcra", shared_data / "fulcra" / "dev.jsonl", "-o", dev).exit_code == 0
    # the first 300 training dialogues (3,000 tuples) are enough to train the anchors here; all
    # 1,055 cost minutes of MiniLM embedding on 2 cores
    train.write_text("".join(train.read_text().splitlines(keepends=True)[:3000]))
    result = run_cli("eval", dev, "--model", default_model[1], "--limit", "12", "--baselines",
                     "majority,tfidf,minilm,zeroshot", "--train", train, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["baselines"]) == {"majority", "tfidf", "minilm", "zeroshot"}
    for figures in [report, *report["baselines"].values()]:
        assert figures["n"] == 120 and figures["texts"] == 12
        assert figures["intervals"]["macro_f1"][0] <= figures["macro_f1"] <= figures["intervals"]["macro_f1"][1]
    assert 0 <= report["calibration"]["ece"] <= 1
    # the evaluator minus each anchor, paired over the same texts: the points are the two figures' difference
    for name, diffs in report["evaluator_minus_baseline"].items():
        d = {x["figure"]: x for x in diffs}["macro_f1"]
        assert abs(d["difference"] - (report["macro_f1"] - report["baselines"][name]["macro_f1"])) < 1e-3
        assert d["interval"][0] <= d["difference"] <= d["interval"][1] and d["texts"] == 12
    assert set(report["evaluator_minus_baseline"]) == set(report["baselines"])
    # the default's verdicts are its hybrid's: both halves reported from the same pass, paired
    assert set(report["components"]) == {"evaluator", "lexical"}
    for half, diffs in report["hybrid_minus_component"].items():
        d = {x["figure"]: x for x in diffs}["macro_f1"]
        assert abs(d["difference"] - (report["macro_f1"] - report["components"][half]["macro_f1"])) < 1e-3
    table = run_cli("eval", dev, "--model", default_model[1], "--limit", "12", "--baselines", "majority",
                    "--train", train)
    assert table.exit_code == 0 and "beside the anchors" in table.stdout and "majority" in table.stdout
    assert "minus each anchor" in table.stdout and "- majority" in table.stdout
    assert run_cli("eval", dev, "--baselines", "tfidf").exit_code == 2  # trained anchors need --train
