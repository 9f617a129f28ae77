"""Which evaluator a job runs: a file or ONNX folder the user names, or the embedded default
(built on first use from the shipped adapter, :mod:`clave_lite.build.default_model`).

This sits above the engine (:mod:`clave_lite.runtime`), which loads a path and knows nothing
of the default, and below the jobs and evaluation, which take :class:`ModelOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clave_lite.build.default_model import default_evaluator_path
from clave_lite.core.prompt import MAX_WINDOWS
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.evaluator import Evaluator


def load_evaluator(path: str | Path | None = None, backend: str = "auto", n_threads: int | None = None,
                   n_gpu_layers: int = 0, provider: str = "cpu", progress: Progress = SILENT,
                   max_windows: int = MAX_WINDOWS) -> Evaluator:
    """:meth:`Evaluator.load`; no path gives the embedded default evaluator (built on first use,
    about a minute, which ``progress`` is told)."""
    if path is None:
        path = default_evaluator_path(progress)
    evaluator = Evaluator.load(path, backend, n_threads, n_gpu_layers, provider)
    evaluator.max_windows = max_windows
    return evaluator


@dataclass(frozen=True)
class ModelOptions:
    """Which evaluator a job runs, and on what: shared by the scoring jobs' options."""

    model: Path | None = None
    """Evaluator file or ONNX directory; None: the embedded default."""
    threads: int | None = None
    gpu_layers: int = 0
    provider: str = "cpu"
    windows: int = MAX_WINDOWS
    """Windows a long text is read in at most (1: its head and tail only)."""

    def load(self, progress: Progress = SILENT) -> Evaluator:
        return load_evaluator(self.model, "auto", self.threads, self.gpu_layers, self.provider, progress,
                              self.windows)
