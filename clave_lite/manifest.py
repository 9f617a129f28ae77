"""What makes a GGUF file a clave-lite evaluator: one JSON manifest stored in its metadata.

The manifest carries everything scoring needs besides the weights (value systems with their
definitions, the prompt template, label tokens, decision biases) and everything an auditor
wants (training-data fingerprint, base model card, clave-lite version). A file is checked
with ``gguf``'s pure-Python reader *before* llama.cpp sees it, because llama.cpp aborts the
whole process on some malformed files instead of raising.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clave_lite import LABELS, __version__
from clave_lite.errors import ModelError
from clave_lite.prompt import PromptTemplate
from clave_lite.valuesystem import ValueSystem, parse_system

MANIFEST_KEY = "clave_lite.manifest"
FORMAT_KEY = "clave_lite.format_version"
FORMAT_VERSION = 1


@dataclass
class Manifest:
    systems: list[ValueSystem]
    template: PromptTemplate
    label_token_ids: list[int]
    default_system: str
    biases: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """``biases[system][value]``: added to the label logits before the decision (calibrated
    thresholds); absent means 0."""
    training: dict[str, Any] = field(default_factory=dict)
    base_model: dict[str, Any] = field(default_factory=dict)
    clave_lite_version: str = __version__

    def system(self, name: str | None) -> ValueSystem:
        name = name or self.default_system
        for s in self.systems:
            if s.name == name:
                return s
        raise ModelError(f"this evaluator has no value system '{name}'; it has: "
                         + ", ".join(s.name for s in self.systems))

    def bias(self, system: str, value: str) -> list[float]:
        return self.biases.get(system, {}).get(value, [0.0] * len(LABELS))

    @classmethod
    def from_run(cls, run: dict[str, Any]) -> "Manifest":
        """The manifest of a training run directory's ``run.json``."""
        systems = [parse_system(s, "run.json") for s in run["systems"]]
        return cls(
            systems=systems,
            template=PromptTemplate.from_dict(run["template"]),
            label_token_ids=list(run["label_token_ids"]),
            default_system=systems[0].name,
            biases=run.get("biases") or {},
            training={"data": run["data"],
                      "train": {k: run["train"].get(k) for k in ("steps", "examples", "final_loss", "config")}},
            base_model=run["base_card"],
        )

    def to_json(self) -> str:
        return json.dumps({
            "format_version": FORMAT_VERSION,
            "clave_lite_version": self.clave_lite_version,
            "systems": [s.to_dict() for s in self.systems],
            "default_system": self.default_system,
            "template": self.template.to_dict(),
            "labels": list(LABELS),
            "label_token_ids": self.label_token_ids,
            "biases": self.biases,
            "training": self.training,
            "base_model": self.base_model,
        }, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, where: str) -> "Manifest":
        try:
            data = json.loads(text)
            if data.get("format_version") != FORMAT_VERSION:
                raise ModelError(f"{where}: evaluator format {data.get('format_version')} is not supported by "
                                 f"clave-lite {__version__} (expects {FORMAT_VERSION})")
            if data.get("labels") != list(LABELS):
                raise ModelError(f"{where}: unexpected label set {data.get('labels')}")
            return cls(
                systems=[parse_system(s, f"{where} manifest") for s in data["systems"]],
                template=PromptTemplate.from_dict(data["template"]),
                label_token_ids=[int(i) for i in data["label_token_ids"]],
                default_system=str(data["default_system"]),
                biases=data.get("biases") or {},
                training=data.get("training") or {},
                base_model=data.get("base_model") or {},
                clave_lite_version=str(data.get("clave_lite_version", "?")),
            )
        except ModelError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{where}: damaged clave-lite manifest ({exc})") from exc


def read_gguf_manifest(path: str | Path) -> Manifest:
    """Validate a GGUF evaluator without loading it into llama.cpp, and return its manifest."""
    from clave_lite import ggufio

    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such model file")
    if p.is_dir():
        raise ModelError(f"{p}: is a directory, expected a .gguf file")
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{p}: not a GGUF file (it starts with {magic!r})")
    try:
        rd = ggufio.reader(p)
    except Exception as exc:  # gguf raises assorted errors on damaged files
        raise ModelError(f"{p}: damaged or truncated GGUF ({type(exc).__name__}: {exc})") from exc
    arch = ggufio.architecture(rd)
    if arch not in ggufio.SUPPORTED_ARCHS:
        raise ModelError(f"{p}: architecture '{arch}' is not supported ({', '.join(ggufio.SUPPORTED_ARCHS)})")
    size = p.stat().st_size
    for t in rd.tensors:
        if t.data_offset + t.n_bytes > size:
            raise ModelError(f"{p}: truncated (tensor {t.name} runs past the end of the file)")
    text = ggufio.field_value(rd, MANIFEST_KEY)
    if text is None:
        raise ModelError(f"{p}: a GGUF model, but not a clave-lite evaluator (no {MANIFEST_KEY}); "
                         "build one with `clave-lite export`")
    manifest = Manifest.from_json(str(text), str(p))
    n_vocab = len(ggufio.field_value(rd, "tokenizer.ggml.tokens") or [])
    if any(not 0 <= i < n_vocab for i in manifest.label_token_ids):
        raise ModelError(f"{p}: label token ids outside the vocabulary")
    return manifest
