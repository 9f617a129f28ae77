"""Shared fixtures: an isolated user directory, the shared data folder, and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import click.testing
import pytest

from clave_lite.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[1]


SLOW_FIXTURES = {"default_model", "tiny_run", "tiny_base", "tiny_evaluator", "llama_server"}
"""Fixtures that build or start a real model (tens of seconds to minutes each)."""


def pytest_collection_modifyitems(items):
    """A test that needs a real model built or served is ``slow``: ``pytest -m "not slow"`` is the
    quick loop, plain ``pytest`` (CI) runs everything."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own CLAVE_LITE_HOME, so nothing touches the real user directory."""
    home = tmp_path_factory.mktemp("clave-home")
    monkeypatch.setenv("CLAVE_LITE_HOME", str(home))
    # Make sure an inherited setting cannot change the default --on-error behaviour.
    monkeypatch.delenv("CLAVE_LITE_ON_ERROR", raising=False)
    monkeypatch.delenv("CLAVE_LITE_DEBUG", raising=False)
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (read-only); required in CI, optional elsewhere."""
    path = REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        message = f"shared data not found at {path}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _runner() -> click.testing.CliRunner:
    try:  # click < 8.2 mixes stderr into stdout unless told otherwise
        return click.testing.CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2: stdout and stderr are always separate
        return click.testing.CliRunner()


@pytest.fixture
def run_cli():
    """``run_cli("systems", "--json")`` → click's Result (exit_code, stdout, stderr, output)."""

    def run(*args: str, input: str | None = None) -> click.testing.Result:
        return _runner().invoke(cli, [str(a) for a in args], input=input)

    return run


@pytest.fixture(scope="session")
def default_model(tmp_path_factory):
    """The embedded default evaluator, built once per test session (about 80 s) into a home of
    its own, with every socket forbidden while it builds (merging + quantizing is the export
    path of the default). Returns ``(home, gguf_path, socket_attempts_during_the_build)``."""
    from clave_lite.build.default_model import default_evaluator_path, has_default
    from support.netguard import forbid_network

    if not has_default():
        pytest.skip("this checkout ships no default adapter")
    home = tmp_path_factory.mktemp("default-model-home")
    old = os.environ.get("CLAVE_LITE_HOME")
    os.environ["CLAVE_LITE_HOME"] = str(home)
    try:
        with forbid_network() as attempts:
            path = default_evaluator_path()
    finally:
        if old is None:
            os.environ.pop("CLAVE_LITE_HOME", None)
        else:
            os.environ["CLAVE_LITE_HOME"] = old
    return home, path, list(attempts)


@pytest.fixture(scope="session")
def tiny_evaluator(tmp_path_factory):
    """A 2-layer random Gemma 3 with the real vocabulary, made a schwartz10 evaluator without
    training (built once per test session; needs torch)."""
    pytest.importorskip("torch")
    from support.tiny_models import tiny_evaluator_file

    return tiny_evaluator_file(tmp_path_factory.mktemp("tiny-evaluator"))
