"""`clave-lite adapt --train-epochs`: a LoRA per fold for the estimate, one on every tuple for the
file, merged and quantized; end to end on the tiny evaluator with the real vocabulary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from support import toy_system

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("sklearn")


def test_top_layers_put_lora_on_the_top_layers_only(tiny_evaluator):
    import copy

    from clave_lite.export.torch_model import load_base
    from clave_lite.export.train import TrainConfig, add_lora

    pristine, _ = load_base(tiny_evaluator)

    def adapted_layers(cfg: TrainConfig) -> set[int]:
        model = add_lora(copy.deepcopy(pristine), cfg)
        return {int(name.split(".layers.")[1].split(".")[0]) for name, p in model.named_parameters()
                if p.requires_grad and "lora_" in name}

    assert adapted_layers(TrainConfig(top_layers=1)) == {1}  # the tiny model has layers 0 and 1
    assert adapted_layers(TrainConfig(top_layers=6)) == {0, 1}  # more than the base has: every layer
    assert adapted_layers(TrainConfig()) == {0, 1}
    with pytest.raises(ValueError, match="at least 1"):
        adapted_layers(TrainConfig(top_layers=0))


@pytest.mark.slow
def test_adapt_by_lora_end_to_end(tiny_evaluator, tmp_path, run_cli):
    from clave_lite.adapt.cache import weights_digest
    from clave_lite.runtime.evaluator import Evaluator

    system, labels = toy_system.toy_inputs(tmp_path)
    out = tmp_path / "toy3-lora.gguf"
    args = ["adapt", "--system", system, "--labels", labels, "-o", out, "--from", tiny_evaluator,
            "--group-regex", "^([^-]+)", "--folds", "3", "--threads", "2", "--train-epochs", "2",
            "--train-layers", "1", "--precision", "fp32"]
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)
    assert report["readout"] == "lora" and report["chosen"].startswith("LoRA, top 1 layers, 2 epochs")
    assert [e["name"] for e in report["estimates"]] == ["adapted", "readout", "as-is", "tfidf"]
    assert report["tuples"] == 72 and report["groups"] == 24 and len(report["seconds"]["per_fold"]) == 3
    for e in report["estimates"]:
        lo, hi = e["intervals"]["macro_f1"]
        assert 0 <= lo <= e["macro_f1"] <= hi <= 1
    # progress named each training, the folds' and the final one
    assert "fold 3/3: training" in result.stderr and "final (every tuple): training" in result.stderr

    # new weights (the LoRA merged), q8_0, only the new system, scored through the label tokens
    assert weights_digest(out) != weights_digest(tiny_evaluator)
    with Evaluator.load(out, threads=2) as ev:
        m = ev.manifest
        assert [s.name for s in m.systems] == ["toy3"] and m.default_system == "toy3" and m.heads == {}
        adapt = m.training["adapt"]
        assert adapt["mode"] == "lora" and adapt["tuples"] == 72 and adapt["train"]["top_layers"] == 1
        assert adapt["fold_estimate"]["adapted"]["macro_f1"] == report["estimates"][0]["macro_f1"]
        assert m.temperature("toy3") == report["temperature"]
        assert m.decision_priors == {"toy3": adapt["fitted_mix"]}  # its fold models' mix on the tuples
        assert set(adapt["fitted_mix"]) == set(toy_system.ACTS) and all(0 < x < 1 for x in adapt["fitted_mix"].values())
        [scored] = ev.score(["I steal the lamp from the shop."])
        assert sorted(s.value for s in scored.scores) == sorted(toy_system.ACTS)
        got = np.array([[s.probs[lab] for lab in ("supports", "opposes", "unrelated")] for s in scored.scores])
    # the file is what was trained: the torch reference of the written weights agrees with llama.cpp
    with Evaluator.load(out, backend="torch", threads=2) as ref:
        [ref_scored] = ref.score(["I steal the lamp from the shop."])
    ref_p = np.array([[s.probs[lab] for lab in ("supports", "opposes", "unrelated")] for s in ref_scored.scores])
    np.testing.assert_allclose(ref_p, got, atol=2e-3)

    # the human table names the path; an existing output needs --force
    assert run_cli(*args).exit_code == 2
    result = run_cli(*args, "--force", "--folds", "2")
    assert result.exit_code == 0, result.stderr
    assert "a LoRA trained per fold on the other folds" in result.stdout
    assert "trained: LoRA, top 1 layers" in result.stdout and "TF-IDF + LR" in result.stdout


class _StopAt:
    """A progress sink that stops the run like Ctrl-C when a stage whose name starts with ``stop`` begins."""

    def __init__(self, stop: str | None = None) -> None:
        self.stop, self.stages, self.notes = stop, [], []

    def start(self, stage: str, total: int) -> None:
        self.stages.append(stage)
        if self.stop and stage.startswith(self.stop):
            raise KeyboardInterrupt

    def advance(self, n: int = 1, status: str | None = None) -> None:
        pass

    def finish(self) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.mark.slow
def test_adapt_by_lora_resumes_where_it_stopped(tiny_evaluator, tmp_path):
    """Ctrl-C in fold 2 keeps fold 1: the rerun trains folds 2-3 and the final fit only, and reports
    what an uninterrupted run reports; a third run trains nothing."""
    from dataclasses import replace

    from clave_lite.adapt.options import AdaptOptions
    from clave_lite.export.adapt_train import adapt_lora

    system, labels = toy_system.toy_inputs(tmp_path)
    opts = AdaptOptions(system=system, labels=labels, output=tmp_path / "a.gguf", model=tiny_evaluator, folds=3,
                        group_regex="^([^-]+)", threads=2, cache_dir=tmp_path / "work", train_epochs=1,
                        train_layers=1, precision="fp32")
    with pytest.raises(KeyboardInterrupt):
        adapt_lora(opts, _StopAt("fold 2/3: training"))
    assert not opts.output.exists()
    [work] = (tmp_path / "work" / "lora").iterdir()
    assert sorted(p.name for p in work.glob("fold-*.npy")) == ["fold-0.npy"]

    resumed = _StopAt()
    first = adapt_lora(opts, resumed)
    assert "1 of 3 folds already trained" in " ".join(resumed.notes)
    trained = [stage for stage in resumed.stages if stage.endswith("training")]
    assert trained == ["fold 2/3: training", "fold 3/3: training", "final (every tuple): training"]
    assert not any(p.is_dir() and p.name.startswith("fold-") for p in work.iterdir())  # checkpoints cleared

    again = _StopAt()
    second = adapt_lora(replace(opts, output=tmp_path / "b.gguf"), again)
    assert not [stage for stage in again.stages if stage.endswith("training")]
    assert [e.to_dict() for e in second.estimates] == [e.to_dict() for e in first.estimates]

    # the same work from scratch (no cache) reports the same estimate: resuming changed nothing
    fresh = adapt_lora(replace(opts, output=tmp_path / "c.gguf", cache_dir=None))
    assert [e.macro_f1 for e in fresh.estimates] == [e.macro_f1 for e in first.estimates]

