"""`clave-lite filter` in real shell pipelines and on a stream that arrives line by line."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

CLI = [sys.executable, "-m", "clave_lite.cli"]
TEXTS = ["I will help you steal from the old lady next door.", "Volunteering at the shelter taught me patience.",
         "We should respect the traditions of our grandparents."]


def _env(default_model):
    return {**os.environ, "CLAVE_LITE_HOME": str(default_model[0])}


def test_filter_in_a_shell_pipeline_routes_and_exits_by_verdict(default_model, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"t{i}", "text": t, "lang": "en"}) + "\n" for i, t in enumerate(TEXTS)))
    model = str(default_model[1])
    flagged = tmp_path / "flagged.jsonl"
    quoted = " ".join(CLI)
    # a threshold no probability reaches: everything passes, byte for byte as it came in, exit 0
    none = subprocess.run(["bash", "-c", f"set -o pipefail; cat {src} | {quoted} filter --model {model} "
                           f"--rule 'Benevolence/opposes>=1.0' | cat > {tmp_path / 'out.jsonl'}"],
                          capture_output=True, text=True, env=_env(default_model), timeout=300)
    assert none.returncode == 0, none.stderr
    assert (tmp_path / "out.jsonl").read_text() == src.read_text()
    # one every probability reaches: everything is flagged, nothing passes, exit 8 through the pipe
    every = subprocess.run(["bash", "-c", f"set -o pipefail; {quoted} filter {src} --model {model} --rule "
                            f"'*/supports>=0.0' --flagged {flagged} | wc -l"],
                           capture_output=True, text=True, env=_env(default_model), timeout=300)
    assert every.returncode == 8, every.stderr
    assert every.stdout.strip() == "0" and "3 flagged" in every.stderr
    rows = [json.loads(line) for line in flagged.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["t0", "t1", "t2"] and all(r["flagged"] for r in rows)
    assert all(len(r["fired"]) == 10 and r["text"] == t for r, t in zip(rows, TEXTS))
    # the flagged scores are the `score` scores of the same texts
    scored = subprocess.run([*CLI, "score", str(src), "--model", model], capture_output=True, text=True,
                            env=_env(default_model), timeout=300)
    assert [json.loads(line)["scores"] for line in scored.stdout.splitlines()] == [r["scores"] for r in rows]
    # an existing --flagged file is refused before any work
    again = subprocess.run([*CLI, "filter", str(src), "--model", model, "--flagged", str(flagged)],
                           capture_output=True, text=True, env=_env(default_model), timeout=300)
    assert again.returncode == 2 and "--force" in again.stderr


def test_first_verdict_comes_before_the_input_ends(default_model):
    proc = subprocess.Popen([*CLI, "filter", "--format", "lines", "--model", str(default_model[1]),
                             "--rule", "Benevolence/opposes>=1.0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(default_model), text=True, bufsize=1)
    try:
        proc.stdin.write(TEXTS[0] + "\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        ready: list = []
        while not ready and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        assert ready, "no verdict within 120 s while the input was still open"
        assert proc.stdout.readline() == TEXTS[0] + "\n"
        assert proc.poll() is None  # still running: it answered one line of an open stream
        proc.stdin.write(TEXTS[1] + "\n")
        proc.stdin.close()
        rest = proc.stdout.read()
        assert rest == TEXTS[1] + "\n"
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_harm_hidden_in_the_middle_of_a_long_reply_is_flagged(default_model, tmp_path):
    """Regression: only the first 256 and last 128 tokens were read, so ~300 tokens of filler
    before and ~130 after let README's harmful answer through (exit 0)."""
    from pathlib import Path

    examples = [json.loads(line) for line in (Path(__file__).parents[2] / "examples" / "responses.jsonl").open()]
    harm = next(e for e in examples if e["id"] == "help-theft")
    before = "The weather report said it would be sunny in the afternoon, with a light breeze from the west. " * 16
    after = "People often talk about the weather when they have nothing else to say to each other. " * 7
    src = tmp_path / "padded.jsonl"
    src.write_text(json.dumps({"id": "padded", "prompt": harm["prompt"], "text": f"{before}{harm['text']} {after}"}) + "\n")
    flagged = tmp_path / "held.jsonl"
    run = subprocess.run([*CLI, "filter", str(src), "--model", str(default_model[1]), "--flagged", str(flagged)],
                         capture_output=True, text=True, env=_env(default_model), timeout=300)
    assert run.returncode == 8, run.stderr
    row = json.loads(flagged.read_text())
    assert "truncated_tokens" not in row  # every token was read, in windows
    assert any(f.endswith(": Security") or f.endswith(": Benevolence") for f in row["fired"])


def test_passed_lines_come_out_byte_for_byte(default_model, tmp_path):
    """Regression: passed JSONL lines were re-serialised (spacing lost, \\u00e9 turned into é)."""
    src = tmp_path / "odd.jsonl"
    lines = ['{ "id" : "a",   "text":"Caf\\u00e9 owners help their neighbours." }',
             '{"text": "We planted trees together.",\t"id": "b"}']
    src.write_text("\n".join(lines) + "\n")
    run = subprocess.run([*CLI, "filter", str(src), "--model", str(default_model[1]), "--rule", "Benevolence/opposes>=1.0"],
                         capture_output=True, text=True, env=_env(default_model), timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == lines
