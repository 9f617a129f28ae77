"""``--prevalence``: the corpus's share of related pairs moves the default's decisions from the mix
it was fitted on (``Manifest.decision_priors``), the same on the API and the CLI, and is refused
where an evaluator does not record that mix."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from clave_lite.core.labels import LABELS
from clave_lite.errors import UsageError
from clave_lite.runtime.evaluator import Evaluator

CLI = [sys.executable, "-m", "clave_lite.cli"]


def _texts(shared_data, n: int = 6) -> list[str]:
    """The first ValueCSV dev texts (Chinese news; csv12 is the default's untuned system)."""
    import csv

    with (shared_data / "valuecsv" / "dev.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows[:n]]


@pytest.mark.slow
def test_a_corpus_share_moves_the_defaults_decisions_and_only_then(default_model, shared_data, tmp_path):
    texts = _texts(shared_data)
    with Evaluator.load(default_model[1]) as ev:
        priors = ev.manifest.decision_priors
        assert set(priors) == {"schwartz10", "touche20", "csv12"}  # the default records every system's mix
        assumed = priors["csv12"]
        as_fitted = ev.score(texts, system="csv12")
        ev.prevalence = "0.05"
        rarer = ev.score(texts, system="csv12")
        ev.prevalence = ",".join(["0.5"] + [f"{v}={s}" for v, s in assumed.items()])
        same = ev.score(texts, system="csv12")  # the corpus mixed as assumed: nothing moves
        ev.prevalence = "2"
        with pytest.raises(UsageError, match="between 0 and 1"):
            ev.score(texts, system="csv12")
    related = [LABELS.index("supports")]
    p = np.array([[s.probs[LABELS[i]] for i in related] for t in as_fitted for s in t.scores])
    q = np.array([[s.probs[LABELS[i]] for i in related] for t in rarer for s in t.scores])
    assert (q < p).all()  # every supports probability falls on a corpus rarer than the fitted mix
    assert sum(s.label != "unrelated" for t in rarer for s in t.scores) \
        <= sum(s.label != "unrelated" for t in as_fitted for s in t.scores)
    assert [[(s.label, round(s.probs["supports"], 6)) for s in t.scores] for t in same] \
        == [[(s.label, round(s.probs["supports"], 6)) for s in t.scores] for t in as_fitted]

    src = tmp_path / "texts.jsonl"
    src.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    out = subprocess.run([*CLI, "score", src, "--model", default_model[1], "--system", "csv12",
                          "--prevalence", "0.05"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CLAVE_LITE_HOME": str(default_model[0])})
    assert out.returncode == 0, out.stderr[-2000:]
    assert [json.loads(line)["scores"] for line in out.stdout.splitlines()] == [t.to_dict() for t in rarer]

    gold = tmp_path / "gold.jsonl"  # eval reads it too: its verdicts are the API's
    gold.write_text("".join(json.dumps({"id": f"t{i}", "text": t, "value": v, "label": "unrelated",
                                        "system": "csv12"}, ensure_ascii=False) + "\n"
                            for i, t in enumerate(texts) for v in assumed), encoding="utf-8")
    saved = tmp_path / "pred.jsonl"
    out = subprocess.run([*CLI, "eval", gold, "--model", default_model[1], "--prevalence", "0.05",
                          "--save-predictions", saved, "--json"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CLAVE_LITE_HOME": str(default_model[0])})
    assert out.returncode == 0, out.stderr[-2000:]
    got = {(r["id"], r["value"]): r["label"] for r in map(json.loads, saved.read_text().splitlines())}
    assert got == {(f"t{i}", s.value): s.label for i, t in enumerate(rarer) for s in t.scores}
    # eval --compare reads and decides each model as eval does: the prior is not dropped there
    out = subprocess.run([*CLI, "eval", gold, "--compare", default_model[1], "--prevalence", "0.05", "--json"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CLAVE_LITE_HOME": str(default_model[0])})
    assert out.returncode == 0, out.stderr[-2000:]
    compared = json.loads(out.stdout)
    assert compared["prevalence"] == "0.05"
    [row] = compared["models"]
    assert row["metrics"]["accuracy"] == pytest.approx(sum(lab == "unrelated" for lab in got.values()) / len(got))


@pytest.mark.slow
def test_an_evaluator_that_does_not_record_its_mix_refuses_a_prevalence(tiny_evaluator, run_cli, tmp_path):
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"text": "Be kind to strangers."}) + "\n")
    result = run_cli("score", src, "--model", tiny_evaluator, "--prevalence", "0.1")
    assert result.exit_code == 2 and "does not record the related share" in result.stderr
    assert "Traceback" not in result.output
