"""``clave-lite score`` as a library call: texts in, one JSON line per text out, resumable.

>>> report = score_file(ScoreOptions(input=Path("texts.jsonl"), output=Path("scores.jsonl")))  # doctest: +SKIP
>>> report.scored, report.resumed_from                                                      # doctest: +SKIP

Each line is :func:`score_record` of one text: its id, the system, per value a label and the
three probabilities, and (``explain``) the model's own value concept per verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clave_lite.core.jsonl import ProblemLog
from clave_lite.errors import Problem
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.evaluator import ModelOptions


@dataclass(frozen=True)
class ScoreOptions(ModelOptions):
    input: Path = Path("-")
    """JSONL or CSV with ``text`` (and optional ``id``, ``prompt``); ``-``: stdin."""
    system: str | None = None
    values: tuple[str, ...] = ()
    """Values to score (default: all of the system)."""
    output: Path | None = None
    """JSONL to write line by line; None: stdout."""
    resume: bool = False
    force: bool = False
    batch_size: int = 8
    explain: bool = False
    policy: Path | None = None
    """A policy file (:mod:`clave_lite.runtime.policy`): each line then says ``flagged`` and the
    rules that ``fired``."""
    rules: tuple[str, ...] = ()
    """Policy rules as strings (``Benevolence/opposes>=0.6``), added to the file's."""
    on_error: str = "stop"


@dataclass(frozen=True)
class ScoreReport:
    texts: int
    """Texts read from the input."""
    scored: int
    """Texts scored by this run (the rest were already in a resumed output)."""
    resumed_from: int
    truncated: int
    """Texts longer than the template allows, scored on their head and tail."""
    max_text_tokens: int
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"texts": self.texts, "scored": self.scored, "resumed_from": self.resumed_from,
                "truncated": self.truncated, "problems": [str(p) for p in self.problems]}


def score_record(text_id: str, system: str, result, explanations: dict[str, str] | None = None,
                 decision=None) -> dict[str, Any]:
    """One output line: ``{"id", "system", "scores": {value: {label, p_*}}, ...}``, with the
    policy's ``flagged`` and ``fired`` when a policy decides."""
    out: dict[str, Any] = {"id": text_id, "system": system, "scores": result.to_dict()}
    if decision is not None:
        out.update(decision.to_dict())
    if explanations is not None:
        out["explanations"] = explanations
    if result.truncated_tokens:
        out["truncated_tokens"] = result.truncated_tokens
    return out


def score_file(opts: ScoreOptions, progress: Progress = SILENT) -> ScoreReport:
    """Score every text of ``opts.input`` into ``opts.output`` (refused before any work when it
    exists and neither ``resume`` nor ``force`` is set)."""
    from clave_lite.runtime.output import ScoreOutput, run_state
    from clave_lite.runtime.policy import Policy, load_policy
    from clave_lite.runtime.scoring import read_texts

    writer = ScoreOutput(opts.output, resume=opts.resume, force=opts.force)
    policy = load_policy(opts.policy, opts.rules) if opts.policy or opts.rules else None
    log = ProblemLog(opts.on_error)
    records = list(read_texts(opts.input, log))
    if not records:
        progress.note(f"note: no texts in {'stdin' if str(opts.input) == '-' else opts.input}; nothing to score")
    evaluator = opts.load(progress)
    try:
        bound, sys_, chosen = (policy or Policy()).resolve(evaluator, opts.system, opts.values)
        policy = bound if policy else None
        if opts.explain:
            evaluator.require_explanations()
        names = [v.name for v in chosen]
        state = run_state(records, evaluator, sys_.name, names, opts.batch_size)
        if opts.explain:
            state["explain"] = True
        if policy:
            state["policy"] = policy.to_dict()
        done = writer.begin(state, [r.id for r in records])
        if done:
            progress.note(f"resuming {opts.output}: {done} of {len(records)} texts already scored")
        todo, truncated = records[done:], 0
        progress.start("scoring", len(todo))
        for rec, result in zip(todo, evaluator.iter_scores([r.text for r in todo], names, sys_.name, opts.batch_size)):
            explanations = None
            if opts.explain:
                decided = {v.value: v.label for v in result.scores if v.label != "unrelated"}
                explanations = evaluator.explain(rec.text, decided, sys_.name)
            decision = policy.decide(result.scores) if policy else None
            writer.write(score_record(rec.id, sys_.name, result, explanations, decision))
            truncated += bool(result.truncated_tokens)
            progress.advance(1)
        progress.finish()
        writer.finish()
    finally:
        writer.close()
        evaluator.close()
    return ScoreReport(len(records), len(todo), done, truncated, evaluator.manifest.template.max_text_tokens,
                       tuple(log.problems))
