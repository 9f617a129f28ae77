"""What a calibration takes (:class:`CalibrateOptions`, declared once: the CLI's flags are
generated from it) and what it returns (:class:`CalibrationReport`, :class:`DryRunReport`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clave_lite.core.jsonl import ON_ERROR_CHOICES
from clave_lite.core.labels import LABELS
from clave_lite.core.tuples import normalize_label
from clave_lite.errors import Problem, UsageError
from clave_lite.options import option
from clave_lite.runtime.embedders import EMBEDDERS


@dataclass
class CalibrateOptions:
    """Everything ``clave-lite calibrate`` takes, declared once: the CLI's flags are generated
    from these fields (:func:`clave_lite.cli.options.flags_from`)."""

    system: str = option(help="Value system of the labels (built-in name or YAML file).")
    labels: Path = option(help="Labelled-tuple JSONL: the human-labelled samples.", kind="path")
    output: Path = option(help="Concept pool to write (JSONL); its plan and status go to OUTPUT.run.json.",
                          kind="path")
    model: str = option(help="Model name sent to the endpoint (also the cache's key).", flag="--llm-model",
                        envvar="CLAVE_LITE_LLM_MODEL")
    base_url: str | None = option(None, "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1.",
                                  flag="--llm-base-url", envvar="CLAVE_LITE_LLM_BASE_URL")
    budget: int | None = option(None, "At most N samples (one call each, plus JSON repairs): K-Means "
                                "representatives per value and label. Default: every sample.", kind="int", min=1)
    values: list[str] | None = option(None, "Comma-separated values to extract (default: all).", kind="csv")
    only_labels: list[str] | None = option(None, "Comma-separated labels to extract, e.g. supports,opposes.",
                                           kind="csv")
    embedder: str = option("minilm", "Sample embeddings for K-Means (only used when --budget cuts): "
                           "all-MiniLM-L6-v2 (calibrate extra), or hashed character n-grams (numpy, any language).",
                           kind="choice", choices=EMBEDDERS)
    seed: int = option(0, kind="int")
    concurrency: int = option(4, "Calls in flight.", kind="int", min=1, max=64)
    timeout: float = option(60.0, "Seconds one call may take in all (connect, wait, read the whole answer).",
                            kind="float", min=0.1)
    max_retries: int = option(5, "Retries per call on timeouts, connection errors, 429 and 5xx.", kind="int",
                              min=0, max=20)
    retry_base_delay: float = option(1.0, "First backoff in seconds (doubles per retry, with jitter; Retry-After "
                                     "wins if longer).", kind="float", min=0)
    json_retries: int = option(2, "Repair prompts for an answer that is not valid concept JSON, before the sample "
                               "is skipped.", kind="int", min=0, max=10)
    max_tokens: int = option(256, kind="int", min=16)
    temperature: float = option(0.2, kind="float", min=0, max=2)
    response_format: str = option("auto", "How the JSON schema is sent; auto falls back json_schema → "
                                  "json_object → none.", kind="choice",
                                  choices=("auto", "json_schema", "json_object", "none"))
    max_text_chars: int = option(2000, "Longer texts are cut to this many characters in the prompt.", kind="int",
                                 min=100)
    cache_dir: Path | None = option(None, "Answer cache (default: $CLAVE_LITE_HOME/llm-cache).", kind="path")
    resume: bool = option(False, "Continue OUTPUT.run.json's plan; cached answers are not asked again.",
                          kind="flag")
    force: bool = option(False, "Start over even if OUTPUT or an unfinished run exists.", kind="flag")
    on_error: str = option("stop", "A malformed input line: 'stop' with its file:line, or 'skip' it, report it, "
                           "and exit 7.", kind="choice", choices=ON_ERROR_CHOICES, envvar="CLAVE_LITE_ON_ERROR")

    def __post_init__(self) -> None:
        from clave_lite.core.files import refuse_overlap

        refuse_overlap([("-o", self.output)], [self.labels, self.system])  # never an input, --force or not
        if self.only_labels:
            bad = [lab for lab in self.only_labels if normalize_label(lab) is None]
            if bad:
                raise UsageError(f"only_labels: {', '.join(bad)}: not a label (labels: {', '.join(LABELS)})")
            self.only_labels = [normalize_label(lab) for lab in self.only_labels]  # type: ignore[misc]


@dataclass(frozen=True)
class DryRunReport:
    """What a calibration would cost (``calibrate --dry-run``): nothing was sent."""

    system: str
    model: str
    samples: int
    groups: int
    """(value, label) groups the samples cover."""
    cached: int
    calls: int
    """Calls still to pay for (cached answers excluded)."""
    max_calls: int
    """With every JSON repair prompt used."""
    prompt_tokens_estimate: int
    completion_tokens_max: int
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "problems"}
        return {"dry_run": True, **out, "problems": [str(p) for p in self.problems]}


@dataclass(frozen=True)
class CalibrationReport:
    """What a calibration did: the pool it wrote and what it cost."""

    pool: str
    run_file: str
    status: str
    """``complete``, or ``already complete`` (a finished run: nothing was done)."""
    samples: int
    concepts: int | None
    calls: int = 0
    """Answers used that were paid for in this run."""
    cache_hits: int = 0
    seconds: float = 0.0
    system: str | None = None
    model: str | None = None
    samples_with_concepts: int = 0
    samples_skipped: int = 0
    requests: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    repairs: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    response_format: str | None = None
    cache_dir: str | None = None
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "problems"}
        return {**out, "problems": [str(p) for p in self.problems]}
