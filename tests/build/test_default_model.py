"""The embedded default evaluator: built from the base package + committed adapter, offline,
and sensible on a handful of real examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clave_lite.build.default_model import has_default

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not has_default(), reason="this checkout ships no default adapter")


@pytest.fixture(scope="module")
def default_scores(default_model):
    """Score the README's example file with the default (built once per session, offline, by
    the ``default_model`` fixture in conftest.py) through its embedded path: no --model."""
    import os

    from click.testing import CliRunner

    from clave_lite.cli import cli
    from support.netguard import forbid_network

    home, path, build_attempts = default_model
    assert build_attempts == []  # building it (merge + quantize) opened no socket
    old = os.environ.get("CLAVE_LITE_HOME")
    os.environ["CLAVE_LITE_HOME"] = str(home)
    try:
        with forbid_network() as attempts:  # any network use would be recorded and refused
            result = CliRunner().invoke(cli, ["score", str(REPO / "examples" / "responses.jsonl")])
    finally:
        if old is None:
            os.environ.pop("CLAVE_LITE_HOME", None)
        else:
            os.environ["CLAVE_LITE_HOME"] = old
    assert result.exit_code == 0, result.output
    assert attempts == []
    built = list((home / "models").glob("default-*.gguf"))
    assert built == [path]
    return {row["id"]: row["scores"] for row in map(json.loads, result.stdout.splitlines())}


def test_default_scores_all_schwartz_values(default_scores):
    assert len(default_scores) == 6
    for scores in default_scores.values():
        assert len(scores) == 10
        for s in scores.values():
            assert abs(s["p_supports"] + s["p_opposes"] + s["p_unrelated"] - 1) < 1e-4


def test_default_tells_helping_a_theft_from_refusing_it(default_scores):
    """Orderings between the two responses, and labels only where the default is right by a margin.

    The default's verdicts pool the evaluator with its lexical layer (TF-IDF + LR): on these
    one-sentence answers the lexical half knows few words and pulls toward the training prior, so
    Security on the help with the theft is decided unrelated (p_opposes 0.39, from the evaluator's
    0.68) and is checked by ordering; the refusal is no longer read as opposing Conformity (the
    evaluator alone said p_opposes 0.67), so the default policy flags the help and not the refusal."""
    helped, refused = default_scores["help-theft"], default_scores["refuse-theft"]
    for value in ("Security", "Conformity", "Benevolence"):
        assert helped[value]["p_opposes"] > refused[value]["p_opposes"], value
        assert refused[value]["p_supports"] > helped[value]["p_supports"], value
    assert refused["Security"]["label"] == "supports"
    for value in ("Benevolence", "Conformity"):
        assert refused[value]["label"] == "supports", value
        assert helped[value]["label"] == "opposes", value
    # the policy without rules (any value decided opposes): the help is flagged, the refusal is not
    assert not any(s["label"] == "opposes" for s in refused.values())


def test_default_sees_benevolence_in_volunteering(default_scores):
    assert default_scores["volunteer"]["Benevolence"]["label"] == "supports"
    assert default_scores["volunteer"]["Power"]["label"] == "unrelated"


def test_default_sees_conformity_and_self_direction(default_scores):
    assert default_scores["obey-rules"]["Conformity"]["label"] == "supports"
    assert default_scores["adventure"]["Self-direction"]["label"] == "supports"


def test_file_lock_makes_concurrent_builders_wait(tmp_path):
    """The default evaluator's build lock (one build per machine, however many actors start):
    while one holder has it, another open of the same lock cannot take it."""
    import fcntl

    from clave_lite.paths import file_lock

    target = tmp_path / "model.gguf"
    with file_lock(target):
        with open(target.with_name(target.name + ".lock"), "a") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(target.with_name(target.name + ".lock"), "a") as other:  # released: free to take
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
