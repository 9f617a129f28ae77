"""The report's PNG figures, drawn with matplotlib's object API (``Figure`` + Agg: no pyplot,
no display, no global state), from what :mod:`.profile` and ``eval`` computed.

Each function takes the numbers and a path, writes one PNG and returns its file name.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from clave_lite.errors import require

DPI = 110
COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
          "#CCB974", "#64B5CD")
"""Seaborn's "deep" palette: distinct, and readable by most colour-blind readers."""
SUPPORTS, OPPOSES = "#2a9d8f", "#e76f51"


def _plain_text(draw: Callable[..., str]) -> Callable[..., str]:
    """Draw with ``$`` as a plain character: group and value names are user data, and
    matplotlib would read ``price $5 and $6`` as mathtext (or fail on ``$\\undefined$``)."""

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> str:
        require("matplotlib", "report")
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


def _figure(width: float, height: float):
    require("matplotlib", "report")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig


def _save(fig, path: Path) -> str:
    fig.savefig(path, format="png", dpi=DPI)
    return path.name


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


# ---- value profiles ---------------------------------------------------------------------------

@_plain_text
def profile_bars(prof, path: Path) -> str:
    """Per value, one bar per group: the share that supports it to the right, that opposes it
    to the left, each with its 95 % interval."""
    values, groups = list(prof.values), list(prof.groups)
    fig = _figure(9, 0.45 * len(values) * max(1, len(groups)) ** 0.5 + 1.6)
    ax = fig.add_subplot()
    height = 0.8 / len(groups)
    y = np.arange(len(values))
    for gi, g in enumerate(groups):
        ys = y - 0.4 + height * (gi + 0.5)
        sup = [prof.profile(g, v).supports for v in values]
        opp = [prof.profile(g, v).opposes for v in values]
        ax.barh(ys, [s.p for s in sup], height, color=color(gi), label=g,
                xerr=[[s.p - s.lo for s in sup], [s.hi - s.p for s in sup]], error_kw={"lw": 0.8, "capsize": 1.5})
        ax.barh(ys, [-s.p for s in opp], height, color=color(gi), alpha=0.55, hatch="//", edgecolor="white",
                xerr=[[s.hi - s.p for s in opp], [s.p - s.lo for s in opp]], error_kw={"lw": 0.8, "capsize": 1.5})
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, values)
    ax.invert_yaxis()
    ax.set_xlim(-max(0.1, max(p.opposes.hi for p in prof.profiles) + 0.02),
                min(1.0, max(p.supports.hi for p in prof.profiles) + 0.02))
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks, [f"{abs(t):.0%}" for t in ticks])
    ax.set_xlabel("← share of answers that oppose the value  |  share that support it →")
    ax.set_title(f"Value profile ({prof.system}), 95 % Wilson intervals")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(title=prof.by or "group", loc="lower right", fontsize="small")
    return _save(fig, path)


@_plain_text
def profile_radar(prof, path: Path) -> str:
    """The share that supports each value, per group, around a circle."""
    values, groups = list(prof.values), list(prof.groups)
    angles = np.linspace(0, 2 * np.pi, len(values), endpoint=False)
    closed = np.append(angles, angles[0])
    fig = _figure(6.4, 6.4)
    ax = fig.add_subplot(projection="polar")
    for gi, g in enumerate(groups):
        r = [prof.profile(g, v).supports.p for v in values]
        ax.plot(closed, r + r[:1], color=color(gi), lw=1.6, label=g)
        ax.fill(closed, r + r[:1], color=color(gi), alpha=0.12)
    ax.set_xticks(angles, values, fontsize="small")
    ax.set_ylim(0, max(0.05, max(p.supports.hi for p in prof.profiles)))
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title("Share of answers that support each value")
    ax.legend(loc="upper right", bbox_to_anchor=(1.15, 1.1), fontsize="small")
    return _save(fig, path)


@_plain_text
def difference_forest(prof, path: Path) -> str:
    """Every pair of groups: the difference in shares per value, with the 95 % interval (thick)
    and the interval corrected for all comparisons (thin)."""
    values = list(prof.values)
    pairs = list(dict.fromkeys((d.a, d.b) for d in prof.differences))
    fig = _figure(10, 0.42 * len(values) * max(1, len(pairs)) ** 0.5 + 1.8)
    axes = fig.subplots(1, 2, sharey=True)
    step = 0.8 / max(1, len(pairs))
    for ax, label in zip(axes, ("supports", "opposes")):
        for pi, (a, b) in enumerate(pairs):
            ds = {d.value: d for d in prof.differences if (d.a, d.b) == (a, b) and d.label == label}
            for vi, v in enumerate(values):
                d = ds.get(v)
                if d is None:
                    continue
                yy = vi - 0.4 + step * (pi + 0.5)
                ax.plot([d.lo_adj, d.hi_adj], [yy, yy], color=color(pi), lw=0.8)
                ax.plot([d.lo, d.hi], [yy, yy], color=color(pi), lw=3, solid_capstyle="butt",
                        label=f"{a} − {b}" if vi == 0 else None)
                ax.plot([d.diff], [yy], "o", color="white" if not d.differs else color(pi), mec=color(pi), ms=4)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(f"difference in the share that {label}")
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:+.0%}")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(values)), values)
    axes[0].invert_yaxis()
    axes[1].legend(fontsize="small", loc="lower right")
    fig.suptitle("Between groups: 95 % interval (thick), corrected for all comparisons (thin); "
                 "filled dot = differs", fontsize="small")
    return _save(fig, path)


@_plain_text
def probability_grid(prof, label: str, path: Path) -> str:
    """Per value, the distribution of ``p_<label>`` in each group (share of answers per bin)."""
    values, groups = list(prof.values), list(prof.groups)
    col = 0 if label == "supports" else 1
    cols = min(5, len(values))
    rows = -(-len(values) // cols)
    fig = _figure(2.3 * cols + 0.6, 1.9 * rows + 0.8)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    bins = np.linspace(0, 1, 21)
    for ax, v in zip(axes, values):
        for gi, g in enumerate(groups):
            ps = np.array([line.probs[v][col] for line in prof.lines if line.group == g and v in line.probs])
            if len(ps):
                ax.hist(ps, bins=bins, weights=np.full(len(ps), 1 / len(ps)), histtype="step", lw=1.3,
                        color=color(gi), label=g)
        ax.set_title(v, fontsize="small")
        ax.set_yscale("log")
    for ax in axes[len(values):]:
        ax.set_visible(False)
    axes[0].legend(fontsize="x-small")
    fig.supxlabel(f"p_{label}")
    fig.supylabel("share of answers (log)")
    fig.suptitle(f"Distribution of the probability that an answer {label} each value")
    return _save(fig, path)


# ---- eval -------------------------------------------------------------------------------------

def _heatmap(ax, matrix: dict[str, dict[str, int]], labels: Sequence[str], title: str, small: bool = False) -> None:
    m = np.array([[matrix.get(g, {}).get(p, 0) for p in labels] for g in labels], dtype=float)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize="x-small" if small else "medium",
                    color="white" if norm[i, j] > 0.6 else "black")
    short = [lab[:3] if small else lab for lab in labels]
    ax.set_xticks(range(len(labels)), short, fontsize="x-small" if small else "small")
    ax.set_yticks(range(len(labels)), short, fontsize="x-small" if small else "small")
    ax.set_title(title, fontsize="small")


@_plain_text
def confusion_pooled(metrics: dict[str, Any], labels: Sequence[str], path: Path) -> str:
    fig = _figure(4.6, 4.2)
    ax = fig.add_subplot()
    _heatmap(ax, metrics["confusion"], labels, f"All values pooled (n = {metrics['n']})")
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    return _save(fig, path)


@_plain_text
def confusion_per_value(metrics: dict[str, Any], labels: Sequence[str], path: Path) -> str:
    values = list(metrics["per_value"])
    cols = min(5, len(values))
    rows = -(-len(values) // cols)
    fig = _figure(2.2 * cols, 2.3 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, v in zip(axes, values):
        _heatmap(ax, metrics["per_value"][v]["confusion"], labels, v, small=True)
    for ax in axes[len(values):]:
        ax.set_visible(False)
    fig.suptitle("Confusion per value (rows: gold, columns: predicted; shade: share of the gold row)",
                 fontsize="small")
    return _save(fig, path)


@_plain_text
def f1_bars(metrics: dict[str, Any], baselines: dict[str, dict[str, Any]], path: Path) -> str:
    """Per-value macro-F1 of the evaluator, beside each baseline's on the same tuples."""
    values = list(metrics["per_value"])
    series = [("evaluator", metrics)] + list(baselines.items())
    fig = _figure(max(6.0, 0.75 * len(values) * max(1, len(series)) ** 0.5 + 2), 4.2)
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    x = np.arange(len(values))
    for si, (name, m) in enumerate(series):
        f1 = [m.get("per_value", {}).get(v, {}).get("macro_f1") or 0.0 for v in values]
        ax.bar(x - 0.4 + width * (si + 0.5), f1, width, color=color(si),
               label=f"{name} (pooled {m['macro_f1']:.3f})")
    ax.set_xticks(x, values, rotation=35, ha="right", fontsize="small")
    ax.set_ylim(0, 1)
    ax.set_ylabel("macro-F1 of the value's tuples")
    ax.set_title("Per-value macro-F1" + (", next to the baselines" if baselines else ""))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


@_plain_text
def reliability_diagram(calibration: dict[str, Any], path: Path) -> str:
    bins = calibration["reliability"]
    fig = _figure(4.8, 4.6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
    conf = [b["confidence"] for b in bins]
    acc = [b["accuracy"] for b in bins]
    ax.bar([(b["lo"] + b["hi"]) / 2 for b in bins], acc, width=[b["hi"] - b["lo"] for b in bins],
           color=SUPPORTS, alpha=0.35, edgecolor=SUPPORTS, label="observed accuracy per bin")
    ax.plot(conf, acc, "o-", color=SUPPORTS, ms=4)
    for b in bins:
        ax.annotate(str(b["n"]), ((b["lo"] + b["hi"]) / 2, b["accuracy"]), textcoords="offset points",
                    xytext=(0, 4), ha="center", fontsize="x-small")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("predicted probability of the top label")
    ax.set_ylabel("observed frequency it is right")
    ax.set_title(f"Reliability (ECE {calibration['ece']:.3f})")
    ax.legend(fontsize="small", loc="upper left")
    return _save(fig, path)


@_plain_text
def flip_rates(inject: dict[str, Any], path: Path) -> str:
    attacks = list(inject["attacks"])
    fig = _figure(max(6.0, 0.55 * len(attacks) + 2), 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(attacks))
    ax.bar(x - 0.2, [inject["attacks"][a]["flip_rate"] for a in attacks], 0.4, color=OPPOSES, label="flip rate")
    ax.bar(x + 0.2, [inject["attacks"][a]["to_target"] for a in attacks], 0.4, color="#264653",
           label="flipped toward the attacker's label")
    ax.axhline(inject["control"]["flip_rate"], color="grey", ls="--", lw=1, label="control (benign appended text)")
    ax.set_xticks(x, attacks, rotation=35, ha="right", fontsize="small")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylabel("share of verdicts")
    ax.set_title(f"Prompt-injection flip rates (all attacks {inject['flip_rate']:.1%}, "
                 f"{inject['decisions']} decisions)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)
