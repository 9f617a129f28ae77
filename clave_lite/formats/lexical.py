"""The lexical half of the hybrid decision layer: TF-IDF + logistic regression per value, stored in
the evaluator's manifest and pooled with the evaluator's own probabilities.

The evaluator and a bag of words err differently (docs/accuracy.md): the small LM reads meaning
and context, TF-IDF reads which words a value's labels come with. Their probabilities are pooled
as a weighted geometric mean, ``p ∝ p_evaluator^(1-w) · p_lexical^w``, renormalised over the
system's labels, and the label with the highest pooled probability is the verdict.

The model is fitted at bake time with scikit-learn (:mod:`clave_lite.build.lexical`); scoring
needs only this module and numpy: the analyzer below reproduces scikit-learn's
``TfidfVectorizer(analyzer="word"|"char", ngram_range=(1, 2), sublinear_tf=True)`` on a fixed
vocabulary exactly (a test compares the two), so a scoring install does not pull in
scikit-learn and SciPy (~50 MB) for thirty lines of arithmetic.

Stored per system (``manifest["lexical"][system]``): the analyzer, n-gram range, vocabulary (in
feature order), IDF weights, the pooling weight ``w``, and per value the classes it was fitted
on with their weights (``[n_classes, n_features]``, float16) and intercepts.
"""

from __future__ import annotations

import base64
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from clave_lite.core.labels import LABELS
from clave_lite.errors import ModelError

ANALYZERS = ("word", "char")
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
"""scikit-learn's default ``token_pattern``."""
_WHITESPACE_RUNS = re.compile(r"\s\s+")
"""What scikit-learn's character analyzer folds to one space."""
MAX_CHARS = 200_000
"""A longer text is read by its first and last half of this many characters (its words beyond
would cost memory, ~25 bytes a term, for features a bag of words barely moves)."""
FLOOR = 1e-4
"""A class the lexical model was never shown for a value (no ``opposes`` example) gets this
probability, not 0, so pooling leaves the evaluator able to say it."""


def _pack(a: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def _unpack(text: Any, dtype: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """The array stored as base64 of ``dtype`` (kept in that type: float16 weights stay a quarter
    of float64's memory; arithmetic on them widens the few columns a text touches)."""
    if not isinstance(text, str):
        raise ValueError(f"{what}: not a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        raise ValueError(f"{what}: not base64") from None
    if len(raw) != math.prod(shape) * np.dtype(dtype).itemsize:
        raise ValueError(f"{what}: {len(raw)} bytes for shape {shape} of {dtype}")
    a = np.frombuffer(raw, dtype=dtype)
    a = a.reshape(shape)
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: non-finite numbers")
    return a


@dataclass(frozen=True)
class ValueWeights:
    classes: tuple[str, ...]
    """The labels the regression was fitted on, in row order (two or three of :data:`LABELS`)."""
    weight: np.ndarray
    """``[len(classes), n_features]``: class logits are ``weight @ x + intercept``; for two classes
    scikit-learn's one row ``[1, n_features]``: logits ``[0, weight @ x + intercept]``. Float16 as
    stored when read from an evaluator, float64 as fitted."""
    intercept: np.ndarray

    @property
    def informative(self) -> bool:
        """False for a value fitted on one label only (all zeros: no lexical evidence)."""
        return bool(self.weight.any() or self.intercept.any())

    def logits(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        z = self.weight[:, idx].astype(np.float64) @ x + self.intercept
        return np.concatenate([[0.0], z]) if len(z) < len(self.classes) else z


@dataclass(frozen=True)
class LexicalModel:
    analyzer: str
    ngram_range: tuple[int, int]
    vocabulary: tuple[str, ...]
    idf: np.ndarray
    values: Mapping[str, ValueWeights]
    pool_weight: float = 0.5
    """``w`` in ``p_evaluator^(1-w) · p_lexical^w``: 0.5 is the plain geometric mean."""
    trained_on: Mapping[str, Any] | None = None
    """What it was fitted on (files, texts, tuples): for the auditor."""
    pool_temperature: float = 1.0
    """``T`` in ``(p_evaluator^(1-w) · p_lexical^w)^(1/T)``: fitted (by NLL, on predictions out of
    fold) so the pooled probabilities are calibrated; it never changes which label wins."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {term: i for i, term in enumerate(self.vocabulary)})

    # -- features -------------------------------------------------------------------------------
    def terms(self, text: str) -> list[str]:
        """The n-grams scikit-learn's analyzer yields for ``text`` (lowercased)."""
        lo, hi = self.ngram_range
        if len(text) > MAX_CHARS:
            text = text[: MAX_CHARS // 2] + "\n" + text[-MAX_CHARS // 2:]
        text = text.lower()
        if self.analyzer == "char":
            text = _WHITESPACE_RUNS.sub(" ", text)
            return [text[i:i + n] for n in range(lo, min(hi, len(text)) + 1) for i in range(len(text) - n + 1)]
        tokens = _TOKEN.findall(text)
        return [" ".join(tokens[i:i + n]) for n in range(lo, min(hi, len(tokens)) + 1)
                for i in range(len(tokens) - n + 1)]

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse TF-IDF row of ``text``: (feature indices, l2-normalised weights)."""
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        counts = Counter(index[t] for t in self.terms(text) if t in index)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        x = (np.log(tf) + 1.0) * self.idf[idx]
        return idx, x / np.linalg.norm(x)

    # -- probabilities --------------------------------------------------------------------------
    def probs(self, text: str, values: Sequence[str]) -> np.ndarray:
        """``[len(values), 3]`` probabilities in :data:`LABELS` order; a label the value was not
        fitted on gets :data:`FLOOR`; a value with no lexical evidence (fitted on one label) a row of
        NaN, which :func:`pool` reads as "the evaluator's alone"."""
        idx, x = self.features(text)
        out = np.full((len(values), len(LABELS)), FLOOR)
        for k, value in enumerate(values):
            vw = self.values[value]
            if not vw.informative:
                out[k] = np.nan
                continue
            z = vw.logits(idx, x)
            p = np.exp(z - z.max())
            p /= p.sum()
            for c, label in enumerate(vw.classes):
                out[k, LABELS.index(label)] = max(p[c], FLOOR)
        return out

    def covers(self, values: Sequence[str]) -> bool:
        return all(v in self.values for v in values)

    # -- storage --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "analyzer": self.analyzer, "ngram_range": list(self.ngram_range), "pool_weight": self.pool_weight,
            "vocabulary": list(self.vocabulary), "idf": _pack(self.idf, "<f4"),
            "values": {v: {"classes": list(vw.classes), "weight": _pack(vw.weight, "<f2"),
                           "intercept": [float(f"{b:.7g}") for b in vw.intercept]}
                       for v, vw in self.values.items()},
            "trained_on": dict(self.trained_on or {}),
            **({"pool_temperature": self.pool_temperature} if self.pool_temperature != 1.0 else {}),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "LexicalModel":
        def bad(what: str) -> ModelError:
            return ModelError(f"{where}: damaged clave-lite manifest (lexical layer: {what})")

        if not isinstance(data, dict):
            raise bad("not an object")
        analyzer, ngrams, w = data.get("analyzer"), data.get("ngram_range"), data.get("pool_weight")
        vocab, per_value = data.get("vocabulary"), data.get("values")
        if analyzer not in ANALYZERS:
            raise bad(f"analyzer {analyzer!r}")
        if not (isinstance(ngrams, list) and len(ngrams) == 2 and all(isinstance(n, int) and not isinstance(n, bool)
                                                                      for n in ngrams) and 1 <= ngrams[0] <= ngrams[1] <= 5):
            raise bad(f"n-gram range {ngrams!r}")
        if not (isinstance(w, (int, float)) and not isinstance(w, bool) and 0.0 <= w <= 1.0):
            raise bad(f"pool weight {w!r}")
        t = data.get("pool_temperature", 1.0)
        if not (isinstance(t, (int, float)) and not isinstance(t, bool) and 0.05 <= t <= 20.0):
            raise bad(f"pool temperature {t!r}")
        if not (isinstance(vocab, list) and vocab and all(isinstance(t, str) for t in vocab)):
            raise bad("vocabulary")
        if not (isinstance(per_value, dict) and per_value):
            raise bad("no values")
        n = len(vocab)
        try:
            idf = _unpack(data.get("idf"), "<f4", (n,), "idf")
            values = {}
            for value, vw in per_value.items():
                classes = vw["classes"]
                if not (isinstance(classes, list) and 2 <= len(classes) <= len(LABELS)
                        and len(set(classes)) == len(classes) and all(c in LABELS for c in classes)):
                    raise ValueError(f"'{value}': classes {classes!r}")
                rows = 1 if len(classes) == 2 else len(classes)
                intercept = np.array(vw["intercept"], dtype=np.float64)
                if intercept.shape != (rows,) or not np.isfinite(intercept).all():
                    raise ValueError(f"'{value}': intercept")
                values[str(value)] = ValueWeights(tuple(classes), _unpack(vw["weight"], "<f2", (rows, n),
                                                                          f"'{value}' weight"), intercept)
        except (KeyError, TypeError, ValueError) as exc:  # binascii.Error is a ValueError
            raise bad(str(exc)) from None
        return cls(analyzer, (ngrams[0], ngrams[1]), tuple(vocab), idf, values, float(w),
                   data.get("trained_on") if isinstance(data.get("trained_on"), dict) else None, float(t))


class LexicalLayers(Mapping[str, LexicalModel]):
    """An evaluator's lexical layers by system, each parsed (weights decoded, vocabulary indexed)
    the first time it is asked for: a run that scores one system of three pays the time and memory
    of one. What the manifest check needs (which values, which labels) is read from the stored
    form without decoding; :meth:`clave_lite.runtime.evaluator.Evaluator.resolve_values` asks for
    the layer of the system it resolves, so a damaged one still fails before the first text."""

    def __init__(self, stored: Mapping[str, Any] | None = None, parsed: Mapping[str, LexicalModel] | None = None,
                 where: str = "") -> None:
        self._stored = {str(k): v for k, v in (stored or {}).items()}
        self._parsed = dict(parsed or {})
        self._where = where
        # the structure, now (a manifest that is not a dict of dicts fails at load), read once
        self._outlines = {system: self._outline(system, data) for system, data in self._stored.items()}

    def __getitem__(self, system: str) -> LexicalModel:
        model = self._parsed.get(system)
        if model is None:  # KeyError for a system it has no layer for, as a dict
            model = self._parsed[system] = LexicalModel.from_dict(self._stored[system], self._where)
        return model

    def __contains__(self, system: object) -> bool:  # Mapping's would parse the layer to answer
        return system in self._stored or system in self._parsed

    def __iter__(self) -> Iterator[str]:
        return iter({**self._stored, **self._parsed})

    def __len__(self) -> int:
        return len({**self._stored, **self._parsed})

    def outline(self, system: str) -> dict[str, tuple[str, ...]]:
        """``{value: labels it was fitted on}`` of ``system``'s layer, without decoding it."""
        if system in self._outlines:
            return self._outlines[system]
        return {v: vw.classes for v, vw in self._parsed[system].values.items()}

    def with_layer(self, system: str, model: LexicalModel) -> "LexicalLayers":
        """These layers with ``system``'s replaced by ``model``; the others stay as they are
        (a stored one is not decoded to be written back)."""
        return LexicalLayers({k: v for k, v in self._stored.items() if k != system},
                             {**{k: v for k, v in self._parsed.items() if k != system}, system: model}, self._where)

    def _outline(self, system: str, data: Any) -> dict[str, tuple[str, ...]]:
        per_value = data.get("values") if isinstance(data, dict) else None
        if not isinstance(per_value, dict) or not all(isinstance(vw, dict) and isinstance(vw.get("classes"), list)
                                                      for vw in per_value.values()):
            raise ModelError(f"{self._where}: damaged clave-lite manifest (lexical layer of '{system}': "
                             "values without classes)")
        return {str(v): tuple(vw["classes"]) for v, vw in per_value.items()}

    def stored(self, system: str) -> dict[str, Any]:
        """``system``'s layer as the manifest stores it (as read, if it was never parsed)."""
        return self._stored[system] if system in self._stored else self._parsed[system].to_dict()


def pool(p_evaluator: np.ndarray, p_lexical: np.ndarray, weight: float, allowed: Sequence[str],
         temperature: float = 1.0) -> np.ndarray:
    """Weighted geometric mean of two ``[3]`` distributions in :data:`LABELS` order, tempered by
    ``temperature`` and renormalised over ``allowed`` labels (the system's); a lexical row of NaN
    (no evidence) leaves the evaluator's as it is."""
    mask = np.array([lab in allowed for lab in LABELS])
    if np.isnan(p_lexical).any():
        weight, temperature = 0.0, 1.0
        p_lexical = np.ones(len(LABELS))
    logp = (1.0 - weight) * np.log(np.maximum(p_evaluator, 1e-12)) + weight * np.log(np.maximum(p_lexical, FLOOR))
    logp = logp / temperature
    logp = np.where(mask, logp, -np.inf)
    p = np.exp(logp - logp[mask].max())
    return p / p.sum()
