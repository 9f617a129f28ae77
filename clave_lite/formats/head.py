"""A linear readout that `clave-lite adapt` fits for a new value system, stored in the manifest.

The fine-tuned label tokens are one linear readout of the model's final hidden state ``h``
(three rows of the output matrix ``E``). With ~100 labels per value, a *new* readout fitted on
those labels beats re-training the LoRA (``docs/calibrate.md``): ``h`` at the verdict position
already says how the text relates to the value line, and a regularised logistic regression
learns what *supports* / *opposes* mean for this system (for rules phrased as prohibitions,
"Do not deceive", the default's label words point the wrong way).

llama.cpp returns ``h`` only in embedding mode, which computes logits for *every* token of the
batch (3x slower here). But the logits it returns anyway are ``E h``: read at ``n >= d`` tokens
whose rows of ``E`` span the hidden space, they determine ``h`` exactly (``h = pinv(E_S) z_S``).
So a head is stored, per value, as weights over the logits of chosen tokens read after one or
more value lines, ``logits = weight @ concat_lines(z[token_ids]) + bias``: a readout of ``h``
folded with ``pinv(E_S)``, or a recalibration of the three label logits (``token_ids`` = the
label tokens). Scoring stays one
decode with logits at the verdict positions only, and needs nothing but numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clave_lite.core.labels import LABELS
from clave_lite.errors import ModelError


@dataclass(frozen=True)
class Head:
    value_lines: tuple[str | None, ...]
    """The value suffixes the head reads, each in its own sequence after the shared text (e.g.
    the template's line, ``None``, and ``"Value: {name}: {definition}\nVerdict:"``)."""
    token_ids: tuple[int, ...]
    """Vocabulary ids whose logits the head reads at each suffix's verdict position."""
    weights: dict[str, np.ndarray]
    """Per value: ``[3, len(value_lines) * len(token_ids)]`` in :data:`clave_lite.LABELS` order."""
    biases: dict[str, np.ndarray]
    """Per value: ``[3]``."""

    def apply(self, value: str, token_logits: np.ndarray) -> np.ndarray:
        """Label logits ``[3]`` of one value from its ``[len(value_lines), len(token_ids)]`` logits."""
        return self.weights[value] @ np.asarray(token_logits, dtype=np.float64).reshape(-1) + self.biases[value]

    def to_dict(self) -> dict[str, Any]:
        return {"value_lines": list(self.value_lines), "token_ids": list(self.token_ids),
                "values": {v: {"weight": [[float(f"{w:.7g}") for w in row] for row in self.weights[v]],
                               "bias": [float(f"{b:.7g}") for b in self.biases[v]]} for v in self.weights}}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "Head":
        def bad(what: str) -> ModelError:
            return ModelError(f"{where}: damaged clave-lite manifest (head: {what})")

        if not isinstance(data, dict):
            raise bad("not an object")
        lines = data.get("value_lines")
        if not (isinstance(lines, list) and lines
                and all(line is None or (isinstance(line, str) and "{name}" in line) for line in lines)):
            raise bad(f"value lines {lines!r}")
        ids = data.get("token_ids")
        if not (isinstance(ids, list) and ids and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                                      for i in ids)):
            raise bad("token ids")
        per_value = data.get("values")
        if not (isinstance(per_value, dict) and per_value):
            raise bad("no values")
        weights, biases = {}, {}
        for value, wb in per_value.items():
            try:
                weight = np.array(wb["weight"], dtype=np.float64)
                bias = np.array(wb["bias"], dtype=np.float64)
            except (KeyError, TypeError, ValueError) as exc:
                raise bad(f"'{value}': {exc}") from None
            if weight.shape != (len(LABELS), len(lines) * len(ids)) or bias.shape != (len(LABELS),):
                raise bad(f"'{value}': weight {weight.shape} for {len(lines)} lines x {len(ids)} tokens, "
                          f"bias {bias.shape}")
            if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
                raise bad(f"'{value}': non-finite numbers")
            weights[value], biases[value] = weight, bias
        return cls(tuple(lines), tuple(ids), weights, biases)
