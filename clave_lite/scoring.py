"""Reading texts to score and writing their scores, line by line.

Input: JSONL (``text``, optional ``id`` and ``prompt``) or CSV with the same columns. With a
``prompt`` the scored text is ``Human: {prompt}\\nBob: {text}``, the dialogue form the
FULCRA-trained default evaluator learned from. Output: one JSON object per input text, written
as soon as it is scored, so a long run never loses what it already paid for.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from clave_lite.errors import DataError, Problem
from clave_lite.jsonl import ProblemLog, iter_records, open_text


@dataclass(frozen=True)
class TextRecord:
    id: str
    text: str  # what is scored (dialogue form when a prompt is given)
    line: int


def _record(obj: dict[str, Any], source: str, lineno: int, ordinal: int) -> TextRecord | Problem:
    text = obj.get("text")
    if not isinstance(text, str):
        return Problem(source, lineno, "text", "missing" if text is None else f"must be a string, got {type(text).__name__}")
    if not text.strip():
        return Problem(source, lineno, "text", "is empty")
    if "\x00" in text:
        text = text.replace("\x00", " ")
    prompt = obj.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str):
            return Problem(source, lineno, "prompt", "must be a string")
        text = f"Human: {prompt}\nBob: {text}"
    raw_id = obj.get("id")
    if raw_id is not None and not isinstance(raw_id, (str, int)):
        return Problem(source, lineno, "id", "must be a string or integer")
    return TextRecord(str(raw_id) if raw_id is not None else str(ordinal), text, lineno)


def read_texts(path: str | Path, log: ProblemLog) -> Iterator[TextRecord]:
    """Texts from JSONL (default, and stdin) or CSV (by ``.csv`` suffix)."""
    source = "<stdin>" if str(path) == "-" else str(path)
    seen: dict[str, int] = {}
    ordinal = 0

    def checked(rec: TextRecord | Problem) -> Iterator[TextRecord]:
        if isinstance(rec, Problem):
            log.add(rec)
            return
        if rec.id in seen:
            log.add(Problem(source, rec.line, "id", f"duplicate id {rec.id!r} (first on line {seen[rec.id]})"))
            return
        seen[rec.id] = rec.line
        yield rec

    if str(path).lower().endswith(".csv"):
        with open_text(path) as handle:
            reader = csv.DictReader(handle)
            try:
                if reader.fieldnames is None or "text" not in reader.fieldnames:
                    raise DataError(f"{source}:1: no 'text' column (columns: {reader.fieldnames})")
                for row in reader:
                    ordinal += 1
                    if None in row:
                        log.add(Problem(source, reader.line_num, None, "more cells than header columns"))
                        continue
                    yield from checked(_record(dict(row), source, reader.line_num, ordinal))
            except csv.Error as exc:
                raise DataError(f"{source}:{reader.line_num}: {exc}") from exc
            except UnicodeDecodeError as exc:
                raise DataError(f"{source}: not valid UTF-8 ({exc.reason})") from exc
        return
    for lineno, obj in iter_records(path, log):
        ordinal += 1
        yield from checked(_record(obj, source, lineno, ordinal))


class ScoreWriter:
    """Appends one JSON line per scored text and flushes it, to a file or stdout."""

    def __init__(self, path: str | Path | None) -> None:
        self._own = path is not None and str(path) != "-"
        self.handle: IO[str] = open(path, "a", encoding="utf-8") if self._own else sys.stdout  # type: ignore[arg-type]

    def write(self, record: dict[str, Any]) -> None:
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.handle.flush()

    def close(self) -> None:
        if self._own:
            self.handle.close()
