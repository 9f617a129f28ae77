"""The labelled-tuple format: label spellings, and every kind of broken line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clave_lite.core.tuples import LabelledTuple, normalize_label, read_tuples
from clave_lite.core.valuesystem import load_system
from clave_lite.errors import DataError, Remedy


@pytest.mark.parametrize("raw,expected", [
    ("supports", "supports"), ("support", "supports"), ("Supports", "supports"),
    (" SUPPORTS ", "supports"), ("opposes", "opposes"), ("oppose", "opposes"),
    ("Opposes", "opposes"), ("unrelated", "unrelated"), ("UNRELATED", "unrelated"),
    (1, "supports"), (-1, "opposes"), (0, "unrelated"),
    (1.0, "supports"), (-1.0, "opposes"), (0.0, "unrelated"),
    ("+1", "supports"), ("1", "supports"), ("-1", "opposes"), ("0", "unrelated"),
    (" -1 ", "opposes"),
])
def test_normalize_label_accepts(raw, expected):
    assert normalize_label(raw) == expected


@pytest.mark.parametrize("raw", [
    True, False, 0.5, -0.5, 2, -2, "2", "yes", "", "neutral", None, [1], {"label": 1},
    float("nan"), float("inf"),
])
def test_normalize_label_rejects(raw):
    assert normalize_label(raw) is None


def _write_lines(path: Path, lines: list) -> Path:
    """Each item is a dict (dumped as JSON) or a raw string (written as is)."""
    text = "".join((ln if isinstance(ln, str) else json.dumps(ln, ensure_ascii=False)) + "\n"
                   for ln in lines)
    path.write_text(text, encoding="utf-8")
    return path


GOOD1 = {"text": "Bob: I locked the door for you.", "value": "Security", "label": "supports"}
GOOD2 = {"text": "Bob: Take what you want.", "value": "Power", "label": -1}

# (what is wrong, the bad line, the field the error must name or None, a message fragment)
DEFECTS = [
    ("broken JSON", '{"text": "x", "value": ', None, "invalid JSON"),
    ("not an object", '["text", "value"]', None, "expected a JSON object, got list"),
    ("missing text", {"value": "Security", "label": "supports"}, "text", "missing"),
    ("empty text", {"text": "   ", "value": "Security", "label": "supports"}, "text", "is empty"),
    ("text not a string", {"text": 5, "value": "Security", "label": "supports"}, "text",
     "must be a string, got int"),
    ("missing value", {"text": "t", "label": "supports"}, "value", "missing or empty"),
    ("missing label", {"text": "t", "value": "Security"}, "label", "missing"),
    ("unknown label", {"text": "t", "value": "Security", "label": "maybe"}, "label",
     "'maybe' is not one of supports, opposes, unrelated"),
    ("bool label", {"text": "t", "value": "Security", "label": True}, "label", "is not one of"),
    ("duplicate (text, value)", {"text": GOOD1["text"], "value": "security", "label": "opposes"},
     "value", "already labelled for this text on line 1"),
]


@pytest.mark.parametrize("what,bad,field,fragment", DEFECTS, ids=[d[0] for d in DEFECTS])
def test_stop_mode_names_file_line_and_field(tmp_path, what, bad, field, fragment):
    path = _write_lines(tmp_path / "data.jsonl", [GOOD1, bad, GOOD2])
    with pytest.raises(DataError) as info:
        read_tuples(path)  # on_error defaults to "stop"
    message = str(info.value)
    where = f"{path}:2: " + (f"field '{field}': " if field else "")
    assert message.startswith(where), message
    assert fragment in message
    # the library names the option; the CLI words it as the flag
    assert "on_error='skip'" in message
    assert info.value.worded(Remedy.as_flag).endswith("use --on-error skip to skip such lines")


def test_skip_mode_keeps_good_lines_and_reports_each_bad_one(tmp_path):
    lines = [GOOD1] + [d[1] for d in DEFECTS] + ["", "   ", GOOD2]  # blank lines are ignored
    path = _write_lines(tmp_path / "data.jsonl", lines)
    tuples, problems = read_tuples(path, on_error="skip")
    assert tuples == [
        LabelledTuple(GOOD1["text"], "Security", "supports"),
        LabelledTuple(GOOD2["text"], "Power", "opposes"),
    ]
    # the defects sit on lines 2 .. len(DEFECTS)+1, in order; the blanks produce nothing
    assert [p.line for p in problems] == list(range(2, len(DEFECTS) + 2))
    assert [p.field for p in problems] == [d[2] for d in DEFECTS]
    for problem, (_, _, _, fragment) in zip(problems, DEFECTS):
        assert problem.source == str(path)
        assert fragment in problem.message
        assert problem.kind == "skipped"
        assert str(problem).startswith(f"skipped: {path}:{problem.line}")


def test_ids_and_system_field_are_kept(tmp_path):
    path = _write_lines(tmp_path / "data.jsonl", [
        {"id": 7, "text": "t", "value": "Security", "label": "0", "system": "schwartz10"},
        {"id": "a", "text": "t", "value": "Security", "label": "+1"},
    ])
    tuples, problems = read_tuples(path)
    assert problems == []
    assert tuples[0] == LabelledTuple("t", "Security", "unrelated", "7", "schwartz10")
    assert tuples[1] == LabelledTuple("t", "Security", "supports", "a", None)
    # the same text under different ids is two texts, not a duplicate
    assert tuples[0].key == "7" and tuples[1].key == "a"
    assert tuples[0].to_dict() == {"id": "7", "text": "t", "value": "Security",
                                   "label": "unrelated", "system": "schwartz10"}


def test_duplicate_id_and_value_is_a_defect(tmp_path):
    path = _write_lines(tmp_path / "data.jsonl", [
        {"id": "x", "text": "first wording", "value": "Security", "label": "supports"},
        {"id": "x", "text": "second wording", "value": "Security", "label": "opposes"},
    ])
    tuples, problems = read_tuples(path, on_error="skip")
    assert len(tuples) == 1 and tuples[0].label == "supports"
    assert [(p.line, p.field) for p in problems] == [(2, "value")]


def test_with_system_unknown_values_reported_and_aliases_canonicalised(tmp_path):
    path = _write_lines(tmp_path / "csv.jsonl", [
        {"text": "国家富强", "value": "富强", "label": "supports"},        # alias → Prosperity
        {"text": "国家富强", "value": "rule of law", "label": "unrelated"},  # case → Rule of Law
        {"text": "国家富强", "value": "Wealth", "label": "supports"},       # not a csv12 value
        {"text": "国家富强", "value": "Prosperity", "label": "unrelated"},  # dup of line 1 via alias
    ])
    system = load_system("csv12")
    tuples, problems = read_tuples(path, system, on_error="skip")
    assert [(t.value, t.label) for t in tuples] == [("Prosperity", "supports"),
                                                    ("Rule of Law", "unrelated")]
    assert [(p.line, p.field) for p in problems] == [(3, "value"), (4, "value")]
    assert "unknown value 'Wealth' in system 'csv12'" in problems[0].message
    assert "already labelled for this text on line 1" in problems[1].message

    with pytest.raises(DataError, match=r"csv\.jsonl:3: field 'value': unknown value 'Wealth'"):
        read_tuples(path, system)


def test_with_system_label_outside_its_label_set(tmp_path):
    path = _write_lines(tmp_path / "t.jsonl", [
        {"text": "an argument", "value": "Face", "label": "opposes"},
    ])
    with pytest.raises(DataError) as info:
        read_tuples(path, load_system("touche20"))
    message = str(info.value)
    assert f"{path}:1: field 'label'" in message
    assert "not in the label set of system 'touche20'" in message


def test_without_system_any_value_name_is_accepted(tmp_path):
    path = _write_lines(tmp_path / "t.jsonl", [{"text": "t", "value": "  Anything ", "label": 1}])
    tuples, _ = read_tuples(path)
    assert tuples == [LabelledTuple("t", "Anything", "supports")]


def test_invalid_utf8_is_a_data_error_naming_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "caf\xe9", "value": "Security", "label": "supports"}\n')
    with pytest.raises(DataError) as info:
        read_tuples(path, on_error="stop")
    assert str(info.value).startswith(f"{path}:1: not valid UTF-8")


def test_invalid_utf8_on_a_later_line_names_that_line_and_skip_keeps_the_rest(tmp_path):
    path = tmp_path / "late.jsonl"
    good = json.dumps(GOOD1).encode() + b"\n"
    path.write_bytes(good + good.replace(b"Security", b"Power") + good.replace(b"Security", b"Face")
                     + b'{"text": "caf\xe9", "value": "Security", "label": "supports"}\n')
    with pytest.raises(DataError) as info:
        read_tuples(path)
    assert str(info.value).startswith(f"{path}:4: not valid UTF-8"), str(info.value)
    tuples, problems = read_tuples(path, on_error="skip")
    assert len(tuples) == 3
    assert [(p.line, p.kind) for p in problems] == [(4, "skipped")]


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD1).encode() + b"\n")
    tuples, problems = read_tuples(path)
    assert len(tuples) == 1 and problems == []


def test_missing_file(tmp_path):
    path = tmp_path / "absent.jsonl"
    with pytest.raises(DataError) as info:
        read_tuples(path)
    assert str(info.value) == f"{path}: no such file"


def test_directory_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_tuples(tmp_path)


def test_bad_on_error_mode_is_rejected(tmp_path):
    path = _write_lines(tmp_path / "ok.jsonl", [GOOD1])
    from clave_lite.errors import UsageError

    with pytest.raises(UsageError, match="on_error must be one of stop, skip"):  # one check, everywhere
        read_tuples(path, on_error="ignore")


def test_shipped_calibration_file_reads_cleanly(shared_data):
    path = shared_data / "valuecsv" / "calibration.jsonl"
    tuples, problems = read_tuples(path, load_system("csv12"))
    assert problems == []
    # README: exactly 100 labelled tuples per value, at most 50 supports, the rest unrelated
    per_value: dict[str, list[str]] = {}
    for t in tuples:
        per_value.setdefault(t.value, []).append(t.label)
    assert sorted(per_value) == sorted(load_system("csv12").value_names)
    for value, labels in per_value.items():
        assert len(labels) == 100, value
        assert set(labels) <= {"supports", "unrelated"}
        assert labels.count("supports") <= 50
