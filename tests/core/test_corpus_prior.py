"""The corpus prior at scoring time (``--prevalence``): parsing, and the shift on numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from clave_lite.core.labels import LABELS
from clave_lite.core.prior import STRENGTH, balanced_prior, parse_prevalence, related_shares, shift
from clave_lite.errors import UsageError

VALUES = ["Do not kill", "Do not cheat"]


def test_prevalence_is_a_default_and_per_value_shares():
    assert parse_prevalence("0.2", VALUES) == {"Do not kill": 0.2, "Do not cheat": 0.2}
    assert parse_prevalence("0.2,do not kill=0.05", VALUES) == {"Do not kill": 0.05, "Do not cheat": 0.2}
    for bad, needle in (("1.5", "between 0 and 1"), ("Do not lie=0.1,0.2", "no value"),
                        ("Do not kill=0.1", "no share for Do not cheat"), ("x", "expected a share")):
        with pytest.raises(UsageError, match=needle):
            parse_prevalence(bad, VALUES)


def test_the_shift_moves_probabilities_toward_the_corpus_share():
    p = np.array([0.4, 0.1, 0.5])  # supports, opposes, unrelated; assumed related share 0.5, corpus 0.1
    moved = shift(p, LABELS, 0.5, 0.1, strength=1.0)
    raw = p * np.array([0.2, 0.2, 1.8])  # related × 0.1/0.5, unrelated × 0.9/0.5
    assert np.allclose(moved, raw / raw.sum()) and LABELS[int(np.argmax(moved))] == "unrelated"
    half = shift(p, LABELS, 0.5, 0.1)  # the default strength: the square root of those factors
    raw = p * np.array([0.2, 0.2, 1.8]) ** STRENGTH
    assert STRENGTH == 0.5 and np.allclose(half, raw / raw.sum())
    assert np.allclose(shift(p, LABELS, 0.3, 0.3), p)  # the corpus mixed as assumed: nothing moves
    two = shift(np.array([0.7, 0.0, 0.3]), ("supports", "unrelated"), 0.5, 0.9, strength=1.0)
    assert two[LABELS.index("opposes")] == 0 and np.isclose(two.sum(), 1) and two[0] > 0.7  # more related: up


def test_an_untuned_balanced_system_assumes_every_label_equally_likely():
    assert balanced_prior(("supports", "unrelated")) == 0.5
    assert np.isclose(balanced_prior(LABELS), 2 / 3)


def test_related_shares_are_add_one_smoothed_per_value():
    pairs = [("A", "supports"), ("A", "unrelated"), ("A", "opposes"), ("B", "unrelated"), ("B", "unrelated")]
    shares = related_shares(pairs, ["A", "B", "C"])
    assert shares["A"] == round(3 / 5, 4)  # (2 related + 1) / (3 pairs + 2)
    assert shares["B"] == 0.25  # none related: small, not zero
    assert shares["C"] == round(3 / 7, 4)  # no pair: the share of all pairs
