"""Where clave-lite keeps its files: one user directory, chosen by one environment variable.

``CLAVE_LITE_HOME`` overrides everything (tests point it at a temporary directory); otherwise
``$XDG_CACHE_HOME/clave-lite`` or ``~/.cache/clave-lite``. Built evaluators and the LLM-answer
cache live there, so deleting it costs only rebuild time, never the user's own files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

HOME_ENV = "CLAVE_LITE_HOME"


def user_dir() -> Path:
    """The user directory, created on first use."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        base = Path(explicit).expanduser()
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = Path(cache) / "clave-lite"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        from clave_lite.errors import UsageError

        raise UsageError(f"the clave-lite user directory {base} cannot be a folder ({exc.strerror or exc}); "
                         f"point {HOME_ENV} at a writable folder") from None
    return base


def subdir(name: str) -> Path:
    """A named directory inside the user directory (``models``, ``llm-cache``, ...)."""
    path = user_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def file_lock(target: Path) -> Iterator[None]:
    """An exclusive lock beside ``target`` (``flock``: released if the holder dies); where
    there is no ``fcntl``, no lock (callers then write into files of their own and rename).
    Many processes of one machine (Ray actors, server workers) build a file once this way."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(target.with_name(target.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
