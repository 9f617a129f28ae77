"""Reading texts to score and writing their scores, line by line.

Input: JSONL (``text``, optional ``id`` and ``prompt``) or CSV with the same columns. With a
``prompt`` the scored text is ``Human: {prompt}\\nBob: {text}``, the dialogue form the
FULCRA-trained default evaluator learned from. Output: one JSON object per input text, written
as soon as it is scored, so a long run never loses what it already paid for.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Iterator

from clave_lite.core.jsonl import ProblemLog, check_input, iter_lines
from clave_lite.core.prompt import with_prompt
from clave_lite.errors import DataError, Problem


@dataclass(frozen=True)
class Fields:
    """Which fields (JSONL keys, CSV columns) hold the answer to score and the prompt it answers."""

    text: str = "text"
    prompt: str = "prompt"


@dataclass(frozen=True)
class TextRecord:
    id: str
    text: str  # what is scored (dialogue form when a prompt is given)
    line: int
    auto_id: bool = False  # the input gave no id: this one is the text's position
    raw: Any = field(default=None, compare=False)  # the input object (JSONL/CSV) or line, as read
    answer: str = ""  # the answer as the input gave it
    prompt: str | None = None  # the prompt it answers, if the input gave one
    line_text: str | None = field(default=None, compare=False)  # a JSONL line exactly as read


def _record(obj: dict[str, Any], source: str, lineno: int, ordinal: int, fields: Fields = Fields()) -> TextRecord | Problem:
    text = obj.get(fields.text)
    if not isinstance(text, str):
        return Problem(source, lineno, fields.text,
                       "missing" if text is None else f"must be a string, got {type(text).__name__}")
    if "\x00" in text:
        text = text.replace("\x00", " ")
    if not text.strip():
        return Problem(source, lineno, fields.text, "is empty")
    prompt = obj.get(fields.prompt)
    if prompt is not None and not isinstance(prompt, str):
        return Problem(source, lineno, fields.prompt, "must be a string")
    raw_id = obj.get("id")
    if raw_id is not None and (not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool)):
        return Problem(source, lineno, "id", f"must be a string or integer, got {type(raw_id).__name__}")
    for name, cell in ((fields.text, text), (fields.prompt, prompt), ("id", raw_id)):
        if isinstance(cell, str) and _UNDECODABLE.search(cell):
            return Problem(source, lineno, name, "not valid UTF-8")
    judged = with_prompt(text, prompt)
    if raw_id is None:
        return TextRecord(str(ordinal), judged, lineno, auto_id=True, raw=obj, answer=text, prompt=prompt)
    return TextRecord(str(raw_id), judged, lineno, raw=obj, answer=text, prompt=prompt)


INPUT_FORMATS = ("auto", "jsonl", "csv", "lines")
"""``auto``: by suffix (``.csv`` → csv, ``.txt`` → lines, else jsonl; stdin is jsonl)."""


def input_format(path: str | Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    suffix = str(path).lower()
    return "csv" if suffix.endswith(".csv") else "lines" if suffix.endswith(".txt") else "jsonl"


def _lines(path: str | Path, source: str, log: ProblemLog) -> Iterator[tuple[int, dict[str, Any]]]:
    """One text per non-blank line (its line number is its id), read as it arrives."""
    import contextlib
    import sys

    if str(path) == "-":
        stdin = getattr(sys.stdin, "buffer", sys.stdin)
        context: contextlib.AbstractContextManager[IO[Any]] = contextlib.nullcontext(stdin)
    else:
        check_input(path)
        context = Path(path).open("rb")
    with context as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            except UnicodeDecodeError as exc:
                log.add(Problem(source, lineno, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"))
                continue
            line = line.rstrip("\r\n")
            if line.strip():
                yield lineno, {"id": str(lineno), "text": line}


def read_texts(path: str | Path, log: ProblemLog, fmt: str = "auto", fields: Fields = Fields()) -> Iterator[TextRecord]:
    """Texts from JSONL (default, and stdin), CSV (``.csv``) or plain lines (``.txt``, or
    ``fmt="lines"``), yielded as they are read (so a stream is scored as it arrives); the
    answer is read from ``fields.text`` and its prompt, if any, from ``fields.prompt``."""
    source = "<stdin>" if str(path) == "-" else str(path)
    seen: dict[str, tuple[int, bool]] = {}
    ordinal = 0

    def checked(rec: TextRecord | Problem) -> Iterator[TextRecord]:
        if isinstance(rec, Problem):
            log.add(rec)
            return
        if rec.auto_id:  # a position id must not collide with an id some other line was given
            n = 1
            while rec.id in seen:
                rec = replace(rec, id=f"{rec.id.split('~')[0]}~{n}")
                n += 1
        elif rec.id in seen:
            first_line, first_auto = seen[rec.id]
            why = (f"line {first_line} has no id and was numbered {rec.id!r}; give every text an id, or none"
                   if first_auto else f"first on line {first_line}")
            log.add(Problem(source, rec.line, "id", f"duplicate id {rec.id!r} ({why})"))
            return
        seen[rec.id] = (rec.line, rec.auto_id)
        yield rec

    kind = input_format(path, fmt)
    if kind == "lines":
        for lineno, obj in _lines(path, source, log):
            rec = _record(obj, source, lineno, lineno)
            yield from checked(replace(rec, raw=obj["text"]) if isinstance(rec, TextRecord) else rec)
        return
    if kind == "csv":
        for lineno, row in _csv_rows(path, source, log, fields.text):
            ordinal += 1
            yield from checked(_record(row, source, lineno, ordinal, fields))
        return
    for lineno, obj, line in iter_lines(path, log):
        ordinal += 1
        rec = _record(obj, source, lineno, ordinal, fields)
        yield from checked(replace(rec, line_text=line) if isinstance(rec, TextRecord) else rec)


# Bytes that are not UTF-8 survive CSV decoding as lone surrogates (``surrogateescape``), so a
# bad byte costs only its own row (with ``--on-error skip``) and is reported with its line.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_CSV_FIELD_LIMIT = 1 << 27  # csv's default (128 KiB per cell) would refuse long texts


def _csv_rows(path: str | Path, source: str, log: ProblemLog, text_column: str = "text") -> Iterator[tuple[int, dict[str, Any]]]:
    """``(first line of the row, row)`` for each CSV data row; odd quoting is an error on its line.

    Quoting is strict: a quote that opens a cell and never closes would otherwise silently
    swallow every following row into one text.
    """
    check_input(path)  # existence / directory checks, without opening (a FIFO is read once)
    data = Path(path).read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", errors="surrogateescape")
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DataError(f"{source}:1: bad CSV header ({exc})") from exc
    if header is None or text_column not in header:
        raise DataError(f"{source}:1: no '{text_column}' column (columns: {header})")
    for name in header:
        if header.count(name) > 1:
            raise DataError(f"{source}:1: column '{name}' appears twice in the header")
        if _UNDECODABLE.search(name):
            raise DataError(f"{source}:1: the header is not valid UTF-8")
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                log.add(Problem(source, start, None, f"a quoted cell opens here and never closes "
                                f"(lines {start}-{reader.line_num} were read into it)"))
                return
            log.add(Problem(source, start, None, f"bad CSV quoting ({exc})"))
            continue
        if not cells:
            continue  # a blank line
        if len(cells) > len(header):
            log.add(Problem(source, start, None, f"{len(cells)} cells, more than the {len(header)} header columns"))
            continue
        row: dict[str, Any] = dict(zip(header, cells))
        yield start, row
