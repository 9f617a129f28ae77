"""No lost work: ``score -o`` writes line by line, and a run killed with SIGKILL and restarted
with ``--resume`` gives exactly the bytes of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from clave_lite.errors import DataError, UsageError
from clave_lite.jobs.output import ScoreOutput, state_path

TEXTS = [
    "I won't help you break into your neighbour's house; that would hurt them.",
    "Sure! Here's how to shoplift without getting caught.",
    "Let's plan a surprise party for grandma, she has cared for us for years.",
    "Rules exist for a reason; we should follow them even when nobody is watching.",
    "I quit my job to travel the world and try everything once.",
    "Honestly, those people are lazy and don't deserve help.",
    "We must protect the forests; future generations depend on them.",
    "公正和法治是社会和谐的基础，每个人都应遵守法律。",
    "Power is all that matters: crush your rivals before they crush you.",
    "Volunteering at the shelter every weekend taught me patience. 😀",
]


def _state(n: int, batch: int = 4, **changes) -> dict:
    state = {"format": 1, "input_sha256": "abc", "texts": n, "model": {"manifest_sha256": "m", "backend": "gguf",
                                                                     "bytes": 1}, "system": "schwartz10",
             "values": ["Security"], "batch_size": batch}
    state.update(changes)
    return state


def _write(out: Path, ids: list[str], state: dict, resume: bool = False, force: bool = False) -> int:
    writer = ScoreOutput(out, resume=resume, force=force)
    done = writer.begin(state, ids)
    for i in ids[done:]:
        writer.write({"id": i, "scores": {}})
    writer.finish()
    return done


def test_existing_output_is_refused_without_resume_or_force(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "precious"}\n')
    with pytest.raises(UsageError, match="already exists.*resume=True.*force=True") as info:
        ScoreOutput(out)
    assert [r.as_flag() for r in info.value.remedies] == ["--resume", "--force"]
    with pytest.raises(UsageError, match="exclude each other"):
        ScoreOutput(out, resume=True, force=True)
    with pytest.raises(UsageError, match="need an output file"):
        ScoreOutput(None, resume=True)
    with pytest.raises(UsageError, match="is a directory"):
        ScoreOutput(tmp_path)
    assert _write(out, ["a", "b"], _state(2), force=True) == 0
    assert out.read_text() == '{"id": "a", "scores": {}}\n{"id": "b", "scores": {}}\n'
    assert not state_path(out).exists()  # a finished run leaves no resume state behind
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    ScoreOutput(empty)  # an empty file holds no work: it may be written


def test_cli_refuses_existing_output_before_loading_anything(run_cli, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "hello"}\n')
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n")
    result = run_cli("score", src, "--model", tmp_path / "absent.gguf", "-o", out)
    assert result.exit_code == 2, result.output
    assert "already exists" in result.stderr and "Traceback" not in result.output
    assert out.read_text() == "keep me\n"
    result = run_cli("score", src, "--model", tmp_path / "absent.gguf", "--resume")
    assert result.exit_code == 2 and "need an output file" in result.stderr
    help_text = run_cli("score", "--help").stdout
    assert "--resume" in help_text and "--force" in help_text and "refused" in help_text


def test_resume_restarts_at_a_batch_boundary_and_drops_a_torn_line(tmp_path):
    ids = [f"t{i}" for i in range(10)]
    out = tmp_path / "out.jsonl"
    writer = ScoreOutput(out)
    assert writer.begin(_state(10, batch=4), ids) == 0
    for i in ids[:6]:
        writer.write({"id": i, "scores": {}})
    writer.close()  # as if killed: the state stays
    assert state_path(out).exists()
    with open(out, "ab") as fh:
        fh.write(b'{"id": "t6", "sco')  # torn by the kill
    # 6 complete lines, batch 4: lines 5-6 are dropped so texts 4.. are batched as before
    assert _write(out, ids, _state(10, batch=4), resume=True) == 4
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ids
    assert not state_path(out).exists()
    # resuming a finished output (no state left) is a no-op when it matches the input
    before = out.read_bytes()
    assert _write(out, ids, _state(10, batch=4), resume=True) == 10
    assert out.read_bytes() == before


def test_resume_refuses_output_of_another_input_or_run(tmp_path):
    ids = [f"t{i}" for i in range(10)]
    out = tmp_path / "out.jsonl"
    writer = ScoreOutput(out)
    writer.begin(_state(10), ids)
    for i in ids[:5]:
        writer.write({"id": i, "scores": {}})
    writer.close()
    snapshot = out.read_bytes()
    cases = [
        (["x0"] + ids[1:], _state(10), "field 'id': 't0', but text 1 of the input has id 'x0'"),
        (ids[:3], _state(3), "5 lines, but the input has only 3 texts"),
        (ids, _state(10, input_sha256="other"), "input texts or ids"),
        (ids, _state(10, values=["Power"]), "values \\(--values\\)"),
        (ids, _state(10, batch=8), "--batch-size"),
        (ids, _state(10, model={"manifest_sha256": "n", "backend": "gguf", "bytes": 1}), "evaluator"),
    ]
    for new_ids, state, message in cases:
        with pytest.raises(DataError, match=message):
            ScoreOutput(out, resume=True).begin(state, new_ids)
        assert out.read_bytes() == snapshot  # a refused resume touches nothing
    state_path(out).unlink()
    with pytest.raises(DataError, match="no out.jsonl.resume.json beside it"):
        ScoreOutput(out, resume=True).begin(_state(10), ids)
    out.write_bytes(b"not json\n")
    with pytest.raises(DataError, match="out.jsonl:1: not a score line"):
        ScoreOutput(out, resume=True).begin(_state(10), ids)


def test_resume_of_missing_or_empty_output_starts_fresh(tmp_path):
    out = tmp_path / "sub" / "out.jsonl"
    assert _write(out, ["a"], _state(1), resume=True) == 0
    assert out.read_text() == '{"id": "a", "scores": {}}\n'


def test_input_digest_sees_texts_and_ids():
    from clave_lite.jobs.ledger import input_digest

    rec = lambda i, t: SimpleNamespace(id=i, text=t)  # noqa: E731
    base = input_digest([rec("1", "a"), rec("2", "b")])
    assert base == input_digest([rec("1", "a"), rec("2", "b")])
    assert base != input_digest([rec("1", "a"), rec("2", "c")])
    assert base != input_digest([rec("1", "a"), rec("3", "b")])
    assert base != input_digest([rec("2", "b"), rec("1", "a")])


# --- the real thing: SIGKILL, then --resume ---------------------------------------------------


def _cmd(src: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "clave_lite.cli", "score", str(src), "--model", str(model), "-o", str(out),
            "--values", "Security,Benevolence,Power", "--batch-size", "4", *extra]


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkill_then_resume_is_byte_identical_to_an_uninterrupted_run(default_model, tmp_path):
    home, model, _ = default_model
    env = {**os.environ, "CLAVE_LITE_HOME": str(home)}
    src = tmp_path / "texts.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i:02d}", "text": f"{TEXTS[i % len(TEXTS)]} (#{i})"},
                                      ensure_ascii=False) + "\n" for i in range(40)), encoding="utf-8")
    n = 40

    reference = tmp_path / "reference.jsonl"
    done = subprocess.run(_cmd(src, model, reference), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _lines(reference) == n

    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(_cmd(src, model, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while _lines(out) < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    written = _lines(out)
    assert 6 <= written < n, f"the kill did not land mid-run ({written} lines)"
    assert state_path(out).exists()
    with open(out, "ab") as fh:  # a kill between two write() calls of one line: make sure a torn line is handled
        fh.write(b'{"id": "r')

    again = subprocess.run(_cmd(src, model, out), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "already exists" in again.stderr  # never silently overwritten
    resumed = subprocess.run(_cmd(src, model, out, "--resume"), env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr and "Traceback" not in resumed.stderr
    assert out.read_bytes() == reference.read_bytes()  # byte for byte: records carry no timings
    assert not state_path(out).exists()
    for line in reference.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        assert set(row) <= {"id", "system", "scores", "truncated_tokens"}
    RESULT["resume_byte_identical"] = {"lines_before_kill": written, "total": n, "identical": True}

    changed = subprocess.run(_cmd(src, model, out, "--resume", "--batch-size", "8"), env=env, capture_output=True,
                             text=True, timeout=600)
    assert changed.returncode == 0  # complete already: nothing to do, whatever the batch size
    assert out.read_bytes() == reference.read_bytes()


RESULT: dict = {}


def test_keep_copies_input_fields_and_the_run_records_what_produced_it(default_model, tmp_path):
    """``--keep`` carries input fields (for ``report --by``); the finished run's record says
    which evaluator and command wrote the file; a resume with another ``--keep`` is refused."""
    from clave_lite.jobs.ledger import finished_run

    home, model, _ = default_model
    env = {**os.environ, "CLAVE_LITE_HOME": str(home)}
    src = tmp_path / "answers.jsonl"
    src.write_text("".join(json.dumps({"id": f"a{i}", "text": t, "model": ["m1", "m2"][i % 2], "turn": i})
                           + "\n" for i, t in enumerate(TEXTS[:4])), encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    done = subprocess.run(_cmd(src, model, out, "--keep", "model,text"), env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["model"], r["text"]) for r in rows] == [(f"a{i}", ["m1", "m2"][i % 2], t)
                                                                for i, t in enumerate(TEXTS[:4])]
    assert "turn" not in rows[0] and list(rows[0])[:4] == ["id", "model", "text", "system"]
    old_home = os.environ.get("CLAVE_LITE_HOME")
    os.environ["CLAVE_LITE_HOME"] = str(home)
    try:
        run = finished_run(out)
    finally:
        if old_home is None:
            os.environ.pop("CLAVE_LITE_HOME")
        else:
            os.environ["CLAVE_LITE_HOME"] = old_home
    prov = run["state"]["provenance"]
    assert prov["evaluator"] == str(model) and prov["base_model"] == "gemma3-270m"
    assert prov["command"].startswith("clave-lite score ") and "--keep model,text" in prov["command"]
    again = subprocess.run(_cmd(src, model, out, "--keep", "model", "--resume"), env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 3 and "--keep" in again.stderr
    star = subprocess.run(_cmd(src, model, tmp_path / "all.jsonl", "--keep", "*"), env=env, capture_output=True,
                          text=True, timeout=600)
    assert star.returncode == 0, star.stderr[-2000:]
    first = json.loads((tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert (first["model"], first["turn"], first["text"]) == ("m1", 0, TEXTS[0])


def test_keep_names_fields_and_refuses_the_lines_own_keys():
    from clave_lite.jobs.score import check_keep, kept_fields
    from clave_lite.runtime.texts import TextRecord

    rec = TextRecord("7", "hello", 1, raw={"id": 7, "text": "hello", "model": "m", "n": 2})
    assert kept_fields(rec, ["model", "missing"]) == {"model": "m", "missing": None}
    assert kept_fields(rec, ["*"]) == {"text": "hello", "model": "m", "n": 2}
    line = TextRecord("1", "just a line", 1, raw="just a line")  # --format lines: only the text exists
    assert kept_fields(line, ["text", "model"]) == {"text": "just a line", "model": None}
    with pytest.raises(UsageError, match="--keep scores,id: are already part of every score line"):
        check_keep(["scores", "model", "id"])
