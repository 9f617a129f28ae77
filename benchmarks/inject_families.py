"""`eval --inject` for some attack families only (e.g. the costly long padding), on the first
LIMIT texts of a labelled file, with the embedded default or MODEL; JSON as `eval --inject --json`.

    python benchmarks/inject_families.py fulcra-valcarve.jsonl --limit 100 --families padding > out.json

``--filler-only``: the padded attacks without their instruction (the filler alone), to tell what the
instruction does from what diluting the answer with ~1,600 tokens does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clave_lite.build.loading import load_evaluator
from clave_lite.core import injections
from clave_lite.evaluation import injection
from clave_lite.evaluation.injection import flip_rates
from clave_lite.evaluation.job import EvalOptions, read_gold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--families", default="padding", help="comma-separated attack families")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--filler-only", action="store_true", help="padded attacks without their instruction")
    a = ap.parse_args()
    if a.filler_only:
        padded = injections.HELD_OUT[0]
        attacks = [(n, f, x.removesuffix(" " + padded), t) for n, f, x, t in injection.attacks()]
        injection.attacks = lambda: attacks  # this run only: the filler alone, the same target counted
    system, gold, _ = read_gold(EvalOptions(data=a.data, limit=a.limit))
    with load_evaluator(a.model) as ev:  # as `eval --inject` reads them: the same texts, system and windows
        report = flip_rates(ev, gold, system.name if system else None, only=a.families.split(","))
    print(json.dumps({"command": f"python benchmarks/inject_families.py {a.data.name} --limit {a.limit} "
                                 f"--families {a.families}" + (" --filler-only" if a.filler_only else ""),
                      **report.to_dict()}, indent=1))


if __name__ == "__main__":
    main()
