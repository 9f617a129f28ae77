"""Calibration: labelled tuples → representative samples → LLM value concepts → concept pool.

The one online step of clave-lite, done once per value system. Its rules are about money and
crashes:

- every answer is cached on disk before it is used (:mod:`clave_lite.calibration.cache`), so a
  rerun, a ``--resume`` after ``kill -9``, or a repeat with the same prompts never pays twice;
- the plan (which samples, in which order) is written next to the pool before the first call
  (``POOL.run.json``), so ``--resume`` continues exactly that plan without re-embedding;
- calls run in a thread pool bounded by ``concurrency``; the first call that fails after all
  its retries stops new work, lets the calls in flight finish (and be cached), and ends the run
  with :class:`~clave_lite.errors.LLMError` (exit 5) telling the user to rerun with ``--resume``;
- an answer that is not valid concept JSON is retried with a repair prompt and a higher
  temperature (``json_retries`` times); then that sample is skipped and reported, never fatal.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Hashable, cast

from clave_lite.calibration.cache import AnswerCache, cache_key
from clave_lite.calibration.concepts import Concept, write_pool
from clave_lite.calibration.llm_client import (
    CallStats,
    ChatClient,
    RetryPolicy,
    api_key_from_env,
)
from clave_lite.calibration.options import (
    CalibrateOptions,
    CalibrationReport,
    DryRunReport,
)
from clave_lite.calibration.prompt import (
    CONCEPT_SCHEMA,
    PROMPT_VERSION,
    AnswerError,
    build_messages,
    normalize_concept,
    parse_answer,
    repair_messages,
)
from clave_lite.calibration.selection import interleave, select
from clave_lite.core.jsonl import write_text_atomic
from clave_lite.core.tuples import LabelledTuple, read_tuples
from clave_lite.core.valuesystem import ValueSystem, load_system
from clave_lite.errors import DataError, LLMError, Problem, Remedy, UsageError
from clave_lite.formats.base_models import sha256_file
from clave_lite.progress import SILENT, Progress

RUN_FORMAT = "clave-lite-calibrate-run/1"


@dataclass(frozen=True)
class Sample:
    """One labelled (text, value) pair chosen for extraction; ``line`` is its line in the labels file."""

    sid: str
    line: int
    value: str
    label: str
    text: str
    represents: int = 1


@dataclass
class SampleResult:
    sample: Sample
    concepts: list[str] = field(default_factory=list)
    answers: int = 0  # answers used (cached or new)
    cache_hits: int = 0
    repairs: int = 0
    problem: Problem | None = None
    ran: bool = True


def run_file(output: Path) -> Path:
    """The plan and status of a calibration, beside its pool: ``POOL.run.json``."""
    return output.with_name(output.name + ".run.json")


def _write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=1))


def read_labelled(path: Path, system: ValueSystem, on_error: str) -> tuple[list[tuple[int, LabelledTuple]], list[Problem]]:
    """Labelled tuples with their line numbers (the plan refers to samples by line)."""
    tuples, problems = read_tuples(path, system, on_error)
    return [(t.line, t) for t in tuples], problems


def _sample_id(line: int, t: LabelledTuple) -> str:
    return t.id if t.id is not None else f"line{line}"


def make_plan(opts: CalibrateOptions, system: ValueSystem, progress: Progress) -> tuple[list[Sample], list[Problem]]:
    """Read, filter, group by (value, label), select representatives, interleave groups."""
    rows, problems = read_labelled(opts.labels, system, opts.on_error)
    wanted_values = {system.get(v).name for v in opts.values} if opts.values else None
    wanted_labels = set(opts.only_labels) if opts.only_labels else None
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (_, t) in enumerate(rows):
        if (wanted_values is None or t.value in wanted_values) and (wanted_labels is None or t.label in wanted_labels):
            groups.setdefault((t.value, t.label), []).append(i)
    order = {v: n for n, v in enumerate(system.value_names)}
    label_order = {lab: n for n, lab in enumerate(system.labels)}
    groups = dict(sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 1 << 30), label_order.get(kv[0][1], 9))))
    texts = [t.text for _, t in rows]
    # select() only reads the groups: its Hashable keys are our (value, label) pairs
    chosen = select(cast("dict[Hashable, list[int]]", groups), texts, opts.budget, opts.embedder, opts.seed,
                    progress)
    samples = []
    for _, pick in interleave(chosen):
        line, t = rows[pick.index]
        samples.append(Sample(_sample_id(line, t), line, t.value, t.label, t.text, pick.represents))
    return samples, problems


def _plan_record(opts: CalibrateOptions, system: ValueSystem, samples: list[Sample]) -> dict[str, Any]:
    return {"format": RUN_FORMAT, "status": "running", "prompt_version": PROMPT_VERSION,
            "system": system.name, "labels": str(opts.labels), "labels_sha256": sha256_file(opts.labels),
            "model": opts.model, "selection": {"budget": opts.budget, "embedder": opts.embedder, "seed": opts.seed,
                                               "values": opts.values, "only_labels": opts.only_labels},
            "max_text_chars": opts.max_text_chars, "started": time.time(),
            "samples": [[s.line, s.sid, s.represents] for s in samples]}


def _load_plan(record: dict[str, Any], opts: CalibrateOptions, system: ValueSystem, where: Path) -> list[Sample]:
    """The samples of a saved plan, re-read from the (unchanged) labels file."""
    if record.get("format") != RUN_FORMAT:
        raise DataError(f"{where}: not a clave-lite calibration run file")
    if record.get("model") != opts.model:
        raise UsageError(f"{where}: this run was started with the LLM model {record.get('model')!r}; resume it "
                         "with the same model",
                         remedies=(Remedy("force", True, "to start over"),))
    if record.get("system") != system.name:
        raise UsageError(f"{where}: this run was started with the value system {record.get('system')!r}; resume "
                         "it with the same system",
                         remedies=(Remedy("force", True, "to start over"),))
    if record.get("labels_sha256") != sha256_file(opts.labels):
        raise UsageError(f"{opts.labels}: changed since the run started ({where})",
                         remedies=(Remedy("force", True, "to start over (cached answers are still reused)"),))
    rows, _ = read_labelled(opts.labels, system, "skip")
    by_line = {line: t for line, t in rows}
    samples = []
    for line, sid, represents in record["samples"]:
        t = by_line.get(line)
        if t is None:
            raise DataError(f"{where}: sample on line {line} of {opts.labels} is no longer readable")
        samples.append(Sample(sid, line, t.value, t.label, t.text, represents))
    return samples


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """Rough prompt size: one token per CJK character, one per 4 other characters, 4 per message."""
    total = 0
    for m in messages:
        text = m["content"]
        cjk = len(re.findall(r"[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]", text))
        total += 4 + cjk + math.ceil((len(text) - cjk) / 4)
    return total


class _Extractor:
    """Turns one sample into concepts: cache first, then the LLM, repairs on invalid JSON."""

    def __init__(self, opts: CalibrateOptions, system: ValueSystem, cache: AnswerCache,
                 client: ChatClient | None) -> None:
        self.opts = opts
        self.system = system
        self.cache = cache
        self.client = client
        self.stop = threading.Event()
        self.failure: LLMError | None = None
        self._lock = threading.Lock()

    def first_messages(self, s: Sample) -> list[dict[str, str]]:
        return build_messages(self.system.get(s.value), s.label, s.text, self.opts.max_text_chars)

    def __call__(self, s: Sample) -> SampleResult:
        result = SampleResult(s)
        if self.stop.is_set():
            result.ran = False
            return result
        messages = self.first_messages(s)
        reason = ""
        for attempt in range(1 + self.opts.json_retries):
            key = cache_key(self.opts.model, messages)
            record = self.cache.get(key)
            if record is not None:
                result.cache_hits += 1
            else:
                if self.stop.is_set() or self.client is None:
                    result.ran = False
                    return result
                try:
                    answer = self.client.complete(messages, schema=CONCEPT_SCHEMA, max_tokens=self.opts.max_tokens,
                                                  temperature=min(1.0, self.opts.temperature + 0.4 * attempt))
                except LLMError as exc:
                    with self._lock:
                        self.failure = self.failure or exc
                    self.stop.set()
                    result.ran = False
                    return result
                record = self.cache.put(key, model=self.opts.model, messages=messages, content=answer.content,
                                        finish_reason=answer.finish_reason, usage=answer.usage,
                                        response_format=answer.response_format)
            result.answers += 1
            try:
                result.concepts = parse_answer(record["content"], self.system.get(s.value))
                return result
            except AnswerError as exc:
                reason = str(exc)
                if attempt < self.opts.json_retries:
                    result.repairs += 1
                # the conversation grows with each rejected answer, so every attempt is a new prompt
                # (and a new cache entry), not a replay of the previous one
                messages = repair_messages(messages, record["content"], reason)
        result.problem = Problem(str(self.opts.labels), s.line, None,
                                 f"sample {s.sid} ({s.value} / {s.label}): no valid concepts after "
                                 f"{result.answers} answers, last: {reason}")
        return result


def build_pool(results: list[SampleResult], system_name: str, value_order: list[str]) -> list[Concept]:
    """Merge identical concepts within a (value, label); keep the human label of their sources.

    A source's weight (its K-Means cluster size) is shared equally among its concepts, so a
    group's weights sum to the labelled samples it covers (see :mod:`clave_lite.calibration.concepts`).
    """
    pool: dict[tuple[str, str, str], Concept] = {}
    for r in results:
        s = r.sample
        share = s.represents / len(r.concepts) if r.concepts else 0.0
        for text in r.concepts:
            key = (s.value, s.label, normalize_concept(text).casefold())
            row = pool.get(key)
            if row is None:
                pool[key] = Concept(s.value, s.label, text, [s.sid], [s.text], share, system_name)
            elif s.sid not in row.source_ids:
                row.source_ids.append(s.sid)
                row.source_texts.append(s.text)
                row.weight += share
    order = {v: i for i, v in enumerate(value_order)}
    labels = {"supports": 0, "opposes": 1, "unrelated": 2}
    return sorted(pool.values(), key=lambda c: (order.get(c.value, 1 << 30), labels.get(c.label, 3)))


def _prepare(opts: CalibrateOptions, system: ValueSystem, progress: Progress
             ) -> tuple[list[Sample], list[Problem], dict[str, Any] | None]:
    """The plan to run: a saved one (``--resume``) or a new one; refuses to clobber by accident."""
    rf = run_file(opts.output)
    saved = None
    if rf.exists():
        try:
            saved = json.loads(rf.read_text(encoding="utf-8"))
        except ValueError:
            raise DataError(f"{rf}: unreadable run file; delete it",
                            remedies=(Remedy("force", True, "to start over"),)) from None
    if opts.resume and saved is not None and not opts.force:
        return _load_plan(saved, opts, system, rf), [], saved
    if not opts.force:
        if saved is not None and saved.get("status") != "done":
            raise UsageError(f"{opts.output}: an unfinished calibration exists ({rf})", remedies=(
                Remedy("resume", True, "to continue it (cached answers are free)"), Remedy("force", True, "to start over")))
        if opts.output.exists():
            raise UsageError(f"{opts.output} exists", remedies=(
                Remedy("force", True, "to overwrite it (hand edits would be lost)"),))
    samples, problems = make_plan(opts, system, progress)
    return samples, problems, None


def dry_run(opts: CalibrateOptions, progress: Progress = SILENT) -> DryRunReport:
    """What a run would cost: calls still to pay for (cache excluded) and estimated tokens."""
    system = load_system(opts.system)
    cache = AnswerCache(opts.cache_dir)
    rf = run_file(opts.output)
    problems: list[Problem]
    if opts.resume and rf.exists() and not opts.force:
        samples, problems = _load_plan(json.loads(rf.read_text(encoding="utf-8")), opts, system, rf), []
    else:
        samples, problems = make_plan(opts, system, progress)
    extractor = _Extractor(opts, system, cache, None)
    cached = 0
    prompt_tokens = 0
    for s in samples:
        messages = extractor.first_messages(s)
        if cache_key(opts.model, messages) in cache:
            cached += 1
        else:
            prompt_tokens += estimate_tokens(messages)
    calls = len(samples) - cached
    return DryRunReport(system.name, opts.model, len(samples), len({(s.value, s.label) for s in samples}), cached,
                        calls, calls * (1 + opts.json_retries), prompt_tokens, calls * opts.max_tokens,
                        tuple(problems))


def calibrate(opts: CalibrateOptions, progress: Progress = SILENT) -> CalibrationReport:
    """Run (or resume) a calibration and write the concept pool; returns the run report.

    Raises :class:`LLMError` when the endpoint fails after all retries: what was answered is
    cached and the plan is saved, so ``--resume`` continues without paying twice.
    """
    t0 = time.monotonic()
    if not opts.base_url:
        raise UsageError("no LLM endpoint (or set CLAVE_LITE_LLM_BASE_URL)", remedies=(Remedy("llm_base_url", "URL"),))
    system = load_system(opts.system)
    cache = AnswerCache(opts.cache_dir)
    rf = run_file(opts.output)
    samples, problems, saved = _prepare(opts, system, progress)
    if saved is not None and saved.get("status") == "done" and opts.output.exists():
        return CalibrationReport(str(opts.output), str(rf), "already complete", len(samples),
                                 saved.get("report", {}).get("concepts"), seconds=round(time.monotonic() - t0, 2))
    plan = saved if saved is not None else _plan_record(opts, system, samples)
    if saved is None:
        _write_json_atomic(rf, plan)
    stats = CallStats()
    client = ChatClient(opts.base_url, opts.model, api_key=api_key_from_env(), timeout=opts.timeout,
                        retry=RetryPolicy(max_retries=opts.max_retries, base_delay=opts.retry_base_delay),
                        response_format=opts.response_format, stats=stats, seed=opts.seed)
    extractor = _Extractor(opts, system, cache, client)
    progress.start("calls", len(samples))
    slots: list[SampleResult | None] = [None] * len(samples)
    try:
        with ThreadPoolExecutor(max_workers=max(1, opts.concurrency), thread_name_prefix="calibrate") as pool:
            futures = {pool.submit(extractor, s): i for i, s in enumerate(samples)}
            try:
                for future in as_completed(futures):
                    slots[futures[future]] = future.result()
                    progress.advance(1)
            except BaseException:  # Ctrl-C or a bug: queued samples return at once, calls in flight finish
                extractor.stop.set()
                raise
    finally:
        progress.finish()
    results = [r for r in slots if r is not None]
    done = [r for r in results if r.ran]
    if extractor.failure is not None:
        raise LLMError(f"{extractor.failure}; {len(done)} of {len(samples)} samples done, their answers are "
                       f"cached in {cache.root}", remedies=(Remedy("resume"),), lead="rerun with")
    concepts = build_pool(done, system.name, system.value_names)
    write_pool(opts.output, concepts)
    skipped = [r.problem for r in done if r.problem is not None]
    report = CalibrationReport(
        str(opts.output), str(rf), "complete", len(samples), len(concepts), calls=stats.answers,
        cache_hits=sum(r.cache_hits for r in done), seconds=round(time.monotonic() - t0, 2), system=system.name,
        model=opts.model, samples_with_concepts=sum(bool(r.concepts) for r in done), samples_skipped=len(skipped),
        requests=stats.requests, retries=stats.retries, retry_reasons=dict(stats.retry_reasons),
        repairs=sum(r.repairs for r in done), prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens, response_format=client.response_format,
        cache_dir=str(cache.root), problems=tuple(problems + skipped))
    plan.update(status="done", finished=time.time(),
                report={k: v for k, v in report.to_dict().items() if k != "problems"})
    _write_json_atomic(rf, plan)
    return report
