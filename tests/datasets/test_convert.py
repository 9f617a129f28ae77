"""Converters of the shipped raw data sets, checked against the raw files themselves.

Expected numbers are recomputed from the raw sources with deliberately simple, independent code
(plain json / csv parsing), so a converter bug cannot hide behind a hard-coded copy of its output.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from clave_lite.datasets.convert import (
    convert_fulcra,
    convert_touche23,
    convert_valuecsv,
)
from clave_lite.errors import DataError

SCHWARTZ = ["Self-direction", "Stimulation", "Hedonism", "Achievement", "Power",
            "Security", "Tradition", "Conformity", "Benevolence", "Universalism"]
CSV12 = ["Patriotism", "Dedication", "Integrity", "Friendliness", "Prosperity", "Democracy",
         "Civility", "Harmony", "Freedom", "Equality", "Justice", "Rule of Law"]


# --------------------------------------------------------------------------- independent oracles

def raw_fulcra_counts(path: Path) -> tuple[int, Counter, Counter]:
    """(dialogues, label counts, per-(value, label) counts) straight from FULCRA jsonl.

    A value listed with a negative sign anywhere in a row is 'opposes' (a violation must not be
    missed), else 'supports' if listed positively, else 'unrelated'. Names outside Schwartz-10
    (e.g. 'humility') are ignored.
    """
    known = {name.lower(): name for name in SCHWARTZ}
    rows = 0
    labels: Counter = Counter()
    per_value: Counter = Counter()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            rows += 1
            signs: dict[str, set[str]] = {}
            for entry in json.loads(line)["value_types"]:
                name, sign = entry.rsplit(":", 1)
                name = known.get(name.strip().lower())
                if name is not None and sign.strip() != "0":
                    signs.setdefault(name, set()).add("-" if "-" in sign else "+")
            for name in SCHWARTZ:
                got = signs.get(name, set())
                label = "opposes" if "-" in got else "supports" if "+" in got else "unrelated"
                labels[label] += 1
                per_value[name, label] += 1
    return rows, labels, per_value


def raw_binary_table(path: Path, delimiter: str, id_column: str) -> tuple[list[str], dict[str, int], int]:
    """(row ids, ones per column, total ones) of a 0/1 table with a header."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter,
                                quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        ids, ones = [], Counter()
        for row in reader:
            ids.append(row[id_column])
            for column, cell in row.items():
                if column != id_column:
                    ones[column] += int(cell)
    return ids, dict(ones), sum(ones.values())


def _labels(tuples) -> Counter:
    return Counter(t.label for t in tuples)


# --------------------------------------------------------------------------- FULCRA

def test_fulcra_dev_counts(shared_data):
    path = shared_data / "fulcra" / "dev.jsonl"
    tuples, problems = convert_fulcra([path])
    rows, expected, per_value = raw_fulcra_counts(path)
    assert rows == 271
    assert len(tuples) == 2710 == rows * 10
    assert len({t.key for t in tuples}) == 271
    assert _labels(tuples) == expected
    # the figures the independent parse gives (and the converter must match)
    assert expected == Counter(supports=643, opposes=53, unrelated=2014)
    assert Counter((t.value, t.label) for t in tuples) == per_value
    assert {t.system for t in tuples} == {"schwartz10"}
    assert all(p.kind == "note" for p in problems)  # nothing skipped in the shipped file


def test_fulcra_dev_tuples_follow_the_source_rows(shared_data):
    path = shared_data / "fulcra" / "dev.jsonl"
    tuples, _ = convert_fulcra([path])
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    # 10 tuples per row, in the system's value order, each carrying that row's dialogue
    for i, row in enumerate(raw):
        block = tuples[10 * i: 10 * i + 10]
        assert [t.value for t in block] == SCHWARTZ
        assert {t.text for t in block} == {row["dialogue"]}
        assert {t.id for t in block} == {f"fulcra-dev-{i + 1}"}
    # row 1 is "universalism: -1", "benevolence: +1"
    first = {t.value: t.label for t in tuples[:10]}
    assert first["Universalism"] == "opposes" and first["Benevolence"] == "supports"
    assert first["Security"] == "unrelated"


def test_fulcra_dev_humility_is_a_note_with_its_line(shared_data):
    path = shared_data / "fulcra" / "dev.jsonl"
    _, problems = convert_fulcra([path])
    humility_lines = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                      if any(e.lower().startswith("humility") for e in json.loads(line)["value_types"])]
    assert humility_lines == [48, 101, 201, 247]
    notes = [p for p in problems if "humility" in p.message]
    assert [p.line for p in notes] == humility_lines
    for p in notes:
        assert p.kind == "note" and p.field == "value_types" and p.source == str(path)
        assert "not a schwartz10 value" in p.message
        assert str(p).startswith(f"note: {path}:{p.line}:")


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_fulcra_dev_conflicting_signs_become_opposes_with_a_note(shared_data):
    path = shared_data / "fulcra" / "dev.jsonl"
    tuples, problems = convert_fulcra([path])
    # line 55: "benevolence: +1", "security: -1", "benevolence: -1"
    row = {t.value: t.label for t in tuples if t.id == "fulcra-dev-55"}
    assert row["Benevolence"] == "opposes" and row["Security"] == "opposes"
    assert any(p.line == 55 and "labelled both" in p.message and p.kind == "note" for p in problems)


def test_fulcra_train_counts(shared_data):
    path = shared_data / "fulcra" / "train.jsonl"
    tuples, problems = convert_fulcra([path])
    rows, expected, per_value = raw_fulcra_counts(path)
    assert rows == 1055
    assert len(tuples) == 10550
    assert len({t.key for t in tuples}) == 1055
    assert _labels(tuples) == expected
    assert Counter((t.value, t.label) for t in tuples) == per_value
    assert all(p.kind == "note" for p in problems)
    # the sloppy sign '1+' is read as supports and said so
    assert any("'1+'" in p.message and "supports" in p.message for p in problems)


def test_fulcra_two_files_concatenate(shared_data):
    dev = shared_data / "fulcra" / "dev.jsonl"
    train = shared_data / "fulcra" / "train.jsonl"
    tuples, _ = convert_fulcra([dev, train])
    assert len(tuples) == 2710 + 10550
    assert len({t.key for t in tuples}) == 271 + 1055


# --------------------------------------------------------------------------- Touché23

def test_touche_validation_counts(shared_data):
    folder = shared_data / "touche23-valueeval"
    tuples, problems = convert_touche23([folder / "arguments-validation.tsv"])
    ids, ones, total_ones = raw_binary_table(folder / "labels-validation.tsv", "\t", "Argument ID")
    assert problems == []
    assert len(ids) == 1896
    assert len(tuples) == 37920 == 1896 * 20
    assert len({t.key for t in tuples}) == 1896
    assert {t.key for t in tuples} == set(ids)
    assert _labels(tuples) == Counter(supports=total_ones, unrelated=37920 - total_ones)
    assert Counter(t.value for t in tuples if t.label == "supports") == {
        k: v for k, v in ones.items() if v}
    assert {t.system for t in tuples} == {"touche20"}


def test_touche_explicit_labels_path_and_text_form(shared_data):
    folder = shared_data / "touche23-valueeval"
    arguments = folder / "arguments-validation.tsv"
    tuples, _ = convert_touche23([arguments, folder / "labels-validation.tsv"])
    assert len(tuples) == 37920
    with open(arguments, encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    text = next(t.text for t in tuples if t.key == first["Argument ID"])
    assert first["Premise"].strip() in text
    assert first["Conclusion"].strip() in text and first["Stance"].strip() in text


# --------------------------------------------------------------------------- ValueCSV

def test_valuecsv_dev_counts(shared_data):
    path = shared_data / "valuecsv" / "dev.csv"
    tuples, problems = convert_valuecsv([path])
    texts, ones, total_ones = raw_binary_table(path, ",", "text")
    assert problems == []
    assert len(texts) == 500
    assert len(tuples) == 6000 == 500 * 12
    assert len({t.key for t in tuples}) == 500
    assert _labels(tuples) == Counter(supports=total_ones, unrelated=6000 - total_ones)
    per_value = Counter(t.value for t in tuples if t.label == "supports")
    assert per_value == {col.removesuffix("_scr"): n for col, n in ones.items() if n}
    assert [t.value for t in tuples[:12]] == CSV12
    assert tuples[0].text == texts[0].strip()


# --------------------------------------------------------------------------- malformed inputs

def _fulcra_row(dialogue: str, *types: str) -> str:
    return json.dumps({"dialogue": dialogue, "value_types": list(types)})


def test_fulcra_bad_json_stop_and_skip(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join([
        _fulcra_row("Human: a\nBob: b", "security: +1"),
        '{"dialogue": "Human: x", "value_types": [',
        _fulcra_row("Human: c\nBob: d", "power: -1", "hedonism: 1"),
    ]) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        convert_fulcra([path], "stop")
    assert str(info.value).startswith(f"{path}:2: invalid JSON")

    tuples, problems = convert_fulcra([path], "skip")
    assert len(tuples) == 20
    assert [(p.line, p.kind) for p in problems] == [(2, "skipped")]
    assert {t.id for t in tuples} == {"fulcra-f-1", "fulcra-f-3"}
    third = {t.value: t.label for t in tuples if t.id == "fulcra-f-3"}
    assert third["Power"] == "opposes" and third["Hedonism"] == "supports"
    assert Counter(third.values()) == Counter(opposes=1, supports=1, unrelated=8)


@pytest.mark.parametrize("row,field,fragment", [
    ({"value_types": ["security: +1"]}, "dialogue", "missing or empty"),
    ({"dialogue": "Human: a", "value_types": "security: +1"}, "value_types", "must be a list"),
    ({"dialogue": "Human: a", "value_types": ["security +1"]}, "value_types", "is not 'value: ±1'"),
    ({"dialogue": "Human: a", "value_types": ["security: 2"]}, "value_types", "sign must be +1, -1 or 0"),
])
def test_fulcra_bad_rows(tmp_path, row, field, fragment):
    path = tmp_path / "f.jsonl"
    path.write_text(_fulcra_row("Human: ok", "tradition: +1") + "\n" + json.dumps(row) + "\n",
                    encoding="utf-8")
    with pytest.raises(DataError) as info:
        convert_fulcra([path])
    assert str(info.value).startswith(f"{path}:2: field '{field}': ")
    assert fragment in str(info.value)
    tuples, problems = convert_fulcra([path], "skip")
    assert len(tuples) == 10 and [(p.line, p.field) for p in problems] == [(2, field)]


def test_fulcra_zero_and_plus_one_is_not_opposes(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text(_fulcra_row("Human: a\nBob: b", "security: 0", "security: +1") + "\n",
                    encoding="utf-8")
    tuples, _ = convert_fulcra([path])
    assert {t.value: t.label for t in tuples}["Security"] != "opposes"


TOUCHE_VALUES = ["Self-direction: thought", "Self-direction: action", "Stimulation", "Hedonism",
                 "Achievement", "Power: dominance", "Power: resources", "Face",
                 "Security: personal", "Security: societal", "Tradition", "Conformity: rules",
                 "Conformity: interpersonal", "Humility", "Benevolence: caring",
                 "Benevolence: dependability", "Universalism: concern", "Universalism: nature",
                 "Universalism: tolerance", "Universalism: objectivity"]


def _touche_files(folder: Path, label_rows: list[list[str]]) -> Path:
    arguments = folder / "arguments-mini.tsv"
    arguments.write_text(
        "Argument ID\tConclusion\tStance\tPremise\n"
        "X1\tWe should do A\tin favor of\tA helps people\n"
        "X2\tWe should ban B\tagainst\tB is harmless fun\n", encoding="utf-8")
    labels = folder / "labels-mini.tsv"
    labels.write_text("\t".join(["Argument ID", *TOUCHE_VALUES]) + "\n"
                      + "".join("\t".join(r) + "\n" for r in label_rows), encoding="utf-8")
    return arguments


def test_touche_small_files_convert(tmp_path):
    ones = ["0"] * 20
    ones[TOUCHE_VALUES.index("Hedonism")] = "1"
    arguments = _touche_files(tmp_path, [["X1", *["0"] * 20], ["X2", *ones]])
    tuples, problems = convert_touche23([arguments])
    assert problems == [] and len(tuples) == 40
    assert [(t.key, t.value) for t in tuples if t.label == "supports"] == [("X2", "Hedonism")]
    assert tuples[20].text == 'B is harmless fun (Stance: against "We should ban B")'


def test_touche_labels_row_with_a_two(tmp_path):
    bad = ["0"] * 20
    bad[TOUCHE_VALUES.index("Face")] = "2"
    arguments = _touche_files(tmp_path, [["X1", *["0"] * 20], ["X2", *bad]])
    labels = tmp_path / "labels-mini.tsv"
    with pytest.raises(DataError) as info:
        convert_touche23([arguments], "stop")
    assert str(info.value).startswith(f"{labels}:3: field 'Face': '2' is not 0 or 1")

    tuples, problems = convert_touche23([arguments], "skip")
    assert len(tuples) == 20 and {t.key for t in tuples} == {"X1"}
    assert (str(labels), 3, "Face") in [(p.source, p.line, p.field) for p in problems]
    # the argument that lost its labels is reported too, at its own line
    assert (str(arguments), 3, "Argument ID") in [(p.source, p.line, p.field) for p in problems]
    assert all(p.kind == "skipped" for p in problems)


def test_touche_missing_labels_file(tmp_path):
    arguments = _touche_files(tmp_path, [])
    (tmp_path / "labels-mini.tsv").unlink()
    with pytest.raises(DataError) as info:
        convert_touche23([arguments])
    assert str(info.value) == f"{tmp_path / 'labels-mini.tsv'}: no such file"


def test_touche_arguments_name_without_prefix_needs_labels_path(tmp_path):
    odd = tmp_path / "args.tsv"
    odd.write_text("Argument ID\tConclusion\tStance\tPremise\n", encoding="utf-8")
    with pytest.raises(DataError, match="cannot infer the labels file"):
        convert_touche23([odd])


def _csv_header() -> str:
    return "text," + ",".join(f"{v}_scr" for v in CSV12) + "\n"


def test_valuecsv_wrong_column_count(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(_csv_header()
                    + '"富强的国家",' + ",".join(["0"] * 4 + ["1"] + ["0"] * 7) + "\n"
                    + '"少了列",1,0,1\n'
                    + '"第三行",' + ",".join(["1"] + ["0"] * 11) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        convert_valuecsv([path], "stop")
    assert str(info.value).startswith(f"{path}:3: 4 columns, header has 13")

    tuples, problems = convert_valuecsv([path], "skip")
    assert len(tuples) == 24
    assert [(p.line, p.field) for p in problems] == [(3, None)]
    supports = [(t.text, t.value) for t in tuples if t.label == "supports"]
    assert supports == [("富强的国家", "Prosperity"), ("第三行", "Patriotism")]


def test_valuecsv_bad_cell_and_missing_column(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(_csv_header() + '"t",' + ",".join(["0"] * 11 + ["yes"]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"v\.csv:2: field 'Rule of Law': 'yes' is not 0 or 1"):
        convert_valuecsv([path])
    short = tmp_path / "short.csv"
    short.write_text("text,Patriotism_scr\n\"t\",1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"short\.csv:1: missing value column\(s\)"):
        convert_valuecsv([short])


# --------------------------------------------------------------------------- CLI

def test_cli_convert_fulcra_dev(run_cli, shared_data, tmp_path):
    out = tmp_path / "out.jsonl"
    result = run_cli("convert", "fulcra", shared_data / "fulcra" / "dev.jsonl", "-o", out)
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2710
    records = [json.loads(line) for line in lines]
    assert set(records[0]) == {"id", "text", "value", "label", "system"}
    assert Counter(r["label"] for r in records) == raw_fulcra_counts(
        shared_data / "fulcra" / "dev.jsonl")[1]
    assert "wrote 2710 tuples (271 texts)" in result.stderr
    assert "humility" in result.stderr  # the notes are shown


def test_cli_convert_json_summary(run_cli, shared_data, tmp_path):
    out = tmp_path / "out.jsonl"
    result = run_cli("convert", "valuecsv", shared_data / "valuecsv" / "dev.csv", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["tuples"] == 6000 and summary["texts"] == 500 and summary["skipped_lines"] == 0


def test_cli_convert_skip_exits_7(run_cli, tmp_path):
    src = tmp_path / "f.jsonl"
    src.write_text(_fulcra_row("Human: a\nBob: b", "security: +1") + "\n{not json\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_cli("convert", "fulcra", src, "-o", out, "--on-error", "skip")
    assert result.exit_code == 7, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 10
    assert f"skipped: {src}:2: invalid JSON" in result.stderr


def test_cli_convert_stop_exits_3_without_output(run_cli, tmp_path):
    src = tmp_path / "f.jsonl"
    src.write_text("{not json\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_cli("convert", "fulcra", src, "-o", out)
    assert result.exit_code == 3
    assert result.stderr.startswith(f"error: {src}:1: invalid JSON")
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_fulcra_items_pool_matches_the_converted_tuples(run_cli, shared_data, tmp_path):
    """Every FULCRA train item maps to a schwartz10 value, and each concept's sources are
    dialogues whose converted tuple carries the concept's value with the concept's label."""
    from clave_lite.calibration.concepts import read_pool
    from clave_lite.calibration.human_concepts import FULCRA_ITEM_VALUE
    from clave_lite.core.valuesystem import load_system

    source = shared_data / "fulcra" / "train.jsonl"
    pool_path = tmp_path / "items.jsonl"
    result = run_cli("concepts", "from-fulcra", source, "-o", pool_path, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["notes"] == 0  # no unknown or unreadable item in the shipped train split
    pool, problems = read_pool(pool_path)
    assert problems == [] and len(pool) == summary["concepts"] > 50
    names = {v.name for v in load_system("schwartz10").values}
    assert set(FULCRA_ITEM_VALUE.values()) == names
    tuples, _ = convert_fulcra([source])
    label_of = {(t.key, t.value): t.label for t in tuples}
    agree = total = 0
    for c in pool:
        assert c.concept.startswith("against: ") == (c.label == "opposes")
        for sid in c.source_ids:
            total += 1
            agree += label_of[(sid, c.value)] == c.label
    assert agree / total > 0.95  # the item's value/sign is the dialogue's value_types entry


@pytest.mark.slow  # converts all 5,393 Touché training arguments
def test_touche_level1_pool_matches_the_converted_tuples(run_cli, shared_data, tmp_path):
    """Each level-1 value becomes a supports concept on its category, and every argument it
    names supports that category in the converted touche20 tuples."""
    from clave_lite.calibration.concepts import read_pool

    folder = shared_data / "touche23-valueeval"
    pool_path = tmp_path / "l1.jsonl"
    result = run_cli("concepts", "from-touche", folder / "level1-labels-training.tsv", "-o", pool_path, "--json")
    assert result.exit_code == 0, result.output
    pool, problems = read_pool(pool_path)
    assert problems == [] and len(pool) == json.loads(result.stdout)["concepts"] == 54
    assert {c.system for c in pool} == {"touche20"} and {c.label for c in pool} == {"supports"}
    tuples, _ = convert_touche23([folder / "arguments-training.tsv"])
    label_of = {(t.key, t.value): t.label for t in tuples}
    for c in pool:
        assert all(label_of[(sid, c.value)] == "supports" for sid in c.source_ids), c.concept


def test_touche_level1_pool_refuses_a_table_that_is_not_one(run_cli, tmp_path):
    labels = tmp_path / "level1.tsv"
    labels.write_text("Argument ID\tBe brave\nA1\t1\n")
    (tmp_path / "value-categories.json").write_text(json.dumps({"Achievement": {"Be ambitious": []}}))
    result = run_cli("concepts", "from-touche", labels, "-o", tmp_path / "pool.jsonl")
    assert result.exit_code == 3 and "Be brave" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "pool.jsonl").exists()
    labels.write_text("Argument ID\tBe ambitious\nA1\t1\nA2\tyes\n")
    result = run_cli("concepts", "from-touche", labels, "-o", tmp_path / "pool.jsonl", "--on-error", "skip")
    assert result.exit_code == 7 and ":3:" in result.stderr
    assert json.loads((tmp_path / "pool.jsonl").read_text())["source_ids"] == ["A1"]


def test_fulcra_teacher_scores_become_thresholded_tuples(run_cli, tmp_path):
    src, out = tmp_path / "teacher.jsonl", tmp_path / "out.jsonl"
    scores = [0.9, -0.8, 0.1, 0.3, -0.05, 0.5, -0.5, 0.0, 0.49, -0.19]
    src.write_text(json.dumps({"prompt": "How do I pick a lock?", "answer": "I can't help with that.",
                               "value_reward": scores}) + "\n"
                   + json.dumps({"prompt": "x", "answer": "y", "value_reward": [2.0] * 10}) + "\n")
    result = run_cli("convert", "fulcra-teacher", src, "-o", out, "--on-error", "skip")
    assert result.exit_code == 7 and "value_reward" in result.stderr  # the out-of-range row is skipped
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    got = {r["value"]: r["label"] for r in rows}
    assert got == {"Self-direction": "supports", "Stimulation": "opposes", "Hedonism": "unrelated",
                   "Power": "unrelated", "Security": "supports", "Tradition": "opposes",
                   "Conformity": "unrelated", "Universalism": "unrelated"}  # 0.3 and 0.49: uncertain, left out
    assert rows[0]["text"] == "Human: How do I pick a lock?\nBob: I can't help with that."


@pytest.mark.parametrize("kind", ["valuecsv", "touche23"])
def test_invalid_utf8_is_a_line_error_not_an_internal_error(run_cli, tmp_path, kind):
    if kind == "valuecsv":
        src = tmp_path / "dev.csv"
        src.write_bytes(b"text,Prosperity\n\xe4\xb8\xad ok,1\nbad \xff byte,0\n")
    else:
        src = tmp_path / "arguments-x.tsv"
        src.write_bytes(b"Argument ID\tConclusion\tStance\tPremise\nA1\tc\tin favor of\tbad \xff\n")
        (tmp_path / "labels-x.tsv").write_bytes(b"Argument ID\tSelf-direction: thought\nA1\t1\n")
    result = run_cli("convert", kind, src, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 3, result.output
    assert f"{src}:" in result.stderr and "not valid UTF-8" in result.stderr and "internal error" not in result.stderr
