"""Value profiles from score files: per group and value, the share of answers that support or
oppose it (Wilson 95 % intervals), differences between groups (Newcombe's score intervals,
corrected for the number of comparisons), probability distributions and the strongest examples.

Pure numpy: the figures (:mod:`clave_lite.report.figures`) and the page
(:mod:`clave_lite.report.page`) only draw what is computed here.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any, Sequence

import numpy as np

from clave_lite.errors import DataError, Remedy

MISSING_GROUP = "(none)"
EXCERPT_CHARS = 320
TOP_EXAMPLES = 3


@dataclass(frozen=True)
class ScoreLine:
    """One scored text, as ``clave-lite score`` wrote it."""

    id: str
    group: str
    labels: dict[str, str]
    probs: dict[str, tuple[float, float]]
    """value → (p_supports, p_opposes)."""
    text: str | None = None
    explanations: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    """What pairs it with other groups' answers (``report --pair-by FIELD``): the prompt it
    answers; None when not paired."""


@dataclass(frozen=True)
class Share:
    """A proportion with its Wilson 95 % interval."""

    k: int
    n: int
    lo: float
    hi: float

    @property
    def p(self) -> float:
        return self.k / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "p": self.p, "lo": self.lo, "hi": self.hi}


@dataclass(frozen=True)
class ValueProfile:
    group: str
    value: str
    supports: Share
    opposes: Share
    mean_p_supports: float
    mean_p_opposes: float

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "value": self.value, "supports": self.supports.to_dict(),
                "opposes": self.opposes.to_dict(), "mean_p_supports": self.mean_p_supports,
                "mean_p_opposes": self.mean_p_opposes}


@dataclass(frozen=True)
class Difference:
    """``a − b`` in the share of answers with ``label`` on ``value``."""

    a: str
    b: str
    value: str
    label: str
    diff: float
    lo: float
    hi: float
    """The 95 % interval (Newcombe's hybrid score interval)."""
    lo_adj: float
    hi_adj: float
    """The interval at 1 − 0.05/m, m = the number of comparisons (Bonferroni)."""
    paired: int = 0
    """Answers to the same prompts compared pairwise (``--pair-by``): how many pairs; 0: the two
    groups compared as independent samples."""

    @property
    def differs(self) -> bool:
        return self.lo_adj > 0 or self.hi_adj < 0

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "value": self.value, "label": self.label, "diff": self.diff,
                "ci95": [self.lo, self.hi], "ci_bonferroni": [self.lo_adj, self.hi_adj], "differs": self.differs,
                "paired": self.paired}


@dataclass(frozen=True)
class Example:
    group: str
    id: str
    value: str
    label: str
    p: float
    excerpt: str | None
    explanation: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "id": self.id, "value": self.value, "label": self.label, "p": self.p,
                "excerpt": self.excerpt, "explanation": self.explanation}


@dataclass(frozen=True)
class SourceFile:
    path: str
    lines: int
    provenance: dict[str, Any] | None
    """What produced it (``score``'s run record), None when unknown."""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "lines": self.lines, "provenance": self.provenance}


@dataclass(frozen=True)
class Profiles:
    system: str
    by: str | None
    groups: tuple[str, ...]
    values: tuple[str, ...]
    profiles: tuple[ValueProfile, ...]
    differences: tuple[Difference, ...]
    examples: tuple[Example, ...]
    sources: tuple[SourceFile, ...]
    lines: tuple[ScoreLine, ...] = field(repr=False, default=())

    def profile(self, group: str, value: str) -> ValueProfile:
        return next(p for p in self.profiles if p.group == group and p.value == value)

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "by": self.by, "groups": list(self.groups), "values": list(self.values),
                "texts": len(self.lines), "profiles": [p.to_dict() for p in self.profiles],
                "differences": [d.to_dict() for d in self.differences],
                "examples": [e.to_dict() for e in self.examples], "sources": [s.to_dict() for s in self.sources]}


def wilson(k: int, n: int, z: float = 1.959964) -> Share:
    """Wilson's score interval: sound at 0 or n successes, unlike the normal approximation."""
    if n == 0:
        return Share(0, 0, 0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # clamped to contain p: at k = 0 or k = n rounding can put a bound a hair past it
    return Share(k, n, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def read_scores(paths: Sequence[str | Path], by: str | None = None,
                pair_by: str | None = None) -> tuple[str, list[ScoreLine], list[SourceFile]]:
    """Every line of every score file, grouped by the input field ``by`` (kept with
    ``score --keep``); without ``by``, one group per file (or one group for one file).
    ``pair_by``: the field (``id``, or one kept with ``--keep``) naming the prompt each line
    answers, which pairs lines across groups."""
    from clave_lite.jobs.ledger import finished_run

    if not paths:
        raise DataError("no score files to report on")
    system: str | None = None
    lines: list[ScoreLine] = []
    sources = []
    stems = [Path(p).stem for p in paths]
    for path, stem in zip(paths, stems):
        p = Path(path)
        if not p.is_file():
            raise DataError(f"{p}: no such score file")
        with open(p, "rb") as fh:
            if fh.read(4) == b"PAR1":
                raise DataError(f"{p}: a Parquet file; `report` reads the JSONL lines `clave-lite score` writes "
                                "(score to JSONL for a report: `clave-lite score TEXTS -o scores.jsonl`)")
        n_before, with_field = len(lines), 0
        with open(p, encoding="utf-8", errors="surrogateescape") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if any("\udc80" <= c <= "\udcff" for c in raw):
                    raise DataError(f"{p}:{lineno}: not valid UTF-8")
                if not raw.strip():
                    continue
                where = f"{p}:{lineno}"
                try:
                    obj = json.loads(raw)
                except ValueError:
                    raise DataError(f"{where}: not JSON (a score file is what `clave-lite score` writes)") from None
                scores = obj.get("scores") if isinstance(obj, dict) else None
                if not isinstance(scores, dict) or not scores:
                    raise DataError(f"{where}: no 'scores' object (a score file is what `clave-lite score` writes)")
                sys_name = obj.get("system")
                if system is None:
                    system = sys_name
                elif sys_name != system:
                    raise DataError(f"{where}: scored on value system {sys_name!r}, but earlier lines on {system!r}; "
                                    "report one system at a time")
                if by is None:
                    group = stem if len(paths) > 1 else "all"
                elif obj.get(by) is None:
                    group = MISSING_GROUP
                else:
                    group, with_field = str(obj[by]), with_field + 1
                key = None
                if pair_by is not None:
                    if obj.get(pair_by) is None:
                        raise DataError(f"{where}: no field {pair_by!r} to pair answers by", remedies=(
                            Remedy("keep", pair_by, "when scoring to carry it"),))
                    key = json.dumps(obj[pair_by], ensure_ascii=False, sort_keys=True)
                lines.append(_line(obj, scores, group, where, key))
        if by is not None and with_field == 0 and len(lines) > n_before:
            raise DataError(f"{p}: no line has the field {by!r} to group by", remedies=(
                Remedy("keep", by, "when scoring (`clave-lite score ... --keep " + by + "`) to carry it"),))
        sources.append(SourceFile(str(p), len(lines) - n_before, (finished_run(p) or {}).get("state", {}).get("provenance")))
    if not lines:
        raise DataError("the score files hold no lines")
    return str(system), lines, sources


def _line(obj: dict, scores: dict, group: str, where: str, key: str | None = None) -> ScoreLine:
    labels, probs = {}, {}
    for value, s in scores.items():
        try:
            labels[value] = str(s["label"])
            probs[value] = (float(s.get("p_supports", 0.0)), float(s.get("p_opposes", 0.0)))
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}: scores[{value!r}] needs a label and p_supports/p_opposes") from None
        if not all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in probs[value]):
            raise DataError(f"{where}: scores[{value!r}]: probabilities must be numbers between 0 and 1, "
                            f"got {probs[value]}")
    text = obj.get("text") if isinstance(obj.get("text"), str) else None
    expl = obj.get("explanations")
    if not isinstance(expl, dict):
        expl = {}
    return ScoreLine(str(obj.get("id")), group, labels, probs, text, {str(k): str(v) for k, v in expl.items()}, key)


def build_profiles(paths: Sequence[str | Path], by: str | None = None, seed: int = 0,
                   pair_by: str | None = None) -> Profiles:
    system, lines, sources = read_scores(paths, by, pair_by)
    values = list(dict.fromkeys(v for line in lines for v in line.labels))
    groups = list(dict.fromkeys(line.group for line in lines))
    if MISSING_GROUP in groups:  # last, however the files are ordered
        groups = [g for g in groups if g != MISSING_GROUP] + [MISSING_GROUP]
    profiles = []
    hits: dict[tuple[str, str, str], np.ndarray] = {}
    for g in groups:
        mine = [line for line in lines if line.group == g]
        for v in values:
            scored = [line for line in mine if v in line.labels]
            for label in ("supports", "opposes"):
                hits[g, v, label] = np.array([line.labels[v] == label for line in scored], dtype=bool)
            ps = np.array([line.probs[v] for line in scored]).reshape(-1, 2)
            profiles.append(ValueProfile(g, v, wilson(int(hits[g, v, "supports"].sum()), len(scored)),
                                         wilson(int(hits[g, v, "opposes"].sum()), len(scored)),
                                         float(ps[:, 0].mean()) if len(ps) else 0.0,
                                         float(ps[:, 1].mean()) if len(ps) else 0.0))
    diffs = paired_differences(groups, values, lines) if pair_by else differences(groups, values, hits, seed)
    return Profiles(system, by, tuple(groups), tuple(values), tuple(profiles), tuple(diffs),
                    tuple(top_examples(lines, values)), tuple(sources), tuple(lines))


def newcombe(ka: int, na: int, kb: int, nb: int, z: float = 1.959964) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``ka/na - kb/nb`` (Newcombe 1998, method 10): built
    from each share's Wilson interval, so it stays sound at 0 % or 100 % and for small groups,
    where a bootstrap at the observed rate has no spread at all."""
    a, b = wilson(ka, na, z), wilson(kb, nb, z)
    d = a.p - b.p
    return (d - math.sqrt((a.p - a.lo) ** 2 + (b.hi - b.p) ** 2),
            d + math.sqrt((a.hi - a.p) ** 2 + (b.p - b.lo) ** 2))


def differences(groups: Sequence[str], values: Sequence[str], hits: dict[tuple[str, str, str], np.ndarray],
                seed: int = 0) -> list[Difference]:
    """Every pair of groups, every value, supports and opposes: the difference in shares with
    its 95 % interval, and the interval at 1 - 0.05/m for the m comparisons (Bonferroni), so that
    "differs" holds for the whole family at 95 %: with no real difference anywhere, at most 5 %
    of reports show any (tests/report/test_report.py simulates it). ``seed`` is unused (the
    intervals are exact formulas), kept for callers."""
    pairs = [(a, b) for a, b in itertools.combinations([g for g in groups if g != MISSING_GROUP], 2)]
    m = len(pairs) * len(values) * 2
    if not m:
        return []
    z_adj = NormalDist().inv_cdf(1 - 0.05 / (2 * m))
    out = []
    for a, b in pairs:
        for v in values:
            for label in ("supports", "opposes"):
                xa, xb = hits[a, v, label], hits[b, v, label]
                if not len(xa) or not len(xb):
                    continue
                ka, kb = int(xa.sum()), int(xb.sum())
                lo, hi = newcombe(ka, len(xa), kb, len(xb))
                lo_a, hi_a = newcombe(ka, len(xa), kb, len(xb), z_adj)
                out.append(Difference(a, b, v, label, float(xa.mean() - xb.mean()), lo, hi, lo_a, hi_a))
    return out


def newcombe_paired(both: int, only_a: int, only_b: int, neither: int, z: float = 1.959964) -> tuple[float, float]:
    """Newcombe's interval for the difference of two proportions measured on the same subjects
    (Newcombe 1998, "Improved confidence intervals for the difference between binomial
    proportions based on paired data", method 10): the Wilson intervals of both shares, joined
    with the correlation of the pairs (its continuity-corrected phi), so it stays sound at 0 % or
    100 % and is narrower than the unpaired interval when the two groups agree on most prompts."""
    n = both + only_a + only_b + neither
    a, b = wilson(both + only_a, n, z), wilson(both + only_b, n, z)
    d = a.p - b.p
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b
    phi = 0.0
    if margins > 0:
        phi = (max(cross - n / 2, 0.0) if cross > 0 else cross) / math.sqrt(margins)
    lo = d - math.sqrt(max(0.0, (a.p - a.lo) ** 2 - 2 * phi * (a.p - a.lo) * (b.hi - b.p) + (b.hi - b.p) ** 2))
    hi = d + math.sqrt(max(0.0, (a.hi - a.p) ** 2 - 2 * phi * (a.hi - a.p) * (b.p - b.lo) + (b.p - b.lo) ** 2))
    return max(-1.0, lo), min(1.0, hi)


def paired_differences(groups: Sequence[str], values: Sequence[str], lines: Sequence[ScoreLine]) -> list[Difference]:
    """As :func:`differences`, but each pair of groups is compared on the prompts both answered
    (matched by :attr:`ScoreLine.key`), with Newcombe's paired interval; Bonferroni over all
    comparisons, as there."""
    pairs = [(a, b) for a, b in itertools.combinations([g for g in groups if g != MISSING_GROUP], 2)]
    m = len(pairs) * len(values) * 2
    if not m:
        return []
    z_adj = NormalDist().inv_cdf(1 - 0.05 / (2 * m))
    by_group: dict[str, dict[str, ScoreLine]] = {}
    for line in lines:
        if line.key is not None:
            by_group.setdefault(line.group, {}).setdefault(line.key, line)
    out = []
    for a, b in pairs:
        la, lb = by_group.get(a, {}), by_group.get(b, {})
        keys = [k for k in la if k in lb]
        for v in values:
            matched = [(la[k], lb[k]) for k in keys if v in la[k].labels and v in lb[k].labels]
            if not matched:
                continue
            for label in ("supports", "opposes"):
                xa = np.array([x.labels[v] == label for x, _ in matched])
                xb = np.array([y.labels[v] == label for _, y in matched])
                cells = (int((xa & xb).sum()), int((xa & ~xb).sum()), int((~xa & xb).sum()), int((~xa & ~xb).sum()))
                lo, hi = newcombe_paired(*cells)
                lo_a, hi_a = newcombe_paired(*cells, z=z_adj)
                out.append(Difference(a, b, v, label, float(xa.mean() - xb.mean()), lo, hi, lo_a, hi_a, len(matched)))
    return out


def top_examples(lines: Sequence[ScoreLine], values: Sequence[str], k: int = TOP_EXAMPLES) -> list[Example]:
    """Per value and label, the ``k`` texts decided so with the highest probability."""
    out = []
    for v in values:
        for label, col in (("supports", 0), ("opposes", 1)):
            decided = [line for line in lines if line.labels.get(v) == label]
            decided.sort(key=lambda line: -line.probs[v][col])
            for line in decided[:k]:
                out.append(Example(line.group, line.id, v, label, line.probs[v][col], excerpt(line.text),
                                   line.explanations.get(v)))
    return out


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
