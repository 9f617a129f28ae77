"""Random bytes, random JSON and random YAML through the commands a user feeds files to
(convert, score, eval, systems show, report): every outcome is a documented exit code, and a
failure is one ``error:`` line, never ``internal error`` (exit 1) or a traceback.

No model is loaded: ``score`` is pointed at a model file that does not exist, so an input it
accepts ends in exit 4 (model missing) and an input it refuses in exit 3 (data) before any
model is read, as the command checks its input first.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from clave_lite import errors  # noqa: E402

DOCUMENTED = {errors.EXIT_OK, errors.EXIT_USAGE, errors.EXIT_DATA, errors.EXIT_MODEL, errors.EXIT_PARTIAL,
              errors.EXIT_FLAGGED}
FUZZ = settings(max_examples=int(os.environ.get("CLAVE_LITE_FUZZ_COMMAND_EXAMPLES", "40")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                derandomize=True, database=None)

scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                   st.text(max_size=20), st.sampled_from(["supports", "opposes", "Security", "schwartz10", "$x$"]))
json_value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=8) | st.sampled_from(
                                                              ["text", "id", "value", "label", "scores", "name",
                                                               "values", "labels", "system", "dialogue"]),
                                                              inner, max_size=4)), max_leaves=10)
jsonl = st.lists(json_value, max_size=4).map(lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode())
yaml_doc = json_value.map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode())
def _sometimes(clean, wild):
    """Mostly well-formed, sometimes anything: so fuzzing also gets past the first check."""
    return st.one_of(clean, clean, clean, wild)


probs = st.lists(st.floats(0, 1), min_size=3, max_size=3).map(
    lambda p: dict(zip(("p_supports", "p_opposes", "p_unrelated"), [x / (sum(p) or 1) for x in p])))
clean_row = st.fixed_dictionaries(
    {"id": st.text("abc", min_size=1, max_size=3), "system": st.just("schwartz10"),
     "scores": st.dictionaries(st.sampled_from(["Security", "Power", "Tradition"]),
                               st.builds(lambda label, p: {"label": label, **p},
                                         st.sampled_from(["supports", "opposes", "unrelated"]), probs),
                               min_size=1, max_size=3)},
    optional={"model": st.sampled_from(["a", "b $5 and $6", "$\\undefined{x}$"])})
wild_row = st.one_of(json_value, clean_row.flatmap(lambda row: st.sampled_from(sorted(row)).flatmap(
    lambda key: json_value.map(lambda v: {**row, key: v}))))
scores_file = st.one_of(st.lists(clean_row, min_size=1, max_size=4),
                        st.tuples(st.lists(clean_row, max_size=3), wild_row).map(lambda t: [*t[0], t[1]])).map(
    lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode())
system_doc = st.fixed_dictionaries(
    {"name": _sometimes(st.just("mine"), scalar),
     "labels": _sometimes(st.sampled_from([["supports", "unrelated"], ["supports", "opposes", "unrelated"]]), json_value),
     "values": _sometimes(st.lists(st.fixed_dictionaries(
         {"name": _sometimes(st.text("ABCdef ", min_size=1, max_size=6).filter(str.strip), scalar),
          "definition": _sometimes(st.text(min_size=1, max_size=20).filter(str.strip), scalar)}),
         min_size=1, max_size=3), json_value)},
    optional={"groups": json_value, "title": scalar, "description": scalar}).map(
    lambda v: yaml.safe_dump(v, allow_unicode=True).encode())
payload = st.one_of(st.binary(max_size=300), jsonl, yaml_doc, scores_file, system_doc)


SEEN: dict[tuple[str, int], int] = {}


def _assert_documented(result, command: str) -> None:
    SEEN[(command, result.exit_code)] = SEEN.get((command, result.exit_code), 0) + 1
    assert "Traceback" not in result.output + result.stderr, (command, result.stderr)
    assert result.exit_code in DOCUMENTED, (command, result.exit_code, result.stderr[-500:])
    if result.exit_code in (errors.EXIT_USAGE, errors.EXIT_DATA, errors.EXIT_MODEL):
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "internal error" not in lines[0], (command, result.stderr)


@FUZZ
@given(data=payload, fmt=st.sampled_from(["fulcra", "valuecsv", "touche23", "fulcra-teacher"]),
       suffix=st.sampled_from([".jsonl", ".csv", ".tsv"]))
def test_fuzz_convert(run_cli, tmp_path, data, fmt, suffix):
    src = tmp_path / f"in{suffix}"
    src.write_bytes(data)
    out = tmp_path / "out.jsonl"
    out.unlink(missing_ok=True)
    _assert_documented(run_cli("convert", fmt, src, "-o", out), f"convert {fmt}")


@FUZZ
@given(data=payload, suffix=st.sampled_from([".jsonl", ".csv"]))
def test_fuzz_score_and_eval(run_cli, tmp_path, data, suffix):
    src = tmp_path / f"in{suffix}"
    src.write_bytes(data)
    out = tmp_path / "out.jsonl"
    out.unlink(missing_ok=True)
    result = run_cli("score", src, "--model", tmp_path / "absent.gguf", "-o", out)
    _assert_documented(result, "score")
    assert result.exit_code != errors.EXIT_OK  # there is no model to score with
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "a", "text": "Be kind.", "value": "Benevolence", "label": "supports"}\n')
    _assert_documented(run_cli("eval", gold, "--predictions", src), "eval --predictions")
    _assert_documented(run_cli("eval", src, "--predictions", gold), "eval (gold)")


@FUZZ
@given(data=st.one_of(system_doc, payload))
def test_fuzz_systems_show(run_cli, tmp_path, data):
    src = tmp_path / "system.yaml"
    src.write_bytes(data)
    _assert_documented(run_cli("systems", "show", src), "systems show")


@FUZZ
@given(data=st.one_of(scores_file, payload))
@pytest.mark.slow  # draws figures: ~0.6 s an example
def test_fuzz_report(run_cli, tmp_path, data):
    pytest.importorskip("matplotlib")
    src = tmp_path / "scores.jsonl"
    src.write_bytes(data)
    out = tmp_path / "profile"
    _assert_documented(run_cli("report", src, "-o", out, "--force"), "report")


def test_the_fuzzers_reached_both_outcomes():
    """Runs last (file order): every command both accepted and refused some generated input, so
    the fuzzing reached past the first check."""
    if not SEEN:
        pytest.skip("run with the fuzz tests above")
    for command in ("systems show", "report"):
        codes = {code for (c, code), _ in SEEN.items() if c == command}
        if not codes:
            continue  # its fuzz test did not run (-m "not slow" leaves report out)
        assert errors.EXIT_OK in codes and codes - {errors.EXIT_OK}, (command, sorted(SEEN.items()))
