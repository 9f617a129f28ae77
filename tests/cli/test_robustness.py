"""Bad input never crashes clave-lite, and bad model files are refused before any scoring.

Every case ends in a result or in one line ``error: FILE:LINE: field 'x': ...`` with a
documented exit code (3 bad data, 4 bad model file, 7 finished with skipped lines); no
traceback ever reaches the user. Fuzzing (hypothesis) is bounded by ``max_examples`` so the
file runs in a couple of minutes on 2 cores; the tests that need the real default evaluator
share one build per session (``default_model`` in conftest.py).
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clave_lite.core.jsonl import ProblemLog
from clave_lite.core.tuples import read_tuples
from clave_lite.errors import DataError, ModelError
from clave_lite.runtime.texts import read_texts

REPO = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=int(os.environ.get("CLAVE_LITE_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                derandomize=True, database=None)
FUZZ_MODEL = settings(FUZZ, max_examples=int(os.environ.get("CLAVE_LITE_FUZZ_MODEL_EXAMPLES", "25")))
EXAMPLES_TRIED: dict[str, int] = {}  # reported at the end of the session (see the last test)


def _tried(name: str) -> None:
    EXAMPLES_TRIED[name] = EXAMPLES_TRIED.get(name, 0) + 1


def _error_line(result) -> str:
    """The one ``error:`` line a failed command prints; checks nothing else leaked."""
    assert "Traceback" not in result.output
    errors_ = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors_) == 1, result.stderr
    return errors_[0]


# Odd text: every Unicode category (lone surrogates included), NUL and other controls, emoji,
# right-to-left and combining marks, CJK, the template's own markers, long runs of whitespace.
ODD_PIECES = ["\x00", "\x01\x7f", "\u202e", "\u200b\ufeff", "e\u0301", "😀👍🏽👨‍👩‍👧", "مرحبا", "שלום", "公正和法治",
              "Ω≈ç√", "</response>", "Verdict: supports", "<|endoftext|>", "<start_of_turn>", "\r\n", "\t" * 50,
              " " * 300, "\ud800", "\udfff", "\\", '"', "\u2028"]
odd_text = st.lists(st.one_of(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40),
                              st.sampled_from(ODD_PIECES)), max_size=8).map("".join)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                        st.floats(allow_nan=True), odd_text)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                               st.dictionaries(odd_text, inner, max_size=3)),
                          max_leaves=6)
text_object = st.fixed_dictionaries({}, optional={"id": json_value, "text": st.one_of(odd_text, json_value),
                                                  "prompt": st.one_of(odd_text, json_value),
                                                  "value": st.one_of(st.sampled_from(["Security", "nope"]), json_value),
                                                  "label": st.one_of(st.sampled_from(["supports", "-1", "x"]), json_value),
                                                  "system": json_value})


def _damage(line: bytes, how: int) -> bytes:
    """Ways a JSONL line gets broken in the wild."""
    return [line, line[: len(line) // 2], line + b"}", b"\xff\xfe" + line, line.replace(b'"', b"'"),
            b"[" + line + b"]", line[:1] + b"\x00" + line[1:], b"   "][how]


jsonl_file = st.lists(st.tuples(text_object, st.integers(0, 7), st.booleans()), max_size=6).map(
    lambda rows: b"".join(_damage(json.dumps(obj, ensure_ascii=ascii_).encode("utf-8", "surrogatepass"), how) + b"\n"
                          for obj, how, ascii_ in rows))


def _check_reader(read, path: Path, n_lines: int) -> None:
    """``read(on_error)`` either returns, with each problem on a real line, or (stop) raises one
    DataError whose single line names the file and a line."""
    got, problems = read("skip")
    for p in problems:
        assert p.source == str(path) and 1 <= p.line <= max(n_lines, 1)
        assert "\n" not in str(p)
    try:
        got_stop, problems_stop = read("stop")
    except DataError as exc:
        message = str(exc)
        assert "\n" not in message
        assert re.match(re.escape(str(path)) + r":\d+: ", message), message
        assert problems, "stop refused what skip accepted"
    else:
        assert got_stop == got and not problems_stop


# --- reading: fuzzed ----------------------------------------------------------------------


@FUZZ
@given(data=st.one_of(jsonl_file, st.binary(max_size=400)))
@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_fuzz_jsonl_texts_and_tuples_read_without_crashing(tmp_path, data):
    _tried("jsonl files (texts and tuples readers)")
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    n_lines = data.count(b"\n") + 1

    def texts(mode):
        log = ProblemLog(mode)
        return list(read_texts(path, log)), log.problems

    _check_reader(texts, path, n_lines)
    _check_reader(lambda mode: read_tuples(path, None, mode), path, n_lines)
    records, problems = texts("skip")
    for rec in records:  # whatever is accepted is real text: it can be written as UTF-8 JSON
        json.dumps({"id": rec.id, "text": rec.text}, ensure_ascii=False).encode("utf-8")
        assert rec.text.strip()


csv_cell = st.one_of(odd_text.map(lambda s: "".join(c for c in s if not 0xD800 <= ord(c) <= 0xDFFF)),
                     st.sampled_from(['"', '""', ',', '\n', '\r\n', 'a"b', ' "x" ']))


@FUZZ
@given(rows=st.lists(st.tuples(csv_cell, csv_cell), max_size=5),
       raw=st.one_of(st.none(), st.binary(max_size=200)))
@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_fuzz_csv_reads_back_what_csv_writes_and_never_crashes(tmp_path, rows, raw):
    _tried("csv files")
    path = tmp_path / "in.csv"
    if raw is None:
        buf = io.StringIO(newline="")
        writer = csv.writer(buf)
        writer.writerow(["id", "text"])
        writer.writerows([(f"r{i}-{a}", b) for i, (a, b) in enumerate(rows)])
        path.write_bytes(buf.getvalue().encode("utf-8"))
    else:
        path.write_bytes(b"id,text\n" + raw)
    log = ProblemLog("skip")
    try:
        records = list(read_texts(path, log))
    except DataError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{path}:")
        return
    if raw is None:  # a well-formed CSV: every row with a non-blank text comes back unchanged
        expected = [(f"r{i}-{a}", b.replace("\x00", " ")) for i, (a, b) in enumerate(rows)
                    if b.replace("\x00", " ").strip()]
        assert [(r.id, r.text) for r in records] == expected
        assert len(log.problems) == len(rows) - len(expected)


# --- reading: hand-written cases, through the CLI -------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
JSONL_CASES = [  # (file content, line, field or None, message fragment)
    (b'{"id": "a"}\n', 1, "text", "missing"),
    (b'{"text": ""}\n', 1, "text", "is empty"),
    (b'{"text": " \\t\\n \\u3000"}\n', 1, "text", "is empty"),
    (b'{"text": 5}\n', 1, "text", "must be a string"),
    (b'{"text": ["a"]}\n', 1, "text", "must be a string"),
    (b'{"text": "a", "id": [1]}\n', 1, "id", "must be a string or integer"),
    (b'{"text": "\\u0000 \\u0000"}\n', 1, "text", "is empty"),
    (b'{"text": "a", "id": true}\n', 1, "id", "got bool"),
    (b'{"text": "a", "id": 1.5}\n', 1, "id", "got float"),
    (b'{"text": "a", "prompt": 3}\n', 1, "prompt", "must be a string"),
    (b'{"text": "a", "id": "\\ud800"}\n', 1, "id", "unpaired UTF-16 surrogate"),
    (b'{"text": "ok \\udfff ok"}\n', 1, "text", "unpaired UTF-16 surrogate"),
    (b'{"text": "a", "text": "b"}\n', 1, "text", "appears twice"),
    (b'{"text": "fine"}\n\n[1, 2]\n', 3, None, "expected a JSON object"),
    (b'{"text": "fine"}\n{"text": "cut\n', 2, None, "invalid JSON"),
    (b'{"text": "a", "id": ' + b"9" * 5000 + b"}\n", 1, None, "invalid JSON"),
    (b'{"text": ' + DEEP.encode() + b"}\n", 1, None, "nested too deeply"),
    (b'{"text": "caf\xe9"}\n', 1, None, "not valid UTF-8"),
    (b'{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n', 2, "id", "duplicate id 'x'"),
    (b'{"id": 7, "text": "a"}\n{"id": "7", "text": "b"}\n', 2, "id", "duplicate id '7'"),
]
CSV_CASES = [
    (b'id,text\na,"he said hi\nb,normal\nc,normal\n', 2, None, "never closes"),
    (b'id,text\na,"x"y\nb,fine\n', 2, None, "bad CSV quoting"),
    (b'id,text\na,ok\nb,bad \xff byte\n', 3, "text", "not valid UTF-8"),
    (b'id,text\na,ok,extra\n', 2, None, "more than the 2 header columns"),
    (b'id,text,text\na,ok,ok\n', 1, None, "appears twice in the header"),
    (b'id,body\na,ok\n', 1, None, "no 'text' column"),
    (b'', 1, None, "no 'text' column"),
    (b'id,text\na,"  "\n', 2, "text", "is empty"),
    (b'id,text\na,one\na,two\n', 3, "id", "duplicate id 'a'"),
    (b'id,text\na,"multi\nline"\nb,\n', 4, "text", "is empty"),
]


@pytest.mark.parametrize("suffix,content,line,field,fragment",
                         [(".jsonl", *c) for c in JSONL_CASES] + [(".csv", *c) for c in CSV_CASES],
                         ids=[f"jsonl{i}" for i in range(len(JSONL_CASES))] + [f"csv{i}" for i in range(len(CSV_CASES))])
def test_bad_input_stops_with_one_line_naming_file_line_field(run_cli, tmp_path, suffix, content, line, field,
                                                             fragment):
    src = tmp_path / f"in{suffix}"
    src.write_bytes(content)
    out = tmp_path / "out.jsonl"
    # --model names a missing file: if reading ever let a bad line through, this fails fast (exit 4)
    result = run_cli("score", src, "--model", tmp_path / "absent.gguf", "-o", out)
    assert result.exit_code == 3, result.output
    message = _error_line(result)
    where = f"error: {src}:{line}: " + (f"field '{field}': " if field else "")
    assert message.startswith(where), message
    assert fragment in message
    assert not out.exists()  # refused before anything was written


def test_missing_and_directory_inputs(run_cli, tmp_path):
    result = run_cli("score", tmp_path / "absent.jsonl", "--model", tmp_path / "absent.gguf")
    assert result.exit_code == 3 and _error_line(result) == f"error: {tmp_path / 'absent.jsonl'}: no such file"
    result = run_cli("score", tmp_path, "--model", tmp_path / "absent.gguf")
    assert result.exit_code == 3 and "is a directory" in _error_line(result)


def test_tuples_stop_and_skip_through_eval(run_cli, tmp_path):
    """Labelled tuples (eval) report the same way; skip goes on and exits 7."""
    src = tmp_path / "gold.jsonl"
    pred = tmp_path / "pred.jsonl"
    good = {"id": "a", "text": "t", "value": "Security", "label": "supports"}
    src.write_text("\n".join([json.dumps(good), '{"id": "b", "text": "t", "value": "Power", "label": "maybe"}',
                              '{"id": "c", "text": "t", "value": 3, "label": "supports"}', "{broken"]) + "\n")
    pred.write_text(json.dumps(good) + "\n")
    result = run_cli("eval", src, "--predictions", pred, "--json")
    assert result.exit_code == 3
    assert _error_line(result).startswith(f"error: {src}:2: field 'label': ")
    result = run_cli("eval", src, "--predictions", pred, "--json", "--on-error", "skip")
    assert result.exit_code == 7, result.output
    assert json.loads(result.stdout)["n"] == 1
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert skipped == [f"skipped: {src}:2: field 'label': 'maybe' is not one of supports, opposes, unrelated "
                       "(or 1, -1, 0)", f"skipped: {src}:3: field 'value': missing or empty",
                       f"skipped: {src}:4: invalid JSON (Expecting property name enclosed in double quotes at column 2)"]


# --- odd text through the real default evaluator ----------------------------------------------


@pytest.fixture(scope="module")
def evaluator(default_model):
    from clave_lite.runtime.evaluator import Evaluator

    ev = Evaluator.load(default_model[1])
    yield ev
    ev.close()


@pytest.fixture
def cli_on_loaded_evaluator(monkeypatch, evaluator, run_cli):
    """``score`` through the CLI, but on the already loaded evaluator (no 10 s load per call)."""
    import clave_lite.build.loading as evaluator_module

    class Shared:
        def __getattr__(self, name):
            return getattr(evaluator, name)

        def close(self):
            pass

    monkeypatch.setattr(evaluator_module, "load_evaluator", lambda *a, **k: Shared())
    return run_cli


@FUZZ_MODEL
@given(texts=st.lists(odd_text, min_size=1, max_size=3))
def test_fuzz_odd_texts_score_to_probabilities(evaluator, texts):
    _tried("odd texts scored by the default evaluator")
    texts = [t for t in texts if t.strip()] or ["x"]
    results = evaluator.score(texts, values=["Security", "Benevolence"])
    assert len(results) == len(texts)
    for r in results:
        for s in r.scores:
            assert abs(sum(s.probs.values()) - 1) < 1e-6 and all(0 <= p <= 1 for p in s.probs.values())


@FUZZ_MODEL
@given(data=jsonl_file, mode=st.sampled_from(["stop", "skip"]))
def test_fuzz_score_cli_ends_in_result_or_one_line_error(cli_on_loaded_evaluator, tmp_path_factory, data, mode):
    _tried("jsonl files scored through the CLI")
    src = tmp_path_factory.mktemp("fuzz") / "in.jsonl"
    src.write_bytes(data)
    result = cli_on_loaded_evaluator("score", src, "--values", "Security", "--on-error", mode)
    assert "Traceback" not in result.output and "internal error" not in result.output
    log = ProblemLog("skip")
    expected = [r.id for r in read_texts(src, log)]
    if mode == "stop" and log.problems:
        assert result.exit_code == 3
        assert _error_line(result).startswith(f"error: {src}:{log.problems[0].line}: ")
        return
    assert result.exit_code == (7 if log.problems else 0), result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == expected


def test_mixed_good_and_bad_lines_skip_goes_on(cli_on_loaded_evaluator, tmp_path):
    src = tmp_path / "mixed.jsonl"
    bad = [c[0] for c in JSONL_CASES if c[1] == 1]
    src.write_bytes(b'{"id": "first", "text": "I will not help you steal."}\n' + b"".join(bad)
                    + '{"id": "last", "text": "Ich helfe gern. 我愿意帮忙 😀 \u202eمرحبا"}\n'.encode())
    result = cli_on_loaded_evaluator("score", src, "--values", "Security", "--on-error", "skip")
    assert result.exit_code == 7, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["first", "last"]
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert [int(line.split(":")[2]) for line in skipped] == list(range(2, 2 + len(bad)))
    assert "Traceback" not in result.output


def test_empty_and_blank_inputs_give_empty_output(cli_on_loaded_evaluator, tmp_path):
    for name, content in (("empty.jsonl", b""), ("blank.jsonl", b"\n  \n\t\n"), ("header.csv", b"id,text\n")):
        src = tmp_path / name
        src.write_bytes(content)
        result = cli_on_loaded_evaluator("score", src, "--values", "Security")
        assert result.exit_code == 0 and result.stdout == "", (name, result.output)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_one_megabyte_text_is_read_in_windows_and_the_rest_reported(cli_on_loaded_evaluator, tmp_path, suffix):
    text = ("Ünïcode words, 公正 and emoji 😀 " * 40_000)[:1_000_000]
    src = tmp_path / f"big{suffix}"
    if suffix == ".csv":
        src.write_text('id,text\nbig,"' + text.replace('"', '""') + '"\nsmall,hello\n', encoding="utf-8")
    else:
        src.write_text(json.dumps({"id": "big", "text": text}, ensure_ascii=False) + '\n{"id": "small", "text": "hello"}\n',
                       encoding="utf-8")
    result = cli_on_loaded_evaluator("score", src, "--values", "Security")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["big", "small"]
    assert rows[0]["truncated_tokens"] > 100_000 and "truncated_tokens" not in rows[1]
    assert "too long to read whole" in result.stderr


def test_eval_unknown_system_or_value_names_file_line_field(run_cli, default_model, tmp_path):
    model = default_model[1]
    src = tmp_path / "gold.jsonl"
    src.write_text('{"text": "t", "value": "Security", "label": "supports"}\n'
                   '{"text": "u", "value": "Security", "label": "supports", "system": "nosuch"}\n')
    result = run_cli("eval", src, "--model", model)
    assert result.exit_code == 3
    assert _error_line(result).startswith(f"error: {src}:2: field 'system': the evaluator has no value system 'nosuch'")
    src.write_text('{"text": "t", "value": "Security", "label": "supports"}\n'
                   '{"text": "t", "value": "Sekurity", "label": "supports", "system": "schwartz10"}\n')
    result = run_cli("eval", src, "--model", model)
    assert result.exit_code == 3
    assert _error_line(result).startswith(f"error: {src}:2: field 'value': unknown value 'Sekurity'")


def test_score_unknown_values_and_system_flags(run_cli, default_model, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "hello"}\n')
    result = run_cli("score", src, "--model", default_model[1], "--values", "Security,Nonsense")
    # one rule for every command: a name given on the command line that does not exist is a
    # usage error (exit 2), as README documents (the hardening issue: it was 3 or 4 by command)
    assert result.exit_code == 2 and "unknown value 'Nonsense'" in _error_line(result)
    result = run_cli("score", src, "--model", default_model[1], "--system", "nosuch")
    assert result.exit_code == 2 and "no value system 'nosuch'" in _error_line(result)


# --- model files ---------------------------------------------------------------------------


def _synthetic_gguf(path: Path, manifest: str | None, arch: str = "llama", n_vocab: int = 16, extra=None) -> Path:
    """A small, well-formed GGUF (no real weights) carrying ``manifest``: for the checks that
    come before llama.cpp ever sees a file. ``extra(writer)`` adds metadata."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), arch)
    if n_vocab:
        w.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(n_vocab)])
    if extra is not None:
        extra(w)
    if manifest is not None:
        w.add_string("clave_lite.manifest", manifest)
    w.add_tensor("token_embd.weight", np.zeros((n_vocab, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _manifest_dict() -> dict:
    from clave_lite.core.prompt import TEMPLATES
    from clave_lite.core.valuesystem import load_system
    from clave_lite.formats.manifest import Manifest

    return json.loads(Manifest([load_system("schwartz10")], TEMPLATES["short"], [1, 2, 3], "schwartz10").to_json())


def _edit(**changes):
    def apply(d: dict) -> dict:
        for dotted, value in changes.items():
            target = d
            *parents, key = dotted.split(".")
            for p in parents:
                target = target[p]
            target[key] = value
        return d
    return apply


MANIFEST_CASES = [  # (how the manifest is changed, fragment of the refusal)
    (_edit(format_version=2), "evaluator format 2 is not supported"),
    (_edit(**{"template.version": 99}), "prompt template version 99 is not supported"),
    (_edit(**{"template.max_text_tokens": "many"}), "max_text_tokens"),
    (_edit(**{"template.label_words": {"supports": " yes"}}), "label words"),
    (_edit(labels=["yes", "no"]), "unexpected label set"),
    (_edit(label_token_ids=[1, 2, 999]), "label token ids outside the vocabulary"),
    (_edit(label_token_ids=[1, 2]), "label token ids"),
    (_edit(default_system="nosuch"), "default system 'nosuch'"),
    (_edit(systems=[]), "damaged clave-lite manifest"),
    (_edit(systems=[{"name": "x"}]), "damaged clave-lite manifest"),
    (_edit(biases={"schwartz10": {"Security": "high"}}), "bias of 'schwartz10'/'Security'"),
    (_edit(biases={"schwartz10": {"Security": [0, 0, float("nan")]}}), "bias of"),
    (lambda d: [d], "damaged clave-lite manifest"),
    (lambda d: None, "damaged clave-lite manifest"),
]


def test_synthetic_gguf_with_a_sound_manifest_passes_the_checks(tmp_path):
    from clave_lite.formats.manifest import read_gguf_manifest

    manifest = read_gguf_manifest(_synthetic_gguf(tmp_path / "ok.gguf", json.dumps(_manifest_dict())))
    assert manifest.default_system == "schwartz10"


@pytest.mark.parametrize("change,fragment", MANIFEST_CASES, ids=[f"manifest{i}" for i in range(len(MANIFEST_CASES))])
def test_incompatible_or_damaged_manifest_is_refused_before_scoring(run_cli, tmp_path, change, fragment):
    model = _synthetic_gguf(tmp_path / "bad.gguf", json.dumps(change(_manifest_dict())))
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "hello"}\n')
    out = tmp_path / "out.jsonl"
    result = run_cli("score", src, "--model", model, "-o", out)
    assert result.exit_code == 4, result.output
    message = _error_line(result)
    assert message.startswith(f"error: {model}") and fragment in message, message
    assert not out.exists() and result.stdout == ""


@pytest.mark.parametrize("case", ["foreign-arch", "no-manifest", "not-gguf", "empty", "directory", "manifest-not-json"])
def test_foreign_gguf_and_other_files_are_refused(run_cli, tmp_path, case):
    model = tmp_path / "model.gguf"
    fragment = {
        "foreign-arch": "architecture 'bert' is not supported",
        "no-manifest": "not a clave-lite evaluator",
        "not-gguf": "not a GGUF file",
        "empty": "not a GGUF file",
        "directory": "not an ONNX evaluator directory",
        "manifest-not-json": "damaged clave-lite manifest",
    }[case]
    if case == "foreign-arch":
        _synthetic_gguf(model, json.dumps(_manifest_dict()), arch="bert")
    elif case == "no-manifest":
        _synthetic_gguf(model, None)
    elif case == "not-gguf":
        model.write_bytes(b"\x80\x04\x95pickle-looking bytes" + os.urandom(64))
    elif case == "empty":
        model.write_bytes(b"")
    elif case == "directory":
        model = tmp_path / "somedir"
        model.mkdir()
    else:
        _synthetic_gguf(model, '{"format_version": 1, "systems": [')
    result = run_cli("score", "-", "--model", model, input='{"text": "hello"}\n')
    assert result.exit_code == 4, result.output
    assert fragment in _error_line(result)


def _deeply_nested_gguf(path: Path, depth: int) -> Path:
    """A GGUF whose one extra metadata value is an array of an array of ... ``depth`` deep."""
    import struct

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    array, string_type = 9, 8
    kv = string("general.architecture") + struct.pack("<I", string_type) + string("llama")
    kv += string("x") + struct.pack("<I", array) + struct.pack("<IQ", array, 1) * depth + struct.pack("<IQ", 4, 0)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + kv)
    return path


CRAFTED = {
    "alignment 0": (lambda p: _synthetic_gguf(p, json.dumps(_manifest_dict()),
                                               extra=lambda w: w.add_uint32("general.alignment", 0)),
                    "general.alignment 0 is not a positive power of two"),
    "alignment string": (lambda p: _synthetic_gguf(p, json.dumps(_manifest_dict()),
                                                    extra=lambda w: w.add_string("general.alignment", "32")),
                         "general.alignment '32' is not a positive power of two"),
    "nested arrays": (lambda p: _deeply_nested_gguf(p, 200_000), "nested more than 8 deep"),
    "nested manifest": (lambda p: _synthetic_gguf(p, "[" * 200_000 + "]" * 200_000), "nested too deeply"),
    "no vocabulary": (lambda p: _synthetic_gguf(p, json.dumps(_manifest_dict()), n_vocab=0),
                      "no tokenizer vocabulary"),
    "bos outside": (lambda p: _synthetic_gguf(p, json.dumps(_manifest_dict()),
                                               extra=lambda w: w.add_uint32("tokenizer.ggml.bos_token_id", 999)),
                    "tokenizer.ggml.bos_token_id 999 is outside the vocabulary"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_gguf_files_are_a_model_error_with_a_reason(run_cli, tmp_path, case):
    """Crafted metadata that gave `internal error` (exit 1) or made llama.cpp abort: exit 4, named."""
    make, fragment = CRAFTED[case]
    model = make(tmp_path / "crafted.gguf")
    result = run_cli("score", "-", "--model", model, input='{"text": "hello"}\n')
    assert result.exit_code == 4, (result.exit_code, result.output, result.stderr)
    assert fragment in _error_line(result)


@pytest.mark.slow  # loads a real vocabulary into llama.cpp
def test_markers_that_are_not_control_tokens_are_a_model_error(run_cli, tmp_path):
    """A v3 template names control-token markers; a vocabulary without them (SmolLM2 has no
    Gemma turn markers) is refused at load (exit 4), not an internal error mid-run."""
    from clave_lite.build.ggufio import copy_with_strings
    from clave_lite.formats.manifest import MANIFEST_KEY
    from support.tiny_models import smollm2_file

    manifest = _manifest_dict()
    manifest["template"].update(open_marker="<start_of_turn>", close_marker="<end_of_turn>")
    model = copy_with_strings(smollm2_file(), tmp_path / "markers.gguf", {MANIFEST_KEY: json.dumps(manifest)})
    result = run_cli("score", "-", "--model", model, input='{"text": "hello"}\n')
    assert result.exit_code == 4, (result.output, result.stderr)
    assert "are not control tokens of this vocabulary" in _error_line(result)


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_foreign_onnx_is_refused(run_cli, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    folder = tmp_path / "foreign-onnx"
    folder.mkdir()
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "add",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "model.onnx"))
    (folder / "vocab.gguf").write_bytes(b"GGUF")

    def score_with(model):
        return run_cli("score", "-", "--model", model, input='{"text": "hello"}\n')

    result = score_with(folder)
    assert result.exit_code == 4 and "no manifest.json" in _error_line(result)
    (folder / "manifest.json").write_bytes(b"\xff\xfe not utf-8")
    result = score_with(folder)
    assert result.exit_code == 4 and "manifest.json: cannot read it" in _error_line(result)
    (folder / "manifest.json").write_text(json.dumps(_manifest_dict()))
    result = score_with(folder)
    assert result.exit_code == 4 and "not a clave-lite evaluator graph" in _error_line(result)
    result = score_with(folder / "model.onnx")  # the .onnx file itself names its directory
    assert result.exit_code == 4 and "not a clave-lite evaluator graph" in _error_line(result)
    # the right input names with the wrong types
    names = ("input_ids", "position_ids", "attention_mask", "read_rows", "read_cols")

    def graph_with(types):
        inputs = [helper.make_tensor_value_info(n, t, None) for n, t in zip(names, types)]
        g = helper.make_graph([helper.make_node("Cast", ["input_ids"], ["label_logits"], to=TensorProto.FLOAT)],
                              "g", inputs, [helper.make_tensor_value_info("label_logits", TensorProto.FLOAT, None)])
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "model.onnx"))

    graph_with([TensorProto.FLOAT] * 5)
    result = score_with(folder)
    assert result.exit_code == 4 and "the graph's inputs have types" in _error_line(result)
    # the right graph interface, then a vocabulary llama.cpp would abort on (no tokens)
    graph_with([TensorProto.INT64, TensorProto.INT64, TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT64])
    _synthetic_gguf(folder / "vocab.gguf", None, n_vocab=0)
    result = score_with(folder)
    assert result.exit_code == 4 and "no tokenizer vocabulary" in _error_line(result), result.stderr
    (folder / "model.onnx").write_bytes(b"\x08\x07 not a protobuf graph" * 10)
    result = score_with(folder)
    assert result.exit_code == 4 and "onnxruntime cannot load it" in _error_line(result)


def _patched(path: Path, offset: int, data: bytes):
    """Context manager: ``data`` written at ``offset`` of ``path``, restored afterwards."""
    import contextlib

    @contextlib.contextmanager
    def cm():
        with open(path, "r+b") as fh:
            fh.seek(offset)
            original = fh.read(len(data))
            fh.seek(offset)
            fh.write(data)
        try:
            yield
        finally:
            with open(path, "r+b") as fh:
                fh.seek(offset)
                fh.write(original)
    return cm()


def _score_subprocess(model: Path, src: Path, home: Path) -> subprocess.CompletedProcess:
    """In a child process: llama.cpp may abort the whole process on some damaged files."""
    env = {**os.environ, "CLAVE_LITE_HOME": str(home)}
    env.pop("CLAVE_LITE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "clave_lite.cli", "score", str(src), "--model", str(model),
                           "--values", "Security"], capture_output=True, text=True, timeout=300, env=env)


def test_damaged_copies_of_the_real_evaluator(default_model, tmp_path):
    """Truncated, re-versioned and byte-damaged copies of the real default GGUF: refused (exit
    4) with one line, before any scoring; random damage to the header ends in exit 0 or 4,
    never a crash."""
    import random
    import shutil

    home, model, _ = default_model
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "I will not help you steal."}\n')
    work = tmp_path / "damaged.gguf"
    shutil.copyfile(model, work)
    header = work.read_bytes()[:8 << 20]
    manifest_at = header.index(b'"format_version": 1')
    labels_at = header.index(b'"labels": [', manifest_at)
    refusals = {
        "magic": (0, b"GGUG", "not a GGUF file"),
        "gguf version": (4, (99).to_bytes(4, "little"), "damaged or truncated GGUF"),
        "tensor count": (8, (1 << 62).to_bytes(8, "little"), "damaged or truncated GGUF"),
        "kv count": (16, (1 << 62).to_bytes(8, "little"), "damaged or truncated GGUF"),
        "format version": (manifest_at, b'"format_version": 7', "evaluator format 7 is not supported"),
        "manifest json": (labels_at, b'"labels": {', "damaged clave-lite manifest"),
    }
    for name, (offset, data, fragment) in refusals.items():
        with _patched(work, offset, data):
            proc = _score_subprocess(work, src, home)
        assert proc.returncode == 4, (name, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr and proc.stdout == "", name
        assert fragment in proc.stderr, (name, proc.stderr[-500:])
    rng = random.Random(1234)
    for trial in range(3):  # random bytes somewhere in the header (metadata, vocabulary, tensor table)
        offset = rng.randrange(24, len(header) - 64)
        with _patched(work, offset, bytes(rng.randrange(256) for _ in range(16))):
            proc = _score_subprocess(work, src, home)
        assert proc.returncode in (0, 4), (trial, offset, proc.returncode, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr
    for keep in (len(header) // 2, work.stat().st_size // 2, work.stat().st_size - 1):
        cut = tmp_path / f"cut-{keep}.gguf"
        with open(work, "rb") as fh_in, open(cut, "wb") as fh_out:
            remaining = keep
            while remaining:
                block = fh_in.read(min(remaining, 1 << 24))
                fh_out.write(block)
                remaining -= len(block)
        proc = _score_subprocess(cut, src, home)
        assert proc.returncode == 4 and "truncated" in proc.stderr, (keep, proc.stderr[-2000:])
        cut.unlink()


def test_base_weights_are_checked_against_the_model_card(monkeypatch, tmp_path):
    """A base file is used only if its sha256 matches its card, and re-checked when it changes."""
    import hashlib

    import clave_lite.formats.base_models as bm

    folder = tmp_path / "pkg"
    folder.mkdir()
    weights = folder / "base.gguf"
    weights.write_bytes(b"GGUF" + b"\x01" * 1000)
    card = {"name": "fake", "how_to_get": "package_file", "module": "fake_pkg", "pip_package": "fake-pkg",
            "file": "base.gguf", "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    monkeypatch.setattr(bm, "cards", lambda: {"fake": card})
    monkeypatch.setattr(bm, "_package_dir", lambda module, pip: folder)
    assert bm.base_path("fake") == weights
    weights.write_bytes(b"GGUF" + b"\x02" * 1000)  # same size, new content (and mtime)
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    with pytest.raises(ModelError, match="does not match the model card"):
        bm.base_path("fake")
    card["sha256"] = "0" * 64
    weights.write_bytes(b"GGUF" + b"\x01" * 1000)
    with pytest.raises(ModelError, match="does not match the model card.*reinstall fake-pkg"):
        bm.base_path("fake")


def test_shipped_cards_pin_sha256():
    from clave_lite.formats.base_models import cards

    for name, card in cards().items():
        assert re.fullmatch(r"[0-9a-f]{64}", card["sha256"]), name


# --- nothing that executes code from a file -----------------------------------------------

CODE_DIRS = [REPO / "clave_lite", REPO / "export"]


def _python_files():
    for folder in CODE_DIRS:
        yield from sorted(folder.rglob("*.py"))


def test_no_pickle_and_no_remote_code_anywhere_in_the_code():
    """No module imports pickle-based loaders; torch.load always has weights_only=True; numpy
    never allows pickles; YAML is read with safe_load only; trust_remote_code is never passed
    (not even as False: no hub code); no eval/exec."""
    problems = []
    for path in _python_files():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                for n in names:
                    if n.split(".")[0] in ("pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"):
                        problems.append(f"{where}: imports {n}")
            if isinstance(node, ast.Call):
                func = ast.unparse(node.func)
                kwargs = {k.arg: ast.unparse(k.value) for k in node.keywords}
                if func.endswith("torch.load") or func == "load" and "weights_only" in kwargs:
                    if kwargs.get("weights_only") != "True":
                        problems.append(f"{where}: {func}(...) without weights_only=True")
                if func.endswith(("np.load", "numpy.load")) and kwargs.get("allow_pickle") not in (None, "False"):
                    problems.append(f"{where}: np.load with allow_pickle")
                if func.endswith(("yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all")):
                    problems.append(f"{where}: {func} (only yaml.safe_load builds plain data)")
                if "trust_remote_code" in kwargs:
                    problems.append(f"{where}: trust_remote_code passed")
                if func in ("eval", "exec"):
                    problems.append(f"{where}: {func}()")
        if "trust_remote_code" in source:
            problems.append(f"{path.relative_to(REPO)}: mentions trust_remote_code")
    assert problems == []


def test_scoring_and_eval_never_unpickle(run_cli, default_model, tmp_path, monkeypatch):
    from support.netguard import forbid_unpickling

    calls = forbid_unpickling(monkeypatch)
    src = tmp_path / "gold.jsonl"
    src.write_text('{"text": "I will not help you steal.", "value": "Security", "label": "supports"}\n')
    assert run_cli("score", src, "--model", default_model[1], "--values", "Security").exit_code == 0
    assert run_cli("eval", src, "--model", default_model[1], "--json").exit_code == 0
    assert calls == []


def test_report_fuzz_counts():
    """Not a check: prints how many cases hypothesis tried in this session (pytest -s, or -rA)."""
    print("hypothesis cases tried:", json.dumps(EXAMPLES_TRIED, ensure_ascii=False))
