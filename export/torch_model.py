"""Build a Hugging Face torch model straight from a GGUF base, and back.

transformers can load a GGUF itself, but it spends minutes converting the tokenizer and builds
a wrong Gemma 3 tokenizer (STACK.md). clave-lite never uses that tokenizer (it tokenizes with
llama.cpp's vocabulary), so it only needs the weights: dequantize them with ``gguf``, undo the
llama.cpp layout transforms, and fill a model built from a config read off the GGUF metadata.
The same name map, run backwards, writes the merged model as GGUF.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from clave_lite.build import ggufio
from clave_lite.errors import ModelError


def config_from_gguf(rd):
    """A transformers config equivalent to the GGUF's hyper-parameters."""
    arch = ggufio.architecture(rd)

    def get(key, default=None):
        value = ggufio.field_value(rd, f"{arch}.{key}")
        return default if value is None else value

    n_vocab = len(ggufio.field_value(rd, "tokenizer.ggml.tokens"))
    common = dict(
        vocab_size=n_vocab,
        hidden_size=int(get("embedding_length")),
        intermediate_size=int(get("feed_forward_length")),
        num_hidden_layers=int(get("block_count")),
        num_attention_heads=int(get("attention.head_count")),
        num_key_value_heads=int(get("attention.head_count_kv", get("attention.head_count"))),
        rms_norm_eps=float(get("attention.layer_norm_rms_epsilon")),
        rope_theta=float(get("rope.freq_base", 10000.0)),
        max_position_embeddings=int(get("context_length")),
        bos_token_id=ggufio.field_value(rd, "tokenizer.ggml.bos_token_id"),
        eos_token_id=ggufio.field_value(rd, "tokenizer.ggml.eos_token_id"),
        pad_token_id=ggufio.field_value(rd, "tokenizer.ggml.padding_token_id"),
        tie_word_embeddings=not any(t.name == "output.weight" for t in rd.tensors),
    )
    if arch == "gemma3":
        from transformers import Gemma3TextConfig

        head_dim = int(get("attention.key_length"))
        n_layers = common["num_hidden_layers"]
        return Gemma3TextConfig(
            **common,
            head_dim=head_dim,
            query_pre_attn_scalar=head_dim,  # llama.cpp scales queries by 1/sqrt(head_dim)
            sliding_window=int(get("attention.sliding_window", 512)),
            rope_local_base_freq=10000.0,
            # llama.cpp's Gemma 3: every 6th layer attends globally, the rest in a window
            layer_types=["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n_layers)],
            final_logit_softcapping=None,
            attn_logit_softcapping=None,
            attn_implementation="eager",
        )
    if arch == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(**common, attn_implementation="eager")
    raise ModelError(f"unsupported base architecture '{arch}' (supported: {', '.join(ggufio.SUPPORTED_ARCHS)})")


def model_class(config):
    from transformers import Gemma3ForCausalLM, LlamaForCausalLM

    return Gemma3ForCausalLM if config.model_type == "gemma3_text" else LlamaForCausalLM


def name_map(arch: str, config) -> dict[str, str]:
    """HF parameter name → GGUF tensor name, for every parameter of the model."""
    import gguf

    arch_enum = {"gemma3": gguf.MODEL_ARCH.GEMMA3, "llama": gguf.MODEL_ARCH.LLAMA}[arch]
    tmap = gguf.get_tensor_name_map(arch_enum, config.num_hidden_layers)
    with torch.device("meta"):
        names = list(model_class(config)(config).state_dict().keys())
    out = {}
    for name in names:
        if name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        stem, suffix = name.rsplit(".", 1)
        mapped = tmap.get_name(stem)
        if mapped is None:
            raise ModelError(f"no GGUF name for parameter {name}")
        out[name] = f"{mapped}.{suffix}"
    return out


def load_base(path: str | Path):
    """The GGUF at ``path`` as an fp32 torch model (eval mode) and its GGUF reader."""
    rd = ggufio.reader(path)
    arch = ggufio.architecture(rd)
    config = config_from_gguf(rd)
    names = name_map(arch, config)
    n_head, n_kv = ggufio.head_counts(rd)
    raw = ggufio.read_tensors(rd)
    state = {}
    for hf_name, gguf_name in names.items():
        if gguf_name not in raw:
            raise ModelError(f"{path}: tensor {gguf_name} missing")
        w = ggufio.gguf_to_hf_layout(arch, gguf_name, raw[gguf_name], n_head, n_kv)
        state[hf_name] = torch.from_numpy(np.array(w, dtype=np.float32))  # writable copy
    model = model_class(config)(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise ModelError(f"{path}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    if config.tie_word_embeddings:
        model.tie_weights()
    return model.float().eval(), rd


def to_gguf_tensors(model, rd) -> dict[str, np.ndarray]:
    """A (merged) torch model's weights as GGUF-named arrays in llama.cpp layout."""
    arch = ggufio.architecture(rd)
    n_head, n_kv = model.config.num_attention_heads, model.config.num_key_value_heads
    state = model.state_dict()
    out = {}
    for hf_name, gguf_name in name_map(arch, model.config).items():
        w = state[hf_name].detach().to(torch.float32).cpu().numpy()
        out[gguf_name] = ggufio.hf_to_gguf_layout(arch, gguf_name, w, n_head, n_kv)
    return out
