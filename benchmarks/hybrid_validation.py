"""The hybrid decision layer on carved validation: the evaluator alone, the lexical layer alone
(TF-IDF + LR fitted on the training split only), and their pool at several weights, on texts
neither half was fitted on (docs/accuracy.md, "The hybrid decision layer").

    python benchmarks/hybrid_validation.py TRAIN.jsonl VALIDATION.jsonl [--model M] [--system S] > out.json

TRAIN/VALIDATION: the `clave-lite split ... --exclude-keys models/default/train_keys.json` files of
docs/accuracy.md (fulcra-fit / fulcra-valcarve, touche-fit / touche-valcarve). The shipped weight is
0.5 (a plain geometric mean), fixed before any of these figures were read; the other weights are
printed to show how flat the choice is, not to choose.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from clave_lite.build.lexical import fit_lexical
from clave_lite.build.loading import load_evaluator
from clave_lite.core.labels import LABELS
from clave_lite.core.tuples import read_tuples
from clave_lite.core.valuesystem import resolve_system
from clave_lite.evaluation.metrics import Pair, compute, paired_differences
from clave_lite.evaluation.run import predict
from clave_lite.formats.lexical import LexicalModel, pool

WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train", type=Path)
    ap.add_argument("validation", type=Path)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--system", default=None)
    args = ap.parse_args()
    system = resolve_system(args.system)
    train, _ = read_tuples(args.train, system, "stop")
    gold, _ = read_tuples(args.validation, system, "stop")
    started = time.time()
    with load_evaluator(args.model) as ev:
        ev.hybrid = False  # the evaluator half alone, with its biases and temperature
        sys_ = ev.manifest.system(gold[0].system or (system.name if system else None))
        p_eval = predict(ev, gold, sys_.name).probs
    seconds = time.time() - started
    values = list(dict.fromkeys(t.value for t in train))
    # stored and read back as the evaluator file stores it (float16 weights)
    lexical = LexicalModel.from_dict(json.loads(json.dumps(fit_lexical(train, values).to_dict())), "fit")
    p_lex = np.array([lexical.probs(t.text, [t.value])[0] for t in gold])

    def pairs(probs: np.ndarray) -> list[Pair]:
        return [Pair(t.value, t.label, LABELS[int(np.argmax(p))], t.key) for t, p in zip(gold, probs)]

    rows = {f"w={w}": pairs(np.array([pool(a, b, w, sys_.labels) for a, b in zip(p_eval, p_lex)]))
            for w in WEIGHTS}
    headline = ("macro_f1", "value_f1_mean", "touche_f1", "accuracy", "per_class_f1", "intervals")

    def figures(p: list[Pair]) -> dict:
        m = compute(p).to_dict()
        return {k: m[k] for k in headline}

    out = {"train": args.train.name, "validation": args.validation.name, "system": sys_.name,
           "texts": len({t.key for t in gold}), "tuples": len(gold), "scoring_seconds": round(seconds, 1),
           "note": "w=0: the evaluator alone; w=1: the lexical layer alone; w=0.5 ships",
           "figures": {name: figures(p) for name, p in rows.items()},
           "shipped_minus_evaluator": [d.to_dict() for d in paired_differences(rows["w=0.0"], rows["w=0.5"])],
           "shipped_minus_lexical": [d.to_dict() for d in paired_differences(rows["w=1.0"], rows["w=0.5"])]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
