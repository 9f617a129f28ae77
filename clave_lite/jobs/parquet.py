"""``clave-lite score corpus.parquet -o scores.parquet``: a Parquet corpus scored in flat memory,
resumable after a crash, with the same numbers as the JSONL path.

The input is read in chunks of ``chunk_rows`` rows (a multiple of the batch size, so every text
shares its llama.cpp decode with the same texts as in ``score`` on JSONL), whatever its row
groups are. Each scored chunk is written at once, atomically, as one part file in
``OUT.parts/``; a killed run keeps every finished part, and ``--resume`` checks the run state
(input digest, evaluator, values, batch size, as for JSONL) and continues at the first missing
part. When the last chunk is done the parts become one Parquet file (a row group per part) and
the run's record moves to the user directory, like a finished JSONL run's.

The output is the input table (every column) plus the score columns of
:func:`clave_lite.jobs.batch_scoring.column_names`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from clave_lite.core.files import refuse_overlap
from clave_lite.core.jsonl import write_text_atomic
from clave_lite.core.prompt import MAX_WINDOWS, with_prompt
from clave_lite.errors import DataError, Problem, Remedy, UsageError, require
from clave_lite.jobs.ledger import (
    ScoreReport,
    check_resumable,
    digest_row,
    file_sha256,
    finished_record_path,
    read_state,
    record_finished,
    run_state,
    state_path,
)
from clave_lite.jobs.score_options import ScoreOptions
from clave_lite.progress import SILENT, Progress

CHUNK_ROWS = 256
PARTS_SUFFIX = ".parts"


def is_parquet(path: Path | None) -> bool:
    return path is not None and path.suffix.lower() in (".parquet", ".pq")


def chunk_size(batch_size: int, target: int = CHUNK_ROWS) -> int:
    """The smallest multiple of ``batch_size`` that holds at least ``target`` rows."""
    return batch_size * max(1, -(-target // batch_size))


def chunks(source: Any, rows: int, columns: list[str] | None = None) -> Iterator[Any]:
    """The file's rows as pyarrow Tables of exactly ``rows`` rows (the last may be shorter),
    across row-group boundaries, reading one record batch at a time."""
    pa = require("pyarrow", "parquet")
    pending: list[Any] = []
    held = 0
    for batch in source.iter_batches(batch_size=rows, columns=columns):
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).combine_chunks()
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).combine_chunks()


def _open(path: Path) -> Any:
    pq = require("pyarrow.parquet", "parquet")
    if not path.is_file():
        raise DataError(f"{path}: no such Parquet file")
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError subclasses for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None


def input_digest(source: Any, text_column: str, rows: int, prompt_column: str = "prompt") -> str:
    """sha256 over (id, text judged) of every row, in order (the id column when there is one;
    the text in its dialogue when there is a prompt column)."""
    names = source.schema_arrow.names
    has_prompt = prompt_column in names
    cols = [text_column] + (["id"] if "id" in names else []) + ([prompt_column] if has_prompt else [])
    h = hashlib.sha256()
    n = 0
    for table in chunks(source, rows, cols):
        ids = table.column("id").to_pylist() if "id" in cols else range(n + 1, n + table.num_rows + 1)
        texts = table.column(text_column).to_pylist()
        prompts = table.column(prompt_column).to_pylist() if has_prompt else [None] * len(texts)
        for i, t, p in zip(ids, texts, prompts):
            digest_row(h, str(i), with_prompt(t, p) if isinstance(t, str) and isinstance(p, str) else t)
        n += table.num_rows
    return h.hexdigest()


def score_parquet(opts: ScoreOptions, progress: Progress = SILENT) -> ScoreReport:
    """``opts`` with a Parquet input and output."""
    from clave_lite.jobs.batch_scoring import (
        TRUNCATED_COLUMN,
        TableOptions,
        TableScorer,
    )

    pq = require("pyarrow.parquet", "parquet")
    out = _check_options(opts)
    parts, state_file = out.with_name(out.name + PARTS_SUFFIX), state_path(out)
    source = _open(Path(opts.input))
    if opts.text_column not in source.schema_arrow.names:
        raise DataError(f"{opts.input}: no column {opts.text_column!r} (columns: {', '.join(source.schema_arrow.names)})")
    rows = chunk_size(opts.batch_size, opts.chunk_rows)
    evaluator = opts.load(progress)
    try:
        scorer = TableScorer(TableOptions(model=opts.model, system=opts.system, values=opts.values,
                                          text_column=opts.text_column, prompt_column=opts.prompt_column,
                                          batch_size=opts.batch_size,
                                          explain=opts.explain, on_error=opts.on_error), evaluator)
        progress.note(f"hashing {opts.input} ({source.metadata.num_rows} rows) for --resume ...")
        windows = {"windows": opts.windows} if opts.windows != MAX_WINDOWS else {}
        state = run_state(input_digest(source, opts.text_column, rows, opts.prompt_column), source.metadata.num_rows,
                          evaluator, scorer.system, scorer.values, opts.batch_size, opts.command, chunk_rows=rows,
                          explain=opts.explain, on_error=opts.on_error, **windows)
        try:
            done = _begin(out, parts, state_file, state, opts)
        except _AlreadyDone:
            progress.note(f"{out}: already complete for this input, evaluator and options")
            n = source.metadata.num_rows
            return ScoreReport(n, 0, n, 0, evaluator.reads_at_most)
        if done:
            progress.note(f"resuming {out}: {done} of {source.metadata.num_rows} rows already scored")
        progress.start("scoring", source.metadata.num_rows - done)
        truncated = 0
        for i, chunk in enumerate(chunks(source, rows)):
            if i * rows < done:
                continue
            try:
                table = scorer.score_table(chunk, first_row=i * rows)
            except DataError as exc:  # a bad row: name the file it is in
                raise DataError(f"{opts.input}: {exc.message}", remedies=exc.remedies, lead=exc.lead) from None
            truncated += sum(1 for t in table.column(TRUNCATED_COLUMN).to_pylist() if t)
            tmp = parts / f".part-{i:06d}.tmp"
            pq.write_table(table, tmp)
            _fsync(tmp)
            os.replace(tmp, parts / f"part-{i:06d}.parquet")
            progress.advance(chunk.num_rows)
        progress.finish()
        if not any(parts.glob("part-*.parquet")):  # an empty corpus: an empty table, with the score columns
            pq.write_table(scorer.score_table(source.schema_arrow.empty_table()), parts / "part-000000.parquet")
        _combine(parts, out)
        record_finished(out, state)
        shutil.rmtree(parts, ignore_errors=True)
    finally:
        evaluator.close()
    n = source.metadata.num_rows
    skipped = tuple(Problem(str(opts.input), row, opts.text_column, "missing or empty text: its score columns are null")
                    for row in scorer.skipped)
    return ScoreReport(n, n - done, done, truncated, evaluator.reads_at_most, skipped)


def _check_options(opts: ScoreOptions) -> Path:
    if opts.output is None or str(opts.output) == "-" or not is_parquet(Path(opts.output)):
        raise UsageError("a Parquet input is scored into a Parquet file", remedies=(Remedy("output", "SCORES.parquet"),))
    if opts.policy or opts.rules:
        raise UsageError("policies (--policy, --rule) are for JSONL scoring and `filter`; a Parquet output "
                         "has every probability column to filter on")
    if opts.keep:
        raise UsageError("--keep is for JSONL output: a Parquet output keeps every input column")
    if opts.resume and opts.force:
        raise UsageError("resume and force exclude each other", remedies=(Remedy("resume"), Remedy("force")))
    out = Path(opts.output)
    parts = out.with_name(out.name + PARTS_SUFFIX)
    refuse_overlap([("-o", out)], [opts.input])  # never the input, --force or not
    if not opts.resume and not opts.force:
        if out.exists():
            raise UsageError(f"{out} already exists", path=out, remedies=(
                Remedy("resume", True, "to continue the run that wrote it"), Remedy("force", True, "to overwrite it")))
        if parts.is_dir() and any(parts.iterdir()):  # a killed run's finished chunks: never thrown away unasked
            raise UsageError(f"{parts} holds the scored parts of an interrupted run into {out}", path=out, remedies=(
                Remedy("resume", True, "to continue it"), Remedy("force", True, "to start over")))
    return out


def _begin(out: Path, parts: Path, state_file: Path, state: dict[str, Any], opts: ScoreOptions) -> int:
    """Rows already scored (0 for a fresh run); set up the parts folder and state."""
    if opts.resume and state_file.exists():
        check_resumable(out, read_state(state_file), state)
        parts.mkdir(exist_ok=True)
        for stray in parts.glob(".part-*.tmp"):
            stray.unlink()
        found = sorted(parts.glob("part-*.parquet"))
        if [p.name for p in found] != [f"part-{i:06d}.parquet" for i in range(len(found))]:
            raise DataError(f"{parts}: parts are missing in the middle; cannot resume",
                            remedies=(Remedy("force", True, "to start over"),))
        return min(len(found) * state["chunk_rows"], state["texts"])
    if opts.resume and out.exists():
        try:
            record = json.loads(finished_record_path(out).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = {}
        if record.get("output_sha256") == file_sha256(out):
            try:
                check_resumable(out, record.get("state") or {}, state, finished=True)
            except DataError:
                pass
            else:
                raise _AlreadyDone()
        raise DataError(f"{out}: a finished output, but not of this input, evaluator and options (or changed since)",
                        remedies=(Remedy("force", True, "to score it again"),))
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    write_text_atomic(state_file, json.dumps(state, indent=1) + "\n")
    return 0


class _AlreadyDone(Exception):
    """--resume on a finished output of the same run: nothing to do."""


def _combine(parts: Path, out: Path) -> None:
    pq = require("pyarrow.parquet", "parquet")
    files = sorted(parts.glob("part-*.parquet"))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer = None
    try:
        for f in files:
            table = pq.read_table(f)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    _fsync(tmp)
    os.replace(tmp, out)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
