"""The run ledger both score writers keep (JSONL line by line, :mod:`clave_lite.jobs.output`;
Parquet part by part, :mod:`clave_lite.jobs.parquet`): what a run *is*, how a resumed run
is checked against the interrupted one, and the record a finished run leaves.

A run's state is a JSON object: a digest of the input (ids and the texts judged), the evaluator's
fingerprint, the system, the values, and every option that changes an output line. While a run
is unfinished it sits beside the output (``OUT.resume.json``); when it finishes it moves, with the
output's sha256, to the user directory (``runs/``), so ``--resume`` on a finished output checks
the same things, and ``report`` can say what produced a score file.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from clave_lite.core.jsonl import write_text_atomic
from clave_lite.errors import DataError, Problem, Remedy

if TYPE_CHECKING:
    from clave_lite.runtime.evaluator import Evaluator

STATE_SUFFIX = ".resume.json"
STATE_FORMAT = 1

COMPARED = {"input_sha256": "input texts or ids", "texts": "number of input texts", "model": "evaluator",
            "system": "value system (--system)", "values": "values (--values)", "explain": "--explain",
            "policy": "policy (--policy, --rule)", "keep": "--keep", "batch_size": "--batch-size",
            "windows": "--windows", "chunk_rows": "--chunk-rows", "on_error": "--on-error"}
"""The keys of a run state a resumed run must match, and how the error names each."""


@dataclass(frozen=True)
class ScoreReport:
    """What a ``score`` run did, either writer."""
    texts: int
    """Texts read from the input."""
    scored: int
    """Texts scored by this run (the rest were already in a resumed output)."""
    resumed_from: int
    truncated: int
    """Texts too long to read whole (more than the evaluator's windows cover): some tokens unread."""
    reads_at_most: tuple[int, int]
    """(windows, text tokens per window) the evaluator read each text in, at most."""
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"texts": self.texts, "scored": self.scored, "resumed_from": self.resumed_from,
                "truncated": self.truncated, "problems": [str(p) for p in self.problems]}


def state_path(output: Path) -> Path:
    return output.with_name(output.name + STATE_SUFFIX)


def digest_row(h: Any, text_id: str, text: Any) -> None:
    """One input row's part of an input digest: the same for JSONL and Parquet rows."""
    h.update(json.dumps([text_id, text], ensure_ascii=False).encode("utf-8", "surrogatepass"))
    h.update(b"\n")


def input_digest(records: Sequence[Any]) -> str:
    """sha256 over the (id, text) of every record, in order: what "the same input" means."""
    h = hashlib.sha256()
    for r in records:
        digest_row(h, r.id, r.text)
    return h.hexdigest()


def model_fingerprint(evaluator: Evaluator) -> dict[str, Any]:
    """Cheap identity of an evaluator: its manifest (systems, template, biases, training
    fingerprint), its backend and the size of its weights (hashing them would cost seconds)."""
    p = Path(evaluator.backend.path)
    size = sum(f.stat().st_size for f in p.iterdir() if f.is_file()) if p.is_dir() else p.stat().st_size
    return {"manifest_sha256": hashlib.sha256(evaluator.manifest.to_json().encode("utf-8")).hexdigest(),
            "backend": evaluator.backend.name, "bytes": size}


def run_state(input_sha256: str, texts: int, evaluator: Evaluator, system: str, values: Sequence[str],
              batch_size: int, command: str | None, **options: Any) -> dict[str, Any]:
    """A run's state: what :data:`COMPARED` checks, plus ``options`` that differ from their
    defaults (``explain``, ``policy``, ...) and its provenance (kept, never compared)."""
    return {"format": STATE_FORMAT, "input_sha256": input_sha256, "texts": texts,
            "model": model_fingerprint(evaluator), "system": system, "values": list(values),
            "batch_size": batch_size, **options, "provenance": provenance(evaluator, command)}


def check_resumable(output: Path, saved: dict[str, Any], state: dict[str, Any], finished: bool = False) -> None:
    """Refuse to resume ``output`` when this run differs from the one that wrote it (a finished
    output has nothing left to batch: its batch size no longer matters)."""
    compared = [k for k in COMPARED if not (finished and k == "batch_size")]
    differs = [COMPARED[k] for k in compared if saved.get(k) != state.get(k)]
    if saved.get("format") != STATE_FORMAT:
        differs.append("resume state format")
    if differs:
        raise DataError(f"{output}: cannot resume: this run differs from the interrupted one in its "
                        + ", ".join(differs) + "; rerun with the same input and options",
                        remedies=(Remedy("force", True, "to start over"),))


def read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: damaged resume state ({exc})", remedies=(Remedy("force", True, "to start over"),)) from exc


def finished_record_path(output: Path) -> Path:
    """Where the state of a finished run into ``output`` is kept (keyed by its absolute path)."""
    from clave_lite.paths import subdir

    key = hashlib.sha256(str(output.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return subdir("runs") / f"{key}.json"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def finished_run(output: str | Path) -> dict[str, Any] | None:
    """The record of the finished run that wrote ``output`` (its state, with ``provenance``),
    or None when there is none or the file changed since."""
    path = Path(output)
    try:
        record = json.loads(finished_record_path(path).read_text(encoding="utf-8"))
        if record.get("output_sha256") == file_sha256(path):
            return record
    except (OSError, ValueError, AttributeError):
        pass
    return None


def record_finished(output: Path, state: dict[str, Any]) -> None:
    """The run that wrote ``output`` completed: keep its state with the output's sha256, and
    remove the state beside the output."""
    record = {"output": str(output.resolve()), "output_sha256": file_sha256(output), "state": state}
    write_text_atomic(finished_record_path(output), json.dumps(record, indent=1) + "\n")
    state_path(output).unlink(missing_ok=True)


def provenance(evaluator: Evaluator, command: str | None) -> dict[str, Any]:
    """What produced a run's scores, kept with its record (not compared on ``--resume``)."""
    from clave_lite.version import __version__

    m = evaluator.manifest
    return {"command": command, "evaluator": str(evaluator.backend.path), "backend": evaluator.backend.name,
            "base_model": m.base_model.get("name"),
            "training_data_sha256": (m.training.get("data") or {}).get("fingerprint"),
            "systems": [s.name for s in m.systems],
            "clave_lite_version": __version__,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
