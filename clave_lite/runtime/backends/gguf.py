"""llama.cpp backend: all values of a text in one decode, several texts per decode.

Each text r gets one sequence per value (ids ``r*V .. r*V+V-1``). The text's tokens are placed
in all V sequences at once (a token may belong to several sequences), so they are computed and
stored once; each value's suffix goes into its own sequence at the positions right after the
text. Logits are requested only at each suffix's last token. This is the block mask the torch
training path uses (:mod:`clave_lite.export.forward`), in llama.cpp's terms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from clave_lite.core.prompt import EncodedText
from clave_lite.errors import ModelError
from clave_lite.runtime.llamacpp import (
    LlamaBatch,
    LlamaContext,
    LlamaModel,
    usable_cpus,
)

MAX_SEQUENCES = 64
N_CTX = 2048
"""Tokens per decode (and KV cells): ~7 texts of 250 tokens with 10 short value suffixes each.
It bounds memory (KV cache and scratch grow with it); a single text that needs more gets a
larger context on demand (:meth:`GGUFBackend._fit`)."""
N_UBATCH = 512
FLASH_ATTN = -1
"""llama.cpp's flash attention: -1 lets it decide; measured in docs/benchmarks.md."""
KV_TYPE: int | None = None
"""The KV cache's ggml type; None keeps llama.cpp's f16 (q8_0 measured in docs/benchmarks.md)."""


class GGUFBackend:
    name = "gguf"

    def __init__(self, path: str | Path, label_token_ids: Sequence[int], threads: int | None = None,
                 n_gpu_layers: int = 0, n_ctx: int = N_CTX) -> None:
        self.path = Path(path)
        self.model = LlamaModel(self.path, n_gpu_layers=n_gpu_layers)
        self.threads = threads or usable_cpus()
        self.label_token_ids = list(label_token_ids)
        self.ctx: LlamaContext | None = None
        self.batch: LlamaBatch | None = None
        self._open_context(n_ctx)

    def _open_context(self, n_ctx: int) -> None:
        for obj in (self.batch, self.ctx):
            if obj is not None:
                obj.close()
        self.n_ctx = n_ctx
        self.ctx = LlamaContext(self.model, n_ctx=n_ctx, n_batch=n_ctx, n_seq_max=MAX_SEQUENCES,
                                threads=self.threads, n_ubatch=N_UBATCH, flash_attn=FLASH_ATTN,
                                kv_type=KV_TYPE)
        self.batch = LlamaBatch(self.model._lib, n_ctx, MAX_SEQUENCES)

    def _fit(self, items: Sequence[EncodedText]) -> None:
        """Grow the context (to the next power of two) when one text needs more than it holds."""
        longest = max((it.n_tokens for it in items), default=0)
        if longest > self.n_ctx:
            self._open_context(1 << (longest - 1).bit_length())

    def tokenize(self, text: str, add_bos: bool, special: bool = False) -> list[int]:
        return self.model.tokenize(text, add_bos, special)

    def _groups(self, items: Sequence[EncodedText]) -> list[list[int]]:
        """Indices of texts per decode, within the context and sequence budgets."""
        groups: list[list[int]] = []
        current: list[int] = []
        tokens = seqs = 0
        for i, item in enumerate(items):
            n, v = item.n_tokens, max(1, len(item.suffixes))
            if n > self.n_ctx or v > MAX_SEQUENCES:
                raise ModelError(f"one text needs {n} tokens and {v} values; the context holds "
                                 f"{self.n_ctx} tokens and {MAX_SEQUENCES} values")
            if current and (tokens + n > self.n_ctx or seqs + v > MAX_SEQUENCES):
                groups.append(current)
                current, tokens, seqs = [], 0, 0
            current.append(i)
            tokens += n
            seqs += v
        if current:
            groups.append(current)
        return groups

    def label_logits(self, items: Sequence[EncodedText]) -> list[np.ndarray]:
        return self.token_logits(items, self.label_token_ids)

    def token_logits(self, items: Sequence[EncodedText], token_ids: Sequence[int]) -> list[np.ndarray]:
        """Logits of ``token_ids`` at each value's verdict position: ``[n_values, len(token_ids)]``
        per text (the label tokens, or the tokens a fitted head reads, :mod:`clave_lite.formats.head`)."""
        self._fit(items)
        assert self.ctx is not None and self.batch is not None  # opened in __init__
        ids = list(token_ids)
        results: list[np.ndarray] = [np.zeros((len(it.suffixes), len(ids))) for it in items]
        for group in self._groups(items):
            self.batch.reset()
            reads: list[tuple[int, int, int]] = []  # (text index, value index, batch index)
            seq = 0
            for i in group:
                item = items[i]
                seq_ids = list(range(seq, seq + len(item.suffixes)))
                for pos, tok in enumerate(item.shared):
                    self.batch.add(tok, pos, seq_ids, False)
                start = len(item.shared)
                for k, suffix in enumerate(item.suffixes):
                    for j, tok in enumerate(suffix):
                        idx = self.batch.add(tok, start + j, [seq_ids[k]], j == len(suffix) - 1)
                    reads.append((i, k, idx))
                seq += len(item.suffixes)
            self.ctx.decode(self.batch)
            for i, k, idx in reads:
                results[i][k] = self.ctx.logits_at(idx, ids)
            self.ctx.clear()
        return results

    def generate(self, item: EncodedText, leads: Sequence[Sequence[int]], max_tokens: int,
                 stop_ids: Sequence[int]) -> list[list[int]]:
        """Greedy continuations of one text: sequence k holds the text, suffix k and ``leads[k]``
        (label + "Because:"); all sequences then advance one token per decode until each has
        produced a stop token or ``max_tokens``."""
        n = len(item.suffixes)
        need = item.n_tokens + sum(len(lead) for lead in leads) + n * max_tokens
        if need > self.n_ctx:
            self._open_context(1 << (need - 1).bit_length())
        assert self.ctx is not None and self.batch is not None  # opened in __init__
        self.batch.reset()
        for pos, tok in enumerate(item.shared):
            self.batch.add(tok, pos, list(range(n)), False)
        start = len(item.shared)
        last: dict[int, int] = {}
        next_pos: dict[int, int] = {}
        for k, (suffix, lead) in enumerate(zip(item.suffixes, leads)):
            tokens = list(suffix) + list(lead)
            for j, tok in enumerate(tokens):
                last[k] = self.batch.add(tok, start + j, [k], j == len(tokens) - 1)
            next_pos[k] = start + len(tokens)
        out: list[list[int]] = [[] for _ in range(n)]
        stop = set(stop_ids)
        try:
            self.ctx.decode(self.batch)
            active = list(range(n))
            for _ in range(max_tokens):
                chosen = {k: self.ctx.argmax_at(last[k]) for k in active}
                active = [k for k in active if chosen[k] not in stop]
                if not active:
                    break
                self.batch.reset()
                for k in active:
                    out[k].append(chosen[k])
                    last[k] = self.batch.add(chosen[k], next_pos[k], [k], True)
                    next_pos[k] += 1
                self.ctx.decode(self.batch)
        finally:
            self.ctx.clear()
        return out

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.model.detokenize(ids)

    def close(self) -> None:
        for obj in (getattr(self, "batch", None), getattr(self, "ctx", None), getattr(self, "model", None)):
            if obj is not None:
                obj.close()
