"""Whole-text reading against head + tail, on one evaluator, in one run.

For each text of a tuple file (``clave-lite convert`` output): how many tokens it has, the labels
and the time of three readings, alternated batch by batch over the same texts so all see the same
machine:

- ``head_tail``: ``max_windows=1``, the first 2/3 and last 1/3 of the trained 384-token budget
  (how the evaluator was trained),
- ``windows_384`` (the default): windows of the trained budget, overlapping by 64 tokens, to the end,
- ``windows_768``: windows of twice the budget, so a text of up to 768 tokens is read whole in one
  pass (each token once: the least any whole-text reading costs; measured and not adopted).

Prints and writes JSON: texts over the budget, label agreement with head + tail (all texts, and the
long ones), macro-F1 against the gold labels with the paired difference to head + tail (bootstrap
over texts), and each reading's time relative to head + tail.

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
from clave_lite.evaluation.metrics import Pair, macro_f1, paired_differences


def main(tuples_path: str, out_path: str, model: str | None = None) -> None:
    tuples, _ = read_tuples(Path(tuples_path))
    texts = list(dict.fromkeys(t.text for t in tuples))
    ev = load_evaluator(model)
    system = ev.manifest.system("schwartz10")
    values = [v.name for v in system.values]
    budget = ev.manifest.template.max_text_tokens
    settings = {"head_tail": (1, budget), f"windows_{budget}": (MAX_WINDOWS, budget),
                f"windows_{2 * budget}": (MAX_WINDOWS, 2 * budget)}
    names = list(settings)
    lengths = [len(ev.backend.tokenize(t, False)) for t in texts]
    long_ = {i for i, n in enumerate(lengths) if n > budget}
    labels: dict[str, list[list[str]]] = {n: [] for n in names}
    seconds = dict.fromkeys(names, 0.0)
    for batch, start in enumerate(range(0, len(texts), 8)):  # rotate the order batch by batch
        chunk = texts[start:start + 8]
        for name in names[batch % 3:] + names[:batch % 3]:
            ev.max_windows, ev.window_tokens = settings[name]
            t0 = time.perf_counter()
            scored = ev.score(chunk, values, system.name)
            seconds[name] += time.perf_counter() - t0
            labels[name] += [[s.label for s in r.scores] for r in scored]
    index = {t: i for i, t in enumerate(texts)}
    pairs = {n: [Pair(t.value, t.label, labels[n][index[t.text]][values.index(t.value)], t.text) for t in tuples]
             for n in names}
    long_pairs = {n: [p for p in ps if index[p.key] in long_] for n, ps in pairs.items()}
    report: dict = {"data": tuples_path, "texts": len(texts), "trained_budget_tokens": budget,
                    "max_windows": MAX_WINDOWS, "texts_over_budget": len(long_), "longest_tokens": max(lengths),
                    "texts_over_768": sum(n > 2 * budget for n in lengths),
                    "machine": platform.processor() or platform.machine(), "readings": {}}
    for n in names:
        agree = [a == b for i in range(len(texts)) for a, b in zip(labels["head_tail"][i], labels[n][i])]
        agree_long = [a == b for i in sorted(long_) for a, b in zip(labels["head_tail"][i], labels[n][i])]
        row = {"seconds": round(seconds[n], 2), "time_vs_head_tail": round(seconds[n] / seconds["head_tail"], 3),
               "macro_f1": round(macro_f1(pairs[n]), 4),
               "long_texts_macro_f1": round(macro_f1(long_pairs[n]), 4) if long_ else None,
               "label_agreement_with_head_tail": round(sum(agree) / len(agree), 4),
               "label_agreement_with_head_tail_long": round(sum(agree_long) / len(agree_long), 4) if long_ else None}
        if n != "head_tail" and long_:
            d = next(x for x in paired_differences(long_pairs["head_tail"], long_pairs[n]) if x.figure == "macro_f1")
            row["long_texts_macro_f1_minus_head_tail"] = [round(d.difference, 4), [round(v, 4) for v in d.interval]]
        report["readings"][n] = row
    Path(out_path).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
