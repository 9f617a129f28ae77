"""The torch reference backend: the same evaluator file, run by transformers in fp32.

It exists to check the GGUF (and ONNX) backends: same token ids, same block-masked forward
pass as training, no quantization. Loading an f32 evaluator gives the merged fp32 model
exactly; loading a quantized one gives its dequantized weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from clave_lite.core.prompt import EncodedText
from clave_lite.export.forward import label_logits
from clave_lite.export.torch_model import load_base
from clave_lite.runtime.llamacpp import LlamaModel, usable_cpus


class TorchBackend:
    name = "torch"

    def __init__(self, path: str | Path, label_token_ids: Sequence[int], threads: int | None = None,
                 model=None) -> None:
        torch.set_num_threads(threads or usable_cpus())
        self.path = Path(path)
        self.vocab = LlamaModel(path, vocab_only=True)
        self.model = model if model is not None else load_base(path)[0]
        self.label_token_ids = list(label_token_ids)
        pad = self.model.config.pad_token_id
        self.pad_id = int(pad) if pad is not None else 0

    def tokenize(self, text: str, add_bos: bool, special: bool = False) -> list[int]:
        return self.vocab.tokenize(text, add_bos, special)

    def label_logits(self, items: Sequence[EncodedText]) -> list[np.ndarray]:
        return self.token_logits(items, self.label_token_ids)

    @torch.no_grad()
    def token_logits(self, items: Sequence[EncodedText], token_ids: Sequence[int]) -> list[np.ndarray]:
        logits = label_logits(self.model, [(it.shared, it.suffixes) for it in items], list(token_ids),
                              self.pad_id).double().numpy()
        out, start = [], 0
        for it in items:
            out.append(logits[start:start + len(it.suffixes)])
            start += len(it.suffixes)
        return out

    def close(self) -> None:
        self.vocab.close()


class NaiveReference:
    """What a straightforward implementation does: transformers fp32, one (text, value) prompt
    per forward pass, logits over the whole vocabulary at every position. ``clave-lite bench``
    reports every speed as a ratio against it, measured side by side."""

    name = "naive-torch"

    def __init__(self, path: str | Path, label_token_ids: Sequence[int], threads: int | None = None) -> None:
        torch.set_num_threads(threads or usable_cpus())
        self.path = Path(path)
        self.model = load_base(path)[0]
        self.label_token_ids = list(label_token_ids)

    @torch.no_grad()
    def label_logits(self, items: Sequence[EncodedText]) -> list[np.ndarray]:
        out = []
        for it in items:
            rows = [self.model(input_ids=torch.tensor([it.shared + suffix])).logits[0, -1, self.label_token_ids]
                    for suffix in it.suffixes]
            out.append(torch.stack(rows).double().numpy())
        return out
