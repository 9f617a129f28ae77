"""The one scoring core: texts in, per text its scores (and concepts) out. ``score`` (JSONL),
``score`` on Parquet and the Ray Data adapter all call :func:`score_texts`; tables go through
:class:`TableScorer`, which adds score columns to a pyarrow Table or a pandas DataFrame.

>>> scorer = TableScorer(TableOptions(values=("Security", "Benevolence")))   # doctest: +SKIP
>>> scored = scorer(pyarrow_table)   # the same table + "Security:label", "Security:p_supports", ...

**Batches decide the numbers.** llama.cpp's results depend a little on which texts share a
decode (measured: probabilities move by up to 0.03 between ``--batch-size 8`` and 1, labels did
not change on 400 decisions). :func:`score_texts` cuts its input into consecutive batches of
``batch_size`` from its first text, so two runs are equal when they hand it the same texts in
chunks that are multiples of ``batch_size``; ``batch_size=1`` is equal whatever the chunks (each
text decoded alone; on CPU not slower: docs/benchmarks.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

from clave_lite.build.loading import ModelOptions
from clave_lite.core.jsonl import check_on_error
from clave_lite.core.prompt import with_prompt
from clave_lite.errors import DataError, require
from clave_lite.runtime.evaluator import BATCH_SIZE, Evaluator

SYSTEM_COLUMN = "system"
TRUNCATED_COLUMN = "truncated_tokens"


@dataclass(frozen=True)
class Scored:
    """One text's result: ``scores`` as a score line holds them (``{value: {label, p_*}}``),
    the tokens cut from a long text, and per supports/opposes verdict the model's concept
    (``explain``)."""

    scores: dict[str, dict[str, Any]]
    truncated_tokens: int = 0
    explanations: dict[str, str] | None = None
    result: Any = field(default=None, compare=False, repr=False)
    """The :class:`~clave_lite.runtime.evaluator.TextScore` (a policy decides on it)."""


def score_texts(evaluator: Evaluator, texts: Sequence[str], values: Sequence[str], system: str, batch_size: int = BATCH_SIZE,
                explain: bool = False) -> Iterator[Scored]:
    """Score ``texts`` on ``values`` of ``system``, in consecutive batches of ``batch_size``."""
    for text, result in zip(texts, evaluator.iter_scores(list(texts), list(values), system, batch_size)):
        explanations = None
        if explain:
            decided = {v.value: v.label for v in result.scores if v.label != "unrelated"}
            explanations = evaluator.explain(text, decided, system)
        yield Scored(result.to_dict(), result.truncated_tokens, explanations, result)


@dataclass(frozen=True)
class TableOptions(ModelOptions):
    """What :class:`TableScorer` scores, and from which column."""

    system: str | None = None
    values: tuple[str, ...] = ()
    """Values to score (default: all of the system)."""
    text_column: str = "text"
    prompt_column: str = "prompt"
    """When the table has it: the prompt each text answers (the text is judged in its dialogue)."""
    explain: bool = False
    on_error: str = "stop"
    """A row whose text is missing or empty: ``stop`` (a DataError naming the row) or ``skip``
    (its score columns are null)."""


_SHARED: dict[ModelOptions, Any] = {}
_SHARED_LOCK = threading.Lock()


def shared_evaluator(opts: ModelOptions) -> Any:
    """The evaluator for ``opts``, loaded once per process and reused by every batch."""
    key = replace(opts.model_options(), batch_size=BATCH_SIZE)  # one evaluator, whatever the batch size
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = key.load()
        return _SHARED[key]


def column_names(labels: Sequence[str], values: Sequence[str], explain: bool) -> list[str]:
    """The columns a scored table gains, in order."""
    cols = [SYSTEM_COLUMN]
    for v in values:
        cols += [f"{v}:label"] + [f"{v}:p_{lab}" for lab in labels]
        if explain:
            cols.append(f"{v}:explanation")
    return cols + [TRUNCATED_COLUMN]


class TableScorer:
    """Adds score columns to tables: a pyarrow Table (or RecordBatch) in, a pyarrow Table out;
    a pandas DataFrame in, a DataFrame out. The evaluator is loaded once per process."""

    def __init__(self, opts: TableOptions, evaluator: Evaluator | None = None) -> None:
        check_on_error(opts.on_error)
        self.opts = opts
        self.evaluator = evaluator if evaluator is not None else shared_evaluator(opts)
        sys_, chosen = self.evaluator.resolve_values(opts.system, list(opts.values) or None)
        if opts.explain:
            self.evaluator.require_explanations()
        self.system = sys_.name
        self.labels = list(sys_.labels)
        self.values = [v.name for v in chosen]
        self.columns = column_names(self.labels, self.values, opts.explain)
        self.skipped: list[int] = []
        """Input rows (1-based, by ``first_row``) left unscored (``on_error="skip"``) so far."""

    def __call__(self, batch: Any) -> Any:
        pa = require("pyarrow", "parquet")
        if type(batch).__module__.startswith("pandas"):
            return self(pa.Table.from_pandas(batch, preserve_index=False)).to_pandas()
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        return self.score_table(table)

    def score_table(self, table: Any, first_row: int = 0) -> Any:
        """``table`` with the score columns appended; ``first_row``: the table's offset in its
        input, for error messages."""
        require("pyarrow", "parquet")
        col = self.opts.text_column
        if col not in table.column_names:
            raise DataError(f"no column {col!r} to score (columns: {', '.join(table.column_names)})")
        clash = [c for c in self.columns if c in table.column_names]
        if clash:
            raise DataError(f"the input already has the score column(s) {', '.join(clash)}; drop or rename them")
        texts = table.column(col).to_pylist()
        if self.opts.prompt_column in table.column_names:
            prompts = table.column(self.opts.prompt_column).to_pylist()
            texts = [with_prompt(t, p if isinstance(p, str) else None) if isinstance(t, str) else t
                     for t, p in zip(texts, prompts)]
        good = []
        for i, t in enumerate(texts):
            if isinstance(t, str) and t.strip():
                good.append(i)
            elif self.opts.on_error == "stop":
                raise DataError(f"row {first_row + i + 1}: column {col!r}: "
                                f"{'missing' if t is None else 'empty' if isinstance(t, str) else type(t).__name__}"
                                " (a text to score)")
        kept = set(good)
        self.skipped += [first_row + i + 1 for i in range(len(texts)) if i not in kept]
        out: list[Scored | None] = [None] * len(texts)
        for i, s in zip(good, score_texts(self.evaluator, [texts[i] for i in good], self.values, self.system,
                                          self.opts.batch_size, self.opts.explain)):
            out[i] = s
        return append_columns(table, out, self.system, self.labels, self.values, self.opts.explain)


def append_columns(table: Any, scored: Sequence[Scored | None], system: str, labels: Sequence[str],
                   values: Sequence[str], explain: bool) -> Any:
    """``table`` + the score columns of ``scored`` (one per row; None: a row left unscored)."""
    pa = require("pyarrow", "parquet")
    cols: dict[str, list] = {SYSTEM_COLUMN: [system if s else None for s in scored]}
    for v in values:
        cols[f"{v}:label"] = [s.scores[v]["label"] if s else None for s in scored]
        for lab in labels:
            cols[f"{v}:p_{lab}"] = [s.scores[v][f"p_{lab}"] if s else None for s in scored]
        if explain:
            cols[f"{v}:explanation"] = [(s.explanations or {}).get(v) if s else None for s in scored]
    cols[TRUNCATED_COLUMN] = [s.truncated_tokens if s else None for s in scored]
    for name, data in cols.items():
        kind = (pa.float64() if ":p_" in name else pa.int32() if name == TRUNCATED_COLUMN else pa.string())
        table = table.append_column(name, pa.array(data, type=kind))
    return table


def to_score_line(row: dict[str, Any], values: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A scored table's row back as a score line's ``scores`` (what ``score`` writes as JSONL)."""
    return {v: {"label": row[f"{v}:label"], **{f"p_{lab}": row[f"{v}:p_{lab}"] for lab in labels}} for v in values}
