"""The torch forward pass of the verbalizer: one text, many value suffixes, one pass.

Builds the block attention mask that makes every value's suffix see the shared text and itself
only, with all suffixes starting at the same position: exactly what the llama.cpp backend gets
by putting the text in every value's sequence. Only the hidden states at the read positions
are multiplied by the 3 label rows of the output embedding, never by the whole vocabulary.
"""

from __future__ import annotations

from typing import Sequence

import torch

from clave_lite.core.blockmask import explanation_positions, pack


def label_logits(model, items, label_ids: Sequence[int], pad_id: int) -> torch.Tensor:
    """Logits of the label tokens at every suffix's last token: ``[n_suffixes, n_labels]``."""
    arrays = [torch.from_numpy(a) for a in pack(items, pad_id)]
    return LabelLogits(model, label_ids)(*arrays)


def label_and_explanation_logits(model, items, tails, learn_from, label_ids: Sequence[int], pad_id: int):
    """One pass for both losses of concept-aware training: label logits at the read positions
    (``[n_suffixes, 3]``) and full-vocabulary logits where an explanation token is predicted
    (``[n_positions, vocab]``, with their targets). Only those few positions pay for the
    262k-row output matrix."""
    arrays = [torch.from_numpy(a) for a in pack(items, pad_id, tails)]
    rows, cols, targets = (torch.from_numpy(a) for a in explanation_positions(items, tails, learn_from))
    wrapper = LabelLogits(model, label_ids)
    hidden = wrapper.hidden(*arrays[:3])
    labels = wrapper.head(hidden[arrays[3], arrays[4]], wrapper.label_ids)
    vocab = wrapper.head(hidden[rows, cols], None)
    return labels, vocab, targets


class LabelLogits(torch.nn.Module):
    """Block-masked inputs → label logits at the read positions (also the ONNX graph)."""

    def __init__(self, model, label_ids: Sequence[int]) -> None:
        super().__init__()
        self.base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.label_ids = list(label_ids)
        self.softcap = getattr(self.base.config, "final_logit_softcapping", None)

    def forward(self, input_ids, position_ids, attention_mask, read_rows, read_cols):
        hidden = self.hidden(input_ids, position_ids, attention_mask)
        return self.head(hidden[read_rows, read_cols], self.label_ids)  # [N, n_labels]

    def hidden(self, input_ids, position_ids, attention_mask):
        return self.base.model(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                               use_cache=False).last_hidden_state

    def head(self, picked, token_ids):
        """Output logits of ``picked`` hidden states for ``token_ids`` (None: the whole vocabulary)."""
        weight = self.base.get_output_embeddings().weight
        logits = picked @ (weight if token_ids is None else weight[token_ids]).T
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits
