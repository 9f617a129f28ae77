"""The on-disk answer cache: every LLM answer is kept, so no call is ever paid for twice.

Keyed by ``sha256(model, messages)``: the model name and the exact prompt are what decide an
answer. One small JSON file per key (``<root>/<key[:2]>/<key>.json``), written to a temporary
file, fsynced and renamed into place, so a crash or ``kill -9`` leaves either the whole answer
or nothing, and concurrent threads never interleave writes. Answers are stored as received,
valid or not: a malformed answer was paid for too, and replaying it keeps a rerun on exactly
the path the first run took (the same repair prompt follows, also from the cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from clave_lite import paths

CACHE_FORMAT = "clave-lite-llm-answer/1"


def default_cache_dir() -> Path:
    """``$CLAVE_LITE_HOME/llm-cache``: deleting it costs money, never correctness."""
    return paths.subdir("llm-cache")


def cache_key(model: str, messages: list[dict[str, str]]) -> str:
    """sha256 over the model name and the canonical JSON of the prompt messages."""
    canonical = json.dumps({"model": model, "messages": messages}, ensure_ascii=False, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AnswerCache:
    """Files under ``root``; safe to share between threads and between processes."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record, or None when absent or unreadable (then it is simply asked again)."""
        try:
            record = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key or not isinstance(record.get("content"), str):
            return None
        return record

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def put(self, key: str, *, model: str, messages: list[dict[str, str]], content: str,
            finish_reason: str | None = None, usage: dict[str, int] | None = None,
            response_format: str | None = None) -> dict[str, Any]:
        """Store one answer atomically (temp file, fsync, rename, fsync of the directory)."""
        record = {"format": CACHE_FORMAT, "key": key, "model": model, "created": time.time(),
                  "response_format": response_format, "finish_reason": finish_reason, "usage": usage or {},
                  "messages": messages, "content": content}
        folder = self.path(key).parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:12]}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out, ensure_ascii=False, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(folder)
        return record

    def keys(self) -> list[str]:
        """Every stored key (for inspection and tests)."""
        return sorted(p.stem for p in self.root.glob("??/*.json"))

    def __len__(self) -> int:
        return len(self.keys())


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; not every platform lets a directory be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
