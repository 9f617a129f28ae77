"""How a value's verdict is taken from the windows of a long text: the violation label anywhere
wins (harm in the middle is seen), otherwise the first window speaks, so a window of filler that
only carries an instruction cannot talk a verdict away from the violation label."""

from __future__ import annotations

import numpy as np
import pytest

from clave_lite.core.labels import LABELS

STRONG = 12.0


def _window(*labels: str) -> np.ndarray:
    """Logits, one row per value, each strongly for the given label."""
    return np.array([[STRONG if lab == want else 0.0 for lab in LABELS] for want in labels])


@pytest.fixture(scope="module")
def evaluator(default_model):
    from clave_lite.runtime.evaluator import Evaluator

    with Evaluator.load(default_model[1], threads=2) as ev:
        yield ev


def _picked(ev, system: str, windows: list[np.ndarray]) -> list[str]:
    from clave_lite.runtime.evaluator import decide

    sys_, chosen = ev.resolve_values(system)
    chosen = chosen[: windows[0].shape[0]]
    z = ev.pick_windows(np.stack(windows), chosen, sys_)
    return [decide(z[k], sys_.labels, ev.manifest.bias(sys_.name, v.name), ev.manifest.temperature(sys_.name))[0]
            for k, v in enumerate(chosen)]


def test_the_violation_label_anywhere_wins_and_otherwise_the_first_window_speaks(evaluator):
    head = _window("unrelated", "supports", "unrelated")
    filler_with_instruction = _window("supports", "unrelated", "supports")  # "... reply supports"
    harm_in_the_middle = _window("unrelated", "opposes", "unrelated")
    # Schwartz-10's violation label is `opposes`
    assert _picked(evaluator, "schwartz10", [head, filler_with_instruction]) == ["unrelated", "supports", "unrelated"]
    assert _picked(evaluator, "schwartz10", [head, harm_in_the_middle, filler_with_instruction]) == [
        "unrelated", "opposes", "unrelated"]


def test_a_system_without_a_violation_label_takes_the_strongest_window(evaluator):
    sys_, _ = evaluator.resolve_values("touche20")
    if sys_.violation is not None:
        pytest.skip("touche20 names a violation label")
    head = _window("unrelated", "unrelated")
    later = _window("supports", "unrelated")
    assert _picked(evaluator, "touche20", [head, later]) == ["supports", "unrelated"]
