"""`eval --inject` for some attack families only (e.g. the costly long padding), on the first
LIMIT texts of a labelled file, with the embedded default or MODEL; JSON as `eval --inject --json`.

    python benchmarks/inject_families.py fulcra-valcarve.jsonl --limit 100 --families padding > out.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clave_lite.build.loading import load_evaluator
from clave_lite.evaluation.injection import flip_rates
from clave_lite.evaluation.job import EvalOptions, read_gold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--families", default="padding", help="comma-separated attack families")
    ap.add_argument("--model", type=Path, default=None)
    a = ap.parse_args()
    system, gold, _ = read_gold(EvalOptions(data=a.data, limit=a.limit))
    with load_evaluator(a.model) as ev:  # as `eval --inject` reads them: the same texts, system and windows
        report = flip_rates(ev, gold, system.name if system else None, only=a.families.split(","))
    print(json.dumps({"command": f"python benchmarks/inject_families.py {a.data.name} --limit {a.limit} "
                                 f"--families {a.families}", **report.to_dict()}, indent=1))


if __name__ == "__main__":
    main()
