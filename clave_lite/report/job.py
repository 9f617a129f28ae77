"""``clave-lite report`` and ``eval --report`` as library calls: numbers in, a folder out.

>>> build_report(ReportOptions(scores=(Path("scores.jsonl"),), output=Path("rep"), by="model"))  # doctest: +SKIP

The folder holds ``index.html``, the PNG figures it shows and ``report.json`` (the numbers
behind them). Nothing in it refers to anything outside it: copy the folder anywhere, open
``index.html`` with no network.

An eval report folder collects what ``eval --report DIR`` and ``eval --inject --report DIR``
measured (``eval.json``, ``inject.json``): running both into one folder gives one page.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clave_lite.core.jsonl import write_text_atomic
from clave_lite.core.labels import LABELS
from clave_lite.errors import DataError, Remedy, UsageError, require
from clave_lite.progress import SILENT, Progress

if TYPE_CHECKING:
    from clave_lite.evaluation.injection import FlipRates
    from clave_lite.evaluation.job import EvalReport

MARKER = "report.json"


@dataclass(frozen=True)
class ReportOptions:
    scores: tuple[Path, ...]
    """Score files (``clave-lite score`` output)."""
    output: Path
    """The report folder."""
    by: str | None = None
    """Group by this input field (kept with ``score --keep FIELD``); None: one group per file."""
    title: str | None = None
    force: bool = False
    """Write into a non-empty folder that is not a clave-lite report."""
    seed: int = 0
    pair_by: str | None = None
    """The field naming the prompt each answer replies to (``id``, or one kept with ``score
    --keep``): groups are then compared on the prompts both answered, paired."""


@dataclass(frozen=True)
class ReportResult:
    directory: Path
    page: Path
    figures: tuple[str, ...]
    texts: int
    groups: tuple[str, ...]
    differences: int = 0
    """Between-group differences that hold after the correction for all comparisons."""
    comparisons: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "page": str(self.page), "figures": list(self.figures),
                "texts": self.texts, "groups": list(self.groups), "differences": self.differences,
                "comparisons": self.comparisons}


def prepare_folder(folder: Path, kind: str, force: bool) -> dict[str, Any]:
    """Make ``folder`` ready for a ``kind`` report; return the marker of the report already
    there (empty when none). A non-empty folder that is not a clave-lite report of this kind is
    refused unless ``force``: a report never writes over someone's files by surprise."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: is a file; the report needs a folder")
    marker: dict[str, Any] = {}
    if folder.is_dir() and any(folder.iterdir()):
        try:
            marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            marker = {}
        if marker.get("kind") != kind and not force:
            raise UsageError(f"{folder}: not empty, and not a clave-lite {kind} report", path=folder,
                             remedies=(Remedy("output", "NEW_DIR", "to write the report elsewhere"),
                                       Remedy("force", True, "to write into it anyway")))
        if marker.get("kind") != kind:
            marker = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the report folder ({exc.strerror or exc})") from None
    return marker


def _finish(folder: Path, kind: str, html: str, figures: list[str], data: dict[str, Any]) -> Path:
    for stale in folder.glob("*.png"):  # figures of an earlier report of this kind that this one lacks
        if stale.name not in figures and stale.name in data.get("previous_figures", ()):
            stale.unlink()
    data.pop("previous_figures", None)
    write_text_atomic(folder / MARKER, json.dumps({"kind": kind, "figures": figures, **data}, indent=1,
                                                  ensure_ascii=False) + "\n")
    page = folder / "index.html"
    write_text_atomic(page, html)
    umask = os.umask(0)
    os.umask(umask)
    for f in (page, folder / MARKER):  # a report is for reading: the usual file mode, not a temp file's 0600
        f.chmod(0o666 & ~umask)
    return page


def build_report(opts: ReportOptions, progress: Progress = SILENT) -> ReportResult:
    """Value profiles of the score files, drawn and written to ``opts.output``."""
    from clave_lite.report import figures as fig
    from clave_lite.report.page import render
    from clave_lite.report.profile import TOP_EXAMPLES, build_profiles

    require("matplotlib", "report")
    require("jinja2", "report")
    previous = prepare_folder(opts.output, "profile", opts.force)
    prof = build_profiles(opts.scores, opts.by, opts.seed, opts.pair_by)
    if len(prof.values) == 0:
        raise DataError("the score files score no values")
    out = opts.output
    steps = [("profile", lambda: fig.profile_bars(prof, out / "profile.png")),
             ("radar", lambda: fig.profile_radar(prof, out / "radar.png")),
             ("p_supports", lambda: fig.probability_grid(prof, "supports", out / "p-supports.png")),
             ("p_opposes", lambda: fig.probability_grid(prof, "opposes", out / "p-opposes.png"))]
    if prof.differences:
        steps.insert(2, ("differences", lambda: fig.difference_forest(prof, out / "differences.png")))
    progress.start("figures", len(steps))
    figs = {}
    for name, draw in steps:
        figs[name] = draw()
        progress.advance(1)
    progress.finish()
    examples = {v: [e for e in prof.examples if e.value == v] for v in prof.values}
    differs = [d for d in prof.differences if d.differs]
    html = render("profile", title=opts.title or f"Value profile: {', '.join(prof.groups)}", p=prof, figs=figs,
                  examples=examples, differs=differs, top=TOP_EXAMPLES, pair_by=opts.pair_by,
                  has_text=any(line.text for line in prof.lines))
    page = _finish(out, "profile", html, list(figs.values()),
                   {**prof.to_dict(), "previous_figures": previous.get("figures", [])})
    return ReportResult(out, page, tuple(figs.values()), len(prof.lines), prof.groups, len(differs),
                        len(prof.differences))


def write_eval_report(folder: Path, data: Path, evaluation: EvalReport | None = None,
                      inject: FlipRates | None = None, force: bool = False, title: str | None = None) -> ReportResult:
    """The eval page of ``folder``, with this run's ``evaluation``
    (:class:`~clave_lite.evaluation.job.EvalReport`) or ``inject`` flip rates added to what an
    earlier ``eval --report`` into the same folder left there."""
    from clave_lite.report import figures as fig
    from clave_lite.report.page import render

    require("matplotlib", "report")
    require("jinja2", "report")
    previous = prepare_folder(folder, "eval", force)
    ev = previous.get("eval")
    inj = previous.get("inject")
    if evaluation is not None:
        ev = {"metrics": evaluation.metrics.to_dict(), "model": evaluation.model, "backend": evaluation.backend,
              "baselines": {b: m.to_dict() for b, m in evaluation.baselines.items()}, "data": str(data)}
    if inject is not None:
        inj = {**inject.to_dict(), "data": str(data)}
    figs: dict[str, str] = {}
    rows: list[tuple[str, dict[str, Any]]] = []
    if ev:
        m = ev["metrics"]
        labels = [lab for lab in LABELS if any(m["confusion"].get(lab, {}).values())
                  or any(row.get(lab) for row in m["confusion"].values())]
        figs["confusion"] = fig.confusion_pooled(m, labels, folder / "confusion.png")
        figs["confusion_values"] = fig.confusion_per_value(m, labels, folder / "confusion-per-value.png")
        figs["f1"] = fig.f1_bars(m, ev["baselines"], folder / "f1-per-value.png")
        if m.get("calibration", {}).get("reliability"):
            figs["reliability"] = fig.reliability_diagram(m["calibration"], folder / "reliability.png")
        rows = [("evaluator", m)] + list(ev["baselines"].items())
    if inj:
        figs["flips"] = fig.flip_rates(inj, folder / "injection.png")
    html = render("eval", title=title or "Evaluation" + (f": {Path(ev['data']).name}" if ev else ""), ev=ev,
                  inj=inj, rows=rows, figs=figs)
    page = _finish(folder, "eval", html, list(figs.values()),
                   {"eval": ev, "inject": inj, "previous_figures": previous.get("figures", [])})
    texts = ev["metrics"]["texts"] if ev else inj["clean"]["texts"] if inj else 0
    return ReportResult(folder, page, tuple(figs.values()), texts, ())
