"""Whole-text reading (windows) against head + tail, on one evaluator, in one run.

For each text of a tuple file (``clave-lite convert`` output): how many tokens it has, the labels
and the time with ``max_windows=1`` (head + tail, how the evaluator was trained) and with the
default windows, alternating the two settings over the same texts so both see the same machine.
Prints and writes JSON: texts over the window, label agreement between the settings (all texts,
and the long ones), macro-F1 against the gold labels of each, and the time ratio.

    python benchmarks/long_text_windows.py data/fulcra-dev.jsonl docs/results/long-text-windows.json
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

from clave_lite.build.loading import load_evaluator
from clave_lite.core.prompt import MAX_WINDOWS
from clave_lite.core.tuples import read_tuples
from clave_lite.evaluation.metrics import Pair, macro_f1


def main(tuples_path: str, out_path: str, model: str | None = None) -> None:
    tuples, _ = read_tuples(Path(tuples_path))
    texts = list(dict.fromkeys(t.text for t in tuples))
    ev = load_evaluator(model)
    system = ev.manifest.system("schwartz10")
    values = [v.name for v in system.values]
    budget = ev.manifest.template.max_text_tokens
    lengths = [len(ev.backend.tokenize(t, False)) for t in texts]
    long_ = [i for i, n in enumerate(lengths) if n > budget]
    labels: dict[int, list[list[str]]] = {1: [], MAX_WINDOWS: []}
    seconds = {1: 0.0, MAX_WINDOWS: 0.0}
    for start in range(0, len(texts), 8):  # alternate the settings batch by batch
        chunk = texts[start:start + 8]
        for w in (1, MAX_WINDOWS) if (start // 8) % 2 == 0 else (MAX_WINDOWS, 1):
            ev.max_windows = w
            t0 = time.perf_counter()
            scored = ev.score(chunk, values, system.name)
            seconds[w] += time.perf_counter() - t0
            labels[w] += [[s.label for s in r.scores] for r in scored]
    index = {t: i for i, t in enumerate(texts)}
    report = {"data": tuples_path, "texts": len(texts), "window_tokens": budget, "max_windows": MAX_WINDOWS,
              "texts_over_window": len(long_), "longest_tokens": max(lengths),
              "machine": platform.processor() or platform.machine()}
    for w in (1, MAX_WINDOWS):
        pred = [labels[w][index[t.text]][values.index(t.value)] for t in tuples]
        pairs_w = [Pair(t.value, t.label, p, t.text) for t, p in zip(tuples, pred)]
        long_w = [p for p in pairs_w if lengths[index[p.key]] > budget]
        report[f"macro_f1_windows_{w}"] = round(macro_f1(pairs_w), 4)
        report[f"long_texts_macro_f1_windows_{w}"] = round(macro_f1(long_w), 4) if long_w else None
    pairs = [(a, b) for i in range(len(texts)) for a, b in zip(labels[1][i], labels[MAX_WINDOWS][i])]
    long_pairs = [(a, b) for i in long_ for a, b in zip(labels[1][i], labels[MAX_WINDOWS][i])]
    report["label_agreement_all"] = round(sum(a == b for a, b in pairs) / len(pairs), 4)
    report["label_agreement_long"] = round(sum(a == b for a, b in long_pairs) / len(long_pairs), 4) if long_pairs else None
    report["seconds_head_tail"] = round(seconds[1], 2)
    report["seconds_windows"] = round(seconds[MAX_WINDOWS], 2)
    report["time_ratio"] = round(seconds[MAX_WINDOWS] / seconds[1], 3)
    Path(out_path).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
