"""The features ``adapt`` reads, kept on disk: an interrupted run resumes, a second run is free.

Reading the labelled texts is nearly all of ``adapt``'s time (an hour for 2,000 Touché arguments on
2 cores); fitting the readouts takes seconds to minutes. So every few batches the features read so
far are written to a chunk file, and a run that finds chunks for the same reading (same weights,
template, value line and read tokens) reads only the texts that are missing. Another ``--seed``,
``--folds`` or ``--readout``, or the same labels adapted from a copy of the evaluator that carries
other heads (its weights are the same bytes), costs no reading at all.

A reading is keyed by a digest of the evaluator's tensor data (not its manifest, which ``adapt``
rewrites) and of everything that shapes the prompt; a text by a digest of the text and the names
and definitions of its values. Each chunk is written to a temporary name and renamed, so a crash
leaves whole chunks only. Deleting the directory costs only reading time.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from clave_lite.core.valuesystem import Value

CHUNK_TEXTS = 128
"""Texts per chunk file: at most this many texts' reading is lost to a crash."""


def weights_digest(gguf_path: str | Path, block: int = 1 << 24) -> str:
    """sha256 of a GGUF's tensor data (from the data offset to the end of the file)."""
    from clave_lite.formats.gguf_header import read_header

    start = read_header(gguf_path).data_start
    h = hashlib.sha256()
    with open(gguf_path, "rb") as fh:
        fh.seek(start)
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def reading_key(weights: str, template: dict, line: str | None, token_ids: Sequence[int]) -> str:
    """What makes two readings of the same text after one value line the same numbers (``line``:
    the value line's format, ``None`` for the template's own). One directory per line, so a run
    with fewer lines reuses what a run with more has read."""
    blob = json.dumps({"weights": weights, "template": template, "line": line,
                       "token_ids": [int(i) for i in token_ids]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def text_key(text: str, values: Iterable[Value]) -> str:
    blob = json.dumps([text, [[v.name, v.definition] for v in values]])
    return hashlib.sha256(blob.encode()).hexdigest()


class FeatureCache:
    """Chunk files of ``{text key: features}`` in one directory per reading."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._written = 0

    def load(self) -> dict[str, np.ndarray]:
        """Every text read so far. A chunk that cannot be read (a disk filled mid-write before the
        rename existed, a foreign file) is skipped: its texts are read again."""
        found: dict[str, np.ndarray] = {}
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("chunk-*.npz")):
            try:
                with np.load(path, allow_pickle=False) as z:
                    keys = [str(k) for k in z["keys"]]
                    arrays = [z[f"f{i}"] for i in range(len(keys))]
            except (OSError, ValueError, KeyError):
                continue
            found.update(zip(keys, arrays))
        return found

    def write(self, rows: dict[str, np.ndarray]) -> None:
        """One chunk, atomically (temporary name, then rename); named by process and time, so two
        runs filling the same directory never overwrite each other's chunks."""
        if not rows:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"chunk-{time.time_ns()}-{os.getpid()}-{self._written}.npz"
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as fh:
            # Any: numpy's stub would match a str-keyed dict of arrays against savez(allow_pickle: bool)
            arrays: dict[str, Any] = {f"f{i}": a for i, a in enumerate(rows.values())}
            np.savez(fh, keys=np.array(list(rows)), **arrays)
        tmp.replace(path)
        self._written += 1
