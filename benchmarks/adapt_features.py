"""Cache adapt's features for gert10 from one evaluator: python benchmarks/adapt_features.py MODEL.gguf OUT.pkl [THREADS]"""
import sys, numpy as np, pickle
from pathlib import Path
from clave_lite.adapt import job
from clave_lite.adapt.folds import group_keys
from clave_lite.progress import Silent
D = Path(__file__).resolve().parents[2] / "shared" / "data" / "moralchoice"  # ../shared beside the checkout
opts = job.AdaptOptions(system=D / "gert10.yaml", labels=D / "calibration.jsonl", output=Path("/tmp/unused.gguf"),
                        model=Path(sys.argv[1]), group_regex="^([^-]+)", threads=int(sys.argv[3]) if len(sys.argv) > 3 else None)
system, tuples = job._read(opts)
groups = group_keys(tuples, opts.group_regex)
feats, basis, lines, label_ids, src = job._read_evaluator(opts, system, tuples, Silent())
pickle.dump({"feats": feats, "values": [v.name for v in system.values], "labels": system.labels,
             "gold": [t.label for t in tuples], "value": [t.value for t in tuples], "groups": groups,
             "lines": lines}, open(sys.argv[2], "wb"))
print("ok", len(tuples), list(feats))
