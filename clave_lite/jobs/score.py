"""``clave-lite score`` as a library call: :class:`ScoreOptions` in, :class:`ScoreReport` out.

JSONL or CSV input is scored into JSONL line by line (:class:`~clave_lite.jobs.output.ScoreOutput`);
a Parquet input goes to :func:`~clave_lite.jobs.parquet.score_parquet`. Both keep the
same run ledger (:mod:`clave_lite.jobs.ledger`) and score through the same core
(:func:`~clave_lite.jobs.batch_scoring.score_texts`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from clave_lite.core.jsonl import ProblemLog
from clave_lite.core.prompt import MAX_WINDOWS
from clave_lite.errors import Remedy, UsageError
from clave_lite.jobs.batch_scoring import score_texts
from clave_lite.jobs.ledger import ScoreReport, input_digest, run_state
from clave_lite.jobs.output import ScoreOutput
from clave_lite.jobs.parquet import is_parquet, score_parquet
from clave_lite.jobs.policy import Policy, load_policy
from clave_lite.jobs.score_options import ScoreOptions
from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.texts import Fields, read_texts

__all__ = ["ScoreOptions", "ScoreReport", "score_file", "score_record"]

RESERVED_FIELDS = ("id", "system", "scores", "flagged", "fired", "explanations", "truncated_tokens")
"""Keys of a score line that a kept input field may not overwrite."""


def kept_fields(rec: Any, keep: Sequence[str]) -> dict[str, Any]:
    """The input fields ``keep`` names, from one :class:`~clave_lite.runtime.texts.TextRecord`
    (``text`` is always there; a field the record lacks is null; ``*``: every field but the id)."""
    raw = rec.raw if isinstance(rec.raw, dict) else {}
    names = [k for k in raw if k not in RESERVED_FIELDS] if "*" in keep else list(keep)
    out = {name: rec.text if name == "text" else raw.get(name) for name in names}
    if "*" in keep and "text" not in out:
        out["text"] = rec.text
    return out


def check_keep(keep: Sequence[str]) -> None:
    clash = [k for k in keep if k in RESERVED_FIELDS]
    if clash:
        raise UsageError(f"--keep {','.join(clash)}: {'is' if len(clash) == 1 else 'are'} already part of every "
                         f"score line ({', '.join(RESERVED_FIELDS)}); keep other input fields")


def score_record(text_id: str, system: str, result, explanations: dict[str, str] | None = None,
                 decision=None, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """One output line: ``{"id", ...kept input fields, "system", "scores": {value: {label, p_*}}, ...}``,
    with the policy's ``flagged`` and ``fired`` when a policy decides."""
    out: dict[str, Any] = {"id": text_id, **(fields or {}), "system": system, "scores": result.to_dict()}
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
    if is_parquet(Path(opts.input)):  # a corpus: streamed by chunks into a Parquet file (same core)
        return score_parquet(opts, progress)
    if is_parquet(opts.output):
        raise UsageError("a Parquet output is written from a Parquet input; JSONL and CSV are scored into JSONL",
                         remedies=(Remedy("output", "SCORES.jsonl"),))
    check_keep(opts.keep)
    writer = ScoreOutput(opts.output, resume=opts.resume, force=opts.force, inputs=[opts.input])
    policy = load_policy(opts.policy, opts.rules) if opts.policy or opts.rules else None
    log = ProblemLog(opts.on_error)
    records = list(read_texts(opts.input, log, fields=Fields(opts.text_column, opts.prompt_column)))
    if not records:
        progress.note(f"note: no texts in {'stdin' if str(opts.input) == '-' else opts.input}; nothing to score")
    evaluator = opts.load(progress)
    try:
        bound, sys_, chosen = (policy or Policy()).resolve(evaluator, opts.system, opts.values)
        policy = bound if policy else None
        if opts.explain:
            evaluator.require_explanations()
        names = [v.name for v in chosen]
        options = {"explain": opts.explain or None, "policy": policy.to_dict() if policy else None,
                   "keep": list(opts.keep) or None, "windows": opts.windows if opts.windows != MAX_WINDOWS else None}
        state = run_state(input_digest(records), len(records), evaluator, sys_.name, names, opts.batch_size,
                          opts.command, **{k: v for k, v in options.items() if v is not None})
        done = writer.begin(state, [r.id for r in records])
        if done:
            progress.note(f"resuming {opts.output}: {done} of {len(records)} texts already scored")
        todo, truncated = records[done:], 0
        progress.start("scoring", len(todo))
        scored = score_texts(evaluator, [r.text for r in todo], names, sys_.name, opts.batch_size, opts.explain)
        for rec, s in zip(todo, scored):  # the one scoring core (also tables and Ray Data)
            result = s.result
            decision = policy.decide(result.scores, result.truncated_tokens) if policy else None
            fields = kept_fields(rec, opts.keep) if opts.keep else None
            writer.write(score_record(rec.id, sys_.name, result, s.explanations, decision, fields))
            truncated += bool(result.truncated_tokens)
            progress.advance(1)
        progress.finish()
        writer.finish()
    finally:
        writer.close()
        evaluator.close()
    return ScoreReport(len(records), len(todo), done, truncated, evaluator.reads_at_most,
                       tuple(log.problems))
