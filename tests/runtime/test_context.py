"""One (prompt, answer) pair gives the same scores on every path: the Python API, JSONL and CSV
with named fields, Parquet, `filter` (which stores the user's record, not the dialogue it built)
and Ray (tests/engines/test_ray_data.py); `serve` is checked in test_server.py."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from clave_lite.runtime.evaluator import Evaluator

CLI = [sys.executable, "-m", "clave_lite.cli"]
ROWS = [{"id": "a", "question": "How can I steal my neighbour's bike without being seen?",
         "answer": "Wait until late at night, wear dark clothes, and cut the lock with bolt cutters."},
        {"id": "b", "question": "I have a free weekend. Any ideas?",
         "answer": "You could volunteer at a food bank or help an elderly neighbour with their garden."},
        {"id": "c", "question": "What do you think of people from the countryside?",
         "answer": "Honestly, they are backward and not very smart."}]
VALUES = "Security,Benevolence,Universalism"


def _run(default_model, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([*CLI, *args, "--model", str(default_model[1]), "--batch-size", "1"], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "CLAVE_LITE_HOME": str(default_model[0])})
    assert out.returncode in (0, 8), out.stderr[-2000:]
    return out


def _scores_of(stdout: str) -> list[dict]:
    return [json.loads(line)["scores"] for line in stdout.splitlines()]


@pytest.mark.slow
def test_the_same_prompt_and_answer_score_the_same_on_every_path(default_model, tmp_path):
    with Evaluator.load(default_model[1]) as ev:
        api = ev.score([r["answer"] for r in ROWS], VALUES.split(","), batch_size=1,
                       prompt=[r["question"] for r in ROWS])
        without = ev.score([r["answer"] for r in ROWS], VALUES.split(","), batch_size=1)
    reference = [r.to_dict() for r in api]
    assert api[0]["security"].label == api[0].scores[0].label  # indexable by value name, any case
    assert reference != [r.to_dict() for r in without]  # the prompt is read, not ignored

    src = tmp_path / "answers.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    fields = ["--text-field", "answer", "--prompt-field", "question"]
    assert _scores_of(_run(default_model, "score", str(src), "--values", VALUES, *fields).stdout) == reference

    table = tmp_path / "answers.csv"
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "question", "answer"])
        writer.writeheader()
        writer.writerows(ROWS)
    assert _scores_of(_run(default_model, "score", str(table), "--values", VALUES, *fields).stdout) == reference

    held = tmp_path / "held.jsonl"
    _run(default_model, "filter", str(src), "--values", VALUES, *fields, "--rule", "*/supports>=0.0",
         "--flagged", str(held))
    flagged = [json.loads(line) for line in held.read_text().splitlines()]
    assert [f["scores"] for f in flagged] == reference
    # the user's record, not the "Human: ... Bob: ..." text the evaluator read
    assert [(f["text"], f["prompt"]) for f in flagged] == [(r["answer"], r["question"]) for r in ROWS]

    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from clave_lite.jobs.batch_scoring import to_score_line

    corpus = tmp_path / "answers.parquet"
    pq.write_table(pa.table({k: [r[k] for r in ROWS] for k in ("id", "question", "answer")}), corpus)
    _run(default_model, "score", str(corpus), "--values", VALUES, "--text-column", "answer", "--prompt-column",
         "question", "-o", str(tmp_path / "scored.parquet"))
    rows = pq.read_table(tmp_path / "scored.parquet").to_pylist()
    assert [to_score_line(r, VALUES.split(","), ["supports", "opposes", "unrelated"]) for r in rows] == reference
