"""The LoRA lever of the adaptation issue, measured on adapt's own group folds: for each outer fold,
fine-tune a LoRA on the other folds' tuples (warm-started from the embedded default's adapter on the
bare base; or fresh on the embedded default's merged q8_0 weights, what ``adapt`` has for any
evaluator file: ``--init merged``; or fresh on the bare base), then read the held-out tuples through the label tokens (argmax, nothing tuned on them).

    python benchmarks/adapt_lora_folds.py SYSTEM LABELS [--group-regex R] [--seed N] [--epochs E]
        [--lr LR] [--init default|merged|none]
        [--top-layers N] [--dropout P] [--class-weight balanced] [--precision auto] [--save Z.npz]

Same folds as `clave-lite adapt` (``assign_folds(group_keys(...), 5, seed)``) and TF-IDF + LR on them,
so its figure stands beside adapt's out-of-fold estimate. ``--save`` keeps the out-of-fold label
logits (tuple order of LABELS) for a blend decided before reading them. ``--readout`` also fits adapt's
fixed ensemble (template + definition lines) on the fold LoRA model's hidden states of the fold's training
tuples (which that LoRA trained on) and reports it, and its equal-log-probability blend with the LoRA's
label tokens (fixed before any figure), on the held-out fold.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.special import log_softmax

from clave_lite.adapt import job, readout
from clave_lite.adapt.folds import assign_folds, group_keys
from clave_lite.adapt.options import AdaptOptions
from clave_lite.build.default_model import default_dir
from clave_lite.core.labels import LABELS
from clave_lite.core.prompt import TEMPLATES_V2, PromptEncoder
from clave_lite.evaluation import metrics
from clave_lite.export.adapt_train import read_hidden
from clave_lite.export.dataset import build_examples
from clave_lite.export.forward import LabelLogits
from clave_lite.export.torch_model import load_base
from clave_lite.export.train import TrainConfig, resolve_precision, train
from clave_lite.formats.base_models import base_path
from clave_lite.runtime.llamacpp import LlamaModel

ap = argparse.ArgumentParser()
ap.add_argument("system"), ap.add_argument("labels")
ap.add_argument("--group-regex", default=None), ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--folds", type=int, default=5), ap.add_argument("--epochs", type=float, default=2.0)
ap.add_argument("--lr", type=float, default=2e-4), ap.add_argument("--init", default="default")
ap.add_argument("--class-weight", default="balanced"), ap.add_argument("--precision", default="auto")
ap.add_argument("--save", default=None)
ap.add_argument("--top-layers", type=int, default=None, help="LoRA on the top N decoder layers only")
ap.add_argument("--dropout", type=float, default=0.05, help="LoRA dropout")
ap.add_argument("--only-fold", type=int, default=None, help="train and report this outer fold only (a quick look)")
ap.add_argument("--readout", action="store_true",
                help="also fit adapt's fixed ensemble on the fold's LoRA model's own hidden states (its training tuples)")
a = ap.parse_args()

system, tuples, _ = job._read(AdaptOptions(system=a.system, labels=a.labels, output="/tmp/unused.gguf"))
groups = group_keys(tuples, a.group_regex)
outer = assign_folds(groups, a.folds, a.seed)
base = base_path("gemma3-270m")
tokenize = LlamaModel(base, vocab_only=True).tokenize
# the template the embedded default (v3, trained with template v2) scores with; "full" is adapt's definition line
encoders = {"template": PromptEncoder(TEMPLATES_V2["short"], tokenize),
            "definition": PromptEncoder(TEMPLATES_V2["full"], tokenize)}
label_ids = encoders["template"].label_ids
cfg = TrainConfig(epochs=a.epochs, lr=a.lr, class_weight=a.class_weight, precision=resolve_precision(a.precision),
                  seed=a.seed, checkpoint_every=10_000, top_layers=a.top_layers, dropout=a.dropout)
init = default_dir() / "adapter" if a.init == "default" else None
if a.init == "merged":
    from clave_lite.build.default_model import default_evaluator_path
    base = default_evaluator_path()
values = [v.name for v in system.values]
y = np.array([LABELS.index(t.label) for t in tuples])
vidx = np.array([values.index(t.value) for t in tuples])
ens = readout.fixed_ensemble(readout.candidates(list(encoders)))
z = np.zeros((len(tuples), 3), dtype=np.float32)
z_read = np.zeros((len(tuples), 3))


def hidden_states(wrapper, rows, encoder) -> np.ndarray:
    """Final hidden state at each tuple's read position (``adapt --train-epochs``'s reader); rows not
    in ``rows`` stay 0."""
    h = np.zeros((len(tuples), wrapper.base.config.hidden_size), dtype=np.float32)
    h[rows] = read_hidden(wrapper.base, encoder, system, tuples, rows)
    return h


t0, per_fold = time.time(), []
for f in range(a.folds) if a.only_fold is None else [a.only_fold]:
    train_rows, te = np.flatnonzero(outer != f), np.flatnonzero(outer == f)
    examples = build_examples([tuples[i] for i in train_rows], system, encoders["template"], seed=a.seed)
    model, _ = load_base(base)
    with tempfile.TemporaryDirectory() as tmp:
        model, summary = train(model, examples, label_ids, 0, Path(tmp), cfg, init_adapter=init)
    model.eval()
    wrapper = LabelLogits(model, label_ids)
    with torch.no_grad():  # the held-out fold through the label tokens; with --readout every tuple, both lines
        read = np.arange(len(tuples)) if a.readout else te
        feats = {("hidden", line): hidden_states(wrapper, read, enc) for line, enc in encoders.items()
                 if a.readout or line == "template"}
        z[te] = wrapper.head(torch.from_numpy(feats[("hidden", "template")][te]), label_ids).numpy()
    if a.readout:
        data = readout.Data(feats, y, vidx, len(values), np.array(groups))
        z_read[te] = data.fit(ens, train_rows).logits(data.x(ens)[te], vidx[te])
    m = metrics.compute(job._pairs([tuples[i] for i in te], job._decide(z[te], system.labels),
                                   [groups[i] for i in te]), intervals=False).to_dict()
    per_fold.append({"fold": f, "train_tuples": len(train_rows), "test_tuples": len(te),
                     "macro_f1": round(m["macro_f1"], 4), "train_seconds": summary["seconds"],
                     "final_loss": summary["final_loss"]})
    print(json.dumps(per_fold[-1]), flush=True)

if a.only_fold is not None:
    raise SystemExit(0)
tfidf = job.lexical_on_folds(system, tuples, outer).own_labels()
out = {"system": system.name, "labels": a.labels, "folds": a.folds, "seed": a.seed, "init": a.init,
       "config": {k: v for k, v in vars(cfg).items() if k != "target_modules"}, "per_fold": per_fold,
       "seconds": round(time.time() - t0, 1)}
rows_out = [("lora", job._decide(z, system.labels)), ("tfidf", tfidf)]
if a.readout:  # the blend's argmax is that of the summed log-probabilities: one linear head on one model
    rows_out += [("lora_readout", job._decide(z_read, system.labels)),
                 ("lora_plus_readout", job._decide(log_softmax(z, axis=1) + log_softmax(z_read, axis=1), system.labels))]
for name, labels in rows_out:
    m = metrics.compute(job._pairs(tuples, labels, groups)).to_dict()
    out[name] = {"macro_f1": round(m["macro_f1"], 4), "interval": m["intervals"]["macro_f1"],
                 "per_class_f1": {k: round(v, 4) for k, v in m["per_class_f1"].items()}}
if a.save:
    np.savez(a.save, logits=z, outer=outer, readout_logits=z_read)
print(json.dumps(out, indent=1))
