"""The command line's own surface: help, version, usage errors."""

from __future__ import annotations

import re

from clave_lite import __version__


def test_help_lists_the_commands(run_cli):
    result = run_cli("--help")
    assert result.exit_code == 0, result.output
    commands = result.stdout.split("Commands:", 1)[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert {"systems", "convert", "eval"} <= listed
    assert "CLAVE_LITE_HOME" in result.stdout


def test_short_help_flag(run_cli):
    assert run_cli("-h").stdout == run_cli("--help").stdout


def test_version(run_cli):
    result = run_cli("--version")
    assert result.exit_code == 0
    first, *rest = result.stdout.strip().splitlines()
    assert first == f"clave-lite, version {__version__}"
    assert rest[0].startswith("llama.cpp (llama-cpp-python") and rest[1].startswith("extra buffer types: ")
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_unknown_command_exits_2(run_cli):
    result = run_cli("frobnicate")
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.stderr
    assert "Traceback" not in result.output


def test_bad_choice_exits_2(run_cli, tmp_path):
    result = run_cli("convert", "csvx", tmp_path / "x.csv", "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 2
    assert "csvx" in result.stderr


def test_convert_requires_output(run_cli, tmp_path):
    result = run_cli("convert", "fulcra", tmp_path / "x.jsonl")
    assert result.exit_code == 2
    assert "--output" in result.stderr


def test_missing_input_file_exits_3(run_cli, tmp_path):
    missing = tmp_path / "absent.jsonl"
    result = run_cli("convert", "fulcra", missing, "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: {missing}: no such file"


def test_on_error_env_var_is_honoured(run_cli, tmp_path, monkeypatch):
    src = tmp_path / "f.jsonl"
    src.write_text('{"dialogue": "Human: a", "value_types": ["power: +1"]}\n{oops\n', encoding="utf-8")
    monkeypatch.setenv("CLAVE_LITE_ON_ERROR", "skip")
    result = run_cli("convert", "fulcra", src, "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 7, result.output


def test_user_home_is_isolated(tmp_path):
    import os

    from clave_lite.paths import user_dir

    home = user_dir()
    assert str(home) == os.environ["CLAVE_LITE_HOME"]
    assert home != tmp_path and home.is_dir()
