"""Thin owning wrappers over llama-cpp-python's raw bindings: a model, a context, a batch.

clave-lite needs what the high-level ``llama_cpp.Llama`` does not offer: one token in several
sequences at once (the shared text in every value's sequence), logits read only at chosen
positions, and no ``logits_all`` buffer of context × vocabulary floats. Each wrapper frees its
native memory exactly once (``close`` or garbage collection).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from clave_lite.errors import ModelError
from clave_lite.runtime import cpu

_SILENCED = False
_LOG_CALLBACK: Any = None  # the ctypes callback, kept referenced while llama.cpp may call it


def _silence_native_logs() -> None:
    """llama.cpp prints pages of load details to stderr; keep them for CLAVE_LITE_DEBUG only."""
    global _SILENCED, _LOG_CALLBACK
    if _SILENCED or os.environ.get("CLAVE_LITE_DEBUG"):
        return
    import llama_cpp

    _LOG_CALLBACK = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
    _SILENCED = True


def usable_cpus() -> int:
    """CPUs this process may really use (affinity mask and cgroup quota), not the host's count:
    llama.cpp's default can oversubscribe a container and run several times slower."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


class LlamaModel:
    """A loaded GGUF model (weights and vocabulary)."""

    def __init__(self, path: str | Path, vocab_only: bool = False, n_gpu_layers: int = 0) -> None:
        import llama_cpp

        _silence_native_logs()
        self._lib = llama_cpp
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = vocab_only
        params.n_gpu_layers = n_gpu_layers
        params.use_mmap = True
        cpu.apply(params)  # never llama.cpp's AMX path where it crashes (clave_lite.runtime.cpu)
        self._ptr = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not self._ptr:
            raise ModelError(f"{path}: llama.cpp could not load this GGUF model")
        self.vocab = llama_cpp.llama_model_get_vocab(self._ptr)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)

    @property
    def ptr(self):
        if not self._ptr:
            raise ModelError("model already closed")
        return self._ptr

    def tokenize(self, text: str, add_bos: bool = False, special: bool = False) -> list[int]:
        """Token ids of ``text``. By default special-token spellings inside it are treated as
        plain text, so a scored response cannot inject control tokens; ``special=True`` is for
        the prompt template's own markers only."""
        data = text.encode("utf-8", errors="replace")
        capacity = len(data) + 8
        buf = (self._lib.llama_token * capacity)()
        n = self._lib.llama_tokenize(self.vocab, data, len(data), buf, capacity, add_bos, special)
        if n < 0:  # buffer too small: -n is the size needed
            capacity = -n
            buf = (self._lib.llama_token * capacity)()
            n = self._lib.llama_tokenize(self.vocab, data, len(data), buf, capacity, add_bos, special)
        return list(buf[:n])

    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of generated token ids (special tokens rendered as nothing)."""
        if not ids:
            return ""
        tokens = (self._lib.llama_token * len(ids))(*ids)
        capacity = 8 * len(ids) + 16
        buf = ctypes.create_string_buffer(capacity)
        n = self._lib.llama_detokenize(self.vocab, tokens, len(ids), buf, capacity, False, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lib.llama_detokenize(self.vocab, tokens, len(ids), buf, -n, False, False)
        return buf.raw[:n].decode("utf-8", errors="replace")

    def close(self) -> None:
        if getattr(self, "_ptr", None):
            self._lib.llama_model_free(self._ptr)
            self._ptr = None

    def __del__(self) -> None:
        self.close()


class LlamaContext:
    """An inference context whose KV cache may hold several sequences that share cells."""

    def __init__(self, model: LlamaModel, n_ctx: int, n_batch: int, n_seq_max: int, threads: int,
                 n_ubatch: int | None = None, flash_attn: int = -1, kv_type: int | None = None) -> None:
        """``n_batch`` tokens may go into one decode; llama.cpp computes them ``n_ubatch`` at a
        time. A small ``n_ubatch`` keeps the attention scratch (heads × ubatch × context floats)
        small: 512 instead of 4096 saves ~230 MB of peak memory on Gemma 3 at no measured cost.
        ``flash_attn``: llama.cpp's flash-attention switch (-1 auto, 0 off, 1 on); ``kv_type``: a
        ggml type for the KV cache (None: llama.cpp's f16). Both measured in docs/benchmarks.md."""
        lib = model._lib
        self._lib = lib
        self.model = model  # keep the model alive while the context exists
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = min(n_ubatch or n_batch, n_batch)
        params.n_seq_max = n_seq_max
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = True  # one buffer: the shared text is stored once for all sequences
        params.flash_attn_type = flash_attn
        if kv_type is not None:
            params.type_k = params.type_v = kv_type
        params.no_perf = True
        self._ptr = lib.llama_init_from_model(model.ptr, params)
        if not self._ptr:
            raise ModelError("llama.cpp could not create a context (out of memory?)")
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.n_seq_max = n_seq_max
        self.n_vocab = model.n_vocab

    def clear(self) -> None:
        self._lib.llama_memory_clear(self._lib.llama_get_memory(self._ptr), True)

    def decode(self, batch: "LlamaBatch") -> None:
        rc = self._lib.llama_decode(self._ptr, batch.raw)
        if rc != 0:
            raise ModelError(f"llama_decode failed with code {rc}")

    def argmax_at(self, index: int) -> int:
        """The most likely next token at batch output ``index`` (greedy generation)."""
        ptr = self._lib.llama_get_logits_ith(self._ptr, index)
        return int(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).argmax())

    def logits_at(self, index: int, token_ids: Sequence[int]) -> np.ndarray:
        """Logits of ``token_ids`` at batch output ``index`` (only those floats are copied)."""
        ptr = self._lib.llama_get_logits_ith(self._ptr, index)
        row = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
        return row[list(token_ids)].astype(np.float64)

    def close(self) -> None:
        if getattr(self, "_ptr", None):
            self._lib.llama_free(self._ptr)
            self._ptr = None

    def __del__(self) -> None:
        self.close()


class LlamaBatch:
    """A reusable token batch where each token lists the sequences it belongs to."""

    def __init__(self, lib, capacity: int, max_seqs_per_token: int) -> None:
        self._lib = lib
        self.raw = lib.llama_batch_init(capacity, 0, max_seqs_per_token)
        self.capacity = capacity
        self.max_seqs = max_seqs_per_token
        self.raw.n_tokens = 0

    def reset(self) -> None:
        self.raw.n_tokens = 0

    def add(self, token: int, pos: int, seq_ids: Sequence[int], want_logits: bool) -> int:
        """Append one token; returns its index (used to read its logits)."""
        i = self.raw.n_tokens
        if i >= self.capacity or len(seq_ids) > self.max_seqs:
            raise ModelError("internal: llama batch overflow")
        self.raw.token[i] = token
        self.raw.pos[i] = pos
        self.raw.n_seq_id[i] = len(seq_ids)
        for j, s in enumerate(seq_ids):
            self.raw.seq_id[i][j] = s
        self.raw.logits[i] = want_logits
        self.raw.n_tokens = i + 1
        return i

    def close(self) -> None:
        if getattr(self, "raw", None) is not None:
            self._lib.llama_batch_free(self.raw)
            self.raw = None

    def __del__(self) -> None:
        self.close()
