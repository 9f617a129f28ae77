"""Line-by-line JSONL reading that never loses the line number, and atomic writing.

Every reader in clave-lite goes through :func:`iter_records`, so a broken line is always
reported the same way (``file:line: message``) and the caller decides whether to stop or skip.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from clave_lite.errors import DataError, Problem, Remedy, one_line

ON_ERROR_CHOICES = ("stop", "skip")


def check_on_error(on_error: str) -> str:
    """The one check of an ``on_error`` choice (a usage error, as a bad flag is)."""
    from clave_lite.errors import UsageError

    if on_error not in ON_ERROR_CHOICES:
        raise UsageError(f"on_error must be one of {', '.join(ON_ERROR_CHOICES)}, got {on_error!r}")
    return on_error


class ProblemLog:
    """Collects defects; in ``stop`` mode the first one becomes a :class:`DataError`."""

    def __init__(self, on_error: str = "stop") -> None:
        self.on_error = check_on_error(on_error)
        self.problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        if self.on_error == "stop":
            raise DataError(one_line(f"{problem.source}:{problem.line}: "
                                     + (f"field '{problem.field}': " if problem.field else "")
                                     + problem.message), remedies=(Remedy("on_error", "skip", "to skip such lines"),),
                            problem=problem)
        self.problems.append(problem)

    def note(self, problem: Problem) -> None:
        """Record something worth telling the user that never stops the run."""
        self.problems.append(replace(problem, kind="note"))


def check_input(path: str | Path) -> None:
    """Existence and directory checks without opening the file: opening a named pipe (FIFO)
    to check it and again to read it would lose what its writer sent in between."""
    if str(path) == "-":
        return
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, expected a file")


def open_text(path: str | Path) -> IO[str]:
    """A UTF-8 input file (or stdin for ``-``) as text, decoded whole: a missing file, or bytes
    that are not UTF-8, are a :class:`DataError` naming the file and line, never a traceback
    from deep inside a CSV reader."""
    source = "<stdin>" if str(path) == "-" else str(path)
    if str(path) == "-":
        data = getattr(sys.stdin, "buffer", None)
        raw = data.read() if data is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
    else:
        check_input(path)
        raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{source}:{line}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    return io.StringIO(text, newline="")


def iter_records(path: str | Path, log: ProblemLog,
                 feed: Callable[[bytes], object] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for every JSON-object line (:func:`iter_lines`)."""
    for lineno, obj, _ in iter_lines(path, log, feed):
        yield lineno, obj


def iter_lines(path: str | Path, log: ProblemLog,
               feed: Callable[[bytes], object] | None = None) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Yield ``(line_number, object, the line as read)`` for every JSON-object line; blank
    lines are ignored.

    Lines are read as bytes and decoded one by one, so invalid UTF-8 is reported on the line
    where it is (and, with ``skip``, costs only that line). ``feed`` (a hash's ``update``) is
    given every byte read, blank and broken lines included: read to the end, it has seen the
    whole file.
    """
    source = "<stdin>" if str(path) == "-" else str(path)
    if str(path) == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        handle: IO[bytes] = stdin if stdin is not None else io.BytesIO(sys.stdin.read().encode("utf-8"))
        context: contextlib.AbstractContextManager[IO[bytes]] = contextlib.nullcontext(handle)  # never close stdin
    else:
        check_input(path)
        handle = Path(path).open("rb")
        context = handle
    with context:
        for lineno, raw in enumerate(handle, start=1):
            if feed is not None:
                feed(raw)
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark some editors write
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                log.add(Problem(source, lineno, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"))
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                log.add(Problem(source, lineno, None, f"invalid JSON ({exc.msg} at column {exc.colno})"))
                continue
            except _DuplicateKey as exc:
                log.add(Problem(source, lineno, exc.key, "appears twice in one object (which one is meant?)"))
                continue
            except RecursionError:
                log.add(Problem(source, lineno, None, "invalid JSON (nested too deeply)"))
                continue
            except ValueError as exc:  # e.g. an integer with more digits than Python converts
                log.add(Problem(source, lineno, None, f"invalid JSON ({exc})"))
                continue
            if not isinstance(obj, dict):
                log.add(Problem(source, lineno, None, f"expected a JSON object, got {type(obj).__name__}"))
                continue
            if "\\u" in line:  # only \uXXXX escapes can smuggle in a lone UTF-16 surrogate
                bad = _field_with_surrogate(obj)
                if bad is not None:
                    log.add(Problem(source, lineno, bad, "holds an unpaired UTF-16 surrogate escape "
                                    "(\\ud800-\\udfff), which is not text"))
                    continue
            yield lineno, obj, line.rstrip("\r\n")


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key.encode("utf-8", "replace").decode("utf-8")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: a key given twice is ambiguous (parsers disagree on which wins)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _field_with_surrogate(obj: dict[str, Any]) -> str | None:
    """The top-level field whose key or (nested) value holds an unpaired surrogate, if any."""
    for key, value in obj.items():
        stack = [key, value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if _has_surrogate(item):
                    return key.encode("utf-8", "replace").decode("utf-8")
            elif isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return None


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it, and rename it into place:
    a crash leaves either the old file or the new one, never half of one. ``-`` is stdout."""
    if str(path) == "-":
        for start in range(0, len(text), 1 << 16):  # in pieces, so a reader that left is noticed
            sys.stdout.write(text[start:start + (1 << 16)])
            sys.stdout.flush()
        return
    from clave_lite.core.files import staged_text

    with staged_text(path) as out:
        out.write(text)


def write_jsonl_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write all records to ``path`` via a temporary file, so a crash never leaves half a file."""
    lines = [json.dumps(record, ensure_ascii=False) + "\n" for record in records]
    write_text_atomic(path, "".join(lines))
    return len(lines)


def check_output(path: str | Path, inputs: Iterable[str | Path] = (), force: bool = False) -> None:
    """Before any work: ``path`` may be written. Never an input file; an existing non-empty
    file only with ``force``; and its folder must accept a new file (a read-only or missing
    folder is reported now, not after an hour of scoring). ``-`` (stdout) always passes."""
    from clave_lite.core.files import refuse_overlap
    from clave_lite.errors import UsageError

    if str(path) == "-":
        return
    p = Path(path)
    refuse_overlap([("the output", p)], inputs)
    if p.is_dir():
        raise UsageError(f"{p}: is a directory; expected a file to write")
    if p.exists() and p.stat().st_size > 0 and not force:
        raise UsageError(f"{p} already exists and is not empty", path=p, remedies=(Remedy("force", True, "to overwrite it"),))
    folder = p.parent if str(p.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".clave-lite-check-"):
            pass
        if p.exists() and not os.access(p, os.W_OK):
            raise PermissionError(f"{p} is read-only")
    except OSError as exc:
        raise UsageError(f"{p}: cannot write here ({exc.strerror or exc}); choose another path") from None
