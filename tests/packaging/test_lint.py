"""Lint and types, with the rules and strictness in pyproject.toml (docs/dependencies.md says
why each): the test suite is what CI runs, so they run here."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from support import REPO


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", "clave_lite", "export", "tests", "benchmarks", "models", "--output-format",
                  "concise")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.slow  # about a minute on 2 cores without its cache
def test_mypy_finds_nothing():
    result = _run("mypy")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
