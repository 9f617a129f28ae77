"""Where commands write: the checks and the write protocol every output goes through, in one place.

- :func:`same_file`: two spellings of one file (``a.jsonl`` and ``/abs/path/a.jsonl``, a hard
  link, a symlink) are the same file: compared by inode when both exist, else by resolved path.
- :func:`refuse_overlap`: no output is an input, and no two outputs are one file.
- :func:`staged`: a file is written under a fresh, exclusively created name in its own folder
  (``mkstemp``: never a predictable ``OUT.tmp`` that a planted symlink could redirect), gets the
  mode a new file gets from the umask (or the mode of the file it replaces), and is renamed over
  the target only when complete.
- :func:`locked`: an output being written by one run is refused to a second run at once, instead
  of two runs interleaving their lines in it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

from clave_lite.errors import UsageError


def same_file(a: str | Path, b: str | Path) -> bool:
    """``a`` and ``b`` name one file (``-``, stdin/stdout, is never a file)."""
    if str(a) == "-" or str(b) == "-":
        return False
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
        return pa.resolve() == pb.resolve()
    except OSError:
        return os.path.abspath(pa) == os.path.abspath(pb)


def refuse_overlap(outputs: Iterable[tuple[str, str | Path | None]], inputs: Iterable[str | Path | None] = ()) -> None:
    """``outputs``: ``(flag, path)`` pairs. Refused (a usage error, exit 2) when an output is an
    input or two outputs are one file."""
    named = [(flag, Path(p)) for flag, p in outputs if p is not None and str(p) != "-"]
    sources = [Path(p) for p in inputs if p is not None and str(p) != "-"]
    for flag, out in named:
        for source in sources:
            if same_file(out, source):
                raise UsageError(f"{out}: is also an input of this command ({source}); write {flag} to another file")
    for i, (flag, out) in enumerate(named):
        for other_flag, other in named[i + 1:]:
            if same_file(out, other):
                raise UsageError(f"{flag} and {other_flag} name the same file ({out}); give each its own")


def new_file_mode(replacing: Path | None = None) -> int:
    """The permission bits a written file gets: those of the file it replaces, else what the
    umask leaves of 0o666 (what ``open(path, "w")`` would give)."""
    if replacing is not None:
        try:
            return replacing.stat().st_mode & 0o7777
        except OSError:
            pass
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def staged(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path`` to write; when the block ends without an
    error, the file is renamed to ``path`` (atomically: readers see the old file or the whole
    new one); else it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, new_file_mode(target if target.exists() else None))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_text(path: str | Path) -> Iterator[IO[str]]:
    """:func:`staged` for a text file written through a handle (UTF-8, ``\\n``), fsynced."""
    with staged(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        yield out
        out.flush()
        os.fsync(out.fileno())


def locked(handle: IO, path: Path) -> None:
    """Hold an exclusive lock on an open output for as long as ``handle`` is open; a second run
    writing the same file is refused at once (exit 2)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks; nothing to do
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(f"{path}: another clave-lite run is writing it; wait for it to finish or write "
                         "to another file") from None


@contextlib.contextmanager
def scratch(folder: str | Path, name: str) -> Iterator[Path]:
    """A fresh temporary path in ``folder`` (exclusively created), removed when the block ends."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)
