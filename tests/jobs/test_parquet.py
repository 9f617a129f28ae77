"""``score`` on Parquet: chunked in flat memory, the same numbers as JSONL, resumable after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from clave_lite.jobs.parquet import PARTS_SUFFIX, chunk_size, chunks  # noqa: E402

WORDS = ["helped", "ignored", "cheated", "protected", "thanked", "lied to", "supported", "robbed"]


def corpus(path: Path, n: int, row_group: int = 7, **extra) -> Path:
    texts = [f"My neighbour {WORDS[i % len(WORDS)]} the old man (#{i})." for i in range(n)]
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(n)], "text": texts, "turn": list(range(n)), **extra}), path,
                   row_group_size=row_group)
    return path


def test_chunks_are_exact_across_row_groups(tmp_path):
    src = pq.ParquetFile(corpus(tmp_path / "c.parquet", 50, row_group=7))
    sizes = [t.num_rows for t in chunks(src, 16)]
    assert sizes == [16, 16, 16, 2]
    assert [r for t in chunks(src, 16) for r in t.column("turn").to_pylist()] == list(range(50))
    assert chunk_size(8, 256) == 256 and chunk_size(5, 12) == 15 and chunk_size(1, 3) == 3


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["-o", "{tmp}/s.jsonl"], 2, "Parquet input is scored into a Parquet file"),
    (["-o", "{tmp}/s.parquet", "--keep", "model"], 2, "a Parquet output keeps every input column"),
    (["-o", "{tmp}/s.parquet", "--rule", "*/opposes"], 2, "policies"),
    (["-o", "{tmp}/s.parquet", "--text-column", "answer"], 3, "no column 'answer'"),
])
def test_bad_parquet_runs_are_refused_before_loading_a_model(tmp_path, run_cli, args, code, needle):
    src = corpus(tmp_path / "c.parquet", 5)
    result = run_cli("score", src, *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == code and needle in result.output, result.output


def test_a_broken_parquet_file_is_named(tmp_path, run_cli):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    result = run_cli("score", bad, "-o", tmp_path / "s.parquet")
    assert result.exit_code == 3 and "not a readable Parquet file" in result.output
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"text": "hi"}\n')
    result = run_cli("score", jsonl, "-o", tmp_path / "s.parquet")
    assert result.exit_code == 2 and "JSONL and CSV are scored into JSONL" in result.output


def _cmd(src, model, out, *extra):
    return [sys.executable, "-m", "clave_lite.cli", "score", str(src), "--model", str(model), "-o", str(out),
            "--values", "Security", "--chunk-rows", "16", *extra]


def test_parquet_equals_jsonl_and_resumes_after_sigkill(default_model, tmp_path):
    home, model, _ = default_model
    env = {**os.environ, "CLAVE_LITE_HOME": str(home)}
    src = corpus(tmp_path / "corpus.parquet", 64)
    ref = tmp_path / "ref.parquet"
    done = subprocess.run(_cmd(src, model, ref), env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    table = pq.read_table(ref)
    assert table.column_names[:3] == ["id", "text", "turn"] and "Security:p_supports" in table.column_names
    assert pq.ParquetFile(ref).metadata.num_row_groups == 4  # one per 16-row part

    jsonl = tmp_path / "t.jsonl"  # the same texts through the JSONL path: the same numbers
    jsonl.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in table.to_pylist()))
    lines = subprocess.run([sys.executable, "-m", "clave_lite.cli", "score", str(jsonl), "--model", str(model),
                            "--values", "Security"], env=env, capture_output=True, text=True, timeout=900)
    assert lines.returncode == 0, lines.stderr[-2000:]
    from clave_lite.jobs.batch_scoring import to_score_line

    labels = ["supports", "opposes", "unrelated"]
    assert [to_score_line(r, ["Security"], labels) for r in table.to_pylist()] == \
        [json.loads(x)["scores"] for x in lines.stdout.splitlines()]

    out = tmp_path / "out.parquet"
    parts = out.with_name(out.name + PARTS_SUFFIX)
    proc = subprocess.Popen(_cmd(src, model, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline and len(list(parts.glob("part-*.parquet"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    kept = len(list(parts.glob("part-*.parquet")))
    assert proc.returncode == -signal.SIGKILL and 2 <= kept < 4, kept
    assert not out.exists()
    again = subprocess.run(_cmd(src, model, out), env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2  # never silently restarted: --resume or --force
    other = subprocess.run(_cmd(src, model, out, "--resume", "--values", "Security,Power"), env=env,
                           capture_output=True, text=True, timeout=600)
    assert other.returncode == 3 and "values" in other.stderr
    resumed = subprocess.run(_cmd(src, model, out, "--resume"), env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{kept * 16} of 64 rows already scored" in resumed.stderr
    assert pq.read_table(out).equals(table) and not parts.exists()
    noop = subprocess.run(_cmd(src, model, out, "--resume"), env=env, capture_output=True, text=True, timeout=600)
    assert noop.returncode == 0 and "already complete" in noop.stderr


def test_rows_without_text_are_skipped_with_null_scores(default_model, tmp_path):
    home, model, _ = default_model
    env = {**os.environ, "CLAVE_LITE_HOME": str(home)}
    src = tmp_path / "holes.parquet"
    pq.write_table(pa.table({"text": ["I helped the old man.", None, "  ", "We protected the children."]}), src)
    stop = subprocess.run(_cmd(src, model, tmp_path / "a.parquet"), env=env, capture_output=True, text=True,
                          timeout=600)
    assert stop.returncode == 3 and f"{src}: row 2: column 'text': missing" in stop.stderr  # names the file
    skip = subprocess.run(_cmd(src, model, tmp_path / "b.parquet", "--on-error", "skip"), env=env,
                          capture_output=True, text=True, timeout=600)
    assert skip.returncode == 7, skip.stderr[-2000:]
    rows = pq.read_table(tmp_path / "b.parquet").to_pylist()
    assert [r["Security:label"] is None for r in rows] == [False, True, True, False]
    assert "holes.parquet:3: field 'text'" in skip.stderr
