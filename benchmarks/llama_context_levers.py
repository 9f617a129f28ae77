"""llama.cpp context settings as speed and memory levers, measured on one evaluator.

Each setting runs in its own process (so its peak RSS is its own), settings alternating round by
round (so drift on a shared machine hits them alike): load the evaluator, score two texts to warm
up, then time scoring TEXTS on every value of its default system. Printed per setting: median
responses/s over the rounds, the ratio to the first setting, peak RSS, and the share of decisions
identical to the first setting's.

    python benchmarks/llama_context_levers.py MODEL.gguf fulcra-dev.jsonl --limit 20 --rounds 3 > out.json

Settings (``clave_lite.runtime.backends.gguf`` constants): ``auto`` (llama.cpp decides flash
attention; what ships), ``fa-off`` / ``fa-on`` (flash attention forced), ``kv-q8`` (flash attention
on and a q8_0 KV cache instead of f16), ``seq-32`` (at most 32 (text, value) sequences per decode
instead of 64: llama.cpp keeps a full-vocabulary logits row per output, 1 MiB each).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

SETTINGS = {"auto": {"FLASH_ATTN": -1}, "fa-off": {"FLASH_ATTN": 0}, "fa-on": {"FLASH_ATTN": 1},
            "kv-q8": {"FLASH_ATTN": 1, "KV_TYPE": 8},  # ggml type 8 = q8_0
            "seq-32": {"MAX_SEQUENCES": 32}}  # half the outputs per decode: half the logits buffer


def one(model: str, data: str, limit: int, setting: str) -> dict:
    """In a fresh process: the timing, peak RSS and decisions of one setting."""
    import time

    from clave_lite.evaluation.bench import distinct_texts, peak_rss_mib
    from clave_lite.runtime.backends import gguf
    from clave_lite.runtime.evaluator import Evaluator

    for name, value in SETTINGS[setting].items():
        setattr(gguf, name, value)
    texts = distinct_texts(Path(data), limit)
    with Evaluator.load(model) as ev:
        ev.score(texts[:2])
        start = time.perf_counter()
        results = ev.score(texts)
        seconds = time.perf_counter() - start
    return {"setting": setting, "seconds": seconds, "responses_per_s": len(texts) / seconds,
            "peak_rss_mib": peak_rss_mib(), "labels": [s.label for r in results for s in r.scores]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.model, a.data, a.limit, a.one)))
        return
    names = a.settings.split(",")
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(a.rounds):
        for n in names:
            out = subprocess.run([sys.executable, __file__, a.model, a.data, "--limit", str(a.limit), "--one", n],
                                 capture_output=True, text=True, check=True)
            runs[n].append(json.loads(out.stdout))
            print(f"round {r + 1} {n}: {runs[n][-1]['responses_per_s']:.3f} responses/s", file=sys.stderr)
    base = names[0]
    base_rate = statistics.median(x["responses_per_s"] for x in runs[base])
    base_labels = runs[base][0]["labels"]
    table = {}
    for n in names:
        rate = statistics.median(x["responses_per_s"] for x in runs[n])
        labels = runs[n][0]["labels"]
        table[n] = {"responses_per_s": [round(x["responses_per_s"], 3) for x in runs[n]],
                    "median": round(rate, 3), "vs_" + base: round(rate / base_rate, 3),
                    "peak_rss_mib": round(max(x["peak_rss_mib"] for x in runs[n])),
                    "same_decisions_as_" + base: round(sum(x == y for x, y in zip(labels, base_labels))
                                                      / len(base_labels), 4)}
    print(json.dumps({"command": " ".join(sys.argv), "texts": a.limit, "rounds": a.rounds, "settings": table},
                     indent=1))


if __name__ == "__main__":
    main()
