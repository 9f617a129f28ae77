"""onnxruntime backend: the exported label-logits graph, fed the same block-masked arrays as
the torch reference. Imports neither torch nor transformers; tokenization uses the evaluator's
``vocab.gguf`` through llama.cpp, so token ids equal the GGUF backend's."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from clave_lite.core.blockmask import pack
from clave_lite.core.prompt import EncodedText
from clave_lite.errors import ModelError, require
from clave_lite.formats.manifest import checked_header
from clave_lite.runtime.llamacpp import LlamaModel, usable_cpus

INPUT_NAMES = ("input_ids", "position_ids", "attention_mask", "read_rows", "read_cols")
INPUT_TYPES = ("tensor(int64)", "tensor(int64)", "tensor(float)", "tensor(int64)", "tensor(int64)")
"""What :func:`clave_lite.core.blockmask.pack` feeds each input."""
OUTPUT_NAME = "label_logits"
"""The graph ``clave-lite export --format onnx`` writes (clave_lite/export/onnx_export.py)."""


class ONNXBackend:
    name = "onnx"

    def __init__(self, directory: str | Path, threads: int | None = None, provider: str = "cpu",
                 tokens_per_run: int = 4096) -> None:
        ort = require("onnxruntime", "onnx")
        self.path = Path(directory)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or usable_cpus()
        options.inter_op_num_threads = 1
        providers = {"cpu": ["CPUExecutionProvider"],
                     "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}.get(provider)
        if providers is None:
            raise ModelError(f"unknown provider '{provider}' (cpu, cuda)")
        available = ort.get_available_providers()
        if providers[0] not in available:
            raise ModelError(f"onnxruntime provider {providers[0]} is not available here ({', '.join(available)})")
        try:
            self.session = ort.InferenceSession(str(self.path / "model.onnx"), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
            raise ModelError(f"{self.path / 'model.onnx'}: onnxruntime cannot load it ({exc})") from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if self.input_names != list(INPUT_NAMES) or outputs[:1] != [OUTPUT_NAME]:
            raise ModelError(f"{self.path / 'model.onnx'}: an ONNX model, but not a clave-lite evaluator graph "
                             f"(inputs {self.input_names}, outputs {outputs}; expected inputs {list(INPUT_NAMES)} "
                             f"and output {OUTPUT_NAME!r})")
        types = [i.type for i in self.session.get_inputs()]
        if types != list(INPUT_TYPES):
            raise ModelError(f"{self.path / 'model.onnx'}: the graph's inputs have types {types}; a clave-lite "
                             f"evaluator graph takes {list(INPUT_TYPES)}")
        checked_header(self.path / "vocab.gguf")  # llama.cpp aborts the process on some bad vocabularies
        self.vocab = LlamaModel(self.path / "vocab.gguf", vocab_only=True)
        self.tokens_per_run = tokens_per_run

    def tokenize(self, text: str, add_bos: bool, special: bool = False) -> list[int]:
        return self.vocab.tokenize(text, add_bos, special)

    def label_logits(self, items: Sequence[EncodedText]) -> list[np.ndarray]:
        results: list[np.ndarray] = []
        start = 0
        while start < len(items):  # batches padded to their longest item, under a token budget
            end, longest = start, 0
            while end < len(items):
                longest = max(longest, items[end].n_tokens)
                if end > start and longest * (end - start + 1) > self.tokens_per_run:
                    break
                end += 1
            chunk = items[start:end]
            arrays = pack([(it.shared, it.suffixes) for it in chunk], 0)
            logits = self.session.run(None, dict(zip(self.input_names, arrays)))[0].astype(np.float64)
            offset = 0
            for it in chunk:
                results.append(logits[offset:offset + len(it.suffixes)])
                offset += len(it.suffixes)
            start = end
        return results

    def close(self) -> None:
        self.vocab.close()
