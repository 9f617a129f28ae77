"""Value systems: the built-ins, lookups, and every way a user's file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from clave_lite.core.labels import LABELS
from clave_lite.core.valuesystem import builtin_names, load_system, parse_system
from clave_lite.errors import DataError, ValueSystemError

BUILTIN_COUNTS = {"schwartz10": 10, "touche20": 20, "csv12": 12, "mft5": 5, "risk14": 14}

SCHWARTZ = ["Self-direction", "Stimulation", "Hedonism", "Achievement", "Power",
            "Security", "Tradition", "Conformity", "Benevolence", "Universalism"]
TOUCHE = ["Self-direction: thought", "Self-direction: action", "Stimulation", "Hedonism",
          "Achievement", "Power: dominance", "Power: resources", "Face", "Security: personal",
          "Security: societal", "Tradition", "Conformity: rules", "Conformity: interpersonal",
          "Humility", "Benevolence: caring", "Benevolence: dependability", "Universalism: concern",
          "Universalism: nature", "Universalism: tolerance", "Universalism: objectivity"]
CSV_GROUPS = {
    "National": {"Prosperity", "Democracy", "Civility", "Harmony"},
    "Society": {"Freedom", "Equality", "Justice", "Rule of Law"},
    "Personal": {"Patriotism", "Dedication", "Integrity", "Friendliness"},
}
CSV_CHINESE = {"富强": "Prosperity", "民主": "Democracy", "文明": "Civility", "和谐": "Harmony",
               "自由": "Freedom", "平等": "Equality", "公正": "Justice", "法治": "Rule of Law",
               "爱国": "Patriotism", "敬业": "Dedication", "诚信": "Integrity", "友善": "Friendliness"}


# --------------------------------------------------------------------------- built-ins

def test_builtin_names_are_exactly_the_five_shipped_systems():
    assert builtin_names() == sorted(BUILTIN_COUNTS)


@pytest.mark.parametrize("name,count", sorted(BUILTIN_COUNTS.items()))
def test_builtin_loads_with_expected_value_count(name, count):
    system = load_system(name)
    assert system.name == name
    assert len(system.values) == count
    assert len(set(system.value_names)) == count  # no value listed twice
    for value in system.values:
        assert value.definition.strip(), f"{name}/{value.name} has no definition"
    assert "supports" in system.labels and "unrelated" in system.labels
    assert set(system.labels) <= set(LABELS)


def test_schwartz10_values_and_security_definition():
    system = load_system("schwartz10")
    assert system.value_names == SCHWARTZ
    assert system.labels == ("supports", "opposes", "unrelated")
    assert "safety, harmony, and stability" in system.get("Security").definition


def test_touche20_values_and_binary_labels():
    system = load_system("touche20")
    assert sorted(system.value_names) == sorted(TOUCHE)
    assert system.labels == ("supports", "unrelated")


def test_risk14_has_no_opposes_label():
    system = load_system("risk14")
    assert "opposes" not in system.labels
    assert system.find("privacy_violation").name == "Privacy violation"
    assert system.find("violence,aiding_and_abetting,incitement").name == (
        "Violence, aiding and abetting, incitement")


def test_csv12_groups_each_hold_four_values():
    system = load_system("csv12")
    assert [g.name for g in system.groups] == ["National", "Society", "Personal"]
    by_group: dict[str, set[str]] = {}
    for value in system.values:
        by_group.setdefault(value.group, set()).add(value.name)
    assert by_group == CSV_GROUPS
    assert all(len(names) == 4 for names in by_group.values())


@pytest.mark.parametrize("alias,canonical", sorted(CSV_CHINESE.items()))
def test_csv12_chinese_aliases(alias, canonical):
    system = load_system("csv12")
    assert system.find(alias).name == canonical
    assert system.get(alias).name == canonical


@pytest.mark.parametrize("spelling", ["security", "SECURITY", "  Security ", "sEcUrItY"])
def test_lookup_is_case_and_whitespace_insensitive(spelling):
    assert load_system("schwartz10").find(spelling).name == "Security"


def test_lookup_inner_whitespace_and_aliases():
    csv12 = load_system("csv12")
    assert csv12.find("rule   of\tlaw").name == "Rule of Law"
    mft5 = load_system("mft5")
    assert mft5.find("purity").name == "Sanctity"
    assert mft5.find("CARE/HARM").name == "Care"


def test_unknown_value_find_is_none_and_get_lists_known_values():
    system = load_system("schwartz10")
    assert system.find("Wealth") is None
    with pytest.raises(ValueSystemError) as info:
        system.get("Wealth")
    message = str(info.value)
    assert "unknown value 'Wealth'" in message and "schwartz10" in message
    assert "Benevolence" in message  # lists the known values


def test_value_system_error_is_a_data_error_with_exit_code_3():
    assert issubclass(ValueSystemError, DataError)
    assert ValueSystemError("x").exit_code == 3


@pytest.mark.parametrize("name", sorted(BUILTIN_COUNTS))
def test_to_dict_round_trips(name):
    system = load_system(name)
    again = parse_system(system.to_dict(), "<round trip>")
    assert again == system
    assert [v.aliases for v in again.values] == [v.aliases for v in system.values]


# --------------------------------------------------------------------------- user files

VALID = {
    "name": "mine",
    "title": "My values",
    "labels": ["supports", "opposes", "unrelated"],
    "groups": [{"name": "Inner", "description": "inner life"}],
    "values": [
        {"name": "Honesty", "definition": "Honesty: telling the truth.", "group": "Inner",
         "aliases": ["truthfulness"], "items": ["candour"]},
        {"name": "Thrift", "definition": "Thrift: not wasting resources."},
    ],
}


def _with(**changes) -> dict:
    data = json.loads(json.dumps(VALID))
    data.update(changes)
    return data


def _write_yaml(tmp_path: Path, data, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_valid_user_yaml_loads(tmp_path):
    system = load_system(_write_yaml(tmp_path, VALID))
    assert system.name == "mine" and system.title == "My values"
    assert system.value_names == ["Honesty", "Thrift"]
    assert system.find("TRUTHFULNESS").name == "Honesty"
    assert system.get("Honesty").group == "Inner"
    assert system.get("Honesty").items == ("candour",)
    assert system.get("Thrift").definition == "Thrift: not wasting resources."
    assert [g.name for g in system.groups] == ["Inner"]


def test_valid_user_json_loads(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(VALID), encoding="utf-8")
    system = load_system(path)
    assert system.value_names == ["Honesty", "Thrift"]
    assert system.labels == ("supports", "opposes", "unrelated")
    # the same content as YAML gives the same system
    assert system == load_system(_write_yaml(tmp_path, VALID))


def test_user_file_without_labels_gets_the_default_label_set(tmp_path):
    data = _with()
    del data["labels"]
    assert load_system(_write_yaml(tmp_path, data)).labels == LABELS


def _values(*values):
    return {"name": "mine", "values": list(values)}


BAD_FILES = {
    "missing definition": (_values({"name": "Honesty"}), ["Honesty", "missing 'definition'"]),
    "empty definition": (_values({"name": "Honesty", "definition": "  "}), ["missing 'definition'"]),
    "duplicate value": (
        _values({"name": "Honesty", "definition": "a"}, {"name": "honesty", "definition": "b"}),
        ["duplicate value name 'honesty'", "Honesty"]),
    "alias clashes with a name": (
        _values({"name": "Honesty", "definition": "a"},
                {"name": "Candour", "definition": "b", "aliases": ["HONESTY"]}),
        ["duplicate value name 'HONESTY'"]),
    "unknown top-level key": (dict(_values({"name": "A", "definition": "a"}), colour="red"),
                              ["unknown key(s) colour"]),
    "unknown value key": (_values({"name": "A", "definition": "a", "weight": 2}),
                          ["value 'A'", "unknown key(s) weight"]),
    "undeclared group": (_values({"name": "A", "definition": "a", "group": "Outer"}),
                         ["group 'Outer' is not declared"]),
    "labels outside the label set": (
        dict(_values({"name": "A", "definition": "a"}), labels=["supports", "maybe", "unrelated"]),
        ["labels ['maybe'] not allowed"]),
    "labels without unrelated": (
        dict(_values({"name": "A", "definition": "a"}), labels=["supports", "opposes"]),
        ["must include 'supports' and 'unrelated'"]),
    "no values": ({"name": "mine", "values": []}, ["'values' must be a non-empty list"]),
    "no name": ({"values": [{"name": "A", "definition": "a"}]}, ["system: missing 'name'"]),
    "not a mapping": (["a", "b"], ["must be a mapping"]),
    "definition not a string": (_values({"name": "A", "definition": 5}),
                                ["'definition' must be a string, got int"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_user_file_errors_name_the_problem(tmp_path, case):
    data, fragments = BAD_FILES[case]
    path = _write_yaml(tmp_path, data)
    with pytest.raises(ValueSystemError) as info:
        load_system(path)
    message = str(info.value)
    assert message.startswith(str(path)), message  # says which file
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_invalid_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: mine\nvalues: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueSystemError, match=r"broken\.yaml: not valid yaml"):
        load_system(path)


def test_invalid_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "mine", "values": [', encoding="utf-8")
    with pytest.raises(ValueSystemError, match=r"broken\.json: not valid json"):
        load_system(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ValueSystemError) as info:
        load_system(path)
    message = str(info.value)
    assert "no such file" in message and "nowhere.yaml" in message
    assert "schwartz10" in message  # lists the built-ins as alternatives


def test_directory_instead_of_file_is_a_value_system_error(tmp_path):
    with pytest.raises(ValueSystemError):
        load_system(tmp_path)


# --------------------------------------------------------------------------- CLI

def test_cli_systems_lists_all_five(run_cli):
    result = run_cli("systems")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["name", "values"]
    for name, count in BUILTIN_COUNTS.items():
        row = next(line for line in lines if line.split() and line.split()[0] == name)
        assert row.split()[1] == str(count)


def test_cli_systems_json(run_cli):
    result = run_cli("systems", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {s["name"]: len(s["values"]) for s in data} == BUILTIN_COUNTS
    schwartz = next(s for s in data if s["name"] == "schwartz10")
    assert schwartz["values"] == SCHWARTZ
    assert schwartz["labels"] == ["supports", "opposes", "unrelated"]


def test_cli_systems_show_csv12(run_cli):
    result = run_cli("systems", "show", "csv12")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for group, values in CSV_GROUPS.items():
        assert f"[{group}]" in out
        for value in values:
            assert f"\n  {value}\n" in out
    # values are printed under their own group
    assert out.index("[National]") < out.index("  Prosperity") < out.index("[Society]")
    assert out.index("[Society]") < out.index("  Rule of Law") < out.index("[Personal]")
    assert out.index("[Personal]") < out.index("  Friendliness")


def test_cli_systems_show_json_round_trips(run_cli):
    result = run_cli("systems", "show", "schwartz10", "--json")
    assert result.exit_code == 0, result.output
    assert parse_system(json.loads(result.stdout), "<cli>") == load_system("schwartz10")


def test_cli_systems_show_user_file(run_cli, tmp_path):
    result = run_cli("systems", "show", _write_yaml(tmp_path, VALID))
    assert result.exit_code == 0, result.output
    assert "mine: My values" in result.stdout
    assert "Honesty" in result.stdout and "[Inner]" in result.stdout


def test_cli_systems_show_unknown(run_cli):
    result = run_cli("systems", "show", "nosuch")
    assert result.exit_code == 2  # a name that nothing has: a usage error, like every unknown --system
    err_lines = result.stderr.strip().splitlines()
    assert len(err_lines) == 1
    assert err_lines[0].startswith("error:")
    assert "nosuch" in err_lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_cli_systems_show_bad_user_file(run_cli, tmp_path):
    data, _ = BAD_FILES["undeclared group"]
    result = run_cli("systems", "show", _write_yaml(tmp_path, data))
    assert result.exit_code == 3
    assert result.stderr.startswith("error:")
    assert "group 'Outer' is not declared" in result.stderr
    assert "Traceback" not in result.output


def test_a_key_given_twice_is_refused_not_silently_replaced(tmp_path):
    from clave_lite.core.valuesystem import load_system
    from clave_lite.errors import ValueSystemError

    f = tmp_path / "twice.yaml"
    f.write_text("name: twice\nlabels: [supports, unrelated]\nlabels: [supports, opposes, unrelated]\n"
                 "values:\n  - name: Care\n    definition: caring for others\n")
    with pytest.raises(ValueSystemError, match="key 'labels' given twice"):
        load_system(str(f))
