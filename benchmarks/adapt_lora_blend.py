"""adapt's fixed ensemble beside the per-fold LoRA of benchmarks/adapt_lora_folds.py, and their blend:
equal-weight sum of log-probabilities, fixed before either figure was read (nothing tuned).

    python benchmarks/adapt_lora_blend.py FEATS.pkl LORA.npz SYSTEM LABELS [--group-regex R]

FEATS.pkl from benchmarks/adapt_features.py, LORA.npz from adapt_lora_folds.py --save, on the same
SYSTEM / LABELS and fold seed (the npz carries its folds; they are checked to be adapt's).
"""
import argparse
import pickle

import numpy as np
from _adapt_common import show
from scipy.special import log_softmax

from clave_lite.adapt import job, readout
from clave_lite.adapt.folds import group_keys
from clave_lite.adapt.options import AdaptOptions
from clave_lite.core.labels import LABELS

ap = argparse.ArgumentParser()
ap.add_argument("feats"), ap.add_argument("lora"), ap.add_argument("system"), ap.add_argument("labels")
ap.add_argument("--group-regex", default=None)
a = ap.parse_args()
P, L = pickle.load(open(a.feats, "rb")), np.load(a.lora)
system, tuples, _ = job._read(AdaptOptions(system=a.system, labels=a.labels, output="/tmp/unused.gguf"))
groups = group_keys(tuples, a.group_regex)
assert [t.label for t in tuples] == P["gold"] and groups == P["groups"], "features and labels differ in order"
values, outer = P["values"], L["outer"]
data = readout.Data(P["feats"], np.array([LABELS.index(t.label) for t in tuples]),
                    np.array([values.index(t.value) for t in tuples]), len(values), np.array(groups))
rows = np.arange(len(tuples))
z_ens = readout.out_of_fold(readout.fixed_ensemble(readout.candidates(list(P["lines"]))), data, rows, outer)
z_lora = L["logits"]


show("fixed ensemble (adapt)", z_ens, tuples, groups, system)
show("LoRA per fold, label tokens", z_lora, tuples, groups, system)
show("blend, equal log-probs", log_softmax(z_ens, axis=1) + log_softmax(z_lora, axis=1), tuples, groups, system)
