"""``clave-lite convert`` and ``clave-lite split`` as library calls: options in, a typed report out.

>>> report = convert_file(ConvertOptions("fulcra", (Path("dev.jsonl"),), Path("tuples.jsonl")))  # doctest: +SKIP
>>> report.tuples, report.labels                                                               # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clave_lite.core.files import refuse_overlap
from clave_lite.core.jsonl import check_output, write_jsonl_atomic
from clave_lite.core.tuples import read_tuples
from clave_lite.datasets.convert import CONVERTERS
from clave_lite.datasets.splits import carve, read_seen_keys
from clave_lite.errors import Problem


@dataclass(frozen=True)
class ConvertOptions:
    format: str
    """One of :data:`clave_lite.datasets.convert.CONVERTERS`."""
    inputs: tuple[Path, ...]
    output: Path
    """Labelled-tuple JSONL to write (``-``: stdout)."""
    force: bool = False
    on_error: str = "stop"


@dataclass(frozen=True)
class ConvertReport:
    format: str
    output: str
    tuples: int
    texts: int
    labels: dict[str, int]
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "output": self.output, "tuples": self.tuples, "texts": self.texts,
                "labels": self.labels, "skipped_lines": sum(p.kind == "skipped" for p in self.problems),
                "notes": sum(p.kind == "note" for p in self.problems)}


def convert_file(opts: ConvertOptions) -> ConvertReport:
    """Turn a shipped raw data set into labelled tuples (the output is checked before any work)."""
    check_output(opts.output, opts.inputs, opts.force)
    tuples, problems = CONVERTERS[opts.format](list(opts.inputs), opts.on_error)
    count = write_jsonl_atomic(opts.output, (t.to_dict() for t in tuples))
    return ConvertReport(opts.format, str(opts.output), count, len({t.key for t in tuples}),
                         dict(sorted(Counter(t.label for t in tuples).items())), tuple(problems))


@dataclass(frozen=True)
class SplitOptions:
    data: Path
    validation_texts: int
    output: Path
    """The training tuples to write."""
    validation: Path
    """The validation tuples to write."""
    exclude_keys: Path | None = None
    """A run's ``train_keys.json``: texts it trained on never go to validation."""
    seed: int = 0
    force: bool = False
    on_error: str = "stop"


@dataclass(frozen=True)
class SplitReport:
    input: str
    seed: int
    train_tuples: int
    train_texts: int
    validation_tuples: int
    validation_texts: int
    problems: tuple[Problem, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "seed": self.seed, "train_tuples": self.train_tuples,
                "train_texts": self.train_texts, "validation_tuples": self.validation_tuples,
                "validation_texts": self.validation_texts}


def split_file(opts: SplitOptions) -> SplitReport:
    """Carve a seeded validation split, by whole texts, out of training tuples."""
    refuse_overlap([("-o", opts.output), ("--validation", opts.validation)], [opts.data, opts.exclude_keys])
    for path in (opts.output, opts.validation):
        check_output(path, [opts.data], opts.force)
    tuples, problems = read_tuples(opts.data, None, opts.on_error)
    result = carve(tuples, opts.validation_texts, opts.seed,
                   read_seen_keys(opts.exclude_keys) if opts.exclude_keys else None)
    write_jsonl_atomic(opts.output, (t.to_dict() for t in result.train))
    write_jsonl_atomic(opts.validation, (t.to_dict() for t in result.validation))
    counts = result.to_dict()
    return SplitReport(str(opts.data), opts.seed, counts["train_tuples"], counts["train_texts"],
                       counts["validation_tuples"], counts["validation_texts"], tuple(problems))
