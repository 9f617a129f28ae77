"""Policies: rules from files and strings, validated with clear errors, deciding on scores."""

from __future__ import annotations

import json

import pytest

from clave_lite.core.valuesystem import load_system
from clave_lite.errors import DataError, UsageError
from clave_lite.jobs.policy import DEFAULT_RULE, load_policy, parse_rule
from clave_lite.runtime.evaluator import ValueScore


def vs(value, label, sup, opp):
    return ValueScore(value, label, {"supports": sup, "opposes": opp, "unrelated": 1 - sup - opp})


SCORES = [vs("Benevolence", "opposes", 0.1, 0.7), vs("Security", "unrelated", 0.2, 0.1),
          vs("Tradition", "supports", 0.8, 0.0)]


def test_rule_strings_parse_and_decide():
    s = load_system("schwartz10")
    p = load_policy(None, ["benevolence/opposes>=0.6"]).bind(s)
    assert p.rules[0].values == ("Benevolence",)  # canonical name
    assert p.decide(SCORES).to_dict() == {"flagged": True, "fired": ["benevolence/opposes>=0.6: Benevolence"]}
    assert not load_policy(None, ["Benevolence/opposes>=0.8"]).bind(s).decide(SCORES).flagged
    required = load_policy(None, ["Security/!supports>=0.3"]).bind(s).decide(SCORES)
    assert required.fired == ("Security/!supports>=0.3: Security",)
    every = load_policy(None, ["*/supports"]).bind(s).decide(SCORES)  # by the decided label
    assert every.fired == ("*/supports: Tradition",)


def test_without_rules_the_evaluators_own_decision_flags_opposes():
    p = load_policy().bind(load_system("schwartz10"))
    assert p.rules == (DEFAULT_RULE,)
    assert p.decide(SCORES).fired == ("any value decided opposes: Benevolence",)
    assert not p.decide(SCORES[1:]).flagged


def test_the_default_decision_never_flags_a_system_that_cannot_oppose():
    """A supports/unrelated system (Touché's) scores under the default policy; nothing is flagged."""
    p = load_policy().bind(load_system("touche20"))
    assert p.rules == ()
    assert not p.decide([ValueScore("Achievement", "supports", {"supports": 0.9, "unrelated": 0.1})]).flagged


def test_a_harm_taxonomy_names_its_violation_label_and_the_default_flags_it():
    """risk14's 'supports' means the harm is present: its file says `violation: supports`, so the
    policy without rules flags a text decided supports on any category (it never flagged before)."""
    risk = load_system("risk14")
    assert risk.violation == "supports" and load_system("schwartz10").violation == "opposes"
    assert load_system("touche20").violation is None
    p = load_policy().bind(risk)
    harm = [ValueScore("Privacy violation", "supports", {"supports": 0.8, "unrelated": 0.2}),
            ValueScore("Animal abuse", "unrelated", {"supports": 0.1, "unrelated": 0.9})]
    decision = p.decide(harm)
    assert decision.fired == ("any value decided supports: Privacy violation",)
    assert decision.violations == ("Privacy violation/supports",)
    assert not p.decide(harm[1:]).flagged


@pytest.mark.parametrize("violation, ok", [("supports", True), (None, True), ("unrelated", False),
                                          ("opposes", False), (3, False)])
def test_a_system_file_may_name_its_violation_label(tmp_path, violation, ok):
    import yaml

    from clave_lite.core.valuesystem import ValueSystemError

    f = tmp_path / "harms.yaml"
    f.write_text(yaml.safe_dump({"name": "harms", "labels": ["supports", "unrelated"], "violation": violation,
                                 "values": [{"name": "Fraud", "definition": "helps defraud someone"}]}))
    if not ok:
        with pytest.raises(ValueSystemError, match="'violation' must be one of"):
            load_system(f)
        return
    system = load_system(f)
    assert system.violation == violation
    assert load_system_dict(system.to_dict()).violation == violation  # survives the manifest round trip


def load_system_dict(data):
    from clave_lite.core.valuesystem import parse_system

    return parse_system(data, "manifest")


def test_policy_file_groups_and_names(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: civic\nsystem: csv12\nrules:\n  - group: Society\n    label: opposes\n    min_p: 0.5\n"
                 "  - name: must-be-honest\n    value: Integrity\n    require: supports\n")
    p = load_policy(f).bind(load_system("csv12"))
    assert p.name == "civic" and p.system == "csv12"
    assert set(p.rules[0].values) == {v.name for v in load_system("csv12").values if v.group == "Society"}
    assert p.rules[1].name == "must-be-honest" and p.rules[1].require
    out = p.decide([vs("Integrity", "unrelated", 0.1, 0.0), vs("Freedom", "opposes", 0.0, 0.9)])
    assert "must-be-honest: Integrity" in out.fired and json.loads(json.dumps(p.to_dict()))["rules"]


@pytest.mark.parametrize(("text", "needle"), [
    ("rules: []", "non-empty list"),
    ("rules:\n  - value: X\n    label: maybe", "supports or opposes"),
    ("rules:\n  - value: Security\n    min_p: 2", "between 0 and 1"),
    ("rules:\n  - value: Security\n    colour: red", "unknown key"),
    ("rules:\n  - value: Security\n    group: Society", "one of value, values, group"),
    ("rules:\n  - value: Security\n    label: opposes\n    require: supports", "not both"),
    ("- just a list", "a mapping"),
    ("policy: x\nrules:\n  - value: Security", "unknown key"),
])
def test_bad_policy_files_name_the_problem(tmp_path, text, needle):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(DataError, match=needle) as err:
        load_policy(f)
    assert str(f) in str(err.value)


def test_rules_must_fit_the_system():
    s = load_system("schwartz10")
    with pytest.raises(DataError, match="not in system 'schwartz10'"):
        load_policy(None, ["Harmony/opposes"]).bind(s)
    with pytest.raises(DataError, match="has no label 'opposes'"):
        load_policy(None, ["*/opposes"]).bind(load_system("touche20"))
    with pytest.raises(UsageError, match="expected VALUE/LABEL"):
        parse_rule("Security>0.5")
    with pytest.raises(UsageError, match="between 0 and 1"):
        parse_rule("Security/opposes>=1.5")


def test_a_text_read_only_in_part_is_flagged_unless_the_policy_says_score(tmp_path):
    s = load_system("schwartz10")
    quiet = SCORES[1:]  # nothing opposed
    default = load_policy().bind(s)
    assert default.decide(quiet, truncated_tokens=120).fired == ("truncated: 120 tokens unread",)
    assert not default.decide(quiet, truncated_tokens=0).flagged
    assert not load_policy(on_truncated="score").bind(s).decide(quiet, truncated_tokens=120).flagged
    f = tmp_path / "p.yaml"
    f.write_text("rules:\n  - value: Benevolence\non_truncated: score\n")
    from_file = load_policy(f).bind(s)
    assert from_file.on_truncated == "score" and not from_file.decide(quiet, truncated_tokens=5).flagged
    assert load_policy(f, on_truncated="flag").bind(s).decide(quiet, truncated_tokens=5).flagged  # the flag wins
    f.write_text("rules:\n  - value: Benevolence\non_truncated: maybe\n")
    with pytest.raises(DataError, match="on_truncated"):
        load_policy(f)


def test_violations_name_the_value_and_label_that_fired():
    s = load_system("schwartz10")
    d = load_policy(None, ["Benevolence/opposes>=0.6", "Security/!supports>=0.3"]).bind(s).decide(SCORES)
    assert d.violations == ("Benevolence/opposes", "Security/!supports")


def test_a_policy_file_with_a_key_twice_is_refused(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("rules:\n  - value: Benevolence\n    min_p: 0.9\n    min_p: 0.1\n")
    with pytest.raises(DataError, match="given twice"):
        load_policy(f)
