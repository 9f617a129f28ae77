"""Print the candidate-vs-incumbent table of ``benchmarks/candidate_protocol.sh`` (markdown) and the
verdict of the current ship rule, docs/accuracy.md 3b (paired intervals from the ``paired-*.json`` files the
script writes). Stages v5-v7 were judged by an earlier rule (their stage documents keep its verdicts).

    python benchmarks/summarize_candidate.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _value(r: dict, key: str) -> float:
    """A headline figure of an ``eval --json`` result (``f1_opposes`` is read from ``per_class_f1``)."""
    return r["per_class_f1"]["opposes"] if key == "f1_opposes" else r[key]


def _fig(r: dict, key: str) -> str:
    ci = r.get("intervals", {}).get(key)
    return f"{_value(r, key):.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def main(out: Path) -> int:
    rows = []
    for split, keys in (("touche-selB", ("touche_f1", "value_f1_mean", "macro_f1")),
                        ("fulcra-valcarve", ("macro_f1", "value_f1_mean", "f1_opposes"))):
        cand = json.loads((out / f"{split}-candidate.json").read_text())
        inc = json.loads((out / f"{split}-incumbent.json").read_text())
        base = cand["baselines"]  # trained once, in the candidate's run: the same texts for both
        for k in keys:
            rows.append(f"| {split} | {k} | {_fig(inc, k)} | {_fig(cand, k)} | {_fig(base['tfidf'], k)} "
                        f"| {_fig(base['majority'], k)} |")
        rows.append(f"| {split} | ECE | {inc['calibration']['ece']:.3f} | {cand['calibration']['ece']:.3f} | | |")
    print("| split | figure | incumbent | candidate | TF-IDF + LR | majority |\n|---|---|---|---|---|---|")
    print("\n".join(rows))
    fam = {who: json.loads((out / f"inject-{who}.json").read_text())["families"] for who in ("incumbent", "candidate")}
    print("\n| attack family | decisions | incumbent flips | to target | candidate flips | to target |\n|---|---|---|---|---|---|")
    for name, f in fam["incumbent"].items():
        c = fam["candidate"][name]
        print(f"| {name} | {f['decisions']} | {f['flip_rate']:.1%} | {f['to_target_rate']:.1%} "
              f"| {c['flip_rate']:.1%} | {c['to_target_rate']:.1%} |")
    paired = {split: {d["figure"]: d for d in json.loads((out / f"paired-{split}.json").read_text())}
              for split in ("touche-selB", "fulcra-valcarve")}
    print("\n| split | figure | incumbent | candidate | difference [95 %, paired] |\n|---|---|---|---|---|")
    for split, figs in paired.items():
        for name, d in figs.items():
            lo, hi = d["interval"]
            print(f"| {split} | {name} | {d['a']:.3f} | {d['b']:.3f} | {d['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    t, f = paired["touche-selB"], paired["fulcra-valcarve"]
    checks = {
        "Touché value_f1_mean paired interval above 0": t["value_f1_mean"]["interval"][0] > 0,
        "Touché touche_f1 >= incumbent - 0.02": t["touche_f1"]["b"] >= t["touche_f1"]["a"] - 0.02,
        "FULCRA macro_f1 paired lower bound >= -0.05": f["macro_f1"]["interval"][0] >= -0.05,
        "FULCRA opposes F1 >= incumbent - 0.05": f["f1_opposes"]["b"] >= f["f1_opposes"]["a"] - 0.05,
        "forged-template flips <= half the incumbent's":
            fam["candidate"]["forged_template"]["flip_rate"] <= fam["incumbent"]["forged_template"]["flip_rate"] / 2,
    }
    print("\nrule (docs/accuracy.md 3b):")
    for name, ok in checks.items():
        print(f"- {name}: {'yes' if ok else 'NO'}")
    print("->", "SHIP" if all(checks.values()) else "KEEP INCUMBENT")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
