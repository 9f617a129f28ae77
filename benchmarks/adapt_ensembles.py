"""Nested vs fixed-ensemble fold estimates on cached gert10 features: python benchmarks/adapt_ensembles.py FEATS.pkl"""
import sys, pickle, numpy as np
from scipy.special import softmax
from clave_lite.adapt import readout, job
from clave_lite.adapt.folds import assign_folds
from clave_lite.core.labels import LABELS
from clave_lite.core.tuples import LabelledTuple
from clave_lite.evaluation import metrics

P = pickle.load(open(sys.argv[1], "rb"))
feats, values, gold, groups = P["feats"], P["values"], P["gold"], P["groups"]
vidx = np.array([values.index(v) for v in P["value"]])
data = readout.Data(feats, np.array([LABELS.index(g) for g in gold]), vidx, len(values), np.array(groups))
allowed = P["labels"]
tuples = [LabelledTuple(text="", value=v, label=g) for v, g in zip(P["value"], gold)]  # what job._pairs reads
def _metrics(logits, rows, intervals=True):
    return metrics.compute(job._pairs([tuples[i] for i in rows], job._decide(logits, allowed), [groups[i] for i in rows]),
                           intervals=intervals)
def score(logits, rows):  # the objective adapt's folds use
    return float(_metrics(logits, rows, intervals=False)["macro_f1"])
def full(logits):
    m = _metrics(logits, np.arange(len(gold)))
    return f'{m["macro_f1"]:.3f} {m["intervals"]["macro_f1"]} sup {m["per_class_f1"]["supports"]:.3f} opp {m["per_class_f1"]["opposes"]:.3f}'
lines = list(P["lines"])
cands = readout.candidates(lines)
K, SEED = 5, 0
oof, chosen = readout.nested_estimate(cands, data, K, SEED, score)
print("adapt as shipped (nested):", full(oof), chosen)
outer = assign_folds(list(groups), K, SEED)
rows = np.arange(len(gold))
cache = {}
def oofc(c):
    if c.name not in cache: cache[c.name] = readout.out_of_fold(c, data, rows, outer)
    return cache[c.name]
for c in cands: print(f"  {c.name:45s} {score(oofc(c), rows):.3f}")
# fixed ensembles: no choice, so the out-of-fold figure is honest as it stands
pv = [c for c in cands if c.scope == "per-value"]
sh = [c for c in cands if c.scope == "shared" and c.features == "hidden"]
def ens(members, how="logit"):
    if how == "logit": return np.mean([oofc(c) for c in members], 0)
    return np.log(np.mean([softmax(oofc(c), axis=1) for c in members], 0) + 1e-12)
for name, mem in [("per-value all lines x C", pv), ("per-value both-line x C", [c for c in pv if len(c.lines) == 2]),
                  ("per-value singles x C", [c for c in pv if len(c.lines) == 1]),
                  ("all hidden", pv + sh), ("per-value + shared both-line", [c for c in pv + sh if len(c.lines) == 2])]:
    for how in ("logit", "prob"):
        print(f"ENS {name:32s} {how:5s} {full(ens(mem, how))}")
# the Ensemble class folds to the same logits as the average
E1 = readout.Ensemble(tuple(pv))
chk = readout.out_of_fold(E1, data, rows, outer)
print("fold check max |diff|:", np.abs(chk - ens(pv)).max())
for extra in ([E1], [E1, readout.Ensemble(tuple(c for c in pv if len(c.lines) == 2))]):
    o2, ch2 = readout.nested_estimate(cands + extra, data, K, SEED, score)
    print("nested with", len(extra), "ensembles:", full(o2), ch2)
