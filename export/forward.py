"""The torch forward pass of the verbalizer: one text, many value suffixes, one pass.

Builds the block attention mask that makes every value's suffix see the shared text and itself
only, with all suffixes starting at the same position: exactly what the llama.cpp backend gets
by putting the text in every value's sequence. Only the hidden states at the read positions
are multiplied by the 3 label rows of the output embedding, never by the whole vocabulary.
"""

from __future__ import annotations

from typing import Sequence

import torch


def pack(items: Sequence[tuple[list[int], list[list[int]]]], pad_id: int):
    """Batch ``(shared, suffixes)`` pairs into model inputs.

    Returns ``input_ids [B,T]``, ``position_ids [B,T]``, an additive attention mask
    ``[B,1,T,T]`` (0 allowed, -inf-like blocked) and the flat list of ``(row, column)`` read
    positions, in the order of the suffixes.
    """
    lengths = [len(s) + sum(map(len, sufs)) for s, sufs in items]
    T = max(lengths)
    B = len(items)
    input_ids = torch.full((B, T), pad_id, dtype=torch.long)
    position_ids = torch.zeros((B, T), dtype=torch.long)
    allowed = torch.zeros((B, T, T), dtype=torch.bool)
    reads: list[tuple[int, int]] = []
    for b, (shared, suffixes) in enumerate(items):
        S = len(shared)
        input_ids[b, :S] = torch.tensor(shared)
        position_ids[b, :S] = torch.arange(S)
        allowed[b, :S, :S] = torch.tril(torch.ones(S, S, dtype=torch.bool))
        start = S
        for suffix in suffixes:
            L = len(suffix)
            end = start + L
            input_ids[b, start:end] = torch.tensor(suffix)
            position_ids[b, start:end] = torch.arange(S, S + L)
            allowed[b, start:end, :S] = True
            allowed[b, start:end, start:end] = torch.tril(torch.ones(L, L, dtype=torch.bool))
            reads.append((b, end - 1))
            start = end
        for pad in range(start, T):  # padding attends to itself only, so no row is all -inf
            allowed[b, pad, pad] = True
    mask = torch.zeros((B, 1, T, T), dtype=torch.float32)
    mask.masked_fill_(~allowed[:, None], torch.finfo(torch.float32).min)
    return input_ids, position_ids, mask, reads


def label_logits(model, items, label_ids: Sequence[int], pad_id: int) -> torch.Tensor:
    """Logits of the label tokens at every suffix's last token: ``[n_suffixes, n_labels]``."""
    input_ids, position_ids, mask, reads = pack(items, pad_id)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    out = base.model(input_ids=input_ids, position_ids=position_ids, attention_mask=mask, use_cache=False)
    hidden = out.last_hidden_state
    rows = torch.tensor([r for r, _ in reads])
    cols = torch.tensor([c for _, c in reads])
    picked = hidden[rows, cols]  # [N, H]
    head = base.get_output_embeddings().weight[list(label_ids)]  # [n_labels, H]
    logits = picked @ head.T
    softcap = getattr(base.config, "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return logits
