"""What ``--prevalence`` does to a split's figures: one scoring pass, then the corpus-prior shift of
:mod:`clave_lite.core.prior` applied to its probabilities for each stated share (exactly what the
evaluator does with ``prevalence`` set; the script checks that on a few texts).

The shares a user can state, each reported beside the evaluator as fitted:

- ``sample``: the related share counted on ``--sample-texts`` texts drawn (seeded) from the split,
  what a user gets by labelling a small sample of their own corpus; one share for all values;
- ``sample-per-value``: the same sample, counted per value (add-one smoothed);
- ``split``: the whole split's related share, the best a single global share can be (an upper
  reference, not something a user knows).

Nothing is chosen here: the shift's strength is fixed in :data:`clave_lite.core.prior.STRENGTH`.

    python benchmarks/prevalence_check.py csv-dev.jsonl --system csv12 --sample-texts 50 > prevalence-csv.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from clave_lite.build.loading import load_evaluator
from clave_lite.core.labels import LABELS
from clave_lite.core.prior import STRENGTH, related_shares, shift
from clave_lite.core.tuples import LabelledTuple, read_tuples
from clave_lite.core.valuesystem import load_system
from clave_lite.evaluation import metrics
from clave_lite.evaluation.run import predict


def shares_of(tuples: list[LabelledTuple], values: list[str], per_value: bool) -> dict[str, float]:
    if not per_value:
        share = sum(t.label != "unrelated" for t in tuples) / max(1, len(tuples))
        return dict.fromkeys(values, round(share, 4))
    return related_shares(((t.value, t.label) for t in tuples), values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--system", required=True)
    ap.add_argument("--model", type=Path, default=None, help="default: the embedded default evaluator")
    ap.add_argument("--sample-texts", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-texts", type=int, default=5, help="texts re-scored with prevalence set, to compare")
    args = ap.parse_args()

    gold, _ = read_tuples(args.data, load_system(args.system), "stop")
    ev = load_evaluator(args.model)
    system = ev.manifest.system(args.system)
    values = list(dict.fromkeys(t.value for t in gold))
    assumed = {v.name: ev.manifest.decision_prior(system.name, v.name) for v in system.values}
    started = time.perf_counter()
    scored = predict(ev, gold, args.system)
    seconds = time.perf_counter() - started

    keys = sorted({t.key for t in gold})
    sample_keys = set(random.Random(args.seed).sample(keys, min(args.sample_texts, len(keys))))
    sample = [t for t in gold if t.key in sample_keys]
    settings = {"sample": shares_of(sample, values, False), "sample-per-value": shares_of(sample, values, True),
                "split": shares_of(gold, values, False)}

    def labels_for(shares: dict[str, float] | None) -> list[str]:
        out = []
        for t, p in zip(gold, scored.probs):
            q = p if shares is None else shift(p, system.labels, assumed[system.get(t.value).name],
                                               shares[t.value])
            out.append(LABELS[int(np.argmax(q))])
        return out

    def pairs(labels: list[str]):
        return metrics.join(gold, [LabelledTuple(t.text, t.value, lab, t.id, t.system) for t, lab in zip(gold, labels)])

    fitted = pairs(labels_for(None))
    report = {"data": str(args.data), "system": system.name, "texts": len(keys), "tuples": len(gold),
              "scoring_seconds": round(seconds, 1), "strength": STRENGTH, "assumed": assumed,
              "sample_texts": len(sample_keys), "seed": args.seed,
              "as_fitted": metrics.compute(fitted).to_dict(), "settings": {}}
    for name, shares in settings.items():
        mine = pairs(labels_for(shares))
        report["settings"][name] = {
            "shares": shares, "metrics": metrics.compute(mine).to_dict(),
            "minus_as_fitted": [d.to_dict() for d in metrics.paired_differences(fitted, mine)]}

    # the evaluator itself, prevalence set, on the first texts: same labels as the offline shift
    check_keys = keys[: args.check_texts]
    ev.prevalence = ",".join(["0.5"] + [f"{v}={s}" for v, s in settings["sample"].items()])
    offline = dict(zip([(t.key, t.value) for t in gold], labels_for(settings["sample"])))
    texts = {t.key: t.text for t in gold}
    agree = total = 0
    for key in check_keys:
        [scored_text] = ev.score([texts[key]], values, args.system)
        for vs in scored_text.scores:
            if (key, vs.value) in offline:
                total += 1
                agree += vs.label == offline[(key, vs.value)]
    report["evaluator_check"] = {"texts": len(check_keys), "decisions": total, "same_label": agree}
    ev.close()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
