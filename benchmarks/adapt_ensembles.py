"""Nested choice vs fixed logit-mean ensembles on cached adapt features (benchmarks/adapt_features.py).

    python benchmarks/adapt_ensembles.py FEATS.pkl [--seed N] [--json OUT.json]

Prints the nested fold estimate of adapt's choice among readout.candidates, every candidate's
out-of-fold figure on the outer folds (for reading: the best row is optimistic by the choice), and
fixed ensembles, which choose nothing, so their out-of-fold figure is honest as it stands. The
objective is the system's (macro-F1, or value-F1 for a system without `opposes`).
"""
import argparse
import json
import pickle

import numpy as np

from clave_lite.adapt import job, readout
from clave_lite.adapt.folds import assign_folds
from clave_lite.core.labels import LABELS
from clave_lite.core.tuples import LabelledTuple
from clave_lite.evaluation import metrics
from clave_lite.evaluation.thresholds import objective

ap = argparse.ArgumentParser()
ap.add_argument("feats"), ap.add_argument("--seed", type=int, default=0), ap.add_argument("--folds", type=int, default=5)
ap.add_argument("--json")
a = ap.parse_args()
P = pickle.load(open(a.feats, "rb"))
values, gold, groups, allowed = P["values"], P["gold"], P["groups"], P["labels"]
goal = objective(allowed)
data = readout.Data(P["feats"], np.array([LABELS.index(g) for g in gold]),
                    np.array([values.index(v) for v in P["value"]]), len(values), np.array(groups))
tuples = [LabelledTuple(text="", value=v, label=g) for v, g in zip(P["value"], gold)]  # what job._pairs reads


def _metrics(logits, rows, intervals=True):
    return metrics.compute(job._pairs([tuples[i] for i in rows], job._decide(logits, allowed), [groups[i] for i in rows]),
                           intervals=intervals).to_dict()


def score(logits, rows):  # the objective adapt's folds use
    return float(_metrics(logits, rows, intervals=False)[goal] or -1.0)


rows = np.arange(len(gold))
results = {}


def report(name, logits):
    m = _metrics(logits, rows)
    results[name] = {goal: round(float(m[goal]), 4), "interval": m["intervals"][goal],
                     "value_f1_mean": round(float(m["value_f1_mean"]), 4),
                     "value_f1_interval": m["intervals"].get("value_f1_mean"),
                     "per_class_f1": {k: round(v, 4) for k, v in m["per_class_f1"].items()}}
    pc = " ".join(f"{k[:3]} {v:.3f}" for k, v in m["per_class_f1"].items())
    print(f"{name:44s} {goal} {m[goal]:.3f} {m['intervals'][goal]}  {pc}  value-F1 {m['value_f1_mean']:.3f}",
          flush=True)


cands = readout.candidates(list(P["lines"]))
outer = assign_folds(list(groups), a.folds, a.seed)
oof = readout.out_of_fold_all(cands, data, rows, outer)
for c in cands:
    print(f"  {c.name:45s} {score(oof[c.name], rows):.3f}")
hidden = list(readout.fixed_ensemble(cands).members)  # its mean = the Ensemble's logits (tests/adapt)
fixed = {"ENS all hidden (adapt's default)": hidden, "ENS all hidden + label logits": cands,
         "ENS per-value hidden": [c for c in hidden if c.scope == "per-value"]}
for name, members in fixed.items():
    report(name, np.mean([oof[c.name] for c in members], 0))
nested, chosen = readout.nested_estimate(cands, data, a.folds, a.seed, score)
report("nested choice (adapt --readout choose)", nested)
print("chosen per outer fold:", chosen)
if a.json:
    json.dump({"feats": a.feats, "seed": a.seed, "folds": a.folds, "objective": goal, "results": results,
               "chosen_per_fold": chosen}, open(a.json, "w"), indent=1)
