"""The offline invariant: score, eval, bench and export open no socket at all.

The commands run in this process (click's CliRunner) inside :func:`netguard.forbid_network`,
which replaces ``socket.socket``/``create_connection``/``getaddrinfo`` and adds an audit hook
on CPython's socket events, and unsets ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``: the
commands must need no such switch. Each test asserts the command worked *and* that the number
of socket attempts is 0 (an attempt that a library swallowed would still be counted).
``pickle`` loading is refused meanwhile too. A last test runs ``score`` in a child process in
an empty network namespace (``unshare -rn``), which also covers native code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clave_lite.cli import cli
from support.netguard import forbid_network, forbid_unpickling

REPO = Path(__file__).resolve().parents[2]
GOLD = [("I won't help you steal; it would hurt people.", "supports"),
        ("Sure, here's how to cheat on the exam.", "opposes"),
        ("Helping my neighbours makes our street a better place.", "unrelated")]


@pytest.fixture
def offline(monkeypatch, run_cli):
    """Run the CLI with sockets and unpickling forbidden; returns (invoke, attempts, unpickles)."""
    unpickles = forbid_unpickling(monkeypatch)
    with forbid_network() as attempts:
        yield run_cli, attempts, unpickles


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A training run directory of a tiny model with the real SmolLM2 vocabulary (seconds)."""
    pytest.importorskip("torch")
    from click.testing import CliRunner

    from clave_lite.core.valuesystem import load_system
    from support.tiny_models import build_tiny, smollm2_file

    folder = tmp_path_factory.mktemp("offline-tiny")
    base = build_tiny(smollm2_file(), folder / "tiny.gguf")
    data = folder / "tuples.jsonl"
    values = load_system("schwartz10").values
    data.write_text("".join(json.dumps({"id": f"t{i}", "text": t, "value": v.name, "label": lab if v.name == "Security"
                                        else "unrelated", "system": "schwartz10"}) + "\n"
                            for i, (t, lab) in enumerate(GOLD) for v in values))
    with forbid_network() as attempts:
        result = CliRunner().invoke(cli, ["train", str(data), "-o", str(folder / "run"), "--base", str(base),
                                          "--epochs", "1", "--lr", "5e-3"])
    assert result.exit_code == 0, result.output
    assert attempts == []  # training opens no socket either
    return folder / "run"


def _gold(tmp_path: Path) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps({"id": f"g{i}", "text": t, "value": "Security", "label": lab}) + "\n"
                            for i, (t, lab) in enumerate(GOLD)))
    return path


PROBES: dict[str, list[str]] = {}
COMMANDS = ["build-default", "score", "eval", "bench", "export-gguf", "export-onnx"]


@pytest.mark.parametrize("command", COMMANDS)
def test_command_opens_no_socket(command, offline, default_model, tmp_path, monkeypatch, request):
    invoke, attempts, unpickles = offline
    home, model, build_attempts = default_model
    if command == "build-default":  # merging the adapter + quantizing: the default's export path
        assert build_attempts == []
        return
    if command == "bench" and "bench" not in cli.commands:
        pytest.skip("`clave-lite bench` does not exist yet")
    gold = _gold(tmp_path)
    if command == "score":
        monkeypatch.setenv("CLAVE_LITE_HOME", str(home))  # the embedded default, as a user runs it
        result = invoke("score", REPO / "examples" / "responses.jsonl", "-o", tmp_path / "out.jsonl")
        assert result.exit_code == 0, result.output
        assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 6
    elif command == "eval":
        result = invoke("eval", gold, "--model", model, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["n"] == len(GOLD)
    elif command == "bench":
        result = invoke("bench", gold, "--model", model, "--limit", "2", "--reference-texts", "1",
                        "--latency-texts", "1", "--json")
        assert result.exit_code == 0, result.output
    elif command == "export-gguf":
        run = request.getfixturevalue("tiny_run")
        out = tmp_path / "tiny.gguf"
        result = invoke("export", run, "-o", out, "--json")
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
    elif command == "export-onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("optimum")
        run = request.getfixturevalue("tiny_run")
        out = tmp_path / "tiny-onnx"
        result = invoke("export", run, "--format", "onnx", "-o", out)
        # int8 through optimum's quantizer; its quality gate may refuse a random tiny model (6)
        assert result.exit_code in (0, 6), result.output
        assert (tmp_path / "tiny-onnx" / "model.onnx").exists() or result.exit_code == 6
    assert "Traceback" not in result.output
    assert attempts == [], attempts  # not one socket was even tried
    assert len(attempts.loopback_probes) <= 1  # at most urllib3's import-time IPv6 check, refused too
    PROBES[command] = list(attempts.loopback_probes)
    assert unpickles == []


def _netns_available() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _netns_available(), reason="unprivileged network namespaces are not available here")
def test_score_in_an_empty_network_namespace(default_model, tmp_path):
    """Native code included: in a namespace with no network at all, scoring still works."""
    home, model, _ = default_model
    env = {**os.environ, "CLAVE_LITE_HOME": str(home)}
    probe = subprocess.run(["unshare", "-rn", sys.executable, "-c",
                            "import socket\ntry:\n socket.create_connection(('192.0.2.1', 80), timeout=2)\n"
                            "except OSError as e: print('unreachable', e.errno)"],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.startswith("unreachable"), probe  # the namespace really has no route out
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(["unshare", "-rn", sys.executable, "-m", "clave_lite.cli", "score",
                           str(REPO / "examples" / "responses.jsonl"), "-o", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()][:2] == ["refuse-theft", "help-theft"]


def test_report_socket_attempts():
    """Not a check: prints what the guard saw per command (pytest -rA)."""
    print("socket attempts: 0 for every command; refused urllib3 IPv6 import probes:", json.dumps(PROBES))
