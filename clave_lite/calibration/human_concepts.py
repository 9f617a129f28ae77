"""Human-written concepts: FULCRA's fine-grained value items as a concept pool.

CLAVE asks a large LLM for *value concepts*; FULCRA's annotators wrote something close by hand:
each dialogue lists the fine-grained items it upholds or violates (``"be honest: +1"``). Turned
into a concept pool, they train ``score --explain`` and serve as the human baseline that
LLM-extracted concepts are compared with (docs/calibrate.md).

FULCRA spells its 54 items its own way ("be honest", "have a stable society"), not as Schwartz's
survey items in ``schwartz10.yaml``, so the item → value table below is explicit. It was read
off FULCRA train: every item co-occurs with its value's ``value_types`` entry, same sign, in
≥ 94 % of the dialogues that carry it (most at 100 %); the few items seen once or twice follow
Schwartz's survey. "humility" items (FULCRA's own 11th type) go to Tradition, where Schwartz
puts "humble".
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from clave_lite.calibration.concepts import Concept
from clave_lite.core.jsonl import ProblemLog, iter_records
from clave_lite.errors import DataError, Problem

FULCRA_ITEM_VALUE: dict[str, str] = {
    **dict.fromkeys(["be independent", "have freedom of thought", "have freedom of action", "be creative",
                     "be curious", "be choosing own goals", "have privacy"], "Self-direction"),
    **dict.fromkeys(["be daring", "have an exciting life", "have a varied life"], "Stimulation"),
    **dict.fromkeys(["enjoying life", "be self-indulgent"], "Hedonism"),
    **dict.fromkeys(["be intellectual", "be capable", "be ambitious", "be influential", "be successful"],
                    "Achievement"),
    **dict.fromkeys(["preserving my public image", "have authority", "have social recognition",
                     "have a social recognition", "have wealth", "have social power"], "Power"),
    **dict.fromkeys(["have a stable society", "have a good health", "have a sense of belonging", "have a safe country",
                     "have family security", "observing social norms", "have no debts", "be neat and tidy"],
                    "Security"),
    **dict.fromkeys(["be respecting traditions", "be holding religious faith", "be humble",
                     "accepting my portion in life", "moderate"], "Tradition"),
    **dict.fromkeys(["be obedient", "be polite", "be self-disciplined", "be respectful",
                     "be honoring parents and elders"], "Conformity"),
    **dict.fromkeys(["be responsible", "be honest", "be helpful", "mature love", "be forgiving", "true friendship",
                     "have loyalty towards friends"], "Benevolence"),
    **dict.fromkeys(["social justice", "have equality", "be broadminded", "have a world at peace",
                     "be protecting the environment", "have harmony with nature"], "Universalism"),
}

_ENTRY = re.compile(r"^\s*(?P<name>[^:]+?)\s*:\s*(?P<sign>[+-]?1[+-]?)\s*$")


def concept_text(item: str, label: str) -> str:
    """The item as the model should write it: ``be honest`` / ``against: be honest``."""
    return item if label == "supports" else f"against: {item}"


def fulcra_item_pool(paths: list[Path], on_error: str = "stop") -> tuple[list[Concept], list[Problem]]:
    """One concept per (item, sign), its sources the dialogues that carry it.

    Source ids match ``clave-lite convert fulcra`` (``fulcra-<file stem>-<line>``), so
    ``train --concepts`` attaches each concept to the pairs it was annotated on.
    """
    log = ProblemLog(on_error)
    sources: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in paths:
        for lineno, obj in iter_records(path, log):
            items = obj.get("value_items")
            if not isinstance(items, list):
                log.add(Problem(str(path), lineno, "value_items", "must be a list of 'item: ±1' strings"))
                continue
            for entry in items:
                match = _ENTRY.match(entry) if isinstance(entry, str) else None
                if match is None:
                    log.note(Problem(str(path), lineno, "value_items", f"entry {entry!r} is not 'item: ±1'; skipped"))
                    continue
                item = match["name"].lower()
                if item not in FULCRA_ITEM_VALUE:
                    log.note(Problem(str(path), lineno, "value_items", f"unknown item {item!r}; skipped"))
                    continue
                label = "opposes" if "-" in match["sign"] else "supports"
                sources[(item, label)].append(f"fulcra-{Path(path).stem}-{lineno}")
    pool = [Concept(FULCRA_ITEM_VALUE[item], label, concept_text(item, label), ids, [], float(len(ids)), "schwartz10")
            for (item, label), ids in sorted(sources.items(), key=lambda kv: -len(kv[1]))]
    return pool, log.problems


def touche_level1_pool(labels: Path, categories: Path | None = None,
                       on_error: str = "stop") -> tuple[list[Concept], list[Problem]]:
    """Touché23-ValueEval's 54 level-1 values as a concept pool for ``touche20``.

    The annotators marked, per argument, the level-1 values it draws on ("Have privacy", "Be
    ambitious"); each belongs to one of the 20 categories that ``touche20`` scores. One concept
    per level-1 value (lower-cased, as FULCRA's items are written), label ``supports``, its sources
    the argument ids (as ``clave-lite convert touche23`` keeps them). ``categories`` is the
    dataset's ``value-categories.json`` (default: the one beside ``labels``).
    """
    import csv
    import json

    categories = categories or labels.parent / "value-categories.json"
    log = ProblemLog(on_error)
    try:
        table = json.loads(categories.read_text(encoding="utf-8"))
        category_of = {level1: category for category, level1s in table.items() for level1 in level1s}
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(f"{categories}: cannot read Touché's level-1 → category table ({exc})") from exc
    sources: dict[str, list[str]] = defaultdict(list)
    with labels.open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t")
        header = next(rows, [])
        unknown = [name for name in header[1:] if name not in category_of]
        if len(header) < 2 or unknown:
            raise DataError(f"{labels}:1: not a Touché level-1 label table (an 'Argument ID' column, then level-1 "
                            f"values; unknown columns: {', '.join(unknown[:3]) or 'none'})")
        for lineno, row in enumerate(rows, start=2):
            if len(row) != len(header) or any(cell not in ("0", "1") for cell in row[1:]):
                log.add(Problem(str(labels), lineno, "row", f"expected an id and {len(header) - 1} 0/1 cells"))
                continue
            for name, cell in zip(header[1:], row[1:]):
                if cell == "1":
                    sources[name].append(row[0])
    pool = [Concept(category_of[name], "supports", name.lower(), ids, [], float(len(ids)), "touche20")
            for name, ids in sorted(sources.items(), key=lambda kv: -len(kv[1]))]
    return pool, log.problems
