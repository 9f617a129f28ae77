"""The one interface scoring code calls, whatever runs the model underneath."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from clave_lite.prompt import EncodedText


class Backend(Protocol):
    """Runs an evaluator's model: token ids in, label logits out.

    ``label_logits`` gets a batch of encoded texts (each: shared token ids, one suffix per
    value) and returns, per text, an array ``[n_values, 3]`` of logits of the label tokens in
    :data:`clave_lite.LABELS` order, read at each suffix's last token.
    """

    name: str

    def tokenize(self, text: str, add_bos: bool, special: bool = False) -> list[int]:
        """Token ids of ``text``; ``special=True`` only for the template's own control-token
        markers, never for scored text (so a text cannot produce them)."""
        ...

    def label_logits(self, items: Sequence[EncodedText]) -> list[np.ndarray]: ...

    def close(self) -> None: ...


@runtime_checkable
class HiddenStates(Protocol):
    """A backend that can also return the final hidden state at each value's verdict position
    (for evaluators with a fitted linear head, :mod:`clave_lite.head`)."""

    hidden_size: int

    def logits_and_hidden(self, items: Sequence[EncodedText]) -> tuple[list[np.ndarray], list[np.ndarray]]: ...
