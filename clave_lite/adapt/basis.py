"""The hidden state from logits: ``h = pinv(E_S) @ z_S`` (see :mod:`clave_lite.formats.head`).

``E`` is the model's output matrix (``output.weight``, or the tied ``token_embd.weight``) as
llama.cpp uses it, i.e. dequantized from the evaluator file; ``S`` are ``n`` tokens spread over
the vocabulary, enough that their rows span the hidden space (twice the hidden size, at least
1,024: 1,280 rows of Gemma 3's 640-d embedding). Reading 1,280 logits per verdict instead of 3
costs nothing measurable; embedding mode would cost a full-vocabulary product at every token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clave_lite.errors import ModelError

BASIS_TOKENS = 1024


@dataclass(frozen=True)
class Basis:
    token_ids: tuple[int, ...]
    project: np.ndarray
    """``[d, n]``: ``h = project @ z[token_ids]``."""

    def hidden(self, token_logits: np.ndarray) -> np.ndarray:
        return np.asarray(token_logits) @ self.project.T


def hidden_basis(gguf_path: str | Path, n: int = BASIS_TOKENS) -> Basis:
    """Reads only the chosen rows of the output matrix (the header scan is fast; gguf's full
    reader takes seconds on a 262k vocabulary)."""
    from gguf import GGML_QUANT_SIZES, quants

    from clave_lite.formats.gguf_header import read_header

    header = read_header(gguf_path)
    tensors = {t.name: t for t in header.tensors}
    t = tensors.get("output.weight") or tensors.get("token_embd.weight")
    if t is None:
        raise ModelError(f"{gguf_path}: no output or token-embedding matrix")
    d, n_vocab = int(t.shape[0]), int(t.shape[1])
    n = max(n, 2 * d)
    if n > n_vocab:
        raise ModelError(f"{gguf_path}: a vocabulary of {n_vocab} tokens cannot span {d} hidden dimensions")
    block, type_size = GGML_QUANT_SIZES[t.type]
    row_bytes = d // block * type_size
    ids = np.unique(np.linspace(0, n_vocab - 1, n).astype(np.int64))
    data = np.memmap(gguf_path, dtype=np.uint8, mode="r", offset=header.data_start + t.offset,
                     shape=(n_vocab, row_bytes))
    rows = quants.dequantize(np.ascontiguousarray(data[ids]), t.type).astype(np.float64).reshape(len(ids), d)
    if np.linalg.matrix_rank(rows) < d:
        raise ModelError(f"{gguf_path}: the chosen output rows do not span the hidden space")
    return Basis(tuple(int(i) for i in ids), np.linalg.pinv(rows))
