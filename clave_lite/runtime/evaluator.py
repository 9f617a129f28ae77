"""One evaluator, whatever its file format: load it, score texts on values.

>>> ev = Evaluator.load("evaluator.gguf")                       # doctest: +SKIP
>>> ev.score(["I won't help you hurt anyone."], values=["Security"])  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from clave_lite.core.labels import LABELS
from clave_lite.core.prior import parse_prevalence
from clave_lite.core.prior import shift as shift_prior
from clave_lite.core.prompt import MAX_WINDOWS, EncodedText, PromptEncoder, with_prompt
from clave_lite.core.valuesystem import Value, ValueSystem
from clave_lite.errors import DataError, ModelError
from clave_lite.formats.lexical import pool
from clave_lite.formats.manifest import Manifest, read_gguf_manifest
from clave_lite.runtime.backends.base import Backend, Generates, TokenLogits

BATCH_SIZE = 8
"""Texts per decode unless a caller says otherwise."""
BACKENDS = ("auto", "gguf", "onnx", "torch")
"""``auto`` picks by the path: an ONNX evaluator directory (or its ``model.onnx``) → onnx, else gguf."""


def resolve_backend(path: Path, backend: str = "auto") -> str:
    """The one place a ``backend=`` choice meets a path: ``gguf``, ``onnx`` or ``torch``."""
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend '{backend}'; choose from {', '.join(BACKENDS)}")
    is_onnx = path.is_dir() or path.suffix == ".onnx"
    if backend == "auto":
        return "onnx" if is_onnx else "gguf"
    if (backend == "onnx") != is_onnx:
        want = "an ONNX evaluator directory" if backend == "onnx" else "a .gguf evaluator file"
        raise ModelError(f"{path}: backend '{backend}' needs {want}")
    return backend


_STRENGTH = {"opposes": 2, "supports": 1, "unrelated": 0}
"""Which window's verdict a long text gets per value (:meth:`Evaluator.pick_windows`)."""


@dataclass(frozen=True)
class ValueScore:
    value: str
    label: str
    probs: dict[str, float]
    """The verdict's probabilities: of the hybrid layer where the evaluator has one."""
    parts: dict[str, dict[str, float]] | None = None
    """Where the verdict is the hybrid's: the probabilities of its two halves, ``evaluator`` and
    ``lexical`` (what ``eval`` reports as components)."""


@dataclass(frozen=True)
class TextScore:
    scores: list[ValueScore]
    truncated_tokens: int = 0
    """Tokens of the text no window read (0: all of it was read)."""

    def __getitem__(self, value: str) -> ValueScore:
        """The score of one value, by name (any case): ``result["Benevolence"].label``."""
        for s in self.scores:
            if s.value.casefold() == value.casefold():
                return s
        raise KeyError(f"{value!r} was not scored (scored: {', '.join(s.value for s in self.scores)})")

    @property
    def truncated(self) -> bool:
        return self.truncated_tokens > 0

    def to_dict(self) -> dict:
        out = {s.value: {"label": s.label, **{f"p_{k}": round(v, 6) for k, v in s.probs.items()}}
               for s in self.scores}
        return out


def system_name(system: str | None) -> str | None:
    """A value-system argument as the name evaluators know it: a YAML/JSON file given where a
    name is expected (``--system my.yaml``) is read for its ``name``."""
    if system is None:
        return None
    if system.endswith((".yaml", ".yml", ".json")) and Path(system).is_file():
        from clave_lite.core.valuesystem import load_system

        return load_system(system).name
    return system


def decide(logits: np.ndarray, allowed: Sequence[str], bias: Sequence[float],
           temperature: float = 1.0) -> tuple[str, dict[str, float]]:
    """Softmax over the system's labels only (a binary system never says 'opposes'), of the
    biased logits divided by the system's temperature."""
    mask = np.array([lab in allowed for lab in LABELS])
    z = np.where(mask, (logits + np.asarray(bias)) / temperature, -np.inf)
    z = z - z[mask].max()
    p = np.where(mask, np.exp(z), 0.0)
    p = p / p.sum()
    return LABELS[int(np.argmax(p))], {lab: float(p[i]) for i, lab in enumerate(LABELS)}


class Evaluator:
    """A loaded evaluator: manifest (systems, template, labels) + a backend that runs it."""

    def __init__(self, manifest: Manifest, backend: Backend, max_windows: int = MAX_WINDOWS) -> None:
        self.manifest = manifest
        self.backend = backend
        self.hybrid = True
        """Pool the evaluator's probabilities with the lexical layer it carries (if any); False:
        the evaluator's own verdicts."""
        self.prevalence: str | None = None
        """The share of related (supports/opposes) pairs in the corpus being scored (``"0.1"``, or a
        default and per-value shares, ``"0.1,Freedom=0.02"``): decisions move from the share the
        evaluator's decisions assume toward it (:mod:`clave_lite.core.prior`); None: as fitted."""
        self.max_windows = max_windows
        """A text longer than one window is read in up to this many windows, and each value's
        verdict is that of the window that speaks most strongly (:func:`pick_windows`); 1: the head
        and tail of the trained budget only, as evaluators are trained."""
        try:
            self.encoder = PromptEncoder(manifest.template, backend.tokenize)
        except ValueError as exc:  # markers that are not control tokens, label words of several tokens
            raise ModelError(f"{backend.path}: its vocabulary does not fit its "
                             f"manifest ({exc})") from None
        self.window_tokens = self.encoder.window_tokens
        """Text tokens per window (default: the template's trained budget)."""
        if self.encoder.label_ids != manifest.label_token_ids:
            raise ModelError("the model's vocabulary does not match its manifest's label tokens")
        self._line_encoders: dict[str | None, PromptEncoder] = {None: self.encoder}
        for name, head in manifest.heads.items():
            if not isinstance(backend, TokenLogits) and (list(head.token_ids) != manifest.label_token_ids
                                                         or head.value_lines != (None,)):
                raise ModelError(f"value system '{name}' is read out by a head over token logits, which the "
                                 f"{backend.name} backend does not return; score it with the .gguf evaluator")

    @property
    def reads_at_most(self) -> tuple[int, int]:
        """(windows, text tokens per window): past ``windows × tokens`` (less the overlaps) a text
        is not read whole, and its unread tokens are reported."""
        if self.max_windows <= 1:
            return 1, self.manifest.template.max_text_tokens
        return self.max_windows, self.window_tokens

    def encode_lines(self, text: str, values: Sequence[Value], lines: Sequence[str | None],
                     max_windows: int | None = None) -> list[EncodedText]:
        """``text`` once per window, then one suffix per (value, line), value-major: what a head
        reads (``None`` = the template's own value line)."""
        for line in lines:
            if line is not None and line not in self._line_encoders:  # None is the template's own line
                self._line_encoders[line] = PromptEncoder(replace(self.manifest.template, value=line),
                                                          self.backend.tokenize)
        suffixes = [self._line_encoders[line].value_suffix(v.name, v.definition) for v in values for line in lines]
        return [EncodedText(w.shared, suffixes, w.truncated_tokens)
                for w in self.encoder.encode_windows(text, [], self.max_windows if max_windows is None
                                                     else max_windows, self.window_tokens)]

    @classmethod
    def load(cls, path: str | Path, backend: str = "auto", threads: int | None = None,
             n_gpu_layers: int = 0, provider: str = "cpu") -> "Evaluator":
        """A ``.gguf`` file (llama.cpp, or ``backend="torch"`` for the fp32 reference) or an ONNX
        evaluator directory (onnxruntime), scored on ``threads`` CPU threads (None: the CPUs this
        process may use). The embedded default evaluator (built on first use):
        :func:`clave_lite.load_evaluator` with no path."""
        if path is None:
            raise ModelError("Evaluator.load needs a path; clave_lite.load_evaluator() loads the embedded default")
        path = Path(path)
        kind = resolve_backend(path, backend)
        if kind == "onnx":
            return cls._load_onnx(path if path.is_dir() else path.parent, threads, provider)
        manifest = read_gguf_manifest(path)
        if kind == "gguf":
            from clave_lite.runtime.backends.gguf import GGUFBackend

            return cls(manifest, GGUFBackend(path, manifest.label_token_ids, threads, n_gpu_layers))
        from clave_lite.errors import require

        require("torch", "bake")
        from clave_lite.export.reference import (
            TorchBackend,  # bake extra: the fp32 reference
        )

        return cls(manifest, TorchBackend(path, manifest.label_token_ids, threads))

    @classmethod
    def _load_onnx(cls, directory: Path, threads: int | None, provider: str) -> "Evaluator":
        from clave_lite.runtime.backends.onnx import ONNXBackend

        for needed in ("model.onnx", "manifest.json", "vocab.gguf"):
            if not (directory / needed).exists():
                raise ModelError(f"{directory}: not an ONNX evaluator directory (no {needed})")
        try:
            text = (directory / "manifest.json").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"{directory / 'manifest.json'}: cannot read it ({exc})") from exc
        manifest = Manifest.from_json(text, str(directory / "manifest.json"))
        return cls(manifest, ONNXBackend(directory, threads, provider))

    def resolve_values(self, system: str | None = None, values: Iterable[str] | None = None) -> tuple[ValueSystem, list[Value]]:
        """The system (a name, or a value-system file whose name the evaluator carries) and the
        chosen values; unknown names raise :class:`UnknownNameError` (a usage error)."""
        sys_, chosen, _ = self._resolve(system, values)
        return sys_, chosen

    def _resolve(self, system: str | None, values: Iterable[str] | None
                 ) -> tuple[ValueSystem, list[Value], dict[str, tuple[float, float]] | None]:
        """:meth:`resolve_values` and the chosen values' :meth:`corpus_priors`, each parsed once."""
        from clave_lite.errors import UnknownNameError

        try:
            sys_ = self.manifest.system(system_name(system))
        except ModelError as exc:
            raise UnknownNameError(str(exc)) from None
        if isinstance(values, str):
            values = [v.strip() for v in values.split(",")]
        try:
            chosen = sys_.select(values) if values else list(sys_.values)
        except DataError as exc:
            raise UnknownNameError(str(exc)) from None
        if not chosen:
            raise DataError("no values to score")
        if self.hybrid:
            self.manifest.lexical_layer(sys_.name)  # parsed now: a damaged layer fails before the first text
        # a bad --prevalence, or one this evaluator cannot apply, fails now
        return sys_, chosen, self.corpus_priors(sys_, chosen)

    def corpus_priors(self, system: ValueSystem, chosen: Sequence[Value]) -> dict[str, tuple[float, float]] | None:
        """Per chosen value, (the related share its decisions assume, the corpus's), or None
        without :attr:`prevalence`."""
        if self.prevalence is None:
            return None
        from clave_lite.errors import UsageError

        shares = parse_prevalence(self.prevalence, system.value_names)
        assumed = {v.name: self.manifest.decision_prior(system.name, v.name) for v in chosen}
        unknown = [name for name, share in assumed.items() if share is None]
        if unknown:
            raise UsageError(f"this evaluator does not record the related share its '{system.name}' decisions assume "
                             f"(for {', '.join(unknown[:3])}), so a corpus prevalence cannot be applied to them; "
                             "export or adapt it again with this clave-lite, which records it")
        return {name: (float(share), shares[name]) for name, share in assumed.items() if share is not None}

    def score(self, texts: Sequence[str], values: Iterable[str] | None = None, system: str | None = None,
              batch_size: int = BATCH_SIZE, prompt: str | Sequence[str | None] | None = None) -> list[TextScore]:
        """Label every text on every chosen value (default: all values of the system). A single
        string is one text, not a sequence of characters. ``prompt``: the user turn the texts
        answer (one for all, or one per text, None where there is none); each answer is then
        judged in its dialogue, exactly as the CLI, the server and Parquet do
        (:func:`~clave_lite.core.prompt.with_prompt`)."""
        if isinstance(texts, str):
            texts = [texts]
        if prompt is not None:
            prompts = [prompt] * len(texts) if isinstance(prompt, str) else list(prompt)
            if len(prompts) != len(texts):
                raise DataError(f"{len(prompts)} prompts for {len(texts)} texts")
            texts = [with_prompt(t, p) for t, p in zip(texts, prompts)]
        return list(self.iter_scores(texts, values, system, batch_size))

    def iter_scores(self, texts: Sequence[str], values: Iterable[str] | None = None, system: str | None = None,
                    batch_size: int = BATCH_SIZE) -> Iterator[TextScore]:
        if isinstance(texts, str):
            texts = [texts]
        sys_, chosen, priors = self._resolve(system, values)
        lexical = self.manifest.lexical_layer(sys_.name) if self.hybrid else None
        names = [v.name for v in chosen]
        for text, (unread, logits) in zip(texts, self._logits(texts, chosen, batch_size, sys_)):
            p_lexical = lexical.probs(text, names) if lexical is not None else None
            scores = []
            for k, (v, row) in enumerate(zip(chosen, logits)):
                label, probs = decide(row, sys_.labels, self.manifest.bias(sys_.name, v.name),
                                      self.manifest.temperature(sys_.name))
                p, parts = np.array([probs[lab] for lab in LABELS]), None
                if lexical is not None and p_lexical is not None and not np.isnan(p_lexical[k]).any():
                    p = pool(p, p_lexical[k], lexical.pool_weight, sys_.labels, lexical.pool_temperature)
                    parts = {"evaluator": probs,
                             "lexical": {lab: float(p_lexical[k, i]) for i, lab in enumerate(LABELS)}}
                if priors is not None:
                    p = shift_prior(p, sys_.labels, *priors[v.name])
                if parts is None and priors is None:  # the evaluator alone, as fitted
                    scores.append(ValueScore(v.name, label, probs))
                    continue
                scores.append(ValueScore(v.name, LABELS[int(np.argmax(p))],
                                         {lab: float(p[i]) for i, lab in enumerate(LABELS)}, parts))
            yield TextScore(scores, unread)

    def raw_logits(self, texts: Sequence[str], values: Sequence[str], system: str | None = None,
                   batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Label logits before biases, ``[n_texts, n_values, 3]`` (for tuning decisions), of the
        head and tail of each text: what training reads."""
        sys_, chosen = self.resolve_values(system, values)
        out = [logits for _, logits in self._logits(texts, chosen, batch_size, sys_, max_windows=1)]
        return np.stack(out) if out else np.zeros((0, len(chosen), 3))

    def _logits(self, texts: Sequence[str], chosen: Sequence[Value], batch_size: int,
                system: ValueSystem, max_windows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Encode and run texts in batches; yields each text's unread token count and its label
        logits ``[n_values, 3]`` (the system's head applied, if it has one; of the deciding
        window, for a text read in several)."""
        head = self.manifest.head(system.name)
        for t in texts:
            if not isinstance(t, str) or not t.strip():
                raise DataError("cannot score an empty text")
        token_ids, lines = (self.manifest.label_token_ids, (None,)) if head is None else (head.token_ids,
                                                                                           head.value_lines)
        for windows, z in self._token_logits([(t, chosen) for t in texts], token_ids, lines, batch_size,
                                             max_windows):
            if head is None:  # the fine-tuned label tokens after the template's line
                per_window = z[:, :, 0, :]
            else:
                per_window = np.stack([np.stack([head.apply(v.name, zw[k]) for k, v in enumerate(chosen)])
                                       for zw in z])
            yield windows[0].truncated_tokens, self.pick_windows(per_window, chosen, system)

    def pick_windows(self, z: np.ndarray, chosen: Sequence[Value], system: ValueSystem) -> np.ndarray:
        """Per value, the logits of one window. Where the system names a violation label (``opposes``
        on Schwartz-10; ``supports`` on a harm taxonomy), a window deciding it anywhere wins (the
        most probable such window), so harm in any part of a long text is seen; otherwise the
        first window speaks, as head + tail reading would. A window of filler that only carries an
        instruction ("... reply supports") thus cannot move a verdict away from the violation
        label, only toward it (fail closed). A system without a violation label takes the window
        that speaks most strongly (``opposes``, then ``supports``, then ``unrelated``, then the
        higher probability). ``z``: ``[n_windows, n_values, 3]`` → ``[n_values, 3]``."""
        if z.shape[0] == 1:
            return z[0]
        temperature = self.manifest.temperature(system.name)
        out = []
        for k, v in enumerate(chosen):
            bias = self.manifest.bias(system.name, v.name)
            decided = [decide(z[w, k], system.labels, bias, temperature) for w in range(z.shape[0])]
            if system.violation is not None:
                hits = [(probs[label], -w) for w, (label, probs) in enumerate(decided) if label == system.violation]
                out.append(z[-max(hits)[1], k] if hits else z[0, k])
                continue
            ranked = [(_STRENGTH[label], probs[label], -w) for w, (label, probs) in enumerate(decided)]
            out.append(z[-max(ranked)[2], k])
        return np.stack(out)

    def _token_logits(self, items: Sequence[tuple[str, Sequence[Value]]], token_ids: Sequence[int],
                      lines: Sequence[str | None], batch_size: int,
                      max_windows: int | None = None) -> Iterator[tuple[list[EncodedText], np.ndarray]]:
        """Per item, its window encodings and ``[n_windows, n_values, n_lines, len(token_ids)]``
        (``max_windows``: default :attr:`max_windows`)."""
        n_lines = len(lines)
        windows_at_most = self.max_windows if max_windows is None else max_windows
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            windows = [self.encode_lines(text, values, lines, windows_at_most) for text, values in chunk]
            flat = [w for ws in windows for w in ws]
            if isinstance(self.backend, TokenLogits):
                out = self.backend.token_logits(flat, token_ids)
            else:  # the label tokens only (a head over others is refused at load)
                out = self.backend.label_logits(flat)
            at = 0
            for ws, (_, values) in zip(windows, chunk):
                z = np.stack([out[at + i].reshape(len(values), n_lines, -1) for i in range(len(ws))])
                at += len(ws)
                yield ws, z

    def token_logits(self, items: Sequence[tuple[str, Sequence[Value]]], token_ids: Sequence[int],
                     lines: Sequence[str | None] = (None,), batch_size: int = BATCH_SIZE) -> Iterator[np.ndarray]:
        """Per ``(text, values)``, the logits of ``token_ids`` after each value line at each
        value's verdict position: ``[n_values, n_lines, len(token_ids)]``. What ``clave-lite
        adapt`` fits a head on."""
        if not isinstance(self.backend, TokenLogits):
            raise ModelError(f"the {self.backend.name} backend returns label logits only; adapt a .gguf evaluator")
        for _, z in self._token_logits(items, token_ids, lines, batch_size, max_windows=1):
            yield z[0]  # adapt fits on what training reads: the head and tail

    @property
    def explains(self) -> bool:
        """Trained with value concepts (``clave-lite train --concepts``), so it can say why."""
        return bool(self.manifest.training.get("data", {}).get("concepts"))

    def require_explanations(self) -> None:
        """Refuse before any work when this evaluator cannot explain."""
        if not isinstance(self.backend, Generates):
            raise ModelError(f"explanations need a GGUF evaluator; the {self.backend.name} backend "
                             "returns label logits only")
        if not self.explains:
            raise ModelError("this evaluator was trained without value concepts, so it cannot explain; "
                             "train with `clave-lite train --concepts POOL.jsonl`")

    def explain(self, text: str, decisions: dict[str, str], system: str | None = None,
                max_tokens: int = 32) -> dict[str, str]:
        """The model's own value concept for each ``{value: label}`` decision on ``text``,
        generated offline after ``label`` + the template's ``explain`` words."""
        self.require_explanations()
        if not decisions:
            return {}
        sys_ = self.manifest.system(system_name(system))
        chosen = sys_.select(decisions)
        item = self.encoder.encode(text, [(v.name, v.definition) for v in chosen])
        leads = [self.encoder.explanation_lead(decisions[v.name]) for v in chosen]
        stop = self.backend.tokenize("\n", False)
        backend = self.backend
        assert isinstance(backend, Generates)  # require_explanations() refused the others
        generated = backend.generate(item, leads, max_tokens, stop)
        return {v.name: backend.detokenize(ids).strip() for v, ids in zip(chosen, generated)}

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
