"""The labelled-tuple format users give clave-lite: one ``{text, value, label}`` per line.

ValEval-style (CLAVE's data set): a text with several labelled values appears once per value.
Labels may be written as words or as numbers (1 supports, -1 opposes, 0 unrelated).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clave_lite.core.jsonl import ProblemLog, iter_records
from clave_lite.core.labels import LABELS
from clave_lite.core.valuesystem import ValueSystem
from clave_lite.errors import Problem

_LABEL_ALIASES: dict[str, str] = {
    "supports": "supports", "support": "supports", "1": "supports", "+1": "supports",
    "opposes": "opposes", "oppose": "opposes", "-1": "opposes",
    "unrelated": "unrelated", "0": "unrelated",
}


def normalize_label(raw: Any) -> str | None:
    """The canonical label for ``raw`` (word or number), or None if it is not a label."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        raw = {1: "1", -1: "-1", 0: "0"}.get(int(raw)) if float(raw).is_integer() else None
        if raw is None:
            return None
    if not isinstance(raw, str):
        return None
    return _LABEL_ALIASES.get(raw.strip().lower())


@dataclass(frozen=True)
class LabelledTuple:
    text: str
    value: str
    label: str
    id: str | None = None
    system: str | None = None
    source: str | None = field(default=None, compare=False, repr=False)
    """Where the tuple was read (file and line), for error messages; not part of its identity."""
    line: int = field(default=0, compare=False, repr=False)

    @property
    def key(self) -> str:
        """What identifies the text when gold and predictions are joined: its id, else itself."""
        return self.id if self.id is not None else self.text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        out.update(text=self.text, value=self.value, label=self.label)
        if self.system:
            out["system"] = self.system
        return out


def parse_tuple(obj: dict[str, Any], source: str, lineno: int, system: ValueSystem | None) -> LabelledTuple | Problem:
    """One line → a tuple, or the first problem found in it."""

    def problem(field: str, message: str) -> Problem:
        return Problem(source, lineno, field, message)

    text = obj.get("text")
    if not isinstance(text, str):
        return problem("text", "missing" if text is None else f"must be a string, got {type(text).__name__}")
    if not text.strip():
        return problem("text", "is empty")
    value = obj.get("value")
    if not isinstance(value, str) or not value.strip():
        return problem("value", "missing or empty")
    if system is not None:
        found = system.find(value)
        if found is None:
            return problem("value", f"unknown value '{value}' in system '{system.name}'")
        value = found.name
    if "label" not in obj:
        return problem("label", "missing")
    label = normalize_label(obj["label"])
    if label is None:
        return problem("label", f"{obj['label']!r} is not one of {', '.join(LABELS)} (or 1, -1, 0)")
    if system is not None and label not in system.labels:
        return problem("label", f"'{label}' is not in the label set of system '{system.name}' ({', '.join(system.labels)})")
    raw_id = obj.get("id")
    if raw_id is not None and (not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool)):
        return problem("id", f"must be a string or integer, got {type(raw_id).__name__}")
    sys_name = obj.get("system")
    if sys_name is not None and not isinstance(sys_name, str):
        return problem("system", "must be a string")
    return LabelledTuple(text, value.strip(), label, None if raw_id is None else str(raw_id), sys_name,
                         source=source, line=lineno)


def read_tuples(
    path: str | Path, system: ValueSystem | None = None, on_error: str = "stop"
) -> tuple[list[LabelledTuple], list[Problem]]:
    """Read a labelled-tuple JSONL file.

    With ``on_error='stop'`` the first defect raises :class:`~clave_lite.errors.DataError`;
    with ``'skip'`` defective lines are left out and returned as problems for the caller to
    report. A (text, value) pair labelled twice is a defect: the two labels cannot both be true.
    """
    read = read_tuple_file(path, system, on_error)
    return read.tuples, read.problems


@dataclass(frozen=True)
class TupleFile:
    """A labelled-tuple file as read (:func:`read_tuple_file`)."""

    tuples: list[LabelledTuple]
    problems: list[Problem]
    """The lines left out (``on_error='skip'``)."""
    sha256: str
    """The SHA-256 of the bytes parsed: a record of what was made from the file can say which
    file it was without reading it again."""


def read_tuple_file(path: str | Path, system: ValueSystem | None = None, on_error: str = "stop") -> TupleFile:
    """:func:`read_tuples`, with the SHA-256 of the bytes it parsed."""
    log = ProblemLog(on_error)
    source = "<stdin>" if str(path) == "-" else str(path)
    tuples: list[LabelledTuple] = []
    seen: dict[tuple[str, str], int] = {}
    digest = hashlib.sha256()
    for lineno, obj in iter_records(path, log, digest.update):
        result = parse_tuple(obj, source, lineno, system)
        if isinstance(result, Problem):
            log.add(result)
            continue
        pair = (result.key, result.value.casefold())
        if pair in seen:
            log.add(Problem(source, lineno, "value", f"'{result.value}' already labelled for this text on line {seen[pair]}"))
            continue
        seen[pair] = lineno
        tuples.append(result)
    return TupleFile(tuples, log.problems, digest.hexdigest())
