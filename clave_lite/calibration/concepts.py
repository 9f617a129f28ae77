"""The concept pool: a JSONL file users can read, edit, and train on.

One row per concept, so a line can be deleted, rewritten or added by hand in any editor::

    {"value": "Security", "label": "supports", "concept": "Refusing to help with theft",
     "source_ids": ["d17", "d40"], "source_texts": ["Human: ...", "Human: ..."],
     "weight": 4.5, "system": "schwartz10"}

``value``, ``label`` and ``concept`` are required; ``source_ids`` / ``source_texts`` (parallel
lists: the labelled samples the concept was extracted from) and ``weight`` are optional, so a
hand-written concept is one short line. ``weight`` is how many labelled samples the concept
stands for, a ready-made training weight: each source's K-Means cluster size (1 when nothing was
cut) shared equally among the concepts extracted from it, so the weights of a (value, label)
group add up to the labelled samples it covers and a chatty answer does not count three times. The label is the *human* label of the sources,
never the LLM's opinion: that is what makes the pool training data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from clave_lite.core.jsonl import ProblemLog, iter_records, write_jsonl_atomic
from clave_lite.core.tuples import normalize_label
from clave_lite.errors import Problem


@dataclass
class Concept:
    value: str
    label: str
    concept: str
    source_ids: list[str] = field(default_factory=list)
    source_texts: list[str] = field(default_factory=list)
    weight: float = 1.0
    system: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "label": self.label, "concept": self.concept,
                               "source_ids": self.source_ids, "source_texts": self.source_texts,
                               "weight": round(self.weight, 3)}
        if self.system:
            out["system"] = self.system
        return out


def write_pool(path: str | Path, concepts: Iterable[Concept]) -> int:
    """Write the pool atomically (a crash never leaves half a file)."""
    return write_jsonl_atomic(path, (c.to_dict() for c in concepts))


def _parse_row(obj: dict[str, Any], source: str, line: int) -> Concept | Problem:
    def bad(field_name: str, message: str) -> Problem:
        return Problem(source, line, field_name, message)

    for name in ("value", "concept"):
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            return bad(name, "missing or empty")
    label = normalize_label(obj.get("label"))
    if label is None:
        return bad("label", f"{obj.get('label')!r} is not supports, opposes or unrelated")
    ids = obj.get("source_ids", [])
    texts = obj.get("source_texts", [])
    for name, items in (("source_ids", ids), ("source_texts", texts)):
        if not isinstance(items, list) or not all(isinstance(i, (str, int)) for i in items):
            return bad(name, "must be a list of strings")
    weight = obj.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        return bad("weight", "must be a positive number")
    system = obj.get("system")
    if system is not None and not isinstance(system, str):
        return bad("system", "must be a string")
    return Concept(obj["value"].strip(), label, " ".join(obj["concept"].split()), [str(i) for i in ids],
                   [str(t) for t in texts], float(weight), system)


def read_pool(path: str | Path, on_error: str = "stop") -> tuple[list[Concept], list[Problem]]:
    """Read a pool, hand edits included; defects stop or are skipped per ``on_error``."""
    log = ProblemLog(on_error)
    source = str(path)
    rows: list[Concept] = []
    for line, obj in iter_records(path, log):
        result = _parse_row(obj, source, line)
        if isinstance(result, Problem):
            log.add(result)
        else:
            rows.append(result)
    return rows, log.problems


def summarize(concepts: list[Concept], examples: int = 3) -> dict[str, Any]:
    """Per (value, label): concept count, distinct source samples, total weight, examples."""
    groups: dict[tuple[str, str], list[Concept]] = {}
    for c in concepts:
        groups.setdefault((c.value, c.label), []).append(c)
    out_groups = []
    for (value, label), rows in groups.items():
        sources = {s for c in rows for s in c.source_ids}
        ranked = sorted(rows, key=lambda c: (-len(c.source_ids), -c.weight))
        out_groups.append({"value": value, "label": label, "concepts": len(rows), "samples": len(sources),
                           "weight": round(sum(c.weight for c in rows), 2),
                           "examples": [c.concept for c in ranked[:examples]]})
    return {"concepts": len(concepts),
            "samples": len({(c.value, s) for c in concepts for s in c.source_ids}),
            "values": len({c.value for c in concepts}),
            "systems": sorted({c.system for c in concepts if c.system}),
            "groups": out_groups}


def format_summary(summary: dict[str, Any], source: str) -> str:
    """The summary as readable text: one block per value and label, examples indented."""
    lines = [f"{source}: {summary['concepts']} concepts from {summary['samples']} labelled samples, "
             f"{summary['values']} values" + (f" ({', '.join(summary['systems'])})" if summary["systems"] else "")]
    for g in summary["groups"]:
        lines.append("")
        lines.append(f"{g['value']} / {g['label']}: {g['concepts']} concepts from {g['samples']} samples "
                     f"(weight {g['weight']:g}: the labelled samples they stand for)")
        lines.extend(f"  - {example}" for example in g["examples"])
    return "\n".join(lines)
