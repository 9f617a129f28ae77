"""The lexical half of the hybrid decision layer: what scoring computes with numpy from the stored
numbers is what scikit-learn's TF-IDF + logistic regression computes, and a damaged layer is a
clear model error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clave_lite.core.labels import LABELS
from clave_lite.errors import ModelError
from clave_lite.formats.lexical import LexicalModel, pool

pytest.importorskip("sklearn")


def _slice(tuples, n_texts):
    keys = list(dict.fromkeys(t.key for t in tuples))[:n_texts]
    keep = set(keys)
    return [t for t in tuples if t.key in keep]


@pytest.fixture(scope="module")
def fulcra(shared_data):
    from clave_lite.datasets.convert import convert_fulcra

    tuples, _ = convert_fulcra([shared_data / "fulcra" / "train.jsonl"])
    return _slice(tuples, 120)


def _sklearn_probs(train, test_texts, value):
    """The ``tfidf`` anchor of ``eval --baselines``, on one value, as scikit-learn computes it."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = list(dict.fromkeys(t.text for t in train))
    vec = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True).fit(texts)
    rows = [t for t in train if t.value == value]
    classes = sorted({t.label for t in rows})
    clf = LogisticRegression(solver="liblinear" if len(classes) == 2 else "lbfgs", max_iter=1000,
                             class_weight="balanced").fit(vec.transform([t.text for t in rows]),
                                                          [t.label for t in rows])
    p = clf.predict_proba(vec.transform(test_texts))
    out = np.zeros((len(test_texts), 3))
    for c, label in enumerate(clf.classes_):
        out[:, LABELS.index(label)] = p[:, c]
    return out


def test_stored_layer_scores_as_scikit_learn_does(fulcra):
    from clave_lite.build.lexical import fit_lexical

    keys = list(dict.fromkeys(t.key for t in fulcra))
    train = [t for t in fulcra if t.key in set(keys[:100])]
    test_texts = list(dict.fromkeys(t.text for t in fulcra if t.key in set(keys[100:])))
    values = list(dict.fromkeys(t.value for t in train))
    stored = LexicalModel.from_dict(json.loads(json.dumps(fit_lexical(train, values).to_dict())), "test")
    for value in ("Benevolence", "Security", "Self-direction"):
        ours = np.array([stored.probs(text, [value])[0] for text in test_texts])
        ref = _sklearn_probs(train, test_texts, value)
        present = ref.sum(axis=0) > 0
        # float16 weights: probabilities agree to ~1e-3, decisions exactly
        assert np.abs(ours[:, present] - ref[:, present]).max() < 5e-3
        assert (ours.argmax(axis=1) == ref.argmax(axis=1)).all()


def test_character_terms_match_scikit_learn():
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["新华社北京3月5日电  中华人民共和国主席\n习近平", "我们要 坚持和平 发展。Ａｂ"]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True).fit(texts)
    model = LexicalModel("char", (1, 2), tuple(sorted(vec.vocabulary_, key=vec.vocabulary_.get)),
                         vec.idf_, {})
    for text in texts:
        assert sorted(model.terms(text)) == sorted(vec.build_analyzer()(text))
        idx, x = model.features(text)
        ref = vec.transform([text]).toarray()[0]
        assert np.allclose(ref[idx], x) and np.isclose(ref.sum(), x.sum())


def test_pooling_is_a_geometric_mean_over_the_systems_labels():
    p = pool(np.array([0.6, 0.1, 0.3]), np.array([0.2, 0.0, 0.8]), 0.5, ("supports", "unrelated"))
    expected = np.sqrt([0.6 * 0.2, 0.3 * 0.8])
    assert p[1] == 0.0
    assert np.allclose(p[[0, 2]], expected / expected.sum())


def test_the_pool_temperature_moves_probabilities_not_verdicts():
    p_eval, p_lex = np.array([0.5, 0.2, 0.3]), np.array([0.4, 0.1, 0.5])
    plain = pool(p_eval, p_lex, 0.5, LABELS)
    sharp = pool(p_eval, p_lex, 0.5, LABELS, temperature=0.5)
    assert np.allclose(sharp, plain ** 2 / (plain ** 2).sum())  # T = 0.5 squares, renormalised
    assert sharp.argmax() == plain.argmax() and sharp.max() > plain.max()
    # no lexical evidence: the evaluator's probabilities as they are (already tempered by the evaluator)
    assert np.allclose(pool(p_eval, np.full(3, np.nan), 0.5, LABELS, temperature=0.5), p_eval)


def test_the_pool_temperature_is_stored_only_when_fitted(fulcra):
    import dataclasses

    from clave_lite.build.lexical import fit_lexical

    model = fit_lexical(fulcra[:400], ["Benevolence", "Power"])
    assert "pool_temperature" not in model.to_dict()  # files written before it existed read the same
    tempered = dataclasses.replace(model, pool_temperature=0.7)
    back = LexicalModel.from_dict(json.loads(json.dumps(tempered.to_dict())), "m.gguf")
    assert back.pool_temperature == 0.7 and LexicalModel.from_dict(model.to_dict(), "m.gguf").pool_temperature == 1.0


@pytest.mark.parametrize("damage, reason", [
    (lambda d: d.update(analyzer="bytes"), "analyzer"),
    (lambda d: d.update(pool_weight=2), "pool weight"),
    (lambda d: d.update(pool_temperature=0), "pool temperature"),
    (lambda d: d.update(pool_temperature="hot"), "pool temperature"),
    (lambda d: d.update(idf="not base64!"), "idf"),
    (lambda d: d["values"]["Benevolence"].update(weight=d["values"]["Benevolence"]["weight"][:8]), "weight"),
    (lambda d: d["values"]["Benevolence"].update(classes=["supports", "maybe"]), "classes"),
    (lambda d: d.update(vocabulary=[]), "vocabulary"),
])
def test_a_damaged_layer_is_a_model_error(fulcra, damage, reason):
    from clave_lite.build.lexical import fit_lexical

    values = list(dict.fromkeys(t.value for t in fulcra))
    data = json.loads(json.dumps(fit_lexical(fulcra[:400], values[:2] + ["Benevolence"]).to_dict()))
    damage(data)
    with pytest.raises(ModelError, match=f"lexical layer: .*{reason}"):
        LexicalModel.from_dict(data, "m.gguf")


def test_a_value_with_one_label_leaves_the_verdict_to_the_evaluator(fulcra):
    """A fold where a value's tuples are all `unrelated`: its lexical half is uniform, so pooling
    changes nothing (adapt on small data must not fail or be pushed by it)."""
    import dataclasses

    from clave_lite.build.lexical import fit_lexical

    only_unrelated = [dataclasses.replace(t, label="unrelated") if t.value == "Power" else t for t in fulcra]
    model = LexicalModel.from_dict(json.loads(json.dumps(
        fit_lexical(only_unrelated, ["Power", "Benevolence"], labels=("supports", "opposes", "unrelated")).to_dict())),
        "test")
    p = model.probs(fulcra[0].text, ["Power"])[0]
    assert np.isnan(p).all() and not np.isnan(model.probs(fulcra[0].text, ["Benevolence"])).any()
    p_eval = np.array([0.7, 0.1, 0.2])
    assert np.allclose(pool(p_eval, p, 0.5, LABELS), p_eval)


def test_layers_are_parsed_when_first_asked_for_and_stored_as_read(fulcra):
    """An evaluator carries one layer per system; a run scoring one system decodes only its layer
    (the weights stay float16 as stored), and writing the manifest back keeps the others as read."""
    from clave_lite.build.lexical import fit_lexical
    from clave_lite.formats.lexical import LexicalLayers

    stored = {name: json.loads(json.dumps(fit_lexical(fulcra[:400], values).to_dict()))
              for name, values in (("a", ["Power"]), ("b", ["Benevolence", "Power"]))}
    layers = LexicalLayers(stored=stored, where="m.gguf")
    assert set(layers) == {"a", "b"} and set(layers.outline("b")["Power"]) == {"supports", "opposes", "unrelated"}
    assert "a" in layers and "c" not in layers and len(layers) == 2
    assert layers._parsed == {}  # nothing decoded to list, count, test or check the structure
    model = layers["a"]
    assert set(layers._parsed) == {"a"} and layers["a"] is model
    assert model.values["Power"].weight.dtype == np.float16
    assert layers.stored("b") is stored["b"] and layers.stored("a") == stored["a"]
    again = LexicalModel.from_dict(json.loads(json.dumps(model.to_dict())), "m.gguf")
    assert np.array_equal(again.probs(fulcra[0].text, ["Power"]), model.probs(fulcra[0].text, ["Power"]))
    with pytest.raises(KeyError):
        layers["c"]

    stored["b"]["values"]["Power"]["weight"] = "AAAA"  # damaged: fails when that system is asked for
    layers = LexicalLayers(stored=stored, where="m.gguf")
    assert layers["a"] is not None
    with pytest.raises(ModelError, match="lexical layer: 'Power' weight"):
        layers["b"]
    with pytest.raises(ModelError, match="values without classes"):  # the structure: at once
        LexicalLayers(stored={"a": {"values": {"Power": {"weight": "AAAA"}}}}, where="m.gguf")
