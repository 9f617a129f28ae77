"""``clave-lite filter``: texts in, the ones a policy lets pass out, as they arrive.

A reader thread reads the inputs (files, or stdin) record by record into a bounded queue; the
scorer takes what is there (up to ``batch_size``, waiting only for the first), scores it in one
decode, and writes each text as soon as it is decided: passed texts to ``out`` exactly as they
came in (a JSON line, a CSV row as a JSON line, or a plain line), flagged ones with their
scores and the rules that fired to ``flagged``. So ``tail -f replies.jsonl | clave-lite filter``
answers each reply when it arrives, not at the end of the input.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from clave_lite.build.loading import ModelOptions
from clave_lite.core.jsonl import ProblemLog, check_output
from clave_lite.errors import Problem
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.texts import Fields, TextRecord, read_texts


@dataclass(frozen=True)
class FilterOptions(ModelOptions):
    inputs: tuple[Path, ...] = (Path("-"),)
    format: str = "auto"
    """auto (by suffix), jsonl, csv or lines (one text per line)."""
    policy: Path | None = None
    rules: tuple[str, ...] = ()
    flagged: Path | None = None
    """Where flagged texts go, with scores and reasons (JSONL); None: they are dropped."""
    force: bool = False
    system: str | None = None
    values: tuple[str, ...] = ()
    on_error: str = "stop"
    on_truncated: str | None = None
    text_field: str = "text"
    prompt_field: str = "prompt"
    """``flag`` or ``score`` a text read only in part; None: the policy's (default flag)."""


@dataclass(frozen=True)
class FilterReport:
    texts: int
    passed: int
    flagged: int
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"texts": self.texts, "passed": self.passed, "flagged": self.flagged,
                "problems": [str(p) for p in self.problems]}


_END = object()


def _read_all(opts: FilterOptions, log: ProblemLog, q: "queue.Queue[Any]") -> None:
    """The reader thread: every record of every input, then ``_END`` (or the error that stopped it)."""
    try:
        for path in opts.inputs:
            for rec in read_texts(path, log, opts.format, Fields(opts.text_field, opts.prompt_field)):
                q.put(rec)
        q.put(_END)
    except BaseException as exc:  # handed to the scorer, which raises it in the main thread
        q.put(exc)


def _batches(q: "queue.Queue[Any]", size: int) -> Iterator[list[TextRecord]]:
    """What is ready, up to ``size`` records, blocking only for the first of each batch."""
    while True:
        item = q.get()
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise item
        batch = [item]
        while len(batch) < size:
            try:
                item = q.get_nowait()
            except queue.Empty:
                break
            if item is _END or isinstance(item, BaseException):
                q.put(item)  # seen again by the next get(): the batch in hand is scored first
                break
            batch.append(item)
        yield batch


def _passed_line(rec: TextRecord) -> str:
    """A passed text as it came in: its JSONL line byte for byte, its plain line, or a CSV row as JSON."""
    if rec.line_text is not None:
        return rec.line_text
    return rec.raw if isinstance(rec.raw, str) else json.dumps(rec.raw, ensure_ascii=False)


def filter_texts(opts: FilterOptions, out: IO[str], progress: Progress = SILENT) -> FilterReport:
    """Score every input text and route it by the policy; see the module docstring."""
    from clave_lite.jobs.policy import load_policy
    from clave_lite.jobs.score import score_record

    if opts.flagged is not None:  # refuse before any work
        check_output(opts.flagged, opts.inputs, opts.force)
    policy = load_policy(opts.policy, opts.rules, opts.on_truncated)
    log = ProblemLog(opts.on_error)
    counts = {"texts": 0, "passed": 0, "flagged": 0}
    with opts.load(progress) as evaluator:
        policy, sys_, chosen = policy.resolve(evaluator, opts.system, opts.values)
        names = [v.name for v in chosen]
        q: queue.Queue[Any] = queue.Queue(maxsize=4 * opts.batch_size)
        threading.Thread(target=_read_all, args=(opts, log, q), daemon=True, name="filter-reader").start()
        flagged_out = opts.flagged.open("w", encoding="utf-8") if opts.flagged is not None else None
        try:
            for batch in _batches(q, opts.batch_size):
                results = evaluator.score([r.text for r in batch], names, sys_.name, len(batch))
                for rec, result in zip(batch, results):
                    decision = policy.decide(result.scores, result.truncated_tokens)
                    counts["texts"] += 1
                    if decision.flagged:
                        counts["flagged"] += 1
                        if flagged_out is not None:
                            row = {**score_record(rec.id, sys_.name, result, None, decision), "text": rec.answer}
                            if rec.prompt is not None:
                                row["prompt"] = rec.prompt
                            flagged_out.write(json.dumps(row, ensure_ascii=False) + "\n")
                            flagged_out.flush()
                    else:
                        counts["passed"] += 1
                        out.write(_passed_line(rec) + "\n")
                        out.flush()
        finally:
            if flagged_out is not None:
                flagged_out.close()
    return FilterReport(counts["texts"], counts["passed"], counts["flagged"], tuple(log.problems))
