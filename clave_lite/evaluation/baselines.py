"""The anchors an evaluator must beat, trained and scored on exactly the same texts.

``clave-lite eval TEST --baselines tfidf,minilm,zeroshot --train TRAIN`` answers a user's first
question about an evaluator, "is it better than what I could build in ten minutes?":

* ``majority``: per value, the most frequent training label.
* ``tfidf``: TF-IDF + logistic regression per value (scikit-learn; word 1-2-grams, or character
  1-2-grams for Chinese text), ``class_weight="balanced"`` so rare labels are not ignored.
* ``minilm``: frozen all-MiniLM-L6-v2 sentence embeddings + logistic regression per value
  (what a SetFit-style user would start from; English-trained).
* ``zeroshot``: the bare base model read out at the evaluator's label tokens, with the
  evaluator's own prompt template and no adapter and no biases (what a typed-GGUF user gets).

Every baseline returns predicted tuples for the test tuples, so ``metrics.compute`` measures
it exactly as it measures the evaluator.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from clave_lite.core.tuples import LabelledTuple
from clave_lite.errors import DataError, require

if TYPE_CHECKING:
    from clave_lite.runtime.evaluator import Evaluator

BASELINES = ("majority", "tfidf", "minilm", "zeroshot")
NEEDS_TRAIN = ("majority", "tfidf", "minilm")


def parse(spec: str) -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in BASELINES]
    if unknown or not names:
        raise DataError(f"unknown baseline(s) {', '.join(unknown) or spec!r}; choose from {', '.join(BASELINES)}")
    return names


def _by_value(tuples: Sequence[LabelledTuple]) -> dict[str, list[LabelledTuple]]:
    out: dict[str, list[LabelledTuple]] = defaultdict(list)
    for t in tuples:
        out[t.value.casefold()].append(t)
    return out


def _relabel(test: Sequence[LabelledTuple], labels: Sequence[str]) -> list[LabelledTuple]:
    return [dataclasses.replace(t, label=lab) for t, lab in zip(test, labels)]


def majority(train: Sequence[LabelledTuple], test: Sequence[LabelledTuple]) -> list[LabelledTuple]:
    overall = Counter(t.label for t in train).most_common(1)[0][0]
    per_value = {v: Counter(t.label for t in ts).most_common(1)[0][0] for v, ts in _by_value(train).items()}
    return _relabel(test, [per_value.get(t.value.casefold(), overall) for t in test])


def _per_value_logreg(train: Sequence[LabelledTuple], test: Sequence[LabelledTuple],
                      features: Callable[[list[str]], np.ndarray]) -> list[LabelledTuple]:
    """One logistic regression per value on ``features`` of the unique texts."""
    from sklearn.linear_model import LogisticRegression

    texts = list(dict.fromkeys([t.text for t in train] + [t.text for t in test]))
    index = {text: i for i, text in enumerate(texts)}
    x = features(texts)
    overall = Counter(t.label for t in train).most_common(1)[0][0]
    train_by, labels = _by_value(train), [""] * len(test)
    for value, idxs in _group_indices(test).items():
        rows = train_by.get(value, [])
        classes = sorted({t.label for t in rows})
        if len(classes) < 2:
            guess = classes[0] if classes else overall
            for i in idxs:
                labels[i] = guess
            continue
        # liblinear takes seconds on sparse TF-IDF features where lbfgs took minutes per value
        # (Touché), but handles two classes only: three (supports/opposes/unrelated) use lbfgs
        solver = "liblinear" if len(classes) == 2 else "lbfgs"
        clf = LogisticRegression(solver=solver, max_iter=1000, class_weight="balanced", C=1.0)
        clf.fit(x[[index[t.text] for t in rows]], [t.label for t in rows])
        for i, lab in zip(idxs, clf.predict(x[[index[test[i].text] for i in idxs]])):
            labels[i] = str(lab)
    return _relabel(test, labels)


def _group_indices(test: Sequence[LabelledTuple]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(test):
        out[t.value.casefold()].append(i)
    return out


def tfidf_vectorizer(train_texts: Sequence[str]):
    """The baseline's TF-IDF, fitted on ``train_texts`` only (vocabulary and IDF): word 1-2-grams,
    or character 1-2-grams for Chinese."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from clave_lite.build.lexical import is_chinese

    analyzer = "char" if is_chinese(list(train_texts)) else "word"
    return TfidfVectorizer(analyzer=analyzer, ngram_range=(1, 2), sublinear_tf=True).fit(train_texts)


def tfidf(train: Sequence[LabelledTuple], test: Sequence[LabelledTuple]) -> list[LabelledTuple]:
    require("sklearn", "baselines")

    def features(texts: list[str]):
        return tfidf_vectorizer(list(dict.fromkeys(t.text for t in train))).transform(texts)

    return _per_value_logreg(train, test, features)


def minilm(train: Sequence[LabelledTuple], test: Sequence[LabelledTuple]) -> list[LabelledTuple]:
    require("sklearn", "baselines")
    from clave_lite.runtime.embedders import embed

    return _per_value_logreg(train, test, lambda texts: embed(texts, "minilm"))


def zeroshot(test: Sequence[LabelledTuple], evaluator, system: str | None) -> list[LabelledTuple]:
    """The evaluator's base model, bare: same template and label tokens, no adapter, no biases."""
    from pathlib import Path

    from clave_lite.evaluation.run import predict
    from clave_lite.formats.base_models import base_path
    from clave_lite.formats.lexical import LexicalLayers
    from clave_lite.runtime.backends.gguf import GGUFBackend
    from clave_lite.runtime.evaluator import Evaluator

    manifest = dataclasses.replace(evaluator.manifest, biases={}, lexical=LexicalLayers())  # the bare model alone
    card = manifest.base_model or {}
    if card.get("name"):
        base = base_path(card["name"])
    elif card.get("file"):
        base = Path(card["file"])
    else:
        raise DataError("zeroshot: the evaluator does not name its base model")
    bare = Evaluator(manifest, GGUFBackend(base, manifest.label_token_ids))
    try:
        return predict(bare, test, system).predictions
    finally:
        bare.close()


def run(name: str, train: Sequence[LabelledTuple] | None, test: Sequence[LabelledTuple],
        evaluator: Evaluator | None = None, system: str | None = None) -> list[LabelledTuple]:
    if name in NEEDS_TRAIN:
        if not train:
            raise DataError(f"baseline {name!r} is trained: pass --train FILE (labelled tuples of the same system)")
        if name == "majority":
            return majority(train, test)
        if name == "tfidf":
            return tfidf(train, test)
        if name == "minilm":
            return minilm(train, test)
    if name == "zeroshot":
        if evaluator is None:
            raise DataError("baseline 'zeroshot' reads out the evaluator's base model: it needs --model")
        return zeroshot(test, evaluator, system)
    raise DataError(f"unknown baseline {name!r}")
