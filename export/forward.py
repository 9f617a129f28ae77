"""The torch forward pass of the verbalizer: one text, many value suffixes, one pass.

Builds the block attention mask that makes every value's suffix see the shared text and itself
only, with all suffixes starting at the same position: exactly what the llama.cpp backend gets
by putting the text in every value's sequence. Only the hidden states at the read positions
are multiplied by the 3 label rows of the output embedding, never by the whole vocabulary.
"""

from __future__ import annotations

from typing import Sequence

import torch

from clave_lite.blockmask import pack


def label_logits(model, items, label_ids: Sequence[int], pad_id: int) -> torch.Tensor:
    """Logits of the label tokens at every suffix's last token: ``[n_suffixes, n_labels]``."""
    arrays = [torch.from_numpy(a) for a in pack(items, pad_id)]
    return LabelLogits(model, label_ids)(*arrays)


class LabelLogits(torch.nn.Module):
    """Block-masked inputs → label logits at the read positions (also the ONNX graph)."""

    def __init__(self, model, label_ids: Sequence[int]) -> None:
        super().__init__()
        self.base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.label_ids = list(label_ids)
        self.softcap = getattr(self.base.config, "final_logit_softcapping", None)

    def forward(self, input_ids, position_ids, attention_mask, read_rows, read_cols):
        out = self.base.model(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                              use_cache=False)
        picked = out.last_hidden_state[read_rows, read_cols]  # [N, H]
        head = self.base.get_output_embeddings().weight[self.label_ids]  # [n_labels, H]
        logits = picked @ head.T
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits
