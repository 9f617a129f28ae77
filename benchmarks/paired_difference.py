"""Candidate minus incumbent on the same texts, with a paired bootstrap over texts: how much of a
difference a split can tell apart (what a ship rule's tolerance should be sized against).

    python benchmarks/paired_difference.py GOLD.jsonl INCUMBENT_PRED.jsonl CANDIDATE_PRED.jsonl [--tolerance 0.01]

The prediction files are `clave-lite eval GOLD --model M --save-predictions FILE` outputs. Prints
one JSON list: per figure, both points, the difference, its 95 % interval, and the share of resamples
in which the candidate is at least the incumbent minus the tolerance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clave_lite.core.tuples import read_tuples
from clave_lite.evaluation.metrics import join, paired_differences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gold", type=Path)
    ap.add_argument("incumbent", type=Path)
    ap.add_argument("candidate", type=Path)
    ap.add_argument("--tolerance", type=float, default=0.01)
    args = ap.parse_args()
    gold, _ = read_tuples(args.gold, None, "stop")
    pairs = [join(gold, read_tuples(path, None, "stop")[0]) for path in (args.incumbent, args.candidate)]
    diffs = paired_differences(pairs[0], pairs[1], tolerance=args.tolerance)
    print(json.dumps([d.to_dict() for d in diffs], indent=2))


if __name__ == "__main__":
    main()
