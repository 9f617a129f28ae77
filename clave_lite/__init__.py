"""clave-lite: tell, fully offline, which human values an LLM response supports or opposes.

The public API is what this module names; everything else is reached through its layer::

    import clave_lite
    ev = clave_lite.load_evaluator()            # the embedded default evaluator
    for row in ev.score(["I won't help you cheat."], system="schwartz10"):
        print(row)

Layers, bottom to top (a layer imports only those below it; ``tests/test_layers.py`` checks):
``core`` (labels, value systems, tuples, prompt) → ``formats`` (manifest, GGUF header) →
``build`` (torch-free merge and GGUF writing) → ``runtime`` (Evaluator, backends) →
``evaluation`` → ``datasets`` / ``calibration`` / ``adapt`` → ``export`` (bake-time, torch) →
``cli``. The runtime never imports torch, transformers or peft, so a scoring install is small
and starts fast; the names below are imported on first use, so ``import clave_lite`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clave_lite.core.labels import LABELS
from clave_lite.errors import ClaveError

__version__ = "0.1.0"

__all__ = ["LABELS", "ClaveError", "Evaluator", "load_evaluator", "load_system", "__version__"]

_LAZY = {
    "Evaluator": ("clave_lite.runtime.evaluator", "Evaluator"),
    "load_evaluator": ("clave_lite.runtime.evaluator", "load_evaluator"),
    "load_system": ("clave_lite.core.valuesystem", "load_system"),
}

if TYPE_CHECKING:
    from clave_lite.core.valuesystem import load_system
    from clave_lite.runtime.evaluator import Evaluator, load_evaluator


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'clave_lite' has no attribute {name!r}")
