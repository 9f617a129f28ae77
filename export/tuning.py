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


def tuned_prior(s: ValueSystem, held: Sequence[LabelledTuple], texts: Sequence[str]) -> dict[str, float]:
    """Per value of ``s``, the share of related (supports/opposes) labels among the held-out tuples
    of ``texts``: the mix the tuned biases decide for (``Manifest.decision_priors``), add-one
    smoothed (a value no held-out text relates to has a small share, not none). A value with no
    held-out label takes the system's share."""
    from clave_lite.core.prior import related_shares

    keep = set(texts)
    return related_shares(((s.get(t.value).name, t.label) for t in held if t.key in keep), s.value_names)


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


def untuned_priors(run: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per system and value, the related share an untuned evaluator decides for: its training pairs'
    label counts (``run.json`` ``data.label_counts``) times the loss's class weights
    (``train.label_weights``), normalised over the system's labels. Runs that did not record their
    counts get no entry (``--prevalence`` is then refused for them). Tuning replaces a system's
    entry with its held-out texts' mix (:func:`tuned_prior`)."""
    from clave_lite.core.labels import LABELS
    from clave_lite.core.valuesystem import parse_system

    counts = run.get("data", {}).get("label_counts") or {}
    weights = run.get("train", {}).get("label_weights") or [1.0] * len(LABELS)
    priors: dict[str, dict[str, float]] = {}
    for s in (parse_system(x, "run.json") for x in run["systems"]):
        if s.name not in counts:
            continue
        priors[s.name] = {}
        for name, c in counts[s.name].items():
            mass = [c[i] * weights[i] if lab in s.labels else 0.0 for i, lab in enumerate(LABELS)]
            related = sum(m for m, lab in zip(mass, LABELS) if lab != "unrelated")
            share = related / sum(mass) if sum(mass) else 1 - 1 / len(s.labels)
            priors[s.name][name] = round(min(0.999, max(0.001, share)), 4)
    return priors


def record_decision_priors(run_dir: Path, tune_data: Path,
                           counts_from: dict[str, Path] | None = None) -> dict[str, dict[str, float]]:
    """Write ``decision_priors`` into ``run_dir/run.json`` for a run tuned before export recorded
    them: each tuned system's mix is that of ``tune_data`` (the file its biases were tuned on,
    texts training saw left out, as tuning leaves them out); an untuned system's comes from the
    label counts of its training file in ``counts_from`` (``{system: file}``, for runs that did not
    record ``data.label_counts``; every tuple counted, as no ``max_unrelated`` applied to them) and
    the run's class weights (:func:`untuned_priors`)."""
    from clave_lite.core.valuesystem import parse_system

    run = json.loads((run_dir / "run.json").read_text())
    held = held_out_by_system(run, run_dir, tune_data)
    tuned = set(run.get("biases") or {}) | set(run.get("temperatures") or {})
    systems = {x["name"]: parse_system(x, "run.json") for x in run["systems"]}
    from clave_lite.export.dataset import trained_label_counts

    counted = dict(run["data"].get("label_counts") or {})
    for name, path in (counts_from or {}).items():
        tuples = [t for t in read_tuples(path, None, "stop")[0] if (t.system or name) == name]
        counted[name] = trained_label_counts(tuples, systems[name], sum(t.label == "unrelated" for t in tuples))
    priors = untuned_priors({**run, "data": {**run["data"], "label_counts": counted}})
    for name, s in systems.items():
        if name in tuned:
            texts = list(dict.fromkeys(t.key for t in held.get(name, [])))[:run.get("tuning", {}).get("limit")]
            priors[name] = tuned_prior(s, held.get(name, []), texts)
    run["decision_priors"] = {name: priors[name] for name in systems if name in priors}
    (run_dir / "run.json").write_text(json.dumps(run, indent=2, ensure_ascii=False))
    return priors
