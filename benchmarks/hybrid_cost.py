"""What the hybrid decision layer costs: the same texts scored with and without the lexical half,
alternating in one process (ratios in one run beat absolute times on a shared machine), plus
the lexical half alone per text and the time to read and check the manifest that carries it.

    python benchmarks/hybrid_cost.py TEXTS.jsonl [--limit 20] [--rounds 3] [--model M] > out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from clave_lite.build.loading import load_evaluator
from clave_lite.evaluation.bench import distinct_texts
from clave_lite.formats.manifest import read_gguf_manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("texts", type=Path)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()
    texts = distinct_texts(args.texts, args.limit)
    with load_evaluator(args.model) as ev:
        ev.score(texts[:2])  # warm up
        seconds: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for hybrid in (False, True):
                ev.hybrid = hybrid
                start = time.perf_counter()
                ev.score(texts)
                seconds[hybrid].append(time.perf_counter() - start)
        lexical = ev.manifest.lexical_layer(ev.manifest.default_system)
        names = [v.name for v in ev.manifest.system(None).values]
        start = time.perf_counter()
        for t in texts:
            lexical.probs(t, names) if lexical else None
        lexical_alone = (time.perf_counter() - start) / len(texts)
        path = Path(ev.backend.path)
    reads = []
    for _ in range(5):  # the manifest (JSON with the lexical layer) is checked before llama.cpp loads
        start = time.perf_counter()
        read_gguf_manifest(path)
        reads.append(time.perf_counter() - start)
    without, with_ = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(json.dumps({"texts": len(texts), "rounds": args.rounds, "values": len(names),
                      "seconds_without_lexical": round(without, 3), "seconds_with_lexical": round(with_, 3),
                      "ratio": round(with_ / without, 4), "lexical_ms_per_text": round(1000 * lexical_alone, 3),
                      "manifest_read_seconds": round(statistics.median(reads), 3)}, indent=2))


if __name__ == "__main__":
    main()
