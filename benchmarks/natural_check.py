"""Does `adapt`'s printed estimate predict what a user gets on a corpus shaped like theirs?

From MoralChoice's calibration scenarios (`../shared/data/moralchoice/scenarios-calibration.csv`):

1. Hold out a third of the scenarios (both actions together; seeded).
2. Label *every* rule for *every* held-out action as `calibration.jsonl` does (an action the
   annotators flagged as violating a rule opposes it; action 1 supports the rule its scenario was
   generated for when it does not violate it; else unrelated). This is the natural
   distribution a user scores: mostly unrelated.
3. From the other scenarios, draw calibration labels like `calibration.jsonl`: per rule up to 50
   related (supports/opposes) tuples, unrelated ones to 100.
4. `clave-lite adapt` on them (its printed estimate): as is (`as-fitted`); with `--prevalence` set
   to the related share of the *calibration scenarios'* natural labels (`prevalence`: what a user
   can count on a sample of their own corpus; the held-out share is never used); and with
   `--unlabelled` given the held-out actions' texts without their labels (`unlabelled`: the
   corpus the user will score, which they have); then `clave-lite eval` of each evaluator on the
   held-out natural tuples, beside TF-IDF + LR trained on the same calibration labels (the
   `as-fitted` evaluator is also scored with `eval --prevalence`: the prior stated at scoring time). For
   `unlabelled`, the estimated related share per rule is set beside the held-out truth.

    python benchmarks/natural_check.py OUT_DIR [--seed 0] [--train-epochs 0] [--runs as-fitted,prevalence,unlabelled]

Writes OUT_DIR/natural-check.json (the figures) with the data it made (OUT_DIR/*.jsonl).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shlex
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "moralchoice"
COLUMNS = {"Do not kill": "death", "Do not cause pain": "pain", "Do not disable": "disable",
           "Do not deprive of freedom": "freedom", "Do not deprive of pleasure": "pleasure",
           "Do not deceive": "deceive", "Do not cheat": "cheat", "Do not break your promises": "break_promise",
           "Do not break the law": "break_law", "Do your duty": "duty"}


def natural_tuples(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for r in rows:
        for k in ("1", "2"):
            text = f"{r['context']} {r['action' + k]}"
            for rule, col in COLUMNS.items():
                violates = r[f"a{k}_{col}"].strip().lower() == "yes"
                if violates:
                    label = "opposes"
                elif k == "1" and r["generation_rule"] == rule:
                    label = "supports"
                else:
                    label = "unrelated"
                out.append({"id": f"{r['scenario_id']}-a{k}", "text": text, "value": rule, "label": label,
                            "system": "gert10"})
    return out


def draw_calibration(pool: list[dict[str, str]], rng: random.Random, per_rule: int = 100,
                     related_at_most: int = 50) -> list[dict[str, str]]:
    out = []
    for rule in COLUMNS:
        related = [t for t in pool if t["value"] == rule and t["label"] != "unrelated"]
        unrelated = [t for t in pool if t["value"] == rule and t["label"] == "unrelated"]
        rng.shuffle(related)
        rng.shuffle(unrelated)
        chosen = related[:related_at_most]
        out += chosen + unrelated[:per_rule - len(chosen)]
    return out


def run(args: list[str]) -> dict:
    print("$", shlex.join(args), file=sys.stderr, flush=True)
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-epochs", type=float, default=0.0)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--runs", default="as-fitted,prevalence,unlabelled",
                    help="which adapt runs, comma-separated (as-fitted, prevalence, unlabelled)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    with (DATA / "scenarios-calibration.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(a.seed)
    ids = sorted({r["scenario_id"] for r in rows})
    rng.shuffle(ids)
    held = set(ids[: len(ids) // 3])
    natural = natural_tuples([r for r in rows if r["scenario_id"] in held])
    pool = natural_tuples([r for r in rows if r["scenario_id"] not in held])
    calibration = draw_calibration(pool, rng)
    share = sum(t["label"] != "unrelated" for t in pool) / len(pool)
    for name, data in (("natural", natural), ("calibration", calibration)):
        (a.out / f"{name}.jsonl").write_text("".join(json.dumps(t) + "\n" for t in data))
    corpus = list(dict.fromkeys(t["text"] for t in natural))  # the held-out texts, no labels
    (a.out / "corpus.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in corpus))
    true_shares = {rule: round(sum(t["label"] != "unrelated" for t in natural if t["value"] == rule)
                               / sum(t["value"] == rule for t in natural), 4) for rule in COLUMNS}
    cli = [sys.executable, "-m", "clave_lite.cli"]
    adapt = [*cli, "adapt", "--system", str(DATA / "gert10.yaml"), "--labels", str(a.out / "calibration.jsonl"),
             "--group-regex", "^([^-]+)", "--folds", str(a.folds), "--seed", str(a.seed), "--json", "--force"]
    if a.train_epochs:
        adapt += ["--train-epochs", str(a.train_epochs)]
    result = {"seed": a.seed, "held_out_scenarios": len(held), "natural_tuples": len(natural),
              "natural_related_share": round(sum(t["label"] != "unrelated" for t in natural) / len(natural), 4),
              "calibration_tuples": len(calibration),
              "calibration_related_share": round(sum(t["label"] != "unrelated" for t in calibration)
                                                 / len(calibration), 4),
              "prevalence_given": round(share, 4), "natural_related_share_per_rule": true_shares,
              "train_epochs": a.train_epochs, "runs": {}}
    extras = {"as-fitted": [], "prevalence": ["--prevalence", f"{share:.4f}"],
              "unlabelled": ["--unlabelled", str(a.out / "corpus.jsonl"), "--unlabelled-limit", str(len(corpus))]}
    for name in a.runs.split(","):
        extra = extras[name]
        model = a.out / f"gert10-{name}.gguf"
        report = run([*adapt, "-o", str(model), *extra])
        (a.out / f"adapt-{name}.json").write_text(json.dumps(report, indent=1) + "\n")
        said = {e["name"]: e for e in report["estimates"]}
        scored = run([*cli, "eval", str(a.out / "natural.jsonl"), "--model", str(model), "--json",
                      "--baselines", "tfidf", "--train", str(a.out / "calibration.jsonl")])
        result["runs"][name] = {
            "printed_estimate_sample_mix": said["adapted"]["macro_f1"],
            "printed_estimate_corpus_mix": said.get("adapted@corpus", {}).get("macro_f1"),
            "printed_estimate_corpus_mix_unshifted": said.get("adapted-unshifted@corpus", {}).get("macro_f1"),
            "printed_tfidf_sample_mix": said["tfidf"]["macro_f1"],
            "printed_tfidf_corpus_mix": said.get("tfidf@corpus", {}).get("macro_f1"),
            "natural_macro_f1": round(scored["macro_f1"], 4),
            "natural_interval": scored.get("intervals", {}).get("macro_f1"),
            "natural_tfidf_macro_f1": round(scored["baselines"]["tfidf"]["macro_f1"], 4),
            "seconds": report["seconds"].get("total")}
        if name == "as-fitted":  # the same evaluator told the corpus prior when it scores, not when it is made
            told = run([*cli, "eval", str(a.out / "natural.jsonl"), "--model", str(model), "--json",
                        "--prevalence", f"{share:.4f}"])
            result["runs"][name]["natural_macro_f1_score_prevalence"] = round(told["macro_f1"], 4)
            result["runs"][name]["natural_interval_score_prevalence"] = told.get("intervals", {}).get("macro_f1")
        if report.get("prevalence_estimate"):
            est = report["prevalence_estimate"]

            def error(shares: dict[str, float]) -> float:
                return round(sum(abs(shares[r] - true_shares[r]) for r in COLUMNS) / len(COLUMNS), 4)

            result["runs"][name]["prevalence_estimate"] = est
            result["runs"][name]["mean_abs_share_error"] = {
                "bbse": error(est["shares"]), "bbse_pooled": error({r: est["pooled"] for r in COLUMNS}),
                "em": error(est["em"]), "called_related": error(est["called_related"]),
                "calibration_scenarios_share": error({r: share for r in COLUMNS})}
        (a.out / "natural-check.json").write_text(json.dumps(result, indent=2) + "\n")  # after every run
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
