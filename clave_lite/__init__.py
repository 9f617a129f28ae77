"""clave-lite: tell, fully offline, which human values an LLM response supports or opposes.

The public API is what this module names; everything else is reached through its layer::

    import clave_lite
    ev = clave_lite.load_evaluator()            # the embedded default evaluator
    for row in ev.score(["I won't help you cheat."], system="schwartz10"):
        print(row)

Layers, bottom to top (a layer imports only those below it; ``tests/packaging/test_layers.py``
checks, and docs/architecture.md draws the map): the top-level modules (errors, paths, progress,
options, version) → ``core`` (labels, value systems, tuples, prompt) → ``formats`` (manifest, GGUF
header, heads, lexical layer) → ``runtime`` (Evaluator, backends, the scoring jobs) → ``build``
(torch-free merge, the default evaluator) → ``evaluation`` → ``datasets`` / ``calibration`` /
``adapt`` / ``report`` / ``engines`` → ``export`` (bake-time, torch) → ``cli``. The runtime never
imports torch, transformers or peft, so a scoring install is small and starts fast; the names
below are imported on first use, so ``import clave_lite`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clave_lite.core.labels import LABELS
from clave_lite.errors import (
    ClaveError,
    DataError,
    LLMError,
    MissingDependencyError,
    ModelError,
    QualityGateError,
    UnknownNameError,
    UsageError,
    ValueSystemError,
)
from clave_lite.version import __version__

_LAZY = {
    "Evaluator": ("clave_lite.runtime.evaluator", "Evaluator"),
    "load_evaluator": ("clave_lite.build.loading", "load_evaluator"),
    "load_system": ("clave_lite.core.valuesystem", "load_system"),
    # the jobs behind the commands: options in, a typed report out
    "ScoreOptions": ("clave_lite.jobs.score", "ScoreOptions"),
    "score_file": ("clave_lite.jobs.score", "score_file"),
    "FilterOptions": ("clave_lite.jobs.filter", "FilterOptions"),
    "filter_texts": ("clave_lite.jobs.filter", "filter_texts"),
    "load_policy": ("clave_lite.jobs.policy", "load_policy"),
    "EvalOptions": ("clave_lite.evaluation.job", "EvalOptions"),
    "evaluate_file": ("clave_lite.evaluation.job", "evaluate_file"),
    "AdaptOptions": ("clave_lite.adapt.options", "AdaptOptions"),
    "adapt_evaluator": ("clave_lite.adapt.job", "adapt"),  # `adapt` is the subpackage's name
    "adapt_lora": ("clave_lite.export.adapt_train", "adapt_lora"),  # the bake extra (torch)
    "ReportOptions": ("clave_lite.report.job", "ReportOptions"),
    "build_report": ("clave_lite.report.job", "build_report"),
    "ConvertOptions": ("clave_lite.datasets.jobs", "ConvertOptions"),
    "convert_file": ("clave_lite.datasets.jobs", "convert_file"),
    "SplitOptions": ("clave_lite.datasets.jobs", "SplitOptions"),
    "split_file": ("clave_lite.datasets.jobs", "split_file"),
}

__all__ = [
    "LABELS", "__version__",
    "ClaveError", "DataError", "ValueSystemError", "ModelError", "UsageError", "UnknownNameError", "LLMError",
    "MissingDependencyError", "QualityGateError",
    "Evaluator", "load_evaluator", "load_system",
    "ScoreOptions", "score_file", "FilterOptions", "filter_texts", "load_policy",
    "EvalOptions", "evaluate_file", "AdaptOptions", "adapt_evaluator", "adapt_lora", "ReportOptions", "build_report",
    "ConvertOptions", "convert_file", "SplitOptions", "split_file",
]

if TYPE_CHECKING:
    from clave_lite.adapt.job import adapt as adapt_evaluator
    from clave_lite.adapt.options import AdaptOptions
    from clave_lite.build.loading import load_evaluator
    from clave_lite.core.valuesystem import load_system
    from clave_lite.datasets.jobs import ConvertOptions, SplitOptions, convert_file, split_file
    from clave_lite.evaluation.job import EvalOptions, evaluate_file
    from clave_lite.export.adapt_train import adapt_lora
    from clave_lite.jobs.filter import FilterOptions, filter_texts
    from clave_lite.jobs.policy import load_policy
    from clave_lite.jobs.score import ScoreOptions, score_file
    from clave_lite.report.job import ReportOptions, build_report
    from clave_lite.runtime.evaluator import Evaluator


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'clave_lite' has no attribute {name!r}")
