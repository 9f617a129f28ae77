"""``clave-lite score``'s options, one dataclass for both writers (JSONL/CSV and Parquet)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clave_lite.build.loading import ModelOptions


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
    explain: bool = False
    policy: Path | None = None
    """A policy file (:mod:`clave_lite.jobs.policy`): each line then says ``flagged`` and the
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
