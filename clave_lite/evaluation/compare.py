"""`clave-lite eval --compare`: several evaluators (backends, quantizations) side by side.

Each model runs in its own child process, so its peak RSS and speed are its own and not the
sum of everything loaded before it; the children return metrics and per-tuple probabilities,
and the parent computes each one's agreement with the reference (the first ``torch:`` entry,
or the first model). A spec is ``PATH`` (a .gguf file or an ONNX directory) or ``torch:PATH``
(the fp32 torch reference run on that GGUF; needs the bake extra).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from clave_lite.build.quality_gate import Agreement, agreement
from clave_lite.core.prompt import MAX_WINDOWS
from clave_lite.errors import ClaveError, DataError
from clave_lite.evaluation.metrics import Metrics
from clave_lite.progress import SILENT, Progress


@dataclass(frozen=True)
class ModelSpec:
    backend: str  # gguf | onnx | torch
    path: Path

    @classmethod
    def parse(cls, spec: str) -> "ModelSpec":
        backend, sep, rest = spec.partition(":")
        if sep and backend in ("torch", "gguf", "onnx"):
            path = Path(rest)
        else:
            backend, path = "", Path(spec)
        if not path.exists():
            raise DataError(f"--compare {spec}: no such file or directory")
        from clave_lite.runtime.evaluator import resolve_backend

        return cls(resolve_backend(path, backend or "auto"), path)

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.path.name}"


def quantization(spec: ModelSpec) -> str:
    """What the file holds: the GGUF file type, or the ONNX export report's quant."""
    if spec.backend == "torch":
        return "fp32 (dequantized)"
    if spec.path.is_dir():
        report = spec.path / "export_report.json"
        if report.exists():
            q = json.loads(report.read_text()).get("quant", "?")
            return {"none": "fp32"}.get(q, q)
        return "?"
    from gguf.constants import LlamaFileType

    from clave_lite.formats.gguf_header import read_header

    ftype = read_header(spec.path).get("general.file_type")
    try:
        return LlamaFileType(int(ftype)).name.removeprefix("MOSTLY_").lower()
    except (TypeError, ValueError):
        return "?"


def size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


@dataclass(frozen=True)
class ModelRun:
    """One model's pass over the data in its own process (:func:`run_one`)."""

    metrics: Metrics
    load_s: float
    seconds: float
    texts: int
    responses_per_s: float
    peak_rss_mib: float

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics.to_dict(), "load_s": self.load_s, "seconds": self.seconds, "texts": self.texts,
                "responses_per_s": self.responses_per_s, "peak_rss_mib": self.peak_rss_mib}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelRun:
        """The run the child process printed as one JSON line."""
        return cls(Metrics.from_dict(d["metrics"]), d["load_s"], d["seconds"], d["texts"], d["responses_per_s"],
                   d["peak_rss_mib"])


def run_one(spec: ModelSpec, data: Path, system: str | None, limit: int | None, threads: int | None,
            out_npy: Path, windows: int = MAX_WINDOWS, prevalence: str | None = None) -> ModelRun:
    """In a child process: score ``data`` with one model (reading long texts in up to ``windows``
    windows, shifted to ``prevalence`` if given, as ``eval`` does); metrics + timing + peak RSS."""
    import resource

    from clave_lite.core.tuples import read_tuples
    from clave_lite.core.valuesystem import load_system
    from clave_lite.evaluation.run import evaluate, predict
    from clave_lite.runtime.evaluator import Evaluator

    gold = limit_texts(read_tuples(data, load_system(system) if system else None, "stop")[0], limit)
    start = time.perf_counter()
    ev = Evaluator.load(spec.path, backend=spec.backend, threads=threads)
    ev.max_windows, ev.prevalence = windows, prevalence
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    scored = predict(ev, gold, system)
    seconds = time.perf_counter() - start
    ev.close()
    np.save(out_npy, scored.probs)
    n_texts = len({t.key for t in gold})
    return ModelRun(evaluate(gold, scored), load_s, seconds, n_texts, n_texts / seconds,
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


@dataclass(frozen=True)
class ComparedModel:
    """One row of the comparison: the model's run, what it is, and its agreement with the reference."""

    run: ModelRun
    model: str
    backend: str
    quant: str
    bytes: int
    reference: str
    """The spec the agreement is measured against."""
    agreement: Agreement

    def to_dict(self) -> dict[str, Any]:
        a = self.agreement
        return {**self.run.to_dict(), "model": self.model, "backend": self.backend, "quant": self.quant,
                "bytes": self.bytes, "agreement": {"reference": self.reference, "argmax_agreement": a.argmax,
                                                   "max_prob_diff": a.max_diff, "n": a.n}}


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` measures; ``to_dict()`` is the JSON ``eval --compare --json`` prints."""

    data: str
    limit: int | None
    reference: str
    models: tuple[ComparedModel, ...]
    windows: int = MAX_WINDOWS
    """Windows a long text was read in, by every model."""
    prevalence: str | None = None
    """The corpus prior every model's decisions were shifted to (None: as fitted)."""

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "limit": self.limit, "reference": self.reference, "windows": self.windows,
                "prevalence": self.prevalence, "models": [m.to_dict() for m in self.models]}


def limit_texts(gold: list, limit: int | None) -> list:
    if not limit:
        return gold
    keep = set(list(dict.fromkeys(t.key for t in gold))[:limit])
    return [t for t in gold if t.key in keep]


def compare(specs: Sequence[ModelSpec], data: Path, system: str | None = None, limit: int | None = None,
            threads: int | None = None, progress: Progress = SILENT, windows: int = MAX_WINDOWS,
            prevalence: str | None = None) -> Comparison:
    """Run every spec on the same tuples, each read and decided alike (``windows``, ``prevalence``);
    agreement is against the first torch spec (or the first)."""
    if not specs:
        raise DataError("--compare needs at least one model")
    runs: list[tuple[ModelRun, np.ndarray]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(specs):
            progress.note(f"[{i + 1}/{len(specs)}] {spec.label}")
            npy = Path(tmp) / f"{i}.npy"
            args = [sys.executable, "-m", "clave_lite.evaluation.compare", spec.backend, str(spec.path), str(data),
                    system or "", str(limit or 0), str(threads or 0), str(npy), str(windows), prevalence or ""]
            proc = subprocess.run(args, capture_output=True, text=True)
            if proc.returncode != 0:
                message = (proc.stderr.strip().splitlines() or ["no message"])[-1]
                raise ClaveError(f"--compare {spec.label}: {message}")
            runs.append((ModelRun.from_dict(json.loads(proc.stdout.strip().splitlines()[-1])), np.load(npy)))
    ref_index = next((i for i, s in enumerate(specs) if s.backend == "torch"), 0)
    reference, ref_probs = specs[ref_index].label, runs[ref_index][1]
    models = tuple(ComparedModel(run, str(spec.path), spec.backend, quantization(spec), size_bytes(spec.path),
                                 reference, agreement(ref_probs, probs))
                   for spec, (run, probs) in zip(specs, runs))
    return Comparison(str(data), limit, reference, models, windows, prevalence)


def render(result: Comparison) -> str:
    """One line per model: the figures README's comparison table carries."""
    head = (f"{'model':<34}{'backend':<8}{'quant':<20}{'MiB':>7}{'acc':>7}{'macroF1':>8}{'valueF1':>8}"
            f"{'agree':>8}{'maxΔp':>7}{'resp/s':>8}{'RSS MiB':>9}")
    lines = [f"data: {result.data}" + (f" (first {result.limit} texts)" if result.limit else ""),
             f"agreement: argmax and max probability difference vs {result.reference}"]
    if result.prevalence:
        lines.append(f"every model's decisions shifted to the corpus prior {result.prevalence} (--prevalence)")
    lines += ["", head]
    for r in result.models:
        m, a = r.run.metrics, r.agreement
        lines.append(f"{Path(r.model).name[:33]:<34}{r.backend:<8}{r.quant[:19]:<20}{r.bytes / 2**20:>7.0f}"
                     f"{m.accuracy:>7.3f}{m.macro_f1:>8.3f}{m.value_f1_mean:>8.3f}"
                     f"{a.argmax:>8.3f}{a.max_diff:>7.3f}{r.run.responses_per_s:>8.2f}"
                     f"{r.run.peak_rss_mib:>9.0f}")
    return "\n".join(lines)


def _child(argv: list[str]) -> None:
    backend, path, data, system, limit, threads, npy, windows, prevalence = argv
    try:
        run = run_one(ModelSpec(backend, Path(path)), Path(data), system or None, int(limit) or None,
                      int(threads) or None, Path(npy), int(windows), prevalence or None)
    except ClaveError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    print(json.dumps(run.to_dict()))


if __name__ == "__main__":
    _child(sys.argv[1:])
