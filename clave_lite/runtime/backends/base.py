"""The one interface scoring code calls, whatever runs the model underneath."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from clave_lite.core.prompt import EncodedText


class Backend(Protocol):
    """Runs an evaluator's model: token ids in, label logits out.

    ``label_logits`` gets a batch of encoded texts (each: shared token ids, one suffix per
    value) and returns, per text, an array ``[n_values, 3]`` of logits of the label tokens in
    :data:`clave_lite.LABELS` order, read at each suffix's last token.
    """

    name: str
    """``gguf``, ``onnx``, ``torch``: recorded with every score file."""
    path: Path
    """The file (or ONNX directory) it runs."""

    def tokenize(self, text: str, add_bos: bool, special: bool = False) -> list[int]:
        """Token ids of ``text``; ``special=True`` only for the template's own control-token
        markers, never for scored text (so a text cannot produce them)."""
        ...

    def label_logits(self, items: Sequence[EncodedText]) -> list[np.ndarray]: ...

    def close(self) -> None: ...


@runtime_checkable
class TokenLogits(Protocol):
    """A backend that returns the logits of any tokens at the verdict positions, not just the
    label tokens (what a head fitted by ``clave-lite adapt`` reads, :mod:`clave_lite.formats.head`)."""

    def token_logits(self, items: Sequence[EncodedText], token_ids: Sequence[int]) -> list[np.ndarray]: ...


@runtime_checkable
class Generates(Protocol):
    """A backend that can continue a prompt (``score --explain``: the model's own value concept)."""

    def generate(self, item: EncodedText, leads: Sequence[Sequence[int]], max_tokens: int,
                 stop_ids: Sequence[int]) -> list[list[int]]: ...

    def detokenize(self, ids: Sequence[int]) -> str: ...
