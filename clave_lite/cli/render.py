"""Human-readable tables for the CLI. ``--json`` bypasses this module entirely."""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

from clave_lite.core.labels import LABELS
from clave_lite.core.valuesystem import ValueSystem


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def systems_table(systems: Sequence[ValueSystem]) -> str:
    rows = [(s.name, len(s.values), "/".join(s.labels), s.title) for s in systems]
    return table(["name", "values", "labels", "title"], rows)


def system_detail(system: ValueSystem) -> str:
    out = [f"{system.name}: {system.title}"]
    if system.description:
        out.append(textwrap.fill(system.description, 100))
    out.append(f"labels: {', '.join(system.labels)}")
    if system.source:
        out.append(f"source: {system.source}")
    out.append("")
    groups: list[str | None] = [g.name for g in system.groups] or [None]
    for group in groups:
        if group:
            desc = next(g.description for g in system.groups if g.name == group)
            out.append(f"[{group}]" + (f" {desc}" if desc else ""))
        for v in system.values:
            if v.group != group:
                continue
            out.append(f"  {v.name}")
            out.append(textwrap.fill(v.definition, 100, initial_indent="      ", subsequent_indent="      "))
            if v.items:
                out.append(textwrap.fill("items: " + "; ".join(v.items), 100,
                                         initial_indent="      ", subsequent_indent="        "))
    return "\n".join(out)


def with_interval(m: dict[str, Any], name: str) -> str:
    """``0.772 [0.741, 0.801]``: a figure and its 95 % bootstrap interval when there is one."""
    value = m.get(name) if name != "f1_opposes" else (m.get("per_class_f1") or {}).get("opposes")
    ci = (m.get("intervals") or {}).get(name)
    return fmt(value) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and value is not None else "")


def anchors_table(m: dict[str, Any]) -> str:
    """The evaluator beside its baselines, same texts, with intervals."""
    names = ["macro_f1", "value_f1_mean", "touche_f1", "f1_opposes", "accuracy"]
    hybrid = bool(m.get("components"))
    rows = [("evaluator (hybrid)" if hybrid else "evaluator", *(with_interval(m, n) for n in names))]
    for name, c in (m.get("components") or {}).items():
        rows.append((f"  its {name} half alone", *(with_interval(c, n) for n in names)))
    for name, b in (m.get("baselines") or {}).items():
        rows.append((name, *(with_interval(b, n) for n in names)))
    return table(["model", *names], rows)


def paired_table(m: dict[str, Any]) -> str:
    """The evaluator minus each baseline, paired over the same texts, with 95 % intervals."""
    names = ["macro_f1", "value_f1_mean", "touche_f1", "f1_opposes", "accuracy"]
    rows = []
    for name, diffs in [*((f"its {c} half", d) for c, d in (m.get("hybrid_minus_component") or {}).items()),
                        *(m.get("evaluator_minus_baseline") or {}).items()]:
        by = {d["figure"]: d for d in diffs}
        rows.append((f"- {name}", *(f"{by[n]['difference']:+.3f} [{by[n]['interval'][0]:+.3f}, "
                                    f"{by[n]['interval'][1]:+.3f}]" if n in by else "-" for n in names)))
    return table(["evaluator", *names], rows)


def metrics_report(m: dict[str, Any]) -> str:
    lines = [
        f"tuples: {m['n']}    accuracy: {fmt(m['accuracy'])}    macro_f1: {fmt(m['macro_f1'])}"
        f"    value_f1_mean: {fmt(m['value_f1_mean'])}",
        f"texts: {m.get('texts', '?')}    95 % intervals over texts: accuracy {with_interval(m, 'accuracy')}    "
        f"macro_f1 {with_interval(m, 'macro_f1')}    value_f1_mean {with_interval(m, 'value_f1_mean')}",
        f"touche_f1 (SemEval-23 'All'): {with_interval(m, 'touche_f1')}"
        + (f"    opposes F1: {with_interval(m, 'f1_opposes')}" if (m.get("per_class_f1") or {}).get("opposes")
           is not None else "")
        + (f"    ECE: {m['calibration']['ece']:.3f}" if m.get("calibration") else "")
        + (f" (before temperature: {m['calibration']['ece_untempered']:.3f})"
           if (m.get("calibration") or {}).get("ece_untempered") is not None else ""),
        "",
    ]
    rows = []
    for value, pv in m["per_value"].items():
        rows.append((value, pv["n"], pv["gold_supports"], fmt(pv["f1_supports"]),
                     fmt(pv["precision_supports"]), fmt(pv["recall_supports"]),
                     fmt(pv["macro_f1"]), fmt(pv["accuracy"])))
    lines.append(table(["value", "n", "gold+", "F1(sup)", "P(sup)", "R(sup)", "macroF1", "acc"], rows))
    lines.append("")
    lines.append("confusion (rows gold, columns predicted):")
    used = [lab for lab in LABELS if m["gold_label_counts"][lab] or any(m["confusion"][g][lab] for g in LABELS)]
    lines.append(table(["gold \\ pred", *used], [(g, *(m["confusion"][g][p] for p in used)) for g in used]))
    if m["values_without_supports"]:
        lines.append("")
        lines.append("no gold 'supports' (left out of value_f1_mean): " + ", ".join(m["values_without_supports"]))
    return "\n".join(lines)
