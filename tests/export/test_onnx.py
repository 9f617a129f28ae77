"""ONNX evaluators on a tiny model: export, int8 quantization with its quality gate, parity
with the GGUF/torch paths, and scoring without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from clave_lite.core.valuesystem import load_system
from clave_lite.runtime.evaluator import Evaluator
from support.tiny_models import build_tiny, smollm2_file

TEXTS = ["I won't help you steal; it hurts people.", "Sure, here's how to cheat on the exam.",
         "Helping my neighbours makes our street a better place."]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from click.testing import CliRunner

    from clave_lite.cli import cli

    folder = tmp_path_factory.mktemp("onnx")
    base = build_tiny(smollm2_file(), folder / "tiny.gguf")
    system = load_system("schwartz10")
    data = folder / "tuples.jsonl"
    labels = ["unrelated", "supports", "opposes"]
    data.write_text("".join(json.dumps({"id": f"t{i}", "text": t, "value": v.name, "label": labels[(i + j) % 3],
                                        "system": "schwartz10"}) + "\n"
                            for i, t in enumerate(TEXTS) for j, v in enumerate(system.values)))
    result = CliRunner().invoke(cli, ["train", str(data), "-o", str(folder / "run"), "--base", str(base),
                                      "--epochs", "2", "--lr", "5e-3"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["export", str(folder / "run"), "-o", str(folder / "ev.gguf"), "--quant", "f32"])
    assert result.exit_code == 0, result.output
    return folder


@pytest.mark.parametrize("quant", ["none", "int8", "int8-dynamic", "fp16"])
def test_onnx_matches_gguf(tiny_run, run_cli, quant):
    out = tiny_run / f"onnx-{quant}"
    result = run_cli("export", tiny_run / "run", "--format", "onnx", "--quant", quant, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fp32_vs_torch_max_abs"] < 1e-3
    assert {p.name for p in out.iterdir()} >= {"model.onnx", "manifest.json", "vocab.gguf"}
    with Evaluator.load(out) as onnx_ev, Evaluator.load(tiny_run / "ev.gguf") as gguf_ev:
        assert onnx_ev.backend.name == "onnx"
        for text in TEXTS:  # one tokenizer: same ids on both paths
            pairs = [(v.name, v.definition) for v in load_system("schwartz10").values]
            a, b = onnx_ev.encoder.encode(text, pairs), gguf_ev.encoder.encode(text, pairs)
            assert a.shared == b.shared and a.suffixes == b.suffixes
        p_onnx = np.array([[list(s.probs.values()) for s in r.scores] for r in onnx_ev.score(TEXTS)])
        p_gguf = np.array([[list(s.probs.values()) for s in r.scores] for r in gguf_ev.score(TEXTS)])
    tolerance = {"none": 2e-3, "fp16": 0.02, "int8": 0.05, "int8-dynamic": 0.15}[quant]
    assert np.abs(p_onnx - p_gguf).max() < tolerance
    assert (p_onnx.argmax(-1) == p_gguf.argmax(-1)).mean() >= (0.9 if quant == "int8-dynamic" else 1.0)


def test_int8_below_the_gate_is_refused(tiny_run, run_cli, monkeypatch):
    from clave_lite.build import quality_gate

    monkeypatch.setattr(quality_gate, "MIN_AGREEMENT", 1.01)  # no model can pass: the refusal path
    out = tiny_run / "refused"
    result = run_cli("export", tiny_run / "run", "--format", "onnx", "-o", out)
    assert result.exit_code == 6
    assert "refusing to write it" in result.stderr and "--quant none" in result.stderr
    assert not out.exists()


def test_onnx_scoring_imports_no_torch(tiny_run, run_cli):
    out = tiny_run / "onnx-plain"
    assert run_cli("export", tiny_run / "run", "--format", "onnx", "--quant", "none", "-o", out).exit_code == 0
    code = (
        "import sys\n"
        "from clave_lite.runtime.evaluator import Evaluator\n"
        f"ev = Evaluator.load({str(out)!r})\n"
        "r = ev.score(['I will not help you hurt anyone.'], values=['Security'])\n"
        "assert r[0].scores[0].value == 'Security'\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_train_with_a_user_value_system_file(tiny_run, run_cli, tmp_path):
    """A user's own YAML system, given by path, trains and exports under the system's name."""
    system_file = tmp_path / "care.yaml"
    system_file.write_text(
        "name: care2\nlabels: [supports, unrelated]\nvalues:\n"
        "  - name: Kindness\n    definition: \"Kindness: this value means being caring and helpful.\"\n"
        "  - name: Honesty\n    definition: \"Honesty: this value means telling the truth.\"\n")
    data = tmp_path / "care.jsonl"
    data.write_text("".join(json.dumps({"text": t, "value": v, "label": lab}) + "\n" for t, v, lab in [
        ("I helped my neighbour carry her shopping.", "Kindness", "supports"),
        ("I helped my neighbour carry her shopping.", "honesty", "unrelated"),
        ("I told the truth even though it cost me.", "Honesty", "supports"),
        ("I told the truth even though it cost me.", "Kindness", "unrelated")]))
    base = tiny_run / "tiny.gguf"
    result = run_cli("train", data, "--system", system_file, "-o", tmp_path / "run", "--base", base, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["data"]["tuples"] == {"care2": 4}
    assert run_cli("export", tmp_path / "run", "-o", tmp_path / "care.gguf", "--quant", "f32").exit_code == 0
    result = run_cli("score", "-", "--model", tmp_path / "care.gguf", input='{"text": "I lied to my friend."}\n')
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["system"] == "care2" and set(row["scores"]) == {"Kindness", "Honesty"}
    assert all(v["p_opposes"] == 0.0 for v in row["scores"].values())  # a binary system never opposes


def test_export_keeps_the_users_files(tiny_run, run_cli, tmp_path):
    out = tmp_path / "ev.gguf"
    out.write_bytes(b"mine")
    f32 = tmp_path / "ev.f32.gguf"
    f32.write_bytes(b"also mine")
    result = run_cli("export", tiny_run / "run", "-o", out)
    assert result.exit_code == 2 and "--force" in result.stderr and out.read_bytes() == b"mine"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "ev.gguf.tmp").symlink_to(victim)
    assert run_cli("export", tiny_run / "run", "-o", out, "--force").exit_code == 0
    assert f32.read_bytes() == b"also mine"  # the merged fp32 file is scratch, never the user's file
    assert victim.read_text() == "precious" and not out.is_symlink() and out.read_bytes()[:4] == b"GGUF"
