"""Turn the three shipped raw data formats into labelled tuples.

* FULCRA jsonl: one dialogue with ``value_types`` like ``"security: -1"`` → 10 Schwartz tuples;
  a value not listed is ``unrelated``.
* Touché23-ValueEval: an arguments TSV plus its labels TSV → 20 tuples per argument.
* ValueCSV csv: a text with 12 binary ``<Value>_scr`` columns → 12 tuples per text.

Counts are exact: every source row gives one tuple per value of its system, or is reported with
its line number. Oddities that don't cost a row (a value outside the system, a sloppy sign
such as ``1+``, a FULCRA value marked both +1 and -1, which becomes ``opposes``) are reported as
notes, never silently absorbed.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Callable, Iterator

from clave_lite.core.jsonl import ProblemLog, iter_records, open_text
from clave_lite.core.tuples import LabelledTuple
from clave_lite.core.valuesystem import load_system
from clave_lite.errors import DataError, Problem

Converted = tuple[list[LabelledTuple], list[Problem]]

_SIGNS = {"+1": "supports", "1": "supports", "-1": "opposes", "0": "unrelated"}
_SLOPPY_SIGNS = {"1+": "supports", "+": "supports", "-": "opposes", "1-": "opposes"}
_FULCRA_ENTRY = re.compile(r"^\s*(?P<name>[^:]+?)\s*:\s*(?P<sign>\S+)\s*$")


def _jsonl_rows(paths: list[Path], log: ProblemLog) -> Iterator[tuple[str, int, dict]]:
    """``(source, line, object)`` for every JSON-object line of every file."""
    for path in paths:
        for lineno, obj in iter_records(path, log):
            yield str(path), lineno, obj


def convert_fulcra(paths: list[Path], on_error: str = "stop") -> Converted:
    system = load_system("schwartz10")
    log = ProblemLog(on_error)
    out: list[LabelledTuple] = []
    for source, lineno, obj in _jsonl_rows(paths, log):
        dialogue = obj.get("dialogue")
        if not isinstance(dialogue, str) or not dialogue.strip():
            log.add(Problem(source, lineno, "dialogue", "missing or empty"))
            continue
        types = obj.get("value_types")
        if not isinstance(types, list):
            log.add(Problem(source, lineno, "value_types", "must be a list of 'value: ±1' strings"))
            continue
        labels: dict[str, str] = {}
        broken = False
        for entry in types:
            match = _FULCRA_ENTRY.match(entry) if isinstance(entry, str) else None
            if match is None:
                log.add(Problem(source, lineno, "value_types", f"entry {entry!r} is not 'value: ±1'"))
                broken = True
                break
            name, sign = match["name"], match["sign"]
            label = _SIGNS.get(sign)
            if label is None and sign in _SLOPPY_SIGNS:
                label = _SLOPPY_SIGNS[sign]
                log.note(Problem(source, lineno, "value_types", f"read sign {sign!r} of '{name}' as {label}"))
            if label is None:
                log.add(Problem(source, lineno, "value_types", f"entry {entry!r}: sign must be +1, -1 or 0"))
                broken = True
                break
            value = system.find(name)
            if value is None:
                log.note(Problem(source, lineno, "value_types", f"'{name}' is not a schwartz10 value; not converted"))
                continue
            earlier = labels.get(value.name, label)
            if label == "unrelated" or earlier == "unrelated":
                label = earlier if label == "unrelated" else label  # "0" adds no information
            elif earlier != label:
                # FULCRA derives types from fine-grained items, so a response can uphold one
                # side of a value and violate another. The violation is what a filter must
                # not miss: opposes wins.
                log.note(Problem(source, lineno, "value_types",
                                 f"'{value.name}' is labelled both {earlier} and {label}; kept opposes"))
                label = "opposes"
            labels[value.name] = label
        if broken:
            continue
        row_id = f"fulcra-{Path(source).stem}-{lineno}"
        for value in system.values:
            out.append(LabelledTuple(dialogue, value.name, labels.get(value.name, "unrelated"), row_id, system.name))
    return out, log.problems


def _read_tsv(path: Path, log: ProblemLog) -> tuple[list[str], list[tuple[int, list[str]]]]:
    with open_text(path) as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise DataError(f"{path}: empty file, expected a header row")
    header, body = rows[0], []
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            log.add(Problem(str(path), lineno, None, f"{len(row)} columns, header has {len(header)}"))
            continue
        body.append((lineno, row))
    return header, body


def _touche_labels_path(arguments: Path) -> Path:
    """``arguments-validation.tsv`` → ``labels-validation.tsv`` in the same folder."""
    if not arguments.name.startswith("arguments-"):
        raise DataError(f"{arguments}: cannot infer the labels file; pass ARGUMENTS.tsv LABELS.tsv")
    return arguments.with_name("labels-" + arguments.name[len("arguments-"):])


def convert_touche23(paths: list[Path], on_error: str = "stop") -> Converted:
    if len(paths) == 1:
        paths = [paths[0], _touche_labels_path(paths[0])]
    if len(paths) != 2:
        raise DataError("touche23 takes ARGUMENTS.tsv [LABELS.tsv]")
    arguments_path, labels_path = paths
    system = load_system("touche20")
    log = ProblemLog(on_error)

    a_header, a_rows = _read_tsv(arguments_path, log)
    needed = ["Argument ID", "Conclusion", "Stance", "Premise"]
    missing = [c for c in needed if c not in a_header]
    if missing:
        raise DataError(f"{arguments_path}:1: missing column(s) {', '.join(missing)}")
    l_header, l_rows = _read_tsv(labels_path, log)
    if not l_header or l_header[0] != "Argument ID":
        raise DataError(f"{labels_path}:1: first column must be 'Argument ID'")
    columns = []
    for name in l_header[1:]:
        value = system.find(name)
        if value is None:
            raise DataError(f"{labels_path}:1: column '{name}' is not a touche20 value")
        columns.append(value.name)
    if sorted(columns) != sorted(system.value_names):
        absent = sorted(set(system.value_names) - set(columns))
        raise DataError(f"{labels_path}:1: missing value column(s) {', '.join(absent)}")

    labels: dict[str, tuple[int, dict[str, str]]] = {}
    for lineno, row in l_rows:
        arg_id, cells = row[0].strip(), row[1:]
        bad = [(columns[i], c) for i, c in enumerate(cells) if c.strip() not in ("0", "1")]
        if bad:
            log.add(Problem(str(labels_path), lineno, bad[0][0], f"{bad[0][1]!r} is not 0 or 1"))
            continue
        if arg_id in labels:
            log.add(Problem(str(labels_path), lineno, "Argument ID", f"duplicate id {arg_id} (first on line {labels[arg_id][0]})"))
            continue
        labels[arg_id] = (lineno, {columns[i]: "supports" if c.strip() == "1" else "unrelated" for i, c in enumerate(cells)})

    col = {name: a_header.index(name) for name in needed}
    out: list[LabelledTuple] = []
    for lineno, row in a_rows:
        arg_id = row[col["Argument ID"]].strip()
        conclusion, stance, premise = (row[col[k]].strip() for k in ("Conclusion", "Stance", "Premise"))
        if not premise:
            log.add(Problem(str(arguments_path), lineno, "Premise", "is empty"))
            continue
        if arg_id not in labels:
            log.add(Problem(str(arguments_path), lineno, "Argument ID", f"{arg_id} has no row in {labels_path.name}"))
            continue
        text = f"{premise} (Stance: {stance} \"{conclusion}\")"
        for value in system.values:
            out.append(LabelledTuple(text, value.name, labels[arg_id][1][value.name], arg_id, system.name))
    return out, log.problems


def convert_valuecsv(paths: list[Path], on_error: str = "stop") -> Converted:
    system = load_system("csv12")
    log = ProblemLog(on_error)
    out: list[LabelledTuple] = []
    for path in paths:
        source = str(path)
        with open_text(path) as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader)
            except StopIteration:
                raise DataError(f"{source}: empty file, expected a header row") from None
            except csv.Error as exc:
                raise DataError(f"{source}:1: {exc}") from exc
            if "text" not in header:
                raise DataError(f"{source}:1: no 'text' column")
            value_cols: dict[int, str] = {}
            for i, name in enumerate(header):
                if name == "text":
                    continue
                value = system.find(name.removesuffix("_scr"))
                if value is None:
                    raise DataError(f"{source}:1: column '{name}' is not a csv12 value")
                value_cols[i] = value.name
            missing = sorted(set(system.value_names) - set(value_cols.values()))
            if missing:
                raise DataError(f"{source}:1: missing value column(s) {', '.join(missing)}")
            text_col = header.index("text")
            row_no = 0
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise DataError(f"{source}:{reader.line_num}: {exc}") from exc
                row_no += 1
                lineno = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    log.add(Problem(source, lineno, None, f"{len(row)} columns, header has {len(header)}"))
                    continue
                text = row[text_col].strip()
                if not text:
                    log.add(Problem(source, lineno, "text", "is empty"))
                    continue
                bad = [(value_cols[i], row[i]) for i in value_cols if row[i].strip() not in ("0", "1")]
                if bad:
                    log.add(Problem(source, lineno, bad[0][0], f"{bad[0][1]!r} is not 0 or 1"))
                    continue
                row_id = f"valuecsv-{Path(source).stem}-{row_no}"
                by_value = {value_cols[i]: row[i].strip() for i in value_cols}
                for value in system.values:
                    label = "supports" if by_value[value.name] == "1" else "unrelated"
                    out.append(LabelledTuple(text, value.name, label, row_id, system.name))
    return out, log.problems


FULCRA_SCORE_ORDER = ("Self-direction", "Stimulation", "Hedonism", "Achievement", "Power", "Security",
                      "Tradition", "Conformity", "Benevolence", "Universalism")
"""Order of ``value_reward`` in FULCRA's evaluator outputs (shared/data/fulcra/SOURCE.md)."""
TEACHER_SUPPORTS, TEACHER_OPPOSES, TEACHER_UNRELATED = 0.5, -0.5, 0.2
"""Thresholds on the teacher's score in [-1, 1]: ≥ 0.5 supports, ≤ -0.5 opposes, |s| < 0.2
unrelated; a score in between is an uncertain teacher and gives no tuple (1.5 % of scores)."""


def teacher_label(score: float) -> str | None:
    """The label a teacher score in [-1, 1] stands for; None in the uncertain band."""
    if score >= TEACHER_SUPPORTS:
        return "supports"
    if score <= TEACHER_OPPOSES:
        return "opposes"
    return "unrelated" if abs(score) < TEACHER_UNRELATED else None


def convert_fulcra_teacher(paths: list[Path], on_error: str = "stop") -> Converted:
    """FULCRA's DeBERTa evaluator outputs (machine labels, for distillation): one answer to a
    prompt, with ``value_reward`` scores on the 10 Schwartz values, thresholded to labels. The
    text is written as FULCRA's dialogues are (``Human: ...\nBob: ...``), so teacher and human
    tuples look alike to the model."""
    system = load_system("schwartz10")
    log = ProblemLog(on_error)
    out: list[LabelledTuple] = []
    for source, lineno, obj in _jsonl_rows(paths, log):
        prompt, answer, scores = obj.get("prompt"), obj.get("answer"), obj.get("value_reward")
        if not isinstance(answer, str) or not answer.strip() or not isinstance(prompt, str):
            log.add(Problem(source, lineno, "answer", "missing or empty (or no prompt)"))
            continue
        if (not isinstance(scores, list) or len(scores) != len(FULCRA_SCORE_ORDER)
                or not all(isinstance(x, (int, float)) and -1.0 <= x <= 1.0 for x in scores)):
            log.add(Problem(source, lineno, "value_reward", "must be 10 numbers in [-1, 1]"))
            continue
        text = f"Human: {prompt.strip()}\nBob: {answer.strip()}"
        row_id = f"teacher-{Path(source).stem}-{lineno}"
        for name, score in zip(FULCRA_SCORE_ORDER, scores):
            label = teacher_label(score)
            if label is None:
                continue
            out.append(LabelledTuple(text, system.get(name).name, label, row_id, system.name))
    return out, log.problems


CONVERTERS: dict[str, Callable[[list[Path], str], Converted]] = {
    "fulcra": convert_fulcra,
    "fulcra-teacher": convert_fulcra_teacher,
    "touche23": convert_touche23,
    "valuecsv": convert_valuecsv,
}
