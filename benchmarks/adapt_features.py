"""Cache adapt's features (label logits + hidden states of every labelled tuple) from one evaluator.

    python benchmarks/adapt_features.py MODEL.gguf OUT.pkl                      # gert10 (MoralChoice)
    python benchmarks/adapt_features.py MODEL.gguf OUT.pkl --system csv12 \\
        --labels ../shared/data/valuecsv/calibration.jsonl --group-regex ''     # ValueCSV, a group per text
"""
import argparse
import pickle
from pathlib import Path

from clave_lite.adapt import job
from clave_lite.adapt.folds import group_keys
from clave_lite.progress import Silent

D = Path(__file__).resolve().parents[2] / "shared" / "data" / "moralchoice"  # ../shared beside the checkout
ap = argparse.ArgumentParser()
ap.add_argument("model"), ap.add_argument("out")
ap.add_argument("--system", default=str(D / "gert10.yaml")), ap.add_argument("--labels", default=str(D / "calibration.jsonl"))
ap.add_argument("--group-regex", default="^([^-]+)"), ap.add_argument("--threads", type=int)
a = ap.parse_args()
opts = job.AdaptOptions(system=Path(a.system), labels=Path(a.labels), output=Path("/tmp/unused.gguf"),
                        model=Path(a.model), group_regex=a.group_regex or None, threads=a.threads)
system, tuples, _ = job._read(opts)
groups = group_keys(tuples, opts.group_regex)
feats, basis, lines, label_ids, src = job._read_evaluator(opts, system, tuples, Silent())
pickle.dump({"feats": feats, "values": [v.name for v in system.values], "labels": system.labels,
             "gold": [t.label for t in tuples], "value": [t.value for t in tuples], "groups": groups,
             "lines": lines}, open(a.out, "wb"))
print("ok", len(tuples), list(feats))
