"""The deployment prior (adapt --prevalence): its arithmetic, on numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from clave_lite.adapt.prior import (
    corpus_weights,
    parse_prevalence,
    prior_shift,
    weighted_macro_f1,
)
from clave_lite.core.labels import LABELS
from clave_lite.errors import UsageError

VALUES = ["Do not kill", "Do not cheat"]


def test_prevalence_is_a_default_and_per_value_shares():
    assert parse_prevalence("0.2", VALUES) == {"Do not kill": 0.2, "Do not cheat": 0.2}
    assert parse_prevalence("0.2,do not kill=0.05", VALUES) == {"Do not kill": 0.05, "Do not cheat": 0.2}
    for bad, needle in (("1.5", "between 0 and 1"), ("Do not lie=0.1,0.2", "no value"),
                        ("Do not kill=0.1", "no share for Do not cheat"), ("x", "expected a share")):
        with pytest.raises(UsageError, match=needle):
            parse_prevalence(bad, VALUES)


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
