"""Decision biases and temperatures fitted on held-out texts at export (``export --tune``):
every text the run's chain trained on is left out, and a system with too few held-out texts is
left untuned (and the report says so)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from clave_lite.core.tuples import LabelledTuple, read_tuples
from clave_lite.core.valuesystem import ValueSystem, load_system
from clave_lite.errors import DataError

MIN_TUNE_TEXTS = 20
"""Fewer held-out texts than this and a system keeps zero biases (tuning would fit noise)."""


def _system_name(name: str | None, run: dict[str, Any]) -> str | None:
    """A tuple's or run's system as the evaluator names it: a built-in name, a system in the
    run, or a value-system file (older runs recorded the path the user typed)."""
    if not name:
        return None
    if any(s["name"] == name for s in run["systems"]):
        return name
    try:
        return load_system(name).name
    except DataError:
        return name


def held_out_by_system(run: dict[str, Any], run_dir: Path, tune_data: Path) -> dict[str, list[LabelledTuple]]:
    """The tuning tuples per system name, minus every text the run's chain trained on."""
    keys_file = run_dir / "train_keys.json"
    seen = json.loads(keys_file.read_text()) if keys_file.exists() else {}
    tuples, _ = read_tuples(tune_data, None, "stop")
    by_system: dict[str, list[LabelledTuple]] = defaultdict(list)
    fallback = _system_name(run["data"].get("fallback_system"), run)
    seen_sets = {name: set(keys) for name, keys in seen.items()}
    for t in tuples:
        name = _system_name(t.system, run) or fallback
        if name and t.key not in seen_sets.get(name, set()):
            by_system[name].append(t)
    return by_system


def tune_system(ev, s: ValueSystem, held: Sequence[LabelledTuple], texts: Sequence[str],
                 per_value: bool) -> tuple[dict[str, list[float]], float, dict[str, Any]]:
    """One system's decision biases (shared, then per value) and temperature: (biases, T, report)."""
    from clave_lite.evaluation.thresholds import (
        fit_temperature,
        tune_bias,
        tune_value_biases,
    )

    keep = set(texts)
    by_text: dict[str, dict[str, str]] = defaultdict(dict)
    text_of: dict[str, str] = {}
    for t in held:
        if t.key in keep:
            by_text[t.key][s.get(t.value).name] = t.label
            text_of[t.key] = t.text
    names = [v.name for v in s.values]
    logits = ev.raw_logits([text_of[k] for k in texts], names, s.name)
    rows, gold, values = [], [], []
    for i, k in enumerate(texts):
        for j, n in enumerate(names):
            if n in by_text[k]:
                rows.append(logits[i, j])
                gold.append(by_text[k][n])
                values.append(n)
    bias, before, after = tune_bias(np.array(rows), gold, values, s.labels)
    biases = {n: bias for n in names}
    report: dict[str, Any] = {"texts": len(texts), "bias": bias, "objective_before": before, "objective_after": after}
    if per_value:
        tuned, after_values = tune_value_biases(np.array(rows), gold, values, s.labels, bias)
        biases.update(tuned)
        report.update(value_biases={n: b for n, b in tuned.items() if b != bias}, objective_after_values=after_values)
    row_bias = np.array([biases[n] for n in values])
    temperature, ece_before, ece_after = fit_temperature(np.array(rows), gold, row_bias, s.labels)
    report.update(temperature=temperature, ece_before=round(ece_before, 4), ece_after=round(ece_after, 4))
    return biases, temperature, report
