"""Fit the lexical half of the hybrid decision layer (:mod:`clave_lite.formats.lexical`) on labelled
tuples: the TF-IDF + logistic regression anchor of ``eval --baselines tfidf``, made small enough to
live in an evaluator's manifest.

scikit-learn fits it (the ``baselines`` extra: ``pip install 'clave-lite[baselines]'``); scoring
reads the stored numbers with numpy only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from clave_lite.core.labels import LABELS
from clave_lite.core.tuples import LabelledTuple
from clave_lite.errors import DataError, require
from clave_lite.formats.lexical import LexicalModel, ValueWeights

MIN_DF = 1
"""Every n-gram of the training texts is kept, as in the ``tfidf`` anchor: dropping those seen in one
text only cut the manifest 3x but cost the lexical model 0.02 macro-F1 on the FULCRA carve."""


def is_chinese(texts: Sequence[str]) -> bool:
    """Mostly CJK characters: words are not space-separated, so character n-grams are the terms."""
    sample = "".join(texts[:200])
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in sample)
    return cjk > 0.3 * max(1, len(sample.replace(" ", "")))


def fit_lexical(tuples: Sequence[LabelledTuple], values: Sequence[str], pool_weight: float = 0.5,
                min_df: int = MIN_DF, trained_on: Mapping[str, Any] | None = None,
                labels: Sequence[str] = LABELS) -> LexicalModel:
    """One TF-IDF (word 1-2-grams, or character 1-2-grams for Chinese) over the distinct texts, and
    one class-balanced logistic regression per value on that value's tuples. A value whose tuples
    carry fewer than two labels gets a uniform distribution over ``labels`` (the system's): the
    pooled verdict is then the evaluator's."""
    require("sklearn", "baselines")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = list(dict.fromkeys(t.text for t in tuples))
    if not texts:
        raise DataError("the lexical layer needs labelled tuples")
    analyzer = "char" if is_chinese(texts) else "word"
    vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=(1, 2), sublinear_tf=True,
                                 min_df=min_df).fit(texts)
    index = {text: i for i, text in enumerate(texts)}
    x = vectorizer.transform(texts)
    by_value: dict[str, list[LabelledTuple]] = defaultdict(list)
    for t in tuples:
        by_value[t.value].append(t)
    fitted = {}
    for value in values:
        rows = by_value.get(value, [])
        classes = sorted({t.label for t in rows})
        if len(classes) < 2:  # nothing to tell apart: uniform over the labels, so pooling leaves the evaluator's
            uniform = tuple(labels)
            fitted[value] = ValueWeights(uniform, np.zeros((1 if len(uniform) == 2 else len(uniform), len(vocab_of(vectorizer)))),
                                         np.zeros(1 if len(uniform) == 2 else len(uniform)))
            continue
        solver = "liblinear" if len(classes) == 2 else "lbfgs"  # liblinear: seconds on sparse TF-IDF
        clf = LogisticRegression(solver=solver, max_iter=1000, class_weight="balanced", C=1.0)
        clf.fit(x[[index[t.text] for t in rows]], [t.label for t in rows])
        coef, intercept = np.asarray(clf.coef_, dtype=np.float64), np.asarray(clf.intercept_, dtype=np.float64)
        fitted[value] = ValueWeights(tuple(str(c) for c in clf.classes_), coef, intercept)
    vocab = vocab_of(vectorizer)
    return LexicalModel(analyzer, (1, 2), tuple(vocab), np.asarray(vectorizer.idf_, dtype=np.float64), fitted,
                        pool_weight, {"texts": len(texts), "tuples": len(tuples), **(trained_on or {})})


def vocab_of(vectorizer: Any) -> list[str]:
    """A fitted TfidfVectorizer's terms in feature order."""
    vocab = [""] * len(vectorizer.vocabulary_)
    for term, i in vectorizer.vocabulary_.items():
        vocab[i] = term
    return vocab


def fit_systems(files: Mapping[str, Sequence[str | Path]], pool_weight: float = 0.5) -> dict[str, LexicalModel]:
    """One lexical layer per value system, each fitted on the labelled-tuple files given for it
    (``{"schwartz10": ["fulcra-fit.jsonl"], ...}``), on every value of the system."""
    from clave_lite.core.tuples import read_tuples
    from clave_lite.core.valuesystem import load_system

    layers = {}
    for name, paths in files.items():
        system = load_system(name)
        tuples: list[LabelledTuple] = []
        for path in paths:
            tuples += read_tuples(Path(path), system, "stop")[0]
        digest = hashlib.sha256("\n".join(f"{t.key}\t{t.value}\t{t.label}" for t in tuples).encode()).hexdigest()
        layers[name] = fit_lexical(tuples, system.value_names, pool_weight, labels=system.labels,
                                   trained_on={"files": [Path(p).name for p in paths], "fingerprint": digest})
    return layers


def write_layers(layers: Mapping[str, LexicalModel], path: Path) -> None:
    """``lexical.json.gz`` of a run directory: the layers :meth:`Manifest.from_run` embeds."""
    from clave_lite.core.files import staged

    with staged(path) as tmp:
        with gzip.open(tmp, "wt", encoding="utf-8") as fh:
            json.dump({name: m.to_dict() for name, m in layers.items()}, fh, ensure_ascii=False)


def read_layers(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m clave_lite.build.lexical -o RUN/lexical.json.gz SYSTEM=FILE ...``: the lexical
    layers of a run directory (the embedded default's recipe is in docs/training.md)."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("pairs", nargs="+", metavar="SYSTEM=FILE")
    args = ap.parse_args(argv)
    files: dict[str, list[str]] = defaultdict(list)
    for pair in args.pairs:
        name, sep, file = pair.partition("=")
        if not sep:
            ap.error(f"{pair!r}: expected SYSTEM=FILE")
        files[name].append(file)
    write_layers(fit_systems(files), args.output)


if __name__ == "__main__":
    main()
