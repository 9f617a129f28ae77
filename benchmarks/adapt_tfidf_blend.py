"""Headroom check: adapt's fixed ensemble blended with TF-IDF + LR (equal weight of log-probabilities,
fixed in advance, nothing tuned), out of fold on the same group folds.

    python benchmarks/adapt_tfidf_blend.py FEATS.pkl SYSTEM LABELS [--group-regex R] [--seed N]

FEATS.pkl from benchmarks/adapt_features.py on the same SYSTEM / LABELS (tuples in the same order).
"""
import argparse
import pickle

import numpy as np
from _adapt_common import show
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression

from clave_lite.adapt import job, readout
from clave_lite.adapt.folds import assign_folds, group_keys
from clave_lite.adapt.options import AdaptOptions
from clave_lite.core.labels import LABELS
from clave_lite.evaluation.baselines import tfidf_vectorizer

ap = argparse.ArgumentParser()
ap.add_argument("feats"), ap.add_argument("system"), ap.add_argument("labels")
ap.add_argument("--group-regex", default=None), ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
P = pickle.load(open(a.feats, "rb"))
system, tuples, _ = job._read(AdaptOptions(system=a.system, labels=a.labels, output="/tmp/unused.gguf"))
groups = group_keys(tuples, a.group_regex)
assert [t.label for t in tuples] == P["gold"] and groups == P["groups"], "features and labels differ in order"
values = P["values"]
y = np.array([LABELS.index(t.label) for t in tuples])
vidx = np.array([values.index(t.value) for t in tuples])
data = readout.Data(P["feats"], y, vidx, len(values), np.array(groups))
rows = np.arange(len(tuples))
outer = assign_folds(groups, 5, a.seed)
ens = readout.fixed_ensemble(readout.candidates(list(P["lines"])))
z_ens = readout.out_of_fold(ens, data, rows, outer)

texts = [t.text for t in tuples]
z_tf = np.full((len(tuples), 3), -50.0)
for f in np.unique(outer):
    tr, te = rows[outer != f], rows[outer == f]
    vec = tfidf_vectorizer(list(dict.fromkeys(texts[i] for i in tr)))
    for v in range(len(values)):
        trv, tev = tr[vidx[tr] == v], te[vidx[te] == v]
        if not len(tev):
            continue
        clf = LogisticRegression(max_iter=1000, class_weight="balanced").fit(vec.transform([texts[i] for i in trv]), y[trv])
        lp = clf.predict_log_proba(vec.transform([texts[i] for i in tev]))
        for k, c in enumerate(clf.classes_):
            z_tf[tev, c] = lp[:, k]


show("fixed ensemble (adapt)", z_ens, tuples, groups, system)
show("TF-IDF + LR (probabilities)", z_tf, tuples, groups, system)
show("ensemble + TF-IDF, equal log-probs", log_softmax(z_ens, axis=1) + z_tf, tuples, groups, system)
