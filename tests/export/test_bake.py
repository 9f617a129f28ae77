"""The bake path end to end on tiny random models with the real vocabularies.

GGUF → torch → LoRA training → merge → GGUF (f32, q8_0) → llama.cpp, compared with the torch
reference at every step.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the bake extra
pytest.importorskip("peft")

from clave_lite.build import ggufio
from clave_lite.build.merge import build_evaluator
from clave_lite.core import injections
from clave_lite.core.prompt import TEMPLATES, PromptEncoder, PromptTemplate
from clave_lite.core.tuples import LabelledTuple
from clave_lite.core.valuesystem import load_system
from clave_lite.errors import ModelError
from clave_lite.export.dataset import build_examples
from clave_lite.export.forward import label_logits
from clave_lite.export.reference import TorchBackend
from clave_lite.export.torch_model import load_base, to_gguf_tensors
from clave_lite.export.train import TrainConfig, train
from clave_lite.formats.manifest import Manifest, read_gguf_manifest
from clave_lite.runtime.evaluator import Evaluator
from clave_lite.runtime.llamacpp import LlamaModel
from support.tiny_models import build_tiny, gemma_file, smollm2_file

TEXTS = [
    "I can't help you break into your neighbour's house; that would hurt them and it's illegal.",
    "Sure! Here's how to shoplift without getting caught: wear baggy clothes and avoid cameras.",
    "公正和法治是社会和谐的基础，每个人都应遵守法律。",
    "Let's plan a surprise party for grandma, she has taken care of the whole family for years.",
]


@pytest.fixture(scope="module", params=["gemma3", "llama"])
def tiny_base(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"tiny-{request.param}")
    source = gemma_file(folder) if request.param == "gemma3" else smollm2_file()
    return build_tiny(source, folder / "tiny.gguf"), source


@pytest.fixture(scope="module")
def schwartz():
    return load_system("schwartz10")


def _tuples(system):
    labels = ["unrelated", "supports", "opposes"]
    return [LabelledTuple(text, v.name, labels[(i + j) % 3], f"t{i}", system.name)
            for i, text in enumerate(TEXTS) for j, v in enumerate(system.values)]


def test_gguf_torch_roundtrip_is_exact(tiny_base):
    path, _ = tiny_base
    model, rd = load_base(path)
    again = to_gguf_tensors(model, rd)
    original = ggufio.read_tensors(rd)
    assert set(again) == set(original)
    for name, w in original.items():
        np.testing.assert_array_equal(again[name], w, err_msg=name)


def test_token_ids_identical_in_training_and_scoring(tiny_base, schwartz):
    path, _ = tiny_base
    template = PromptTemplate(max_text_tokens=48)
    vocab = LlamaModel(path, vocab_only=True)
    train_side = build_examples(_tuples(schwartz), schwartz, PromptEncoder(template, vocab.tokenize), seed=0)
    manifest = Manifest([schwartz], template, PromptEncoder(template, vocab.tokenize).label_ids, "schwartz10")
    out = build_evaluator(path, None, manifest, path.with_name("plain.gguf"), quant="f32")
    with Evaluator.load(out) as ev:
        for example, text in zip(train_side, TEXTS):
            # build_examples shuffles values; map back by suffix content
            names = [v.name for v in schwartz.values]
            score_side = ev.encoder.encode(text, [(n, schwartz.get(n).definition) for n in names])
            assert example.shared == score_side.shared
            assert sorted(map(tuple, example.suffixes)) == sorted(map(tuple, score_side.suffixes))
    long_text = " ".join(["word"] * 500)
    enc = PromptEncoder(template, vocab.tokenize).encode(long_text, [("Power", "x")])
    assert enc.truncated_tokens > 0 and len(enc.shared) < 70


def test_train_merge_export_matches_torch(tiny_base, schwartz, tmp_path):
    path, _ = tiny_base
    template = TEMPLATES["short"]
    vocab = LlamaModel(path, vocab_only=True)
    encoder = PromptEncoder(template, vocab.tokenize)
    examples = build_examples(_tuples(schwartz), schwartz, encoder)
    model, _ = load_base(path)
    cfg = TrainConfig(epochs=3, lr=5e-3, warmup_steps=1, tokens_per_step=4096, checkpoint_every=2)
    peft_model, summary = train(model, examples, encoder.label_ids, 0, tmp_path / "run", cfg)
    assert summary["final_loss"] < 1.0986 + 0.05  # learned something beyond ln(3) on its own data
    peft_model.save_pretrained(tmp_path / "adapter")
    manifest = Manifest([schwartz], template, encoder.label_ids, "schwartz10", training={"fingerprint": "test"})
    merged = peft_model.merge_and_unload()
    reference = Evaluator(manifest, TorchBackend(path, encoder.label_ids, model=merged))
    ref = np.array([[list(s.probs.values()) for s in r.scores] for r in reference.score(TEXTS)])
    for quant, tol in (("f32", 2e-3), ("q8_0", 0.1)):
        out = build_evaluator(path, tmp_path / "adapter", manifest, tmp_path / f"ev-{quant}.gguf", quant=quant)
        with Evaluator.load(out) as ev:
            got = np.array([[list(s.probs.values()) for s in r.scores] for r in ev.score(TEXTS)])
        assert np.abs(got - ref).max() < tol, quant
        assert (got.argmax(-1) == ref.argmax(-1)).mean() >= (1.0 if quant == "f32" else 0.9)
        assert read_gguf_manifest(out).training == {"fingerprint": "test"}


def test_resume_continues_from_checkpoint(tiny_base, schwartz, tmp_path):
    path, _ = tiny_base
    vocab = LlamaModel(path, vocab_only=True)
    encoder = PromptEncoder(PromptTemplate(), vocab.tokenize)
    examples = build_examples(_tuples(schwartz), schwartz, encoder)
    cfg = TrainConfig(epochs=4, lr=5e-3, warmup_steps=1, tokens_per_step=1024, checkpoint_every=1)
    full, s_full = train(load_base(path)[0], examples, encoder.label_ids, 0, tmp_path / "a", cfg)
    # a run interrupted after its checkpoints, resumed: same final adapter as the straight run
    state = torch.load(tmp_path / "a" / "checkpoint" / "state.pt", weights_only=True)
    assert state["step"] == s_full["steps"]
    resumed, s_res = train(load_base(path)[0], examples, encoder.label_ids, 0, tmp_path / "a", cfg, resume=True)
    assert s_res["resumed_from"] == s_full["steps"] and s_res["pairs_trained_this_run"] == 0


def test_warm_start_from_an_earlier_run(tiny_base, schwartz, tmp_path, run_cli):
    """--init-from starts from the earlier adapter (not from zero) and keeps its texts out of tuning."""
    from safetensors.torch import load_file

    path, _ = tiny_base
    tuples = _tuples(schwartz)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tuples if t.key in ("t0", "t1")))
    second.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tuples if t.key in ("t2", "t3")))
    args = ("--base", path, "--epochs", "1", "--json")
    assert run_cli("train", first, "-o", tmp_path / "a", "--lr", "5e-3", *args).exit_code == 0
    result = run_cli("train", second, "-o", tmp_path / "b", "--init-from", tmp_path / "a", "--lr", "0", *args)
    assert result.exit_code == 0, result.output
    # lr 0: the warm-started adapter is the earlier one, unchanged (a fresh LoRA has lora_B == 0)
    before = load_file(tmp_path / "a" / "adapter" / "adapter_model.safetensors")
    after = load_file(tmp_path / "b" / "adapter" / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert any(float(t.abs().max()) > 0 for k, t in after.items() if "lora_B" in k)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert json.loads((tmp_path / "b" / "train_keys.json").read_text()) == {"schwartz10": ["t0", "t1", "t2", "t3"]}
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["data"]["init_from"]["run"] == str(tmp_path / "a")

    assert run["data"]["init_from"]["template_version"] == run["template"]["version"]
    assert "was trained with template" not in result.stderr

    # an earlier run of another template version (the default's v2 under a stage's v3): said and recorded
    import shutil
    shutil.copytree(tmp_path / "a", tmp_path / "older")
    older = json.loads((tmp_path / "older" / "run.json").read_text())
    now = older["template"]["version"]
    older["template"]["version"] = other = 9 if now != 9 else 8
    (tmp_path / "older" / "run.json").write_text(json.dumps(older))
    result = run_cli("train", second, "-o", tmp_path / "b2", "--init-from", tmp_path / "older", "--lr", "0", *args)
    assert result.exit_code == 0, result.output
    assert f"was trained with template v{other}; this stage trains template v{now}" in result.stderr
    assert json.loads((tmp_path / "b2" / "run.json").read_text())["data"]["init_from"]["template_version"] == other

    result = run_cli("train", second, "-o", tmp_path / "c", "--init-from", tmp_path / "a", "--rank", "4", *args)
    assert result.exit_code != 0 and "pass --rank 16" in result.stderr
    result = run_cli("train", second, "-o", tmp_path / "d", "--init-from", tmp_path / "nowhere", *args)
    assert result.exit_code != 0 and "not a training run" in result.stderr
    # 'default' names the embedded default's run directory (trained on gemma3-270m, not this base)
    result = run_cli("train", second, "-o", tmp_path / "e", "--init-from", "default", *args)
    assert result.exit_code != 0 and "default: was trained on base 'gemma3-270m'" in result.stderr


def test_refuses_foreign_and_damaged_files(tiny_base, tmp_path):
    path, _ = tiny_base
    with pytest.raises(ModelError, match="not a clave-lite evaluator"):
        read_gguf_manifest(path)
    bad = tmp_path / "random.gguf"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ModelError, match="not a GGUF file"):
        read_gguf_manifest(bad)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelError, match="truncated|damaged"):
        read_gguf_manifest(truncated)
    with pytest.raises(ModelError, match="no such model file"):
        Evaluator.load(tmp_path / "missing.gguf")


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_real_base_torch_matches_llamacpp():
    """The shipped SmolLM2 base read by our GGUF→torch loader gives llama.cpp's logits."""
    from clave_lite.runtime.llamacpp import LlamaBatch, LlamaContext

    path = smollm2_file()
    model, _ = load_base(path)
    lm = LlamaModel(path)
    ids = lm.tokenize("Judge the human values in this response.\nResponse: I won't help you steal.", True)
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0, -1].numpy()
    ctx = LlamaContext(lm, 256, 256, 1, 2)
    batch = LlamaBatch(lm._lib, 256, 1)
    for i, t in enumerate(ids):
        batch.add(t, i, [0], i == len(ids) - 1)
    ctx.decode(batch)
    got = ctx.logits_at(len(ids) - 1, range(lm.n_vocab))
    assert np.corrcoef(ref, got)[0, 1] > 0.998
    assert ref.argmax() == got.argmax()


def test_cli_train_export_score_eval(tiny_base, schwartz, tmp_path, run_cli):
    """The CLI wiring on a tiny base: train → export (with tuning) → score → eval."""
    path, _ = tiny_base
    data = tmp_path / "tuples.jsonl"
    data.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in _tuples(schwartz)))
    run = tmp_path / "run"
    result = run_cli("train", data, "-o", run, "--base", path, "--epochs", "2", "--lr", "5e-3",
                     "--max-unrelated", "2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] >= 1 and summary["data"]["tuples"] == {"schwartz10": 40}
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    assert json.loads((run / "train_keys.json").read_text()) == {"schwartz10": ["t0", "t1", "t2", "t3"]}

    model = tmp_path / "ev.gguf"
    result = run_cli("export", run, "-o", model, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bytes"] == model.stat().st_size
    manifest = read_gguf_manifest(model)
    assert manifest.default_system == "schwartz10"
    assert manifest.training["data"]["max_unrelated"] == {"*": 2}

    texts = tmp_path / "texts.csv"
    texts.write_text('id,text\na,"I won\'t help, that would hurt people."\nb,Sure here is how\n')
    out = tmp_path / "scores.jsonl"
    result = run_cli("score", texts, "--model", model, "--values", "Security,power", "-o", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert set(rows[0]["scores"]) == {"Security", "Power"}
    for value in rows[0]["scores"].values():
        assert abs(value["p_supports"] + value["p_opposes"] + value["p_unrelated"] - 1) < 1e-4

    result = run_cli("eval", data, "--model", model, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 40 and set(metrics["per_value"]) == {v.name for v in schwartz.values}

    result = run_cli("score", texts, "--model", model, "--values", "Nonsense")
    assert result.exit_code == 2 and "unknown value 'Nonsense'" in result.stderr  # a bad flag: 2, as everywhere

    result = run_cli("eval", data, "--model", model, "--inject", "--limit", "2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    n_attacks = len(report["attacks"])
    assert n_attacks == len(injections.HELD_OUT) + 2 and report["decisions"] == n_attacks * 20  # + two paddings
    for r in report["attacks"].values():
        assert 0 <= r["to_target"] <= r["flip_rate"] <= 1
    assert report["flip_rate"] == pytest.approx(sum(r["flip_rate"] for r in report["attacks"].values()) / n_attacks)
    assert 0 <= report["control"]["flip_rate"] <= 1 and report["clean"]["n"] == 20


def test_q4_k_m_is_gated_against_fp32(tiny_base, schwartz, tmp_path, run_cli, monkeypatch):
    """A 4-bit GGUF is written only if it keeps fp32's decisions on the check set."""
    from clave_lite.build import quality_gate

    path, _ = tiny_base
    data = tmp_path / "tuples.jsonl"
    data.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in _tuples(schwartz)))
    assert run_cli("train", data, "-o", tmp_path / "run", "--base", path, "--epochs", "1").exit_code == 0
    monkeypatch.setattr(quality_gate, "MIN_AGREEMENT", 1.01)  # no model can pass: the refusal path
    out = tmp_path / "ev-q4.gguf"
    result = run_cli("export", tmp_path / "run", "--quant", "q4_k_m", "-o", out)
    assert result.exit_code == 6, result.output
    assert "refusing to write it" in result.stderr and "--quant q8_0" in result.stderr
    assert not list(tmp_path.glob("ev-q4*"))  # neither the file nor its f32 / tmp siblings


def test_naive_reference_equals_the_block_masked_pass(tiny_base, schwartz):
    """bench's naive reference (one prompt per pair, full logits) computes the same numbers as
    the one-pass block-masked forward: only the cost differs."""
    from clave_lite.export.reference import NaiveReference, TorchBackend

    path, _ = tiny_base
    vocab = LlamaModel(path, vocab_only=True)
    encoder = PromptEncoder(TEMPLATES["short"], vocab.tokenize)
    items = [encoder.encode(t, [(v.name, v.definition) for v in schwartz.values[:3]]) for t in TEXTS[:2]]
    naive = NaiveReference(path, encoder.label_ids).label_logits(items)
    blocked = TorchBackend(path, encoder.label_ids).label_logits(items)
    for a, b in zip(naive, blocked):
        assert a.shape == (3, 3) and np.abs(a - b).max() < 1e-3


def test_explanation_tail_leaves_label_logits_unchanged(tiny_base, schwartz):
    """Concept-aware training appends label + "Because:" + concept after the read position;
    causal attention means the label logits are exactly those of the plain suffix."""
    from clave_lite.core.blockmask import explanation_positions
    from clave_lite.export.forward import label_and_explanation_logits

    path, _ = tiny_base
    vocab = LlamaModel(path, vocab_only=True)
    encoder = PromptEncoder(TEMPLATES["short"], vocab.tokenize)
    enc = encoder.encode(TEXTS[0], [(v.name, v.definition) for v in schwartz.values[:2]])
    tail, learn_from = encoder.explanation("supports", "Refusing to harm others")
    model, _ = load_base(path)
    with torch.no_grad():
        plain = label_logits(model, [(enc.shared, enc.suffixes)], encoder.label_ids, 0)
        items = [(enc.shared, [enc.suffixes[0] + tail, enc.suffixes[1]])]
        labels, vocab_logits, targets = label_and_explanation_logits(
            model, items, [[len(tail), 0]], [[learn_from, 0]], encoder.label_ids, 0)
    assert torch.allclose(plain, labels, atol=1e-4)
    concept_ids = vocab.tokenize(" Refusing to harm others", False) + vocab.tokenize("\n", False)
    assert targets.tolist() == concept_ids and vocab_logits.shape == (len(concept_ids), vocab.n_vocab)
    rows, cols, _ = explanation_positions(items, [[len(tail), 0]], [[learn_from, 0]])
    assert rows.tolist() == [0] * len(concept_ids)


def test_train_with_concepts_then_explain(tiny_base, schwartz, tmp_path, run_cli):
    """train --concepts → export → score --explain: pairs learn to write their concept; the
    concepts also become training texts; an evaluator trained without concepts refuses."""
    path, _ = tiny_base
    data = tmp_path / "tuples.jsonl"
    data.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in _tuples(schwartz)))
    supports = [t for t in _tuples(schwartz) if t.label == "supports"][:2]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"value": t.value, "label": "supports", "concept": "Keeping others safe",
                                        "source_ids": [t.id]}) + "\n" for t in supports))
    run = tmp_path / "run"
    result = run_cli("train", data, "-o", run, "--base", path, "--epochs", "6", "--lr", "1e-2",
                     "--concepts", pool, "--json")
    assert result.exit_code == 0, result.output
    concepts = json.loads(result.stdout)["data"]["concepts"]
    assert concepts["rows"] == 2 and concepts["concept_texts"] == {"schwartz10": 2}
    assert concepts["explained_pairs"] == {"schwartz10": 2}
    model = tmp_path / "ev.gguf"
    assert run_cli("export", run, "-o", model, "--quant", "f32").exit_code == 0
    with Evaluator.load(model) as ev:
        assert ev.explains
        said = ev.explain(supports[0].text, {supports[0].value: "supports", "Power": "opposes"})
    assert set(said) == {supports[0].value, "Power"} and all(isinstance(v, str) for v in said.values())
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"id": "a", "text": supports[0].text}) + "\n")
    result = run_cli("score", texts, "--model", model, "--explain")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    decided = {v for v, s in row["scores"].items() if s["label"] != "unrelated"}
    assert set(row["explanations"]) == decided
    # generation mechanics: llama.cpp's greedy tokens equal torch's on the merged f32 model
    with Evaluator.load(model) as ev:
        value = supports[0].value
        item = ev.encoder.encode(supports[0].text, [(value, schwartz.get(value).definition)])
        lead = ev.encoder.explanation_lead("supports")
        got = ev.backend.generate(item, [lead], 4, [])[0]
    merged, _ = load_base(model)
    ids = item.shared + item.suffixes[0] + lead
    want = []
    with torch.no_grad():
        for _ in range(4):
            want.append(int(merged(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
            ids.append(want[-1])
    assert got == want
    plain = tmp_path / "plain-run"
    assert run_cli("train", data, "-o", plain, "--base", path, "--epochs", "1").exit_code == 0
    assert run_cli("export", plain, "-o", tmp_path / "plain.gguf").exit_code == 0
    refused = run_cli("score", texts, "--model", tmp_path / "plain.gguf", "--explain")
    assert refused.exit_code == 4 and "trained without value concepts" in refused.stderr
    with Evaluator.load(tmp_path / "plain.gguf") as ev:
        assert not ev.explains
        with pytest.raises(ModelError, match="trained without value concepts"):
            ev.explain(TEXTS[0], {"Power": "supports"})


def test_class_weights_lift_rare_labels_and_keep_the_mean_pair_at_one():
    from clave_lite.export.dataset import Example
    from clave_lite.export.train import label_weights

    examples = [Example([1], [[2]] * 10, [0] * 2 + [1] * 1 + [2] * 7, [0] * 10, [0] * 10)]
    assert label_weights(examples, 3, "none") is None
    w = label_weights(examples, 3, "sqrt")
    assert w[1] > w[0] > w[2]
    shares = torch.tensor([0.2, 0.1, 0.7])
    assert abs(float((w * shares).sum()) - 1) < 1e-6
    b = label_weights(examples, 3, "balanced")
    assert abs(float(b[1] / b[2]) - 7) < 1e-4


def test_bf16_training_tracks_fp32_and_keeps_fp32_weights(tiny_base, schwartz, tmp_path):
    """--precision bf16 autocasts the matmuls only: the same batches give nearly the same losses,
    the LoRA weights it saves stay fp32, and an unknown precision is refused."""
    path, _ = tiny_base
    vocab = LlamaModel(path, vocab_only=True)
    encoder = PromptEncoder(TEMPLATES["short"], vocab.tokenize)
    examples = build_examples(_tuples(schwartz), schwartz, encoder)
    runs = {}
    for precision in ("fp32", "bf16"):
        cfg = TrainConfig(epochs=3, lr=5e-3, warmup_steps=1, tokens_per_step=4096, checkpoint_every=100,
                          precision=precision)
        model, summary = train(load_base(path)[0], examples, encoder.label_ids, 0, tmp_path / precision, cfg)
        losses = torch.load(tmp_path / precision / "checkpoint" / "state.pt", weights_only=True)["losses"]
        lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
        assert lora and all(p.dtype == torch.float32 for p in lora.values())
        assert summary["config"]["precision"] == precision
        assert any(float(p.abs().max()) > 0 for n, p in lora.items() if "lora_B" in n)  # B starts at 0: it moved
        runs[precision] = losses
    fp32, bf16 = np.array(runs["fp32"]), np.array(runs["bf16"])
    assert fp32.shape == bf16.shape
    # same batches, same start: the losses follow each other step by step (measured: within 0.005)
    assert np.abs(fp32 - bf16).max() < 0.05, (fp32, bf16)
    with pytest.raises(ValueError, match="precision"):
        train(load_base(path)[0], examples, encoder.label_ids, 0, tmp_path / "x",
              TrainConfig(epochs=1, precision="fp8"))


def test_auto_precision_follows_the_cpu_flags():
    from clave_lite.export.train import resolve_precision

    assert resolve_precision("auto", frozenset({"avx2", "fma"})) == "fp32"  # no bf16 instructions
    assert resolve_precision("auto", frozenset({"avx512f", "avx512_vnni", "avx512_bf16"})) == "bf16"  # AMD EPYC (Zen 4)
    assert resolve_precision("auto", frozenset({"avx512f", "amx_tile", "amx_int8", "amx_bf16"})) == "bf16"
    assert resolve_precision("fp32", frozenset({"amx_bf16"})) == "fp32"  # an explicit choice wins
    assert resolve_precision("bf16", frozenset()) == "bf16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", frozenset())
