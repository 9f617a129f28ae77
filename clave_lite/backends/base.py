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
class TokenLogits(Protocol):
    """A backend that returns the logits of any tokens at the verdict positions, not just the
    label tokens (what a head fitted by ``clave-lite adapt`` reads, :mod:`clave_lite.head`)."""

    def token_logits(self, items: Sequence[EncodedText], token_ids: Sequence[int]) -> list[np.ndarray]: ...
