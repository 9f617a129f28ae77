"""`clave-lite adapt`: folds that keep groups together, a readout whose runtime form equals its
fitted form, and the whole command end to end on a tiny evaluator with the real vocabulary."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from clave_lite.core.labels import LABELS
from clave_lite.core.tuples import LabelledTuple
from clave_lite.errors import DataError, ModelError
from clave_lite.formats.head import Head
from support import toy_system

pytest.importorskip("sklearn")


def _tuple(text: str, value: str, label: str, id_: str | None = None) -> LabelledTuple:
    return LabelledTuple(text=text, value=value, label=label, id=id_)


def test_group_regex_keeps_scenarios_together():
    from clave_lite.adapt.folds import assign_folds, group_keys

    tuples = [_tuple(f"t{i}{a}", "V", "supports", f"C_{i}-{a}") for i in range(30) for a in ("a1", "a2")]
    groups = group_keys(tuples, r"^([^-]+)")
    assert groups[:2] == ["C_0", "C_0"]
    folds = assign_folds(groups, 5, seed=0)
    for i in range(0, len(tuples), 2):
        assert folds[i] == folds[i + 1]  # both actions of a scenario in one fold
    assert sorted(set(folds)) == [0, 1, 2, 3, 4]
    assert group_keys(tuples, None)[:2] == ["t0a1", "t0a2"]  # default: one group per text


def test_group_problems_are_data_errors():
    from clave_lite.adapt.folds import assign_folds, group_keys

    with pytest.raises(DataError, match="does not match"):
        group_keys([_tuple("x", "V", "supports", "nodash")], r"^(C_\d+)-")
    with pytest.raises(DataError, match="not a regular expression"):
        group_keys([_tuple("x", "V", "supports", "a")], "(")
    with pytest.raises(DataError, match="cannot make 5 folds"):
        assign_folds(["a", "b", "c"], 5)


@pytest.mark.parametrize("scope", ["shared", "per-value"])
@pytest.mark.parametrize("labels", [(0, 1, 2), (0, 2)])
def test_head_form_equals_fitted_form(labels, scope):
    """Standardisation and the logits → hidden projection folded into the stored weights give
    the same logits as the fit, for two value lines side by side."""
    from clave_lite.adapt.readout import fit

    rng = np.random.default_rng(0)
    h = rng.normal(size=(150, 2, 16)) * 3 + 1  # hidden states after two value lines
    value_idx = rng.integers(0, 3, size=150)
    y = np.array(labels)[(h[:, 0, 0] > 1).astype(int) + (h[:, 1, 1] > 2) * (len(labels) == 3)]
    fitted = fit(h.reshape(150, 32), y, value_idx, 3, c=0.5, scope=scope)
    out_matrix = rng.normal(size=(40, 16))  # 40 token rows spanning the 16-d hidden space
    z = h @ out_matrix.T  # what llama.cpp returns: those tokens' logits, [150, 2 lines, 40]
    head = fitted.head(range(40), np.linalg.pinv(out_matrix), [None, "Value: {name}\nVerdict:"], ["a", "b", "c"])
    got = np.stack([head.apply("abc"[value_idx[i]], z[i]) for i in range(150)])
    np.testing.assert_allclose(got, fitted.logits(h.reshape(150, 32), value_idx), rtol=1e-6, atol=1e-6)
    for lab in [lab for lab in range(3) if lab not in labels]:  # a label never seen is never chosen
        assert (got.argmax(1) != lab).all()
    again = Head.from_dict(json.loads(json.dumps(head.to_dict())), "x")
    np.testing.assert_allclose(again.apply("b", z[0]), head.apply("b", z[0]), rtol=1e-5)


def test_ensemble_is_the_mean_of_its_members_and_folds_into_one_head():
    """An ensemble over lines and C gives the mean of its members' logits, and its head (the
    projection folded in, a member that reads one line only padded with zeros) the same."""
    from clave_lite.adapt.readout import Candidate, Data, Ensemble

    rng = np.random.default_rng(1)
    d, n = 12, 160
    h = {"template": rng.normal(size=(n, d)) * 2 + 1, "definition": rng.normal(size=(n, d))}
    y = (h["template"][:, 0] > 1).astype(int) + (h["definition"][:, 1] > 0.5)
    value_idx = rng.integers(0, 2, size=n)
    data = Data({("hidden", k): v for k, v in h.items()}, y, value_idx, 2, np.arange(n).astype(str))
    members = (Candidate("hidden", ("template",), "per-value", 0.1),
               Candidate("hidden", ("definition",), "per-value", 0.3),
               Candidate("hidden", ("template", "definition"), "shared", 1.0))
    ens = Ensemble(members)
    assert ens.lines == ("template", "definition")
    rows = np.arange(n)
    fitted = data.fit(ens, rows)
    mean = np.mean([data.fit(m, rows).logits(data.x(m), value_idx) for m in members], axis=0)
    got = fitted.logits(data.x(ens), value_idx)
    np.testing.assert_allclose(got, mean, rtol=1e-9, atol=1e-9)
    assert (got.argmax(1) == y).mean() > 0.8  # and it learned the labels
    out_matrix = rng.normal(size=(30, d))
    z = np.stack([h["template"] @ out_matrix.T, h["definition"] @ out_matrix.T], axis=1)  # [n, 2, 30]
    head = fitted.head(range(30), np.linalg.pinv(out_matrix), [None, "Value: {name}: {definition}\nVerdict:"], ["a", "b"])
    via_head = np.stack([head.apply("ab"[value_idx[i]], z[i]) for i in range(n)])
    np.testing.assert_allclose(via_head, got, rtol=1e-6, atol=1e-6)


def _head(**change):
    data = {"value_lines": [None], "token_ids": [1], "values": {"V": {"weight": [[0.0]] * 3, "bias": [0, 0, 0]}}}
    data.update(change)
    return data


@pytest.mark.parametrize("bad, match", [
    (_head(token_ids=[]), "token ids"),
    (_head(token_ids=[1, -2]), "token ids"),
    (_head(value_lines=["Verdict:"]), "value lines"),
    (_head(value_lines=[]), "value lines"),
    (_head(values={}), "no values"),
    (_head(values={"V": {"weight": [[0.0]] * 2, "bias": [0, 0, 0]}}), "weight"),
    (_head(token_ids=[1, 2]), "weight"),
    (_head(values={"V": {"weight": [[float("nan")]] * 3, "bias": [0, 0, 0]}}), "non-finite"),
    (_head(values={"V": {"bias": [0, 0, 0]}}), "'V'"),
    ("head", "not an object"),
])
def test_damaged_heads_are_refused(bad, match):
    with pytest.raises(ModelError, match=match):
        Head.from_dict(bad, "model.gguf")


# ---- end to end on a tiny evaluator -------------------------------------------------------

@pytest.fixture
def toy_inputs(tmp_path) -> tuple[Path, Path]:
    """The toy system file and its labelled tuples."""
    return toy_system.toy_inputs(tmp_path)


@pytest.mark.slow
def test_adapt_end_to_end(tiny_evaluator, toy_inputs, tmp_path, run_cli):
    from clave_lite.core.valuesystem import load_system
    from clave_lite.formats.lexical import pool
    from clave_lite.runtime.evaluator import Evaluator

    system, labels = toy_inputs
    out = tmp_path / "toy3.gguf"
    args = ["adapt", "--system", system, "--labels", labels, "-o", out, "--from", tiny_evaluator,
            "--group-regex", "^([^-]+)", "--folds", "3", "--threads", "2"]
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)
    assert [e["name"] for e in report["estimates"]] == ["adapted", "readout", "as-is", "tfidf"]
    assert report["tuples"] == 72 and report["groups"] == 24
    for e in report["estimates"]:
        lo, hi = e["intervals"]["macro_f1"]
        assert 0 <= lo <= e["macro_f1"] <= hi <= 1
    # the default readout is the fixed mean of every hidden-state candidate: nothing chosen per fold
    hidden = [name for name in report["ablation"] if name.startswith("hidden/")]
    assert report["readout"] == "ensemble" and report["chosen_per_fold"] == []
    assert hidden and report["chosen"].startswith(f"mean of {len(hidden)}/hidden/template")

    # the written evaluator carries the system, scores it through its head, keeps the old one
    with Evaluator.load(out, threads=2) as ev:
        assert ev.manifest.default_system == "toy3"
        assert [s.name for s in ev.manifest.systems] == ["toy3", "schwartz10"]
        head = ev.manifest.head("toy3")
        assert head is not None and ev.manifest.head("schwartz10") is None
        assert ev.manifest.training["adapt"]["tuples"] == 72
        text = "I lie to my friend about the boat."
        toy = load_system(str(system))
        [logits] = list(ev.token_logits([(text, list(toy.values))], head.token_ids, head.value_lines))
        z = np.stack([head.apply(v.name, logits[k]) for k, v in enumerate(toy.values)])
        z = z / ev.manifest.temperature("toy3")
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        [scored] = ev.score([text])
        # the evaluator half is the head's; the verdict pools it with the lexical layer adapt fitted
        got = np.array([[s.parts["evaluator"][lab] for lab in LABELS] for s in scored.scores])
        np.testing.assert_allclose(got, p, atol=1e-5)
        lexical = ev.manifest.lexical_layer("toy3")
        assert lexical is not None and set(lexical.values) == set(toy_system.ACTS)
        assert lexical.pool_temperature == report["pool_temperature"]  # fitted on the folds
        p_lex = lexical.probs(text, [v.name for v in toy.values])
        pooled = np.array([pool(pe, pl, lexical.pool_weight, toy.labels, lexical.pool_temperature)
                           for pe, pl in zip(p, p_lex)])
        np.testing.assert_allclose([[s.probs[lab] for lab in LABELS] for s in scored.scores], pooled, atol=1e-5)
        assert len(ev.score(["x y z"], system="schwartz10")[0].scores) == 10

    # the human table; an existing output needs --force
    assert run_cli(*args).exit_code == 2
    result = run_cli(*args, "--force")
    assert result.exit_code == 0, result.stderr
    assert "TF-IDF + LR" in result.stdout and "clave-lite adapted" in result.stdout
    assert "(a fixed readout: nothing reported here chose anything)" in result.stdout
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "I steal the lamp."}\n{"text": "I return the lamp."}\n')
    score = run_cli("score", texts, "--model", out)
    assert score.exit_code == 0, score.stderr
    assert [sorted(json.loads(line)["scores"]) for line in score.stdout.splitlines()] == [sorted(toy_system.ACTS)] * 2
    # it records the mix its decisions give the labelled tuples out of fold, so score --prevalence shifts from it
    with Evaluator.load(out, threads=2) as ev:
        mix = ev.manifest.decision_priors["toy3"]
        assert set(mix) == set(toy_system.ACTS) and all(0 < x < 1 for x in mix.values())
        assert mix == ev.manifest.training["adapt"]["fitted_mix"]
        kept = {k: v for k, v in ev.manifest.decision_priors.items() if k != "toy3"}
    with Evaluator.load(tiny_evaluator, threads=2) as source:
        assert kept == source.manifest.decision_priors  # the other systems' mixes are the source's
    rare = run_cli("score", texts, "--model", out, "--prevalence", "0.02")
    assert rare.exit_code == 0, rare.stderr
    unrelated = [sum(s["label"] == "unrelated" for s in json.loads(line)["scores"].values())
                 for line in score.stdout.splitlines()]
    unrelated_rare = [sum(s["label"] == "unrelated" for s in json.loads(line)["scores"].values())
                      for line in rare.stdout.splitlines()]
    assert all(b >= a for a, b in zip(unrelated, unrelated_rare))

    # --prevalence: decisions and the estimate for a corpus with fewer related pairs than the labels
    prior_out = tmp_path / "toy3-prior.gguf"
    result = run_cli(*args[:6], prior_out, *args[7:], "--prevalence", "0.1", "--json")
    assert result.exit_code == 0, result.stderr
    shifted = json.loads(result.stdout)
    assert [e["name"] for e in shifted["estimates"]] == ["adapted", "readout", "as-is", "tfidf", "adapted@corpus",
                                                         "adapted-unshifted@corpus", "tfidf@corpus"]
    assert shifted["prevalence"] == {v: 0.1 for v in toy_system.ACTS} and 0 < shifted["related_share"] < 1
    with Evaluator.load(prior_out, threads=2) as ev:
        biases = ev.manifest.biases["toy3"]
        assert set(biases) == set(toy_system.ACTS)
        assert all(b[LABELS.index("unrelated")] > b[LABELS.index("supports")] for b in biases.values())
        assert ev.manifest.training["adapt"]["prevalence"] == {v: 0.1 for v in toy_system.ACTS}
        assert ev.manifest.decision_priors["toy3"] == {v: 0.1 for v in toy_system.ACTS}  # the mix it decides for
        more_unrelated = sum(s.label == "unrelated" for r in ev.score(["I steal the lamp.", "I return the lamp."])
                             for s in r.scores)
    with Evaluator.load(out, threads=2) as ev:
        as_fitted = sum(s.label == "unrelated" for r in ev.score(["I steal the lamp.", "I return the lamp."])
                        for s in r.scores)
    assert more_unrelated >= as_fitted
    assert run_cli(*args[:6], prior_out, *args[7:], "--prevalence", "2", "--force").exit_code == 2

    # --unlabelled: the corpus prior estimated from texts of the corpus, then used as --prevalence is
    corpus = tmp_path / "corpus.jsonl"
    neutral = ["I read a book about the {x}.", "The {x} is blue.", "We talk about the weather and the {x}."]
    rows = [t.format(x=x) for t in neutral for x in toy_system.THINGS] + ["I steal the lamp.", "I lie to my friend."]
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    estimated_out = tmp_path / "toy3-estimated.gguf"
    result = run_cli(*args[:6], estimated_out, *args[7:], "--unlabelled", corpus, "--json")
    assert result.exit_code == 0, result.stderr
    estimated = json.loads(result.stdout)
    est = estimated["prevalence_estimate"]
    assert est["method"] == "bbse" and est["texts"] == len(rows)
    assert set(est["shares"]) == set(toy_system.ACTS) and estimated["prevalence"] == est["shares"]
    assert all(0.01 <= x <= 0.99 for x in est["shares"].values())
    assert "adapted@corpus" in [e["name"] for e in estimated["estimates"]]
    with Evaluator.load(estimated_out, threads=2) as ev:
        assert ev.manifest.training["adapt"]["prevalence_estimate"] == est
    assert not list(tmp_path.glob(".clave-adapt-*"))  # the as-fitted copy that read the corpus is gone
    result = run_cli(*args[:6], estimated_out, *args[7:], "--unlabelled", corpus, "--force")
    assert result.exit_code == 0 and f"estimated from {len(rows)} unlabelled texts" in result.stdout
    both = run_cli(*args[:6], estimated_out, *args[7:], "--unlabelled", corpus, "--prevalence", "0.1", "--force")
    assert both.exit_code == 2 and "not both" in both.stderr
    corpus.write_text('{"text": "too few"}\n')
    few = run_cli(*args[:6], tmp_path / "never.gguf", *args[7:], "--unlabelled", corpus)
    assert few.exit_code == 3 and "at least 20" in few.stderr and not (tmp_path / "never.gguf").exists()

    # --readout choose: one candidate per outer fold by inner folds, reported by nested folds
    chosen_out = tmp_path / "toy3-chosen.gguf"
    result = run_cli(*args[:6], chosen_out, *args[7:], "--readout", "choose")
    assert result.exit_code == 0, result.stderr
    assert "(nested: nothing reported here chose anything)" in result.stdout
    chosen = re.search(r"^readout: (\S+) \(chosen by folds; per outer fold: (.*)\); temperature", result.stdout, re.M)
    assert chosen and chosen.group(1) in report["ablation"] and len(chosen.group(2).split(", ")) == 3
    with Evaluator.load(chosen_out, threads=2) as ev:
        assert ev.manifest.training["adapt"]["readout"] == chosen.group(1)
        assert ev.manifest.training["adapt"]["readout_mode"] == "choose"

    pytest.importorskip("torch")
    # (the torch reference reads any token's logits too, and agrees with llama.cpp)
    with Evaluator.load(out, backend="torch", threads=2) as ref:
        [ref_scored] = ref.score([text])
    ref_p = np.array([[s.parts["evaluator"][lab] for lab in LABELS] for s in ref_scored.scores])
    np.testing.assert_allclose(ref_p, got, atol=2e-3)  # the evaluator halves: the same logits


@pytest.mark.slow
def test_adapt_refuses_bad_input_before_work(tiny_evaluator, toy_inputs, tmp_path, run_cli):
    system, labels = toy_inputs
    some = tmp_path / "two-values.jsonl"
    some.write_text("".join(line + "\n" for line in labels.read_text().splitlines()
                            if '"Do not hurt"' not in line))
    base = ["adapt", "--system", system, "-o", tmp_path / "o.gguf", "--from", tiny_evaluator]
    cases = [
        (["--labels", some], 3, "no labels for Do not hurt"),
        (["--labels", labels, "--group-regex", "^(S0_)", "--folds", "5"], 3, "does not match"),
        (["--labels", labels, "--group-regex", "^(S\\d)_", "--folds", "5"], 3, "cannot make 5 folds"),
        (["--labels", labels, "--folds", "1"], 2, "--folds"),
        (["--labels", tmp_path / "missing.jsonl"], 3, "missing.jsonl"),
        (["--labels", labels, "--train-lr", "0.1"], 2, "--train-lr applies only with --train-epochs N"),
        (["--labels", labels, "--train-epochs", "2", "--readout", "choose", "--lines", "template"], 2,
         "--readout, --lines apply only with the readout path"),
        (["--labels", labels, "--train-epochs", "-1"], 2, "--train-epochs"),
    ]
    for extra, code, message in cases:
        result = run_cli(*base, *extra)
        assert result.exit_code == code, (extra, result.output, result.stderr)
        assert message in result.stderr + result.output
    assert not (tmp_path / "o.gguf").exists()


class _Recorder:
    """A progress sink that records each stage's total and can stop the run like Ctrl-C."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.stages: dict[str, int] = {}
        self.notes: list[str] = []
        self.stop_after = stop_after
        self.read = 0

    def start(self, stage: str, total: int) -> None:
        self.stages[stage.split(" ")[0]] = total
        self.current = stage

    def advance(self, n: int = 1, status: str | None = None) -> None:
        if self.current.startswith("reading"):
            self.read += n
            if self.stop_after is not None and self.read >= self.stop_after:
                raise KeyboardInterrupt

    def finish(self) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.mark.slow
def test_adapt_resumes_from_its_feature_cache(tiny_evaluator, toy_inputs, tmp_path, monkeypatch):
    """Ctrl-C while reading keeps the chunks written so far: the next run reads only the rest, a
    rerun reads nothing, and a run through the cache reports what a run without one does."""
    from clave_lite.adapt import cache as cache_mod
    from clave_lite.adapt import job
    from clave_lite.adapt.options import AdaptOptions

    monkeypatch.setattr(job, "CHUNK_TEXTS", 4)
    monkeypatch.setattr(job, "FEATURE_BATCH", 2)
    system, labels = toy_inputs
    n_texts = len({json.loads(line)["text"] for line in labels.read_text().splitlines()})
    cache_dir = tmp_path / "features"
    opts = AdaptOptions(system=system, labels=labels, output=tmp_path / "a.gguf", model=tiny_evaluator, folds=3,
                        group_regex="^([^-]+)", threads=2, cache_dir=cache_dir)

    with pytest.raises(KeyboardInterrupt):
        job.adapt(opts, _Recorder(stop_after=10))
    assert not opts.output.exists()
    per_line = sorted(cache_dir.iterdir())
    assert len(per_line) == 2  # the template's line and name + definition, each its own reading
    for reading in per_line:
        assert len(list(reading.glob("chunk-*.npz"))) == 2  # 8 of the 10 texts read: two whole chunks
    (per_line[0] / "chunk-0-0-0.npz").write_bytes(b"not a chunk")  # a damaged file is skipped, not fatal

    resumed = _Recorder()
    first = job.adapt(opts, resumed)
    assert resumed.stages["reading"] == n_texts - 8
    assert any(f"8 of {n_texts} texts already read" in note for note in resumed.notes)

    again = _Recorder()
    second = job.adapt(replace(opts, output=tmp_path / "b.gguf"), again)
    assert again.stages["reading"] == 0
    uncached = job.adapt(replace(opts, output=tmp_path / "c.gguf", cache_dir=None), _Recorder())
    for report in (second, uncached):
        assert [e.to_dict() for e in report.estimates] == [e.to_dict() for e in first.estimates]
        assert report.ablation == first.ablation and report.temperature == first.temperature

    # one value line: its reading is already there, and only its readouts are fitted
    one = _Recorder()
    template_only = job.adapt(replace(opts, output=tmp_path / "e.gguf", lines="template"), one)
    assert one.stages["reading"] == 0
    assert template_only.ablation and all("definition" not in name for name in template_only.ablation)
    assert any("definition" in name for name in first.ablation)
    from clave_lite.runtime.evaluator import Evaluator

    with Evaluator.load(tmp_path / "e.gguf", threads=2) as ev:  # one suffix per value when scoring
        assert len(ev.manifest.head("toy3").value_lines) == 1
        assert ev.manifest.training["adapt"]["lines"] == "template"
        assert len(ev.score(["I steal the lamp."])[0].scores) == 3

    # the key is the weights, not the file: a copy with another manifest reads nothing either
    other = _Recorder()
    job.adapt(replace(opts, model=tmp_path / "a.gguf", output=tmp_path / "d.gguf"), other)
    assert other.stages["reading"] == 0
    assert cache_mod.weights_digest(tmp_path / "a.gguf") == cache_mod.weights_digest(tiny_evaluator)
