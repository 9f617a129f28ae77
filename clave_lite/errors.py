"""Errors a user can act on, each with the exit code scripts may rely on.

Anything raised as a :class:`ClaveError` reaches the user as one line (``error: ...``) and its
``exit_code``; any other exception is a bug and is reported as such (exit code 1).

An error describes the problem and carries data: ``remedies`` name the *options* that resolve
it (``Remedy("force", True, "to overwrite it")``), not command-line flags. ``str(err)`` words
them for Python callers (``force=True``); the CLI words them as flags (``--force``), so one
message serves both. Other context (a path, a report) rides along in ``context``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug in clave-lite: please report it
EXIT_USAGE = 2  # bad flags or arguments (click's own code)
EXIT_DATA = 3  # input data missing or malformed
EXIT_MODEL = 4  # model file missing, corrupt, foreign or incompatible
EXIT_NETWORK = 5  # hosted LLM unreachable or misbehaving after all retries
EXIT_QUALITY = 6  # a quality gate refused to write an artifact
EXIT_PARTIAL = 7  # finished, but some input lines were skipped (--on-error skip)
EXIT_FLAGGED = 8  # `filter`: finished, and the policy flagged at least one text


@dataclass(frozen=True)
class Remedy:
    """One way out: set ``option`` (a field of the job's options) to ``value``, ``purpose``."""

    option: str
    value: Any = True
    purpose: str = ""

    def as_argument(self) -> str:
        """``force=True``: how a Python caller passes it."""
        return f"{self.option}={self.value!r}"

    def as_flag(self) -> str:
        """``--force``, ``--on-error skip``: how a CLI user passes it."""
        flag = "--" + self.option.replace("_", "-")
        return flag if self.value is True else f"{flag} {self.value}"


class ClaveError(Exception):
    """Base of all errors meant for the user; ``str(err)`` is the complete message."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str = "", *, remedies: tuple[Remedy, ...] = (), lead: str = "use",
                 **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.remedies = tuple(remedies)
        self.lead = lead
        self.context = context

    def worded(self, word: Callable[[Remedy], str] = Remedy.as_argument) -> str:
        """The message with its remedies, each worded by ``word``."""
        if not self.remedies:
            return self.message
        ways = ", or ".join(f"{word(r)} {r.purpose}".rstrip() for r in self.remedies)
        return f"{self.message}; {self.lead} {ways}"

    def __str__(self) -> str:
        return self.worded()


class DataError(ClaveError):
    """Input data (files, lines, fields, value names) the user must fix."""

    exit_code = EXIT_DATA


class ValueSystemError(DataError):
    """A value-system file is missing, malformed, or names an unknown value."""


class ModelError(ClaveError):
    """A model file that cannot be used as an evaluator."""

    exit_code = EXIT_MODEL


class UsageError(ClaveError):
    """A combination of flags or a state on disk the user must resolve (exit code 2, like click)."""

    exit_code = EXIT_USAGE


class LLMError(ClaveError):
    """A hosted (or local) LLM endpoint failed after all retries, or refused the request.

    Answers received before the failure stay in the on-disk cache, so the message tells the
    user to rerun with ``--resume``: nothing already paid for is asked again.
    """

    exit_code = EXIT_NETWORK


class UnknownNameError(UsageError):
    """A value system or value named on the command line (``--system``, ``--values``) that the
    evaluator or data does not have: a usage error (exit 2), whichever command it is."""


class MissingDependencyError(ClaveError):
    """An optional extra is needed; the message carries the exact pip command."""

    exit_code = EXIT_USAGE


class QualityGateError(ClaveError):
    """A quantized or exported artifact disagrees with its fp32 reference beyond the gate;
    ``context["report"]`` holds the measured agreement."""

    exit_code = EXIT_QUALITY


@dataclass(frozen=True)
class Problem:
    """One defect in one input line, located precisely enough to fix it by hand."""

    source: str
    line: int
    field: str | None
    message: str
    kind: str = "skipped"  # "skipped": the line was left out; "note": kept, but worth knowing

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        if self.field:
            where += f": field '{self.field}'"
        prefix = "note: " if self.kind == "note" else "skipped: "
        return one_line(f"{prefix}{where}: {self.message}")


def check_keys(obj: dict, allowed: set[str], where: str, error: type[ClaveError] = DataError,
               say_allowed: bool = True) -> None:
    """Refuse keys of a hand-written file's mapping that mean nothing here (a typo is not ignored)."""
    extra = set(obj) - allowed
    if extra:
        raise error(f"{where}: unknown key(s) {', '.join(sorted(map(str, extra)))}"
                    + (f"; allowed: {', '.join(sorted(allowed))}" if say_allowed else ""))


def one_line(message: str) -> str:
    """A message quoting user data stays one printable line (no raw newlines or surrogates)."""
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    return message.encode("utf-8", "replace").decode("utf-8")


def require(module: str, extra: str):
    """Import an optional dependency or say exactly which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"this needs the '{module}' package: pip install 'clave-lite[{extra}]'"
        ) from exc
