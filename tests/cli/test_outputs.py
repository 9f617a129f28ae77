"""Every command's outputs: never an input, never a file the user did not ask to replace,
never two outputs in one file (issue: the red-team pass over every command)."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "clave_lite.cli"]
FULCRA = json.dumps({"dialogue": "Human: hi\nBob: hello", "value_types": ["security: +1"],
                     "value_items": ["be safe: +1"]}) + "\n"


def test_score_never_writes_over_its_input_even_with_force(run_cli, tmp_path):
    src = tmp_path / "texts.jsonl"
    src.write_text(json.dumps({"text": "Be kind."}) + "\n")
    before = src.read_bytes()
    for spelling in (src, tmp_path / "." / "texts.jsonl"):
        result = run_cli("score", src, "-o", spelling, "--force")
        assert result.exit_code == 2 and "is also an input" in result.stderr, result.output
    assert src.read_bytes() == before


def test_parquet_score_never_writes_over_its_input(run_cli, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["Be kind."]}), src)
    before = src.read_bytes()
    result = run_cli("score", src, "-o", src, "--force")
    assert result.exit_code == 2 and "is also an input" in result.stderr
    assert src.read_bytes() == before


def test_concepts_from_fulcra_refuses_inputs_and_existing_files(run_cli, tmp_path):
    src = tmp_path / "fulcra.jsonl"
    src.write_text(FULCRA)
    result = run_cli("concepts", "from-fulcra", src, "-o", src)
    assert result.exit_code == 2 and "is also an input" in result.stderr and src.read_text() == FULCRA
    out = tmp_path / "pool.jsonl"
    out.write_text("precious\n")
    result = run_cli("concepts", "from-fulcra", src, "-o", out)
    assert result.exit_code == 2 and "--force" in result.stderr and out.read_text() == "precious\n"
    assert run_cli("concepts", "from-fulcra", src, "-o", out, "--force").exit_code == 0


def test_split_refuses_one_file_named_twice(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "tuples.jsonl"
    data.write_text("".join(json.dumps({"id": f"t{i}", "text": f"text {i}", "value": "Security",
                                        "label": "supports"}) + "\n" for i in range(10)))
    result = run_cli("split", data, "--validation-texts", "3", "-o", "a.jsonl", "--validation", tmp_path / "a.jsonl")
    assert result.exit_code == 2 and "name the same file" in result.stderr
    assert not (tmp_path / "a.jsonl").exists()


def test_calibrate_never_replaces_its_labels(run_cli, tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"text": "a", "value": "Security", "label": "supports"}) + "\n")
    before = labels.read_bytes()
    result = run_cli("calibrate", "--system", "schwartz10", "--labels", labels, "-o", labels, "--force", "--dry-run")
    assert result.exit_code == 2 and "is also an input" in result.stderr
    assert labels.read_bytes() == before


def test_convert_and_split_outputs_get_the_umask_mode(run_cli, tmp_path):
    src = tmp_path / "fulcra.jsonl"
    src.write_text(FULCRA)
    old = os.umask(0o022)
    try:
        out = tmp_path / "out.jsonl"
        assert run_cli("convert", "fulcra", src, "-o", out).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        os.chmod(out, 0o600)
        assert run_cli("convert", "fulcra", src, "-o", out, "--force").exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o600  # --force keeps the mode the user gave it
    finally:
        os.umask(old)


def test_ray_refuses_a_folder_that_already_holds_output(run_cli, tmp_path):
    pytest.importorskip("ray")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["Be kind."]}), src)
    out = tmp_path / "scored"
    out.mkdir()
    (out / "part-0.parquet").write_bytes(b"earlier run")
    result = run_cli("score", src, "--ray", "-o", out)
    assert result.exit_code == 2 and "not empty" in result.stderr


@pytest.mark.slow
def test_two_runs_into_one_output_cannot_interleave(default_model, tmp_path):
    src = tmp_path / "texts.jsonl"
    src.write_text(json.dumps({"text": "Be kind."}) + "\n")
    out = tmp_path / "scores.jsonl"
    with open(out, "a") as held:  # a first run holds the output
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        second = subprocess.run([*CLI, "score", str(src), "--model", str(default_model[1]), "-o", str(out), "--force"],
                                capture_output=True, text=True, timeout=300,
                                env={**os.environ, "CLAVE_LITE_HOME": str(default_model[0])})
    assert second.returncode == 2 and "another clave-lite run is writing it" in second.stderr
    assert out.read_text() == ""


@pytest.mark.slow
def test_a_rule_on_a_value_that_is_not_scored_is_refused(default_model, tmp_path):
    src = tmp_path / "texts.jsonl"
    src.write_text(json.dumps({"text": "I will hurt you."}) + "\n")
    env = {**os.environ, "CLAVE_LITE_HOME": str(default_model[0])}
    for command in (["filter", str(src)], ["score", str(src)]):
        run = subprocess.run([*CLI, *command, "--model", str(default_model[1]), "--values", "Security",
                              "--rule", "Benevolence/opposes>=0"], capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 2 and "could never fire" in run.stderr, run.stderr
        assert "--values Security,Benevolence" in run.stderr


def test_a_bad_cpu_path_setting_is_a_usage_error_not_a_traceback():
    result = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CLAVE_LITE_EXTRA_BUFTS": "bogus"})
    assert result.returncode == 2 and "must be on, off or auto" in result.stderr and "Traceback" not in result.stderr


def test_a_user_directory_that_is_a_file_is_a_clear_error(tmp_path):
    home = tmp_path / "home-is-a-file"
    home.write_text("x")
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"text": "Be kind."}) + "\n")
    result = subprocess.run([*CLI, "score", str(src)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CLAVE_LITE_HOME": str(home)})
    assert result.returncode == 2 and "CLAVE_LITE_HOME" in result.stderr and "internal error" not in result.stderr


def test_eval_refuses_baselines_it_would_ignore(run_cli, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"text": "a", "value": "Security", "label": "supports"}) + "\n")
    result = run_cli("eval", gold, "--system", "schwartz10", "--predictions", gold, "--baselines", "tfidf",
                     "--train", gold)
    assert result.exit_code == 2 and "--baselines" in result.stderr


def test_an_unknown_system_name_is_a_usage_error_in_calibrate_and_adapt(run_cli, tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"text": "a", "value": "Security", "label": "supports"}) + "\n")
    for args in (["calibrate", "--system", "nosuch", "--labels", labels, "-o", tmp_path / "pool.jsonl", "--dry-run"],
                 ["adapt", "--system", "nosuch", "--labels", labels, "-o", tmp_path / "x.gguf"]):
        result = run_cli(*args)
        assert result.exit_code == 2 and "no value system 'nosuch'" in result.stderr, (args, result.output)


def test_eval_refuses_predictions_for_other_texts_under_the_same_ids(run_cli, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "1", "text": "I help.", "value": "Security", "label": "supports"}) + "\n")
    other = tmp_path / "pred.jsonl"
    other.write_text(json.dumps({"id": "1", "text": "Something else.", "value": "Security", "label": "supports"}) + "\n")
    result = run_cli("eval", gold, "--system", "schwartz10", "--predictions", other)
    assert result.exit_code == 3 and "another text" in result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_on_stdout_is_a_clear_error(tmp_path):
    src = tmp_path / "fulcra.jsonl"
    src.write_text(FULCRA)
    for args in (["systems"], ["convert", "fulcra", str(src), "-o", "-"]):
        with open("/dev/full", "w") as full:
            run = subprocess.run([*CLI, *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
        assert run.returncode == 2 and "No space left" in run.stderr and "internal error" not in run.stderr, args
