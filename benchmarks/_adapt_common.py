"""What the adapt benchmarks share: one line per readout, out-of-fold macro-F1 with its interval over groups."""
from clave_lite.adapt import job
from clave_lite.evaluation import metrics


def show(name, z, tuples, groups, system) -> None:
    """Print ``name``'s macro-F1 [95 %] and per-label F1 for logits ``z`` (one row per tuple)."""
    m = metrics.compute(job._pairs(tuples, job._decide(z, system.labels), groups)).to_dict()
    print(f"{name:36s} macro-F1 {m['macro_f1']:.3f} {m['intervals']['macro_f1']}  value-F1 {m['value_f1_mean']:.3f}  "
          + " ".join(f"{k[:3]} {v:.3f}" for k, v in m["per_class_f1"].items()), flush=True)
