"""One progress shape for every long job: named stages with a length, steps (optionally with a
status such as the training loss), and one-line notes. The library reports through it; the CLI
draws it (``clave_lite.cli.app.Bars``: click progress bars and lines on stderr)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """A stage (``embedding``, ``calls``, ``training``, ``eval``) with a length, then steps."""

    def start(self, stage: str, total: int) -> None: ...

    def advance(self, n: int = 1, status: str | None = None) -> None:
        """``n`` more steps done; ``status`` (e.g. ``loss 0.31``) is shown beside the stage."""
        ...

    def finish(self) -> None: ...

    def note(self, message: str) -> None:
        """A line worth telling the user (``building the default evaluator ...``)."""
        ...


class Silent:
    """Progress that shows nothing (library callers that pass none)."""

    def start(self, stage: str, total: int) -> None:
        pass

    def advance(self, n: int = 1, status: str | None = None) -> None:
        pass

    def finish(self) -> None:
        pass

    def note(self, message: str) -> None:
        pass


SILENT = Silent()
