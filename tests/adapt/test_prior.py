"""The deployment prior (adapt --prevalence): its arithmetic, on numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from clave_lite.adapt.prior import (
    corpus_weights,
    estimate_prevalence,
    prior_shift,
    weighted_macro_f1,
)
from clave_lite.core.labels import LABELS

VALUES = ["Do not kill", "Do not cheat"]


def test_the_shift_moves_decisions_toward_the_corpus_prior():
    # a readout that believes half the sample is related; the corpus is 10 % related
    logits = np.log(np.array([[0.3, 0.2, 0.5]] * 4))  # supports, opposes, unrelated
    value_of = ["Do not kill"] * 4
    gold = ["supports", "opposes", "unrelated", "unrelated"]
    shift = prior_shift(logits, 1.0, value_of, gold, LABELS, {"Do not kill": 0.1})
    np.testing.assert_allclose(shift.sample["Do not kill"], [0.3, 0.2, 0.5])
    np.testing.assert_allclose(shift.corpus["Do not kill"], [0.05, 0.05, 0.9])  # 1 supports : 1 opposes seen
    shifted = logits[0] + shift.bias["Do not kill"]
    p = np.exp(shifted) / np.exp(shifted).sum()
    np.testing.assert_allclose(p, [0.05, 0.05, 0.9])  # p * corpus / sample, normalised: the corpus prior itself
    # weights turn the sample's 1:1:2 into the corpus' 0.05 : 0.05 : 0.9
    w = corpus_weights(value_of, gold, shift)
    np.testing.assert_allclose(w, [0.2, 0.2, 1.8, 1.8])


def test_weighted_macro_f1_is_macro_f1_at_unit_weights():
    gold = ["supports", "opposes", "unrelated", "unrelated"]
    pred = ["supports", "unrelated", "unrelated", "supports"]
    assert weighted_macro_f1(gold, pred, np.ones(4)) == pytest.approx(np.mean([2 / 3, 0.0, 0.5]))
    # an unrelated tuple called supports costs more when unrelated tuples weigh more
    assert weighted_macro_f1(gold, pred, np.array([1, 1, 9, 9])) < weighted_macro_f1(gold, pred, np.ones(4))


def test_the_corpus_share_is_solved_from_the_verdict_rates():
    # on the labelled tuples: 8 of 10 related ones called related (tpr 0.8), 1 of 10 unrelated (fpr 0.1)
    gold = ["supports"] * 5 + ["opposes"] * 5 + ["unrelated"] * 10
    said = ["supports"] * 4 + ["unrelated"] + ["opposes"] * 4 + ["unrelated"] + ["supports"] + ["unrelated"] * 9
    value_of = ["Do not kill"] * 20
    # the corpus: 24 of 100 texts called related = 0.1 + share * (0.8 - 0.1), so share = 0.2
    corpus_said = ["opposes"] * 24 + ["unrelated"] * 76
    est = estimate_prevalence(value_of, gold, said, ["Do not kill"] * 100, corpus_said, [0.5] * 100, texts=100)
    assert est.shares["Do not kill"] == pytest.approx(0.2)
    assert est.called_related["Do not kill"] == pytest.approx(0.24)
    assert (est.tpr["Do not kill"], est.fpr["Do not kill"]) == (pytest.approx(0.8), pytest.approx(0.1))
    assert est.pooled == pytest.approx(0.2) and est.pooled_for == []
    # fewer related verdicts than false alarms alone would give: the floor, not a negative share
    est = estimate_prevalence(value_of, gold, said, ["Do not kill"] * 100, ["unrelated"] * 100, [0.1] * 100, 100)
    assert est.shares["Do not kill"] == 0.01


def test_a_value_that_cannot_tell_related_from_unrelated_takes_the_pooled_share():
    gold = (["supports"] * 10 + ["unrelated"] * 10) * 2
    good = ["supports"] * 9 + ["unrelated"] + ["supports"] + ["unrelated"] * 9  # tpr 0.9, fpr 0.1
    blind = ["supports"] * 5 + ["unrelated"] * 5 + ["supports"] * 5 + ["unrelated"] * 5  # tpr = fpr = 0.5
    value_of = ["A"] * 20 + ["B"] * 20
    corpus_value_of = ["A"] * 50 + ["B"] * 50
    corpus_said = ["supports"] * 13 + ["unrelated"] * 37 + ["supports"] * 25 + ["unrelated"] * 25
    est = estimate_prevalence(value_of, gold, good + blind, corpus_value_of, corpus_said, [0.5] * 100, 100)
    assert est.per_value["A"] == pytest.approx((0.26 - 0.1) / 0.8)
    assert est.pooled_for == ["B"] and est.shares["B"] == pytest.approx(est.pooled, abs=1e-4)
    assert est.own_weight["B"] == 0.0 and "B" not in est.per_value


def test_a_noisy_value_is_shrunk_toward_the_pooled_share_and_a_clear_one_keeps_its_own():
    def tuples(n_rel: int, n_unrel: int, tpr: float, fpr: float) -> tuple[list[str], list[str]]:
        hits_rel, hits_unrel = round(n_rel * tpr), round(n_unrel * fpr)
        gold = ["supports"] * n_rel + ["unrelated"] * n_unrel
        said = (["supports"] * hits_rel + ["unrelated"] * (n_rel - hits_rel)
                + ["supports"] * hits_unrel + ["unrelated"] * (n_unrel - hits_unrel))
        return gold, said

    def corpus(n: int, called: float) -> list[str]:
        return ["supports"] * round(n * called) + ["unrelated"] * (n - round(n * called))

    # few labels: the two values' own estimates (0.1 and 0.5) are within their noise of each other
    ga, sa = tuples(10, 10, 0.8, 0.2)
    gb, sb = tuples(10, 10, 0.8, 0.2)
    est = estimate_prevalence(["A"] * 20 + ["B"] * 20, ga + gb, sa + sb, ["A"] * 50 + ["B"] * 50,
                              corpus(50, 0.26) + corpus(50, 0.5), [0.5] * 100, 100)
    assert est.per_value == {"A": pytest.approx(0.1), "B": pytest.approx(0.5)}
    assert est.own_weight["A"] < 0.5 and abs(est.shares["A"] - est.pooled) < abs(est.per_value["A"] - est.pooled)
    # many labels and corpus texts: the same difference is real, and each value keeps its own share
    ga, sa = tuples(2000, 2000, 0.8, 0.2)
    gb, sb = tuples(2000, 2000, 0.8, 0.2)
    est = estimate_prevalence(["A"] * 4000 + ["B"] * 4000, ga + gb, sa + sb, ["A"] * 5000 + ["B"] * 5000,
                              corpus(5000, 0.26) + corpus(5000, 0.5), [0.5] * 10000, 10000)
    assert est.own_weight["A"] > 0.95 and est.shares == {"A": pytest.approx(0.1, abs=0.005),
                                                         "B": pytest.approx(0.5, abs=0.005)}


def test_black_box_shift_estimation_recovers_a_shifted_prior_where_the_raw_rate_does_not():
    # a classifier with tpr 0.75, fpr 0.15; labelled at half related, corpus 10 % related
    rng = np.random.default_rng(0)

    def verdicts(related: np.ndarray) -> list[str]:
        hit = rng.random(len(related)) < np.where(related, 0.75, 0.15)
        return ["supports" if h else "unrelated" for h in hit]

    sample = rng.random(400) < 0.5
    corpus = rng.random(5000) < 0.1
    est = estimate_prevalence(["V"] * 400, ["supports" if r else "unrelated" for r in sample], verdicts(sample),
                              ["V"] * 5000, verdicts(corpus), [0.5] * 5000, 5000)
    assert est.called_related["V"] > 0.2  # the raw rate of related verdicts: twice the truth
    assert est.shares["V"] == pytest.approx(0.1, abs=0.04)


def test_the_fitted_mix_is_the_mean_out_of_fold_related_probability():
    from clave_lite.adapt.prior import fitted_mix

    # value A: p(unrelated) 0.8 and 0.4 → mean 0.6 → mix 0.4; B has no tuple → every label equally likely
    unrelated = LABELS.index("unrelated")
    rows = []
    for p_un in (0.8, 0.4):
        z = np.full(3, np.log((1 - p_un) / 2))
        z[unrelated] = np.log(p_un)
        rows.append(z)
    mix = fitted_mix(np.array(rows), 1.0, ["A", "A"], LABELS, ["A", "B"])
    assert mix == {"A": 0.4, "B": round(2 / 3, 4)}
