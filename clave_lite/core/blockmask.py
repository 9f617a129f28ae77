"""The block-masked layout of one text and its value suffixes, as plain arrays.

Shared by the torch training/reference path and the ONNX backend, so both feed the model
exactly the same ids, positions and mask: every suffix sees the text and itself only, and all
suffixes of a text start at the same position.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MASKED = np.finfo(np.float32).min


def pack(items: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]], pad_id: int,
         tails: Sequence[Sequence[int]] | None = None):
    """Batch ``(shared, suffixes)`` pairs.

    Returns ``input_ids [B,T]`` and ``position_ids [B,T]`` (int64), an additive attention mask
    ``[B,1,T,T]`` (float32: 0 allowed, very negative blocked), and the read positions as two
    int64 arrays ``rows, cols`` in suffix order.

    ``tails[i][k]`` (training with explanations) says how many tokens at the end of suffix k of
    item i come after the read position (label + explanation, teacher-forced): the label is then
    read ``tails[i][k]`` tokens before the suffix's end. Causal attention keeps them from
    changing the label logits.
    """
    lengths = [len(s) + sum(map(len, sufs)) for s, sufs in items]
    T = max(lengths)
    B = len(items)
    input_ids = np.full((B, T), pad_id, dtype=np.int64)
    position_ids = np.zeros((B, T), dtype=np.int64)
    allowed = np.zeros((B, T, T), dtype=bool)
    rows: list[int] = []
    cols: list[int] = []
    for b, (shared, suffixes) in enumerate(items):
        S = len(shared)
        input_ids[b, :S] = shared
        position_ids[b, :S] = np.arange(S)
        allowed[b, :S, :S] = np.tril(np.ones((S, S), dtype=bool))
        start = S
        for k, suffix in enumerate(suffixes):
            L = len(suffix)
            end = start + L
            tail = tails[b][k] if tails else 0
            input_ids[b, start:end] = suffix
            position_ids[b, start:end] = np.arange(S, S + L)
            allowed[b, start:end, :S] = True
            allowed[b, start:end, start:end] = np.tril(np.ones((L, L), dtype=bool))
            rows.append(b)
            cols.append(end - 1 - tail)
            start = end
        for pad in range(start, T):  # padding attends to itself only, so no row is all blocked
            allowed[b, pad, pad] = True
    mask = np.where(allowed[:, None], np.float32(0.0), MASKED).astype(np.float32)
    return input_ids, position_ids, mask, np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)


def explanation_positions(items: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]],
                          tails: Sequence[Sequence[int]], learn_from: Sequence[Sequence[int]]):
    """Where the language-model loss of explanations is taken, in :func:`pack`'s layout.

    The tail of suffix k of item i is ``label, "Because:", concept..., newline``; positions from
    ``learn_from[i][k]`` (an index into the tail) on predict the next tail token. Returns
    ``rows, cols, targets`` as int64 arrays.
    """
    rows: list[int] = []
    cols: list[int] = []
    targets: list[int] = []
    for b, (shared, suffixes) in enumerate(items):
        start = len(shared)
        for k, suffix in enumerate(suffixes):
            end = start + len(suffix)
            tail = tails[b][k]
            first = end - tail  # position of the label token
            for t in range(learn_from[b][k], tail - 1):
                rows.append(b)
                cols.append(first + t)
                targets.append(suffix[len(suffix) - tail + t + 1])
            start = end
    as64 = lambda xs: np.array(xs, dtype=np.int64)  # noqa: E731
    return as64(rows), as64(cols), as64(targets)
