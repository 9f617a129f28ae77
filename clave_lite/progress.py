"""One progress shape for every long job (calibrate's calls, adapt's stages): a named stage
with a length, then steps. The library reports; the CLI draws bars (``cli._StageBars``)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """A stage (``embedding``, ``calls``, ``features``) with a length, then steps."""

    def start(self, stage: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


class Silent:
    """Progress that shows nothing (library callers that pass none)."""

    def start(self, stage: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass
