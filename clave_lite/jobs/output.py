"""Score output that survives a crash: written line by line, resumable, never silently clobbered.

``clave-lite score -o OUT`` appends one JSON line per text as soon as it is scored, in input
order, flushed at once and fsync'ed at least once a second, so a killed run loses at most the
line it was writing. Beside OUT, a small state file (``OUT.resume.json``, written atomically)
records what the run is: a hash of the input texts and ids, the evaluator, the value system,
the values, ``--explain`` and the batch size. It is removed when the run finishes; a copy,
with the finished output's sha256, goes to the user directory (``runs/``), so ``--resume`` on
a finished output checks the same things as on an unfinished one, not just the ids.

``--resume`` checks that state against the new invocation, checks every complete line of OUT
against the input's ids in order, drops a torn last line, and continues. It restarts at a
batch boundary (dropping at most ``batch_size - 1`` finished lines), so every text is scored in
the same llama.cpp batch as in an uninterrupted run and the output is byte-identical to it.

Without ``--resume`` an existing non-empty OUT is refused (``--force`` overwrites it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any, Sequence

from clave_lite.core.files import locked, refuse_overlap
from clave_lite.core.jsonl import write_text_atomic
from clave_lite.errors import DataError, Remedy, UsageError
from clave_lite.jobs.ledger import (
    check_resumable,
    file_sha256,
    finished_record_path,
    read_state,
    record_finished,
    state_path,
)

FSYNC_SECONDS = 1.0


class ScoreOutput:
    """Where ``score`` writes: stdout, or a file that can be resumed after a crash.

    Construct it before any expensive work (it refuses an existing file at once), call
    :meth:`begin` once the run is known (returns how many records are already written), then
    :meth:`write` each record, :meth:`finish` on success and :meth:`close` in any case.
    """

    def __init__(self, path: str | Path | None, resume: bool = False, force: bool = False,
                 inputs: Sequence[str | Path] = ()) -> None:
        self.to_stdout = path is None or str(path) == "-"
        self.path = None if self.to_stdout else Path(path)  # type: ignore[arg-type]
        self.resume, self.force = resume, force
        self.handle: IO[str] | None = None
        self._last_sync = 0.0
        if resume and force:
            raise UsageError("resume and force exclude each other", remedies=(Remedy("resume"), Remedy("force")))
        if self.to_stdout:
            if resume or force:
                raise UsageError("resume and force need an output file", remedies=(Remedy("output", "FILE"),))
            return
        assert self.path is not None
        refuse_overlap([("-o", self.path)], inputs)  # never the input, --force or not
        if self.path.is_dir():
            raise UsageError(f"{self.path}: is a directory; -o needs a file")
        if not resume and not force and self.path.exists() and self.path.stat().st_size > 0:
            raise UsageError(f"{self.path} already exists and is not empty", path=self.path, remedies=(
                Remedy("resume", True, "to continue the run that wrote it"), Remedy("force", True, "to overwrite it")))

    @property
    def state_file(self) -> Path | None:
        return None if self.path is None else state_path(self.path)

    def begin(self, state: dict[str, Any], ids: Sequence[str]) -> int:
        """Open for writing; return how many of ``ids`` (input order) are already written."""
        if self.to_stdout:
            self.handle = sys.stdout
            return 0
        assert self.path is not None and self.state_file is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one run at a time per output: locked before anything in it is read or cut
        handle = open(self.path, "a", encoding="utf-8", newline="\n")
        try:
            locked(handle, self.path)
        except BaseException:
            handle.close()
            raise
        self.handle = handle
        done = 0
        if self.resume and self.path.stat().st_size > 0:
            done = self._resume_point(state, ids)
        if done == 0:
            self.state_file.unlink(missing_ok=True)
            write_text_atomic(self.state_file, json.dumps(state, indent=1) + "\n")
            self.handle.truncate(0)  # O_APPEND: the lines that follow start at the new end
        self._sync()
        return done

    def _resume_point(self, state: dict[str, Any], ids: Sequence[str]) -> int:
        """Check OUT against this run; truncate it to a batch boundary; return the lines kept."""
        assert self.path is not None and self.state_file is not None
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        complete = lines[:-1]  # what follows the last newline is a torn line (or nothing)
        if len(complete) > len(ids):
            raise DataError(f"{self.path}: {len(complete)} lines, but the input has only {len(ids)} texts; "
                            "it was not written for this input", remedies=(Remedy("force", True, "to overwrite it"),))
        for i, raw in enumerate(complete):
            try:
                got = json.loads(raw.decode("utf-8")).get("id")
            except (ValueError, AttributeError):
                raise DataError(f"{self.path}:{i + 1}: not a score line (damaged output)",
                                remedies=(Remedy("force", True, "to start over"),)) from None
            if got != ids[i]:
                raise DataError(f"{self.path}:{i + 1}: field 'id': {got!r}, but text {i + 1} of the input has id "
                                f"{ids[i]!r}; the output was not written for this input",
                                remedies=(Remedy("force", True, "to overwrite it"),))
        finished = not self.state_file.exists() and len(complete) == len(ids) and not lines[-1]
        source = self.state_file
        if finished:  # a finished run: its state was moved to the user directory
            source = finished_record_path(self.path)
            try:
                record = json.loads(source.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                record = None
            if not record or record.get("output_sha256") != file_sha256(self.path):
                raise DataError(f"{self.path}: a complete output, but no record of the run that wrote it (or the "
                                "file changed since), so it cannot be checked against this input, evaluator and "
                                "options", remedies=(Remedy("force", True, "to score it again"),))
            saved = record.get("state") or {}
        elif not self.state_file.exists():
            raise DataError(f"{self.path}: cannot resume: no {self.state_file.name} beside it, so what wrote it "
                            "is unknown", remedies=(Remedy("force", True, "to overwrite it"),))
        else:
            saved = read_state(self.state_file)
        check_resumable(self.path, saved, state, finished)
        batch = int(state["batch_size"])
        done = len(complete) if len(complete) == len(ids) else len(complete) - len(complete) % batch
        keep = sum(len(line) + 1 for line in complete[:done])
        if keep != len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
        return done

    def write(self, record: dict[str, Any]) -> None:
        assert self.handle is not None, "begin() first"
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.handle.flush()
        if not self.to_stdout and time.monotonic() - self._last_sync >= FSYNC_SECONDS:
            self._sync()

    def _sync(self) -> None:
        if self.handle is not None and not self.to_stdout:
            self.handle.flush()
            os.fsync(self.handle.fileno())
        self._last_sync = time.monotonic()

    def finish(self) -> None:
        """The run completed: make the output durable, and move the resume state to the user
        directory with the output's sha256 (so a later ``--resume`` can check it)."""
        self.close()
        if self.state_file is not None and self.path is not None:
            try:
                state = json.loads(self.state_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                state = None
            if state is not None:
                record_finished(self.path, state)
            self.state_file.unlink(missing_ok=True)

    def close(self) -> None:
        """Flush and fsync what was written (an interrupted run keeps its resume state)."""
        if self.handle is None:
            return
        if self.to_stdout:
            self.handle.flush()
        else:
            self._sync()
            self.handle.close()
        self.handle = None
