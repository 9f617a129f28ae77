"""What makes a GGUF file a clave-lite evaluator: one JSON manifest stored in its metadata.

The manifest carries everything scoring needs besides the weights (value systems with their
definitions, the prompt template, label tokens, decision biases) and everything an auditor
wants (training-data fingerprint, base model card, clave-lite version). A file is checked
with ``gguf``'s pure-Python reader *before* llama.cpp sees it, because llama.cpp aborts the
whole process on some malformed files instead of raising.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clave_lite.core.labels import LABELS
from clave_lite.core.prompt import PromptTemplate
from clave_lite.core.valuesystem import ValueSystem, parse_system
from clave_lite.errors import DataError, ModelError
from clave_lite.formats.head import Head
from clave_lite.formats.lexical import LexicalLayers, LexicalModel
from clave_lite.version import __version__

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
    temperatures: dict[str, float] = field(default_factory=dict)
    """``temperatures[system]``: the biased label logits are divided by it before the softmax, so
    probabilities match observed frequencies (fitted at export on held-out texts); absent = 1.
    A temperature never changes a label, only how sure the evaluator says it is."""
    heads: dict[str, Head] = field(default_factory=dict)
    """``heads[system]``: a linear readout fitted by ``clave-lite adapt`` (:mod:`clave_lite.formats.head`);
    absent = the fine-tuned label tokens."""
    lexical: LexicalLayers = field(default_factory=LexicalLayers)
    """``lexical[system]``: the TF-IDF half of the hybrid decision layer, pooled with the evaluator's
    probabilities (:mod:`clave_lite.formats.lexical`), each system's parsed when it is first asked
    for; absent = the evaluator alone."""
    decision_priors: dict[str, dict[str, float]] = field(default_factory=dict)
    """``decision_priors[system][value]``: the share of related (supports/opposes) pairs the
    decisions assume (:mod:`clave_lite.core.prior`): that of the held-out texts the biases were
    tuned on, or of balanced labels for a system trained with balanced class weights and never
    tuned. ``score --prevalence`` moves decisions from it to the corpus's share; absent = unknown,
    and ``--prevalence`` is refused for that system."""
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

    def temperature(self, system: str) -> float:
        return float(self.temperatures.get(system, 1.0))

    def decision_prior(self, system: str, value: str) -> float | None:
        return self.decision_priors.get(system, {}).get(value)

    def head(self, system: str) -> Head | None:
        return self.heads.get(system)

    def lexical_layer(self, system: str) -> LexicalModel | None:
        """``system``'s lexical layer (parsed on this first call), or None."""
        return self.lexical.get(system)

    @classmethod
    def from_run(cls, run: dict[str, Any], lexical: dict[str, Any] | None = None) -> "Manifest":
        """The manifest of a training run directory's ``run.json`` (and its ``lexical.json``, the
        fitted lexical layers by system, if any)."""
        systems = [parse_system(s, "run.json") for s in run["systems"]]
        return cls(
            systems=systems,
            template=PromptTemplate.from_dict(run["template"]),
            label_token_ids=list(run["label_token_ids"]),
            default_system=systems[0].name,
            biases=run.get("biases") or {},
            temperatures=run.get("temperatures") or {},
            decision_priors=run.get("decision_priors") or {},
            lexical=LexicalLayers(stored=lexical or {}, where="lexical.json"),
            training={"data": run["data"], "chain": run.get("chain") or [],
                      "train": {k: run["train"].get(k) for k in ("steps", "examples", "final_loss", "config", "seconds",
                                                               "seconds_per_pair", "pairs_trained_this_run")}},
            base_model=run["base_card"],
        )

    def to_json(self) -> str:
        data = {
            "format_version": FORMAT_VERSION,
            "clave_lite_version": self.clave_lite_version,
            "systems": [s.to_dict() for s in self.systems],
            "default_system": self.default_system,
            "template": self.template.to_dict(),
            "labels": list(LABELS),
            "label_token_ids": self.label_token_ids,
            "biases": self.biases,
            "temperatures": self.temperatures,
            "training": self.training,
            "base_model": self.base_model,
        }
        if self.decision_priors:  # older readers never see the key
            data["decision_priors"] = self.decision_priors
        if self.heads:  # only adapted evaluators carry heads; older readers never see the key
            data["heads"] = {name: h.to_dict() for name, h in self.heads.items()}
        if self.lexical:
            data["lexical"] = {name: self.lexical.stored(name) for name in self.lexical}
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, where: str) -> "Manifest":
        try:
            data = json.loads(text)
            if data.get("format_version") != FORMAT_VERSION:
                raise ModelError(f"{where}: evaluator format {data.get('format_version')} is not supported by "
                                 f"clave-lite {__version__} (expects {FORMAT_VERSION})")
            if data.get("labels") != list(LABELS):
                raise ModelError(f"{where}: unexpected label set {data.get('labels')}")
            manifest = cls(
                systems=[parse_system(s, f"{where} manifest") for s in data["systems"]],
                template=PromptTemplate.from_dict(data["template"]),
                label_token_ids=[int(i) for i in data["label_token_ids"]],
                default_system=str(data["default_system"]),
                biases=data.get("biases") or {},
                temperatures=data.get("temperatures") or {},
                decision_priors=data.get("decision_priors") or {},
                heads={str(k): Head.from_dict(v, where) for k, v in (data.get("heads") or {}).items()},
                lexical=LexicalLayers(stored=data.get("lexical") or {}, where=where),
                training=data.get("training") or {},
                base_model=data.get("base_model") or {},
                clave_lite_version=str(data.get("clave_lite_version", "?")),
            )
            _check(manifest, where)
            return manifest
        except ModelError:
            raise
        except RecursionError:  # JSON nested thousands deep
            raise ModelError(f"{where}: damaged clave-lite manifest (nested too deeply)") from None
        except (ValueError, KeyError, TypeError, AttributeError, DataError) as exc:  # DataError: its value systems
            raise ModelError(f"{where}: damaged clave-lite manifest ({exc})") from exc


def _check(m: Manifest, where: str) -> None:
    """What scoring relies on, checked at load time so a bad manifest never fails mid-run."""
    from clave_lite.core.prompt import TEMPLATES

    t = m.template
    newest = max(x.version for x in TEMPLATES.values())
    if not isinstance(t.version, int) or not 1 <= t.version <= newest:
        raise ModelError(f"{where}: prompt template version {t.version!r} is not supported by clave-lite "
                         f"{__version__} (it knows 1 to {newest}; a newer clave-lite wrote this evaluator?)")
    if not all(isinstance(x, str) for x in (t.prefix, t.after_text, t.value, t.open_marker, t.close_marker)) \
            or not isinstance(t.escape, bool):
        raise ModelError(f"{where}: damaged clave-lite manifest (prompt template fields of the wrong type)")
    if not isinstance(t.max_text_tokens, int) or isinstance(t.max_text_tokens, bool) or t.max_text_tokens < 3:
        raise ModelError(f"{where}: damaged clave-lite manifest (max_text_tokens {t.max_text_tokens!r})")
    if not isinstance(t.label_words, dict) or sorted(t.label_words) != sorted(LABELS) \
            or not all(isinstance(w, str) for w in t.label_words.values()):
        raise ModelError(f"{where}: damaged clave-lite manifest (label words {t.label_words!r})")
    if len(m.label_token_ids) != len(LABELS):
        raise ModelError(f"{where}: damaged clave-lite manifest ({len(m.label_token_ids)} label token ids)")
    names = {s.name for s in m.systems}
    if m.default_system not in names:
        raise ModelError(f"{where}: damaged clave-lite manifest (default system '{m.default_system}' is not in it)")
    outline = m.lexical.outline
    covered = {"head": {k: set(h.weights) for k, h in m.heads.items()},
               "lexical layer": {k: set(outline(k)) for k in m.lexical}}
    for what, per_system in covered.items():  # a per-system part covers exactly its system's values
        unknown = sorted(set(per_system) - names)
        if unknown:
            raise ModelError(f"{where}: damaged clave-lite manifest (a {what} for unknown system '{unknown[0]}')")
        for s in m.systems:
            if s.name in per_system and per_system[s.name] != set(s.value_names):
                raise ModelError(f"{where}: damaged clave-lite manifest (the {what} of '{s.name}' does not cover "
                                 "exactly its values)")
    for s in m.systems:
        if s.name in m.lexical and any(c not in s.labels for classes in outline(s.name).values() for c in classes):
            raise ModelError(f"{where}: damaged clave-lite manifest (the lexical layer of '{s.name}' has labels "
                             "its system does not)")
    if not isinstance(m.biases, dict):
        raise ModelError(f"{where}: damaged clave-lite manifest (biases)")
    if not isinstance(m.temperatures, dict) or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and 0.05 <= t <= 20
            for t in m.temperatures.values()):
        raise ModelError(f"{where}: damaged clave-lite manifest (temperatures {m.temperatures!r})")
    if not isinstance(m.decision_priors, dict) or not all(
            isinstance(per_value, dict) and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < 1
                                                for x in per_value.values())
            for per_value in m.decision_priors.values()):
        raise ModelError(f"{where}: damaged clave-lite manifest (decision priors)")
    if set(m.decision_priors) - names:
        raise ModelError(f"{where}: damaged clave-lite manifest (decision priors for a system it does not have)")
    for system, per_value in m.biases.items():
        if not isinstance(per_value, dict):
            raise ModelError(f"{where}: damaged clave-lite manifest (biases of '{system}')")
        for value, bias in per_value.items():
            if not (isinstance(bias, list) and len(bias) == len(LABELS)
                    and all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b)
                            for b in bias)):
                raise ModelError(f"{where}: damaged clave-lite manifest (bias of '{system}'/'{value}': {bias!r})")


def read_gguf_manifest(path: str | Path) -> Manifest:
    """Validate a GGUF evaluator without loading it into llama.cpp (a bad file makes llama.cpp
    abort the process), and return its manifest."""
    p = Path(path)
    header = checked_header(p)
    text = header.get(MANIFEST_KEY)
    if text is None:
        raise ModelError(f"{p}: a GGUF model, but not a clave-lite evaluator (no {MANIFEST_KEY}); "
                         "build one with `clave-lite export`")
    manifest = Manifest.from_json(str(text), str(p))
    check_vocabulary(header, manifest, p)
    return manifest


def check_vocabulary(header, manifest: Manifest, p: Path) -> None:
    """The token ids the manifest reads exist in the file's vocabulary."""
    n_vocab = header.array_length("tokenizer.ggml.tokens")
    if any(not 0 <= i < n_vocab for i in manifest.label_token_ids):
        raise ModelError(f"{p}: label token ids outside the vocabulary")
    if any(not 0 <= i < n_vocab for h in manifest.heads.values() for i in h.token_ids):
        raise ModelError(f"{p}: a head reads token ids outside the vocabulary")


def checked_header(p: Path):
    """The header of a GGUF file llama.cpp may be given (an evaluator, or an ONNX evaluator's
    ``vocab.gguf``): magic, structure, architecture, and a vocabulary llama.cpp loads without
    aborting the process (an empty token list trips an assertion in it)."""
    from clave_lite.formats.gguf_header import SUPPORTED_ARCHS, HeaderError, read_header

    if not p.exists():
        raise ModelError(f"{p}: no such model file")
    if p.is_dir():
        raise ModelError(f"{p}: is a directory, expected a .gguf file")
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{p}: not a GGUF file (it starts with {magic!r})")
    try:
        header = read_header(p)
    except HeaderError as exc:
        raise ModelError(f"{p}: damaged or truncated GGUF ({exc})") from exc
    except OSError as exc:
        raise ModelError(f"{p}: cannot read it ({exc.strerror})") from exc
    arch = str(header.get("general.architecture"))
    if arch not in SUPPORTED_ARCHS:
        raise ModelError(f"{p}: architecture '{arch}' is not supported ({', '.join(SUPPORTED_ARCHS)})")
    n_vocab = header.array_length("tokenizer.ggml.tokens")
    if n_vocab == 0:
        raise ModelError(f"{p}: no tokenizer vocabulary (tokenizer.ggml.tokens is missing or empty)")
    for key in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"):
        token = header.get(key)
        if token is not None and not (isinstance(token, int) and not isinstance(token, bool) and 0 <= token < n_vocab):
            raise ModelError(f"{p}: {key} {token!r} is outside the vocabulary")
    return header
