"""A linear readout that `clave-lite adapt` fits for a new value system, stored in the manifest.

The fine-tuned label tokens are one linear readout of the model's final hidden state (three
rows of the output matrix). With ~100 labels per value, a *new* readout fitted on those labels
beats re-training the LoRA (measured in ``docs/calibrate.md``): the hidden state at the verdict
position already says how the text relates to the value line, and a regularised logistic
regression learns what *supports* / *opposes* mean for this system's values (for rules phrased
as prohibitions, "Do not deceive", the default's label words point the wrong way).

``logits = weight @ features + bias``, then the system's per-value biases and temperature as
for any evaluator. ``features`` is the final hidden state (``"hidden"``) or the evaluator's own
three label logits (``"label_logits"``, a recalibration). Pure numpy: scoring needs no
scikit-learn. Hidden states come from llama.cpp only (the ONNX graph returns label logits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clave_lite import LABELS
from clave_lite.errors import ModelError

FEATURES = ("hidden", "label_logits")


@dataclass(frozen=True)
class Head:
    features: str
    weight: np.ndarray
    """``[3, k]`` in :data:`clave_lite.LABELS` order; ``k`` = hidden size or 3."""
    bias: np.ndarray
    """``[3]``."""
    value_line: str | None = None
    """The value suffix the head was fitted with (e.g. ``"Value: {name}: {definition}\\nVerdict:"``);
    ``None`` = the evaluator's own template line."""

    @property
    def needs_hidden(self) -> bool:
        return self.features == "hidden"

    def apply(self, logits: np.ndarray, hidden: np.ndarray | None) -> np.ndarray:
        """``[n_values, 3]`` label logits of one text from its label logits / hidden states."""
        x = hidden if self.needs_hidden else logits
        if x is None:
            raise ModelError("internal: this head reads hidden states, none were computed")
        return np.asarray(x, dtype=np.float64) @ self.weight.T + self.bias

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "value_line": self.value_line,
                "weight": [[float(f"{w:.6g}") for w in row] for row in self.weight],
                "bias": [float(f"{b:.6g}") for b in self.bias]}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "Head":
        def bad(what: str) -> ModelError:
            return ModelError(f"{where}: damaged clave-lite manifest (head: {what})")

        if not isinstance(data, dict):
            raise bad("not an object")
        if data.get("features") not in FEATURES:
            raise bad(f"features {data.get('features')!r}")
        line = data.get("value_line")
        if line is not None and not (isinstance(line, str) and "{name}" in line):
            raise bad(f"value line {line!r}")
        try:
            weight = np.array(data["weight"], dtype=np.float64)
            bias = np.array(data["bias"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(str(exc)) from None
        if weight.ndim != 2 or weight.shape[0] != len(LABELS) or bias.shape != (len(LABELS),):
            raise bad(f"weight {weight.shape}, bias {bias.shape}")
        if data["features"] == "label_logits" and weight.shape[1] != len(LABELS):
            raise bad("a label-logit head takes 3 inputs")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise bad("non-finite numbers")
        return cls(data["features"], weight, bias, line)

    def check_width(self, n_embd: int, where: str) -> None:
        if self.needs_hidden and self.weight.shape[1] != n_embd:
            raise ModelError(f"{where}: the head reads {self.weight.shape[1]} hidden dimensions, the model has "
                             f"{n_embd}; it was fitted on another base model")
