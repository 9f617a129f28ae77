"""Reading and writing GGUF files with the ``gguf`` package: no llama.cpp checkout, no torch.

Three jobs share this module because they share one convention (how a Hugging Face tensor
relates to its GGUF counterpart):

* read a base model's tensors, dequantized to float32, with their metadata;
* write a GGUF whose metadata (hyper-parameters, the full tokenizer, chat template) is copied
  from a source GGUF, plus clave-lite's own keys;
* translate between HF and GGUF tensor layouts: llama's q/k rows are permuted for llama.cpp's
  rotary layout, Gemma's RMSNorm weights are stored as ``1 + w``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from clave_lite.formats.gguf_header import SUPPORTED_ARCHS  # noqa: F401  (re-exported for the bake code)


def reader(path: str | Path):
    import gguf

    return gguf.GGUFReader(str(path))


def field_value(rd, key: str) -> Any:
    """A metadata value as a Python object (str, int, float, bool or list), or None."""
    field = rd.fields.get(key)
    return None if field is None else field.contents()


def architecture(rd) -> str:
    return str(field_value(rd, "general.architecture"))


def read_tensors(rd, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """GGUF-named tensors as float32 arrays in numpy (row-major, HF orientation)."""
    from gguf import quants

    wanted = None if names is None else set(names)
    out: dict[str, np.ndarray] = {}
    for t in rd.tensors:
        if wanted is not None and t.name not in wanted:
            continue
        out[t.name] = np.asarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
    return out


def _llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF q/k rows → llama.cpp's interleaved rotary order (as llama.cpp's converter does)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _llama_unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _layout(arch: str, gguf_name: str, w: np.ndarray, n_head: int, n_head_kv: int,
            to_gguf: bool, shift_norms: bool = True) -> np.ndarray:
    """The one place that knows how HF and llama.cpp layouts differ, in either direction."""
    if arch == "llama" and gguf_name.endswith(("attn_q.weight", "attn_k.weight")):
        heads = n_head if gguf_name.endswith("attn_q.weight") else n_head_kv
        return _llama_permute(w, heads) if to_gguf else _llama_unpermute(w, heads)
    if arch == "gemma3" and shift_norms and gguf_name.endswith("norm.weight"):
        return w + 1.0 if to_gguf else w - 1.0
    return w


def hf_to_gguf_layout(arch: str, gguf_name: str, w: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    """An HF weight in the layout llama.cpp expects for ``gguf_name``."""
    return _layout(arch, gguf_name, w, n_head, n_head_kv, to_gguf=True)


def delta_to_gguf_layout(arch: str, gguf_name: str, delta: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    """A weight *difference* (LoRA ``B @ A * scale``): permuted like the weight, never shifted."""
    return _layout(arch, gguf_name, delta, n_head, n_head_kv, to_gguf=True, shift_norms=False)


def gguf_to_hf_layout(arch: str, gguf_name: str, w: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    return _layout(arch, gguf_name, w, n_head, n_head_kv, to_gguf=False)


def head_counts(rd) -> tuple[int, int]:
    arch = architecture(rd)
    n_head = int(field_value(rd, f"{arch}.attention.head_count"))
    n_kv = field_value(rd, f"{arch}.attention.head_count_kv")
    return n_head, int(n_kv if n_kv is not None else n_head)


def write_gguf(
    out_path: str | Path,
    source,
    tensors: dict[str, np.ndarray],
    overrides: dict[str, Any] | None = None,
    extra_strings: dict[str, str] | None = None,
) -> Path:
    """Write ``tensors`` (GGUF names, llama.cpp layout) with the metadata of ``source``.

    ``overrides`` replace copied keys (hyper-parameters of a differently sized model);
    ``extra_strings`` adds string keys (clave-lite's own metadata). 1-D tensors stay float32
    as llama.cpp requires; matrices are written float32 and quantized afterwards.
    """
    import gguf

    arch = architecture(source)
    overrides = dict(overrides or {})
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out_path), arch)
    # file type: all-F32, below; clave-lite's own keys of a source that is itself an evaluator are replaced
    _copy_metadata(writer, source, skip={"general.file_type", *(extra_strings or {})}, overrides=overrides)
    for key, value in overrides.items():
        vtype = gguf.GGUFValueType.get_type(value)
        sub = gguf.GGUFValueType.get_type(value[0]) if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, vtype, sub_type=sub)
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    for key, value in (extra_strings or {}).items():
        writer.add_string(key, value)
    for name in sorted(tensors, key=_tensor_order):
        writer.add_tensor(name, np.ascontiguousarray(tensors[name], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


def _copy_metadata(writer, source, skip: set[str], overrides: dict[str, Any] | None = None) -> None:
    """Every key of ``source`` except the reader's own, the architecture (the writer sets it) and
    ``skip``; a key in ``overrides`` gets that value instead (and is removed from it)."""
    import gguf

    overrides = {} if overrides is None else overrides
    for key, field in source.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in skip:
            continue
        value = overrides.pop(key, field.contents())
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, vtype, sub_type=sub)


def _tensor_order(name: str) -> tuple[int, str]:
    if name.startswith("blk."):
        return int(name.split(".")[1]) + 1, name
    return (0 if name.startswith("token_embd") else 10**6), name


QUANT_TYPES = {"f16": "MOSTLY_F16", "q8_0": "MOSTLY_Q8_0", "q4_k_m": "MOSTLY_Q4_K_M", "f32": "ALL_F32"}


def quantize(src: str | Path, dst: str | Path, quant: str, threads: int = 0) -> Path:
    """Quantize with llama.cpp's own quantizer (``llama_model_quantize``) on ``threads`` threads (0: its choice)."""
    import llama_cpp

    from clave_lite.errors import ModelError
    from clave_lite.runtime.llamacpp import _silence_native_logs

    _silence_native_logs()

    if quant not in QUANT_TYPES:
        raise ModelError(f"unknown quantization '{quant}'; choose from {', '.join(QUANT_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_{QUANT_TYPES[quant]}")
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise ModelError(f"llama_model_quantize failed ({rc}) for {src} → {quant}")
    return Path(dst)


def copy_with_strings(src: str | Path, dst: str | Path, strings: dict[str, str]) -> Path:
    """``src`` with its tensors copied byte for byte (quantized ones stay quantized) and the
    string keys ``strings`` set; every other key copied. How ``clave-lite adapt`` gives an
    existing evaluator a new manifest without re-quantizing anything."""
    import gguf

    rd = reader(src)
    dst = Path(dst)
    writer = gguf.GGUFWriter(str(dst), architecture(rd))
    _copy_metadata(writer, rd, skip=set(strings))
    for key, value in strings.items():
        writer.add_string(key, value)
    for t in rd.tensors:
        writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst
