"""`clave-lite bench`: how fast an evaluator scores on this machine, as ratios that survive noise.

Absolute times on a shared 2-core machine move by tens of percent from run to run; ratios
measured side by side in one process do not. So every run also measures

* the same texts scored on **one** value (what "all values for the price of one" is relative to);
* a **naive reference** (:class:`clave_lite.export.reference.NaiveReference`: the merged model in
  transformers fp32, one (text, value) prompt at a time, full-vocabulary logits);
* the CPU's own **matmul peak** (numpy fp32), against which prefill FLOP/s are a roofline fraction,
  and, where torch is installed, its **bf16 and int8 peaks** (the units a quantized model could
  use), with the fraction of the best one prefill reaches.

Prefill FLOPs are counted as 2 × transformer (non-embedding) parameters per token: the tied
embedding matrix is a lookup on input and is multiplied only at the label positions on output.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from clave_lite.core.prompt import EncodedText
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.evaluator import BATCH_SIZE, Evaluator
from clave_lite.runtime.llamacpp import usable_cpus

if TYPE_CHECKING:
    from clave_lite.evaluation.serve_bench import ServeBench

ISA_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
             "neon", "asimd")


@dataclass(frozen=True)
class Goal:
    """One target from the speed issue: a measured figure, its goal, and which way is better."""

    name: str
    value: float | None
    goal: float
    higher_is_better: bool
    unit: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "goal": self.goal, "unit": self.unit,
                "higher_is_better": self.higher_is_better, "met": self.met}


@dataclass(frozen=True)
class Machine:
    """The CPU a benchmark ran on: model, SIMD flags that decide llama.cpp / onnxruntime kernels,
    usable cores, and what llama.cpp was built with."""

    cpu: str
    isa: list[str]
    usable_cpus: int
    logical_cpus: int | None
    python: str
    system: str
    llama_cpp: dict[str, Any]
    """:func:`clave_lite.runtime.cpu.llama_features`."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine_facts() -> Machine:
    """This machine (:class:`Machine`)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            key = key.strip()
            if key == "model name" and model in ("unknown", "", platform.processor()):
                model = val.strip()
            elif key in ("flags", "Features"):
                flags.update(val.split())
    except OSError:
        pass
    from clave_lite.runtime.cpu import llama_features

    return Machine(model, [f for f in ISA_FLAGS if f in flags], usable_cpus(), os.cpu_count(),
                   platform.python_version(), platform.platform(), llama_features())


def matmul_gflops(n: int = 1024, seconds: float = 1.5) -> float:
    """Sustained fp32 GFLOP/s of numpy's BLAS on an n×n×n product: this machine's roofline."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm the BLAS threads
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2 * n ** 3 * runs / (time.perf_counter() - start) / 1e9


@dataclass(frozen=True)
class LowPrecisionPeaks:
    """The CPU's bf16 and int8 matmul peaks (torch, 2048² products), or why they were not measured:
    the units a quantized evaluator could use beside fp32."""

    bf16_gflops: float | None = None
    int8_gops: float | None = None
    skipped: str | None = None


def low_precision_peaks(threads: int, n: int = 2048, seconds: float = 1.5) -> LowPrecisionPeaks:
    """bf16 ``a @ b`` and int8 ``torch._int_mm`` (int32 accumulate) on ``threads`` threads."""
    try:
        import torch
    except ImportError:
        return LowPrecisionPeaks(skipped="needs torch: pip install 'clave-lite[bake]'")
    torch.set_num_threads(threads)

    def rate(fn: Callable[[], Any]) -> float:
        fn()  # warm up
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            runs += 1
        return 2 * n ** 3 * runs / (time.perf_counter() - start) / 1e9

    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(torch.bfloat16)
    b = torch.randn(n, n, generator=g).to(torch.bfloat16)
    bf16 = rate(lambda: a @ b)
    ai = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=g)
    bi = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=g)
    try:
        int8: float | None = rate(lambda: torch._int_mm(ai, bi))
    except RuntimeError as exc:  # a build without the CPU int8 kernel
        return LowPrecisionPeaks(bf16, None, f"torch._int_mm: {exc}")
    return LowPrecisionPeaks(bf16, int8)


def transformer_params(gguf_path: Path) -> int | None:
    """Non-embedding parameters from a GGUF's hyper-parameters (llama/gemma layouts)."""
    from clave_lite.formats.gguf_header import read_header

    try:
        header = read_header(gguf_path)
        arch = header.get("general.architecture")

        def hp(key: str) -> int | None:
            v = header.get(f"{arch}.{key}")
            return int(v) if isinstance(v, (int, float)) else None

        d, layers, ff = hp("embedding_length"), hp("block_count"), hp("feed_forward_length")
        heads, kv_heads = hp("attention.head_count"), hp("attention.head_count_kv") or hp("attention.head_count")
        head_dim = hp("attention.key_length") or (d // heads if d and heads else None)
        if d is None or layers is None or ff is None or heads is None or kv_heads is None or head_dim is None:
            return None
        attention = d * heads * head_dim * 2 + d * kv_heads * head_dim * 2  # q, o and k, v
        return layers * (attention + 3 * d * ff)
    except Exception:  # a figure for the report, never a reason to fail the benchmark
        return None


def peak_rss_mib() -> float:
    """High-water resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


@dataclass(frozen=True)
class ReferenceTiming:
    """The naive transformers path on a few texts, or why it was not run."""

    texts: int = 0
    load_s: float = 0.0
    responses_per_s: float | None = None
    pairs_per_s: float | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.skipped is not None:
            return {"skipped": self.skipped}
        return {"texts": self.texts, "load_s": self.load_s, "responses_per_s": self.responses_per_s,
                "pairs_per_s": self.pairs_per_s}


@dataclass(frozen=True)
class BenchResult:
    """What :func:`run_bench` measures; ``to_dict()`` is the JSON ``bench --json`` prints."""

    model: str
    backend: str
    system: str
    model_bytes: int
    threads: int
    batch_size: int
    texts: int
    values: int
    mean_text_tokens: float
    responses_per_s: float
    pairs_per_s: float
    responses_per_s_one_value: float
    all_vs_one_value_cost: float
    latency_p50_s: float
    latency_p95_s: float
    cold_start_s: float
    first_response_s: float
    peak_rss_mib: float
    tokens_per_s: float
    transformer_params: int | None
    prefill_gflops: float | None
    matmul_peak_gflops: float
    reference: ReferenceTiming
    train_seconds_per_pair: float | None
    """From the evaluator's training record, where it has one."""
    machine: Machine
    low_precision: LowPrecisionPeaks = LowPrecisionPeaks(skipped="not measured")
    command: str | None = None
    """The command line that ran the benchmark (set by the CLI)."""

    @property
    def roofline_fraction(self) -> float | None:
        return self.prefill_gflops / self.matmul_peak_gflops if self.prefill_gflops else None

    @property
    def best_peak(self) -> tuple[str, float]:
        """The fastest of the fp32, bf16 and int8 matmul peaks: (name, G(FL)OP/s)."""
        lp = self.low_precision
        peaks = {"fp32": self.matmul_peak_gflops, "bf16": lp.bf16_gflops, "int8": lp.int8_gops}
        return max(((k, v) for k, v in peaks.items() if v), key=lambda kv: kv[1])

    @property
    def best_peak_fraction(self) -> float | None:
        """Prefill (G)OP/s over the best peak: how much of the fastest units the evaluator uses."""
        return self.prefill_gflops / self.best_peak[1] if self.prefill_gflops else None

    @property
    def speedup_vs_reference(self) -> float | None:
        ref_rate = self.reference.responses_per_s
        return self.responses_per_s / ref_rate if ref_rate else None

    def to_dict(self) -> dict[str, Any]:
        out = {"model": self.model, "backend": self.backend, "system": self.system, "model_bytes": self.model_bytes,
               "threads": self.threads, "batch_size": self.batch_size, "texts": self.texts, "values": self.values,
               "mean_text_tokens": self.mean_text_tokens, "responses_per_s": self.responses_per_s,
               "pairs_per_s": self.pairs_per_s, "responses_per_s_one_value": self.responses_per_s_one_value,
               "all_vs_one_value_cost": self.all_vs_one_value_cost, "latency_p50_s": self.latency_p50_s,
               "latency_p95_s": self.latency_p95_s, "cold_start_s": self.cold_start_s,
               "first_response_s": self.first_response_s, "peak_rss_mib": self.peak_rss_mib,
               "tokens_per_s": self.tokens_per_s, "transformer_params": self.transformer_params,
               "prefill_gflops": self.prefill_gflops, "matmul_peak_gflops": self.matmul_peak_gflops,
               "roofline_fraction": self.roofline_fraction,
               "bf16_peak_gflops": self.low_precision.bf16_gflops, "int8_peak_gops": self.low_precision.int8_gops,
               **({"low_precision_skipped": self.low_precision.skipped} if self.low_precision.skipped else {}),
               "best_peak": self.best_peak[0], "best_peak_fraction": self.best_peak_fraction,
               "reference": self.reference.to_dict(),
               "speedup_vs_reference": self.speedup_vs_reference,
               "train_seconds_per_pair": self.train_seconds_per_pair,
               "goals": [g.to_dict() for g in goals(self)], "machine": self.machine.to_dict()}
        if self.command is not None:
            out["command"] = self.command
        return out


def run_bench(model_path: Path, texts: Sequence[str], system: str | None = None, batch_size: int = BATCH_SIZE,
              threads: int | None = None, reference_texts: int = 3, latency_texts: int = 10,
              provider: str = "cpu", progress: Progress = SILENT) -> BenchResult:
    """Measure one evaluator on ``texts`` (all values of ``system``); see the module docstring."""
    if not texts:
        raise ValueError("no texts to benchmark")
    progress.note("bench: matmul peak (numpy fp32)")
    peak = matmul_gflops()

    progress.note("bench: cold start")
    cold, ev = _timed(lambda: Evaluator.load(model_path, threads=threads, provider=provider))
    try:
        sys_, chosen = ev.resolve_values(system)
        names = [v.name for v in chosen]
        first, _ = _timed(lambda: ev.score(texts[:1], names, sys_.name, batch_size=1))
        encoded = [ev.encoder.encode(t, [(v.name, v.definition) for v in chosen]) for t in texts]
        text_tokens = statistics.mean(len(e.shared) for e in encoded)
        all_tokens = sum(e.n_tokens for e in encoded)

        progress.note(f"bench: {len(texts)} texts x {len(names)} values")
        t_all, _ = _timed(lambda: ev.score(texts, names, sys_.name, batch_size))
        progress.note(f"bench: {len(texts)} texts x 1 value")
        t_one, _ = _timed(lambda: ev.score(texts, names[:1], sys_.name, batch_size))
        progress.note("bench: latency, one response at a time")
        latencies = [_timed(functools.partial(ev.score, [t], names, sys_.name, batch_size=1))[0]
                     for t in texts[:latency_texts]]
        rss = peak_rss_mib()
        params = transformer_params(_params_source(model_path))
        tokens_per_s = all_tokens / t_all
        backend = ev.backend.name
    finally:
        ev.close()
    reference = _reference(model_path, ev.manifest.label_token_ids, encoded[:reference_texts], progress) \
        if reference_texts > 0 else ReferenceTiming(skipped="--reference-texts 0")
    progress.note("bench: bf16 and int8 matmul peaks (torch)")  # after the RSS reading: torch is big
    low = low_precision_peaks(threads or usable_cpus())
    training = (ev.manifest.training or {}).get("train", {})
    return BenchResult(
        model=str(model_path), backend=backend, system=sys_.name, model_bytes=_size(model_path),
        threads=threads or usable_cpus(), batch_size=batch_size, texts=len(texts), values=len(names),
        mean_text_tokens=round(text_tokens, 1), responses_per_s=len(texts) / t_all,
        pairs_per_s=len(texts) * len(names) / t_all, responses_per_s_one_value=len(texts) / t_one,
        all_vs_one_value_cost=t_all / t_one, latency_p50_s=float(np.percentile(latencies, 50)),
        latency_p95_s=float(np.percentile(latencies, 95)), cold_start_s=cold, first_response_s=first,
        peak_rss_mib=rss, tokens_per_s=tokens_per_s, transformer_params=params,
        prefill_gflops=2 * params * tokens_per_s / 1e9 if params else None, matmul_peak_gflops=peak,
        reference=reference, train_seconds_per_pair=training.get("seconds_per_pair"), machine=machine_facts(),
        low_precision=low)


def goals(r: BenchResult) -> list[Goal]:
    """The speed issue's targets, for the default evaluator on Schwartz-10."""
    return [
        Goal("all values cost / one value cost", r.all_vs_one_value_cost, 1.5, False, "x"),
        Goal("responses/s, all values", r.responses_per_s, 1.0, True, "/s"),
        Goal("speed-up vs naive reference", r.speedup_vs_reference, 20.0, True, "x"),
        Goal("prefill FLOP/s / matmul peak", r.roofline_fraction, 0.5, True),
        Goal("peak RSS", r.peak_rss_mib, 500.0, False, "MiB"),
        Goal("cold start", r.cold_start_s, 1.0, False, "s"),
        Goal("training s per (text, value) pair", r.train_seconds_per_pair, 0.3, False, "s"),
    ]


def _reference(model_path: Path, label_ids: Sequence[int], encoded: Sequence[EncodedText],
               progress: Progress) -> ReferenceTiming:
    """The naive transformers path on a few texts (it is slow by design)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return ReferenceTiming(skipped="torch is not installed (pip install 'clave-lite[bake]')")
    if Path(model_path).is_dir():
        return ReferenceTiming(skipped="an ONNX evaluator has no weights transformers can load; bench its GGUF twin")
    from clave_lite.export.reference import NaiveReference

    n_pairs = sum(len(e.suffixes) for e in encoded)
    progress.note(f"bench: naive reference: transformers fp32, {n_pairs} (text, value) prompts one at a time")
    load, ref = _timed(lambda: NaiveReference(model_path, label_ids))
    seconds, _ = _timed(lambda: ref.label_logits(encoded))
    return ReferenceTiming(len(encoded), load, len(encoded) / seconds, n_pairs / seconds)


def distinct_texts(path: Path, limit: int) -> list[str]:
    """The first ``limit`` distinct ``text`` fields of a JSONL file (tuples repeat a text per value)."""
    from clave_lite.core.jsonl import ProblemLog, iter_records
    from clave_lite.errors import DataError

    seen: dict[str, None] = {}
    for _, obj in iter_records(path, ProblemLog("skip")):
        text = obj.get("text")
        if isinstance(text, str) and text.strip():
            seen.setdefault(text)
            if len(seen) >= limit:
                break
    if not seen:
        raise DataError(f"{path}: no texts to benchmark (JSONL lines with a non-empty 'text')")
    return list(seen)


def save_result(path: Path, result: BenchResult | ServeBench) -> None:
    """``result.to_dict()`` as indented JSON (``bench -o FILE``)."""
    from clave_lite.core.jsonl import write_text_atomic

    write_text_atomic(path, json.dumps(result.to_dict(), indent=2) + "\n")


def _params_source(model_path: Path) -> Path:
    return model_path / "vocab.gguf" if model_path.is_dir() else model_path


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def render(r: BenchResult, command: str) -> str:
    """The human-readable table README carries."""
    m = r.machine
    lines = [
        f"command: {command}",
        f"machine: {m.cpu}; {m.usable_cpus} usable of {m.logical_cpus} CPUs; ISA {' '.join(m.isa) or '-'}",
        *([f"llama.cpp: {m.llama_cpp['system_info']}",
           f"extra buffer types: {'on' if m.llama_cpp['use_extra_bufts'] else 'off'} ({m.llama_cpp['reason']})"]
          if m.llama_cpp else []),
        f"model: {r.model} ({r.backend}, {r.model_bytes / 2**20:.0f} MiB), {r.threads} threads, "
        f"batch {r.batch_size}",
        f"data: {r.texts} texts (mean {r.mean_text_tokens} text tokens) x {r.values} values of {r.system}",
        "",
        f"{'responses/s (all values)':<36}{r.responses_per_s:>10.2f}",
        f"{'(text, value) pairs/s':<36}{r.pairs_per_s:>10.1f}",
        f"{'responses/s (one value)':<36}{r.responses_per_s_one_value:>10.2f}",
        f"{'latency p50 / p95, one response (s)':<36}{r.latency_p50_s:>10.3f} / {r.latency_p95_s:.3f}",
        f"{'cold start (load) / first response (s)':<36}{r.cold_start_s:>10.3f} / {r.first_response_s:.3f}",
        f"{'peak RSS (MiB)':<36}{r.peak_rss_mib:>10.0f}",
        f"{'prompt tokens/s':<36}{r.tokens_per_s:>10.0f}",
    ]
    if r.prefill_gflops and r.transformer_params:
        lines.append(f"{'prefill GFLOP/s (2 x params x tok/s)':<36}{r.prefill_gflops:>10.1f}"
                     f"  ({r.transformer_params / 1e6:.0f}M transformer params)")
    lines.append(f"{'numpy fp32 matmul peak GFLOP/s':<36}{r.matmul_peak_gflops:>10.1f}")
    lp = r.low_precision
    if lp.bf16_gflops:
        lines.append(f"{'torch bf16 matmul peak GFLOP/s':<36}{lp.bf16_gflops:>10.1f}")
    if lp.int8_gops:
        lines.append(f"{'torch int8 matmul peak GOP/s':<36}{lp.int8_gops:>10.1f}")
    if lp.skipped:
        lines.append(f"bf16/int8 peaks: {lp.skipped}")
    if r.best_peak_fraction is not None:
        lines.append(f"{'prefill / best peak (' + r.best_peak[0] + ')':<36}{r.best_peak_fraction:>10.2f}")
    ref = r.reference
    if ref.skipped is None:
        lines.append(f"{'naive reference responses/s':<36}{ref.responses_per_s:>10.3f}  (transformers fp32, "
                     f"one prompt per (text, value), {ref.texts} texts)")
    else:
        lines.append(f"naive reference: skipped ({ref.skipped})")
    lines += ["", f"{'goal':<38}{'measured':>12}{'target':>10}  met"]
    for g in goals(r):
        value = "n/a" if g.value is None else f"{g.value:.3g}{g.unit}"
        sign = ">=" if g.higher_is_better else "<="
        met = {True: "yes", False: "NO", None: "-"}[g.met]
        lines.append(f"{g.name:<38}{value:>12}{sign + format(g.goal, 'g') + g.unit:>10}  {met}")
    return "\n".join(lines)
