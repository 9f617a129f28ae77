"""README as a user meets it: short, its links resolve, the commands it shows exist with the flags it
shows, and the blocks marked ``<!-- runnable -->`` run offline, as written, on the embedded default.

A block is marked runnable by an HTML comment line ``<!-- runnable -->`` directly before its
```` ```bash ```` fence. Every non-comment line of such a block is one independent shell command, run
with ``bash -e -o pipefail`` in a temporary folder that holds a copy of ``examples/``; it must exit 0,
or N where the line ends with a ``# exit N`` comment, and print something (stdout or stderr).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from clave_lite.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 300
RUNNABLE = "<!-- runnable -->"
EXIT = re.compile(r"#\s*exit\s+(\d+)\b")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^```(\w*)\s*$")


def _blocks(text: str) -> list[tuple[str, list[str], bool]]:
    """Fenced blocks as (language, lines, marked runnable)."""
    out: list[tuple[str, list[str], bool]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        runnable = i > 0 and lines[i - 1].strip() == RUNNABLE
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        out.append((m.group(1), lines[i + 1:j], runnable))
        i = j + 1
    return out


def _join_continuations(lines: list[str]) -> list[str]:
    joined: list[str] = []
    pending = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    if pending:
        joined.append(pending)
    return joined


def _commands(lang: str, lines: list[str]) -> list[str]:
    """Shell command lines of a block: every line of a bash block; in a console block, the lines
    after a ``$`` prompt (with their continuation lines)."""
    if lang in ("bash", "sh", "shell"):
        return [c for c in _join_continuations(lines) if c.strip() and not c.lstrip().startswith("#")]
    if lang == "console":
        picked: list[str] = []
        keep = False
        for line in lines:
            if line.startswith("$ "):
                picked.append(line[2:])
                keep = line.rstrip().endswith("\\")
            elif keep:
                picked.append(line)
                keep = line.rstrip().endswith("\\")
        return _join_continuations(picked)
    return []


def _runnable_commands() -> list[tuple[str, int]]:
    found = []
    for lang, lines, runnable in _blocks(README.read_text()):
        if runnable:
            for command in _commands(lang, lines):
                m = EXIT.search(command)
                found.append((command, int(m.group(1)) if m else 0))
    return found


# --- fast: the README's shape -------------------------------------------------------------------


def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines; at most {MAX_LINES} (details belong in docs/)"


@pytest.mark.parametrize("doc", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_every_relative_link_points_to_an_existing_file(doc):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = target.split("#", 1)[0]
        if not (doc.parent / path).exists():
            broken.append(target)
    assert broken == [], f"{doc.relative_to(ROOT)}: links to missing files: {broken}"


def test_runnable_markers_sit_on_bash_blocks():
    lines = README.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() == RUNNABLE:
            assert i + 1 < len(lines) and lines[i + 1].startswith("```bash"), (
                f"README.md:{i + 1}: {RUNNABLE} must be directly before a ```bash fence")
    assert len(_runnable_commands()) >= 3


def _command_of(tokens: list[str]) -> tuple[click.Command, list[str], str]:
    """The click command the tokens after ``clave-lite`` name, the tokens left, and its name."""
    command: click.Command = cli
    name = "clave-lite"
    rest = list(tokens)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"no command '{name} {rest[0]}'"
        command, name, rest = sub, f"{name} {rest[0]}", rest[1:]
    return command, rest, name


def _clave_invocations(command_line: str) -> list[list[str]]:
    lexer = shlex.shlex(command_line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: prose, not a command
        return []
    calls, current = [], None
    for tok in tokens:
        if tok and set(tok) <= set("|&;<>()"):
            current = None
            continue
        if current is None and tok == "clave-lite":
            current = []
            calls.append(current)
        elif current is not None:
            current.append(tok)
    return calls


DOCUMENTED = [README, *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCUMENTED, ids=lambda p: p.name)
def test_shown_commands_exist_with_the_flags_shown(doc):
    """Every `clave-lite ...` in a bash or console block names a real command, and each of its
    --flags (and -o / -h) is an option of that command."""
    problems = []
    for lang, lines, _ in _blocks(doc.read_text()):
        for line in _commands(lang, lines):
            for tokens in _clave_invocations(line):
                try:
                    command, rest, name = _command_of(tokens)
                except AssertionError as e:
                    problems.append(f"{line.strip()}: {e}")
                    continue
                options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
                options |= {"-h", "--help"}
                for tok in rest:
                    if "..." in tok:
                        continue  # a placeholder ("...same flags...")
                    flag = tok.split("=", 1)[0]
                    if re.match(r"^--?[A-Za-z]", flag) and flag not in options:
                        problems.append(f"{line.strip()}: '{name}' has no option {flag}")
    assert problems == [], "\n".join(problems)


def test_readme_serve_block_has_the_curl_calls_the_server_test_runs():
    """The shape tests/jobs/test_server.py relies on, checked without a server."""
    text = README.read_text()
    section = text[text.index("## Serving: `clave-lite serve`"):]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    curls = [line for line in block.splitlines() if line.startswith("curl ")]
    assert len(curls) >= 4
    for path in ("/v1/moderations", "/v1/score", "/health", "/ready", "/metrics"):
        assert any(f"localhost:8000{path}" in line for line in curls), path


def test_readme_shows_the_litellm_config_verbatim():
    block = re.search(r"```yaml\n(# LiteLLM proxy in front of an LLM.*?)```", README.read_text(), re.DOTALL)
    assert block is not None and block.group(1) == (ROOT / "examples" / "litellm.yaml").read_text()


# --- slow: the runnable blocks, run -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("command,expected", _runnable_commands(), ids=lambda c: str(c)[:60])
def test_runnable_readme_command(command, expected, default_model, tmp_path):
    """One line of a README block marked runnable, on the embedded default built once per session."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "CLAVE_LITE_HOME": str(default_model[0])}
    env.pop("CLAVE_LITE_MODEL", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # this venv's clave-lite
    run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == expected, f"{command}\nexit {run.returncode}\n{run.stderr[-2000:]}"
    assert (run.stdout + run.stderr).strip(), f"{command}: printed nothing"
