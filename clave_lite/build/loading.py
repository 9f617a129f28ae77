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
from clave_lite.options import option
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.evaluator import BATCH_SIZE, Evaluator


def load_evaluator(path: str | Path | None = None, backend: str = "auto", threads: int | None = None,
                   n_gpu_layers: int = 0, provider: str = "cpu", progress: Progress = SILENT,
                   max_windows: int = MAX_WINDOWS, prevalence: str | None = None) -> Evaluator:
    """:meth:`Evaluator.load`; no path gives the embedded default evaluator (built on first use,
    about a minute, which ``progress`` is told)."""
    if path is None:
        path = default_evaluator_path(progress)
    evaluator = Evaluator.load(path, backend, threads, n_gpu_layers, provider)
    evaluator.max_windows = max_windows
    evaluator.prevalence = prevalence
    return evaluator


@dataclass(frozen=True)
class ModelOptions:
    """Which evaluator a job runs, and on what: the one declaration of these options, inherited
    by every job that scores (score, filter, serve, eval, Parquet and Ray tables); the CLI's
    flags are generated from these fields (:func:`clave_lite.cli.options.flags_from`)."""

    model: Path | None = option(None, "Evaluator file (.gguf) or ONNX evaluator folder. Default: the embedded "
                                      "default evaluator, built on first use.", kind="path", envvar="CLAVE_LITE_MODEL")
    """None: the embedded default."""
    threads: int | None = option(None, "CPU threads (default: the CPUs this process may use).", kind="int", min=1,
                                 envvar="CLAVE_LITE_THREADS")
    gpu_layers: int = option(0, "Layers to offload to a GPU (llama.cpp n_gpu_layers; -1 = all).", kind="int", min=-1,
                             envvar="CLAVE_LITE_GPU_LAYERS")
    provider: str = option("cpu", "onnxruntime execution provider for ONNX evaluators (cuda needs onnxruntime-gpu).",
                           kind="choice", choices=("cpu", "cuda"), envvar="CLAVE_LITE_PROVIDER")
    windows: int = option(MAX_WINDOWS, "A text longer than the evaluator's 384-token window is read in up to this many "
                                       "overlapping windows (harm anywhere in it is seen; a long text costs about one "
                                       "window each); 1: its head and tail only.", kind="int", min=1, max=64,
                          envvar="CLAVE_LITE_WINDOWS")
    batch_size: int = option(BATCH_SIZE, "Texts per llama.cpp decode (or onnxruntime run).", kind="int", min=1,
                             max=4096)
    prevalence: str | None = option(None, "The share of (text, value) pairs in the corpus you score that are related "
                                          "(supports/opposes), e.g. 0.1, or a default and per-value shares "
                                          "('0.1,Freedom=0.02'). Decisions then move halfway (in log odds) from the mix "
                                          "the evaluator was tuned on toward it: fewer false supports/opposes on a "
                                          "mostly unrelated corpus (docs/accuracy.md).", metavar="SHARE[,VALUE=SHARE...]",
                                    envvar="CLAVE_LITE_PREVALENCE")
    """The corpus's share of related pairs (:attr:`Evaluator.prevalence`); None: decide as fitted."""

    def model_options(self) -> "ModelOptions":
        """Just these fields (a job's options hold more)."""
        return ModelOptions(self.model, self.threads, self.gpu_layers, self.provider, self.windows, self.batch_size,
                            self.prevalence)

    def load(self, progress: Progress = SILENT) -> Evaluator:
        return load_evaluator(self.model, "auto", self.threads, self.gpu_layers, self.provider, progress,
                              self.windows, self.prevalence)
