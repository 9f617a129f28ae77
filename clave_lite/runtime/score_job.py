"""``clave-lite score`` as a library call: texts in, one JSON line per text out, resumable.

>>> report = score_file(ScoreOptions(input=Path("texts.jsonl"), output=Path("scores.jsonl")))  # doctest: +SKIP
>>> report.scored, report.resumed_from                                                      # doctest: +SKIP

Each line is :func:`score_record` of one text: its id, the system, per value a label and the
three probabilities, and (``explain``) the model's own value concept per verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from clave_lite.core.jsonl import ProblemLog
from clave_lite.errors import Problem, Remedy, UsageError
from clave_lite.progress import SILENT, Progress
from clave_lite.core.prompt import MAX_WINDOWS
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
    keep: tuple[str, ...] = ()
    """Input fields copied into each output line (``text``, ``model``, ...; ``*``: all of them),
    e.g. for ``clave-lite report --by model``."""
    command: str | None = None
    """How this run was invoked; kept with the finished run's record, for reports."""
    text_column: str = "text"
    """The field (JSONL), column (CSV, Parquet) holding the answer to score."""
    prompt_column: str = "prompt"
    """The field or column holding the prompt each answer replies to, where present."""
    chunk_rows: int = 256
    """Parquet: rows per written part (rounded up to a multiple of ``batch_size``): what a
    killed run can lose, and about what is held in memory."""


RESERVED_FIELDS = ("id", "system", "scores", "flagged", "fired", "explanations", "truncated_tokens")
"""Keys of a score line that a kept input field may not overwrite."""


def kept_fields(rec: Any, keep: Sequence[str]) -> dict[str, Any]:
    """The input fields ``keep`` names, from one :class:`~clave_lite.runtime.scoring.TextRecord`
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


@dataclass(frozen=True)
class ScoreReport:
    texts: int
    """Texts read from the input."""
    scored: int
    """Texts scored by this run (the rest were already in a resumed output)."""
    resumed_from: int
    truncated: int
    """Texts too long to read whole (more than the evaluator's windows cover): some tokens unread."""
    max_text_tokens: int
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"texts": self.texts, "scored": self.scored, "resumed_from": self.resumed_from,
                "truncated": self.truncated, "problems": [str(p) for p in self.problems]}


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
    from clave_lite.runtime.batch_scoring import score_texts
    from clave_lite.runtime.output import ScoreOutput, run_state
    from clave_lite.runtime.policy import Policy, load_policy
    from clave_lite.runtime.scoring import Fields, read_texts

    from clave_lite.runtime.parquet_job import is_parquet, score_parquet

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
        state = run_state(records, evaluator, sys_.name, names, opts.batch_size)
        if opts.explain:
            state["explain"] = True
        if policy:
            state["policy"] = policy.to_dict()
        if opts.keep:
            state["keep"] = list(opts.keep)
        if opts.windows != MAX_WINDOWS:
            state["windows"] = opts.windows
        state["provenance"] = provenance(evaluator, opts.command)
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
    return ScoreReport(len(records), len(todo), done, truncated, evaluator.manifest.template.max_text_tokens,
                       tuple(log.problems))


def provenance(evaluator: Any, command: str | None) -> dict[str, Any]:
    """What produced a run's scores, kept with its record (not compared on ``--resume``)."""
    import datetime

    from clave_lite.version import __version__

    m = evaluator.manifest
    return {"command": command, "evaluator": str(evaluator.backend.path), "backend": evaluator.backend.name,
            "base_model": m.base_model.get("name"),
            "training_data_sha256": (m.training.get("data") or {}).get("fingerprint"),
            "systems": [s.name for s in m.systems],
            "clave_lite_version": __version__,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
