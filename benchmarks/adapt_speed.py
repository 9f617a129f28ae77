"""Scoring speed of adapted evaluators against the one they were adapted from, on the same texts.

    python benchmarks/adapt_speed.py TEXTS.jsonl NAME=MODEL[:SYSTEM] ... [--texts 120] [--runs 3] [-o OUT.json]

Each NAME=MODEL[:SYSTEM] is scored on the first --texts texts of TEXTS.jsonl (all values of SYSTEM,
default: the model's default system), in --runs rounds that alternate the models, so a neighbour
on a shared machine slows every model alike; texts/s is the median round. Ratios against the
first model are the figures to read (one run, same texts, same cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from clave_lite.runtime.evaluator import Evaluator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("texts", type=Path)
    ap.add_argument("models", nargs="+", help="NAME=MODEL[:SYSTEM]")
    ap.add_argument("--texts", dest="n", type=int, default=120)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()

    texts: list[str] = []
    for line in args.texts.read_text().splitlines():
        row = json.loads(line)
        if row["text"] not in texts:
            texts.append(row["text"])
        if len(texts) == args.n:
            break
    runs: dict[str, list[float]] = {}
    loaded = {}
    for spec in args.models:
        name, _, rest = spec.partition("=")
        path, _, system = rest.partition(":")
        loaded[name] = (Evaluator.load(path, threads=args.threads), system or None)
    try:
        for _ in range(args.runs):
            for name, (ev, system) in loaded.items():
                t0 = time.perf_counter()
                ev.score(texts, system=system)
                runs.setdefault(name, []).append(len(texts) / (time.perf_counter() - t0))
    finally:
        for ev, _ in loaded.values():
            ev.close()
    first = next(iter(runs))
    out = {"texts": len(texts), "runs": args.runs,
           "texts_per_s": {n: round(statistics.median(r), 3) for n, r in runs.items()},
           "all_runs": {n: [round(x, 3) for x in r] for n, r in runs.items()}}
    out["ratio_vs_" + first] = {n: round(statistics.median(r) / statistics.median(runs[first]), 3)
                                for n, r in runs.items()}
    text = json.dumps(out, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
