"""Is one training on every core faster than one training per core? Training throughput (steps
per second summed over processes) of the real base on gert10's batches (bf16 where the CPU has
AMX-BF16, LoRA dropout 0: what ``adapt --train-epochs`` runs), one process with N threads against N
processes with one thread each, all running the same steps at once.

    python benchmarks/train_parallel_speed.py SYSTEM LABELS [--steps 12]

Prints JSON; the ratio ``parallel_vs_one`` is what to read on a shared machine: above 1, folds
trained side by side (one thread each) finish sooner than folds trained one after another.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import time

import torch


def _worker(args: tuple[str, str, int, int, str]) -> float:
    """Train ``steps`` batches (after one warm-up step) with ``threads`` threads; seconds taken."""
    system_path, labels, threads, steps, precision = args
    torch.set_num_threads(threads)
    from clave_lite.adapt import job
    from clave_lite.adapt.options import AdaptOptions
    from clave_lite.core.prompt import TEMPLATES_V2, PromptEncoder
    from clave_lite.export.dataset import build_examples
    from clave_lite.export.torch_model import load_base
    from clave_lite.export.train import TrainConfig, _batch_loss, add_lora, make_batches
    from clave_lite.formats.base_models import base_path
    from clave_lite.runtime.llamacpp import LlamaModel

    system, tuples, _ = job._read(AdaptOptions(system=system_path, labels=labels, output="/tmp/unused.gguf"))
    vocab = LlamaModel(base_path("gemma3-270m"), vocab_only=True)
    encoder = PromptEncoder(TEMPLATES_V2["short"], vocab.tokenize)
    examples = build_examples(tuples, system, encoder, seed=0)
    cfg = TrainConfig(precision=precision, dropout=0.0)
    batches = make_batches(examples, cfg.tokens_per_step, random.Random(0))[:steps + 1]
    model, _ = load_base(base_path("gemma3-270m"))
    model = add_lora(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    model.train()
    started = 0.0
    for i, b in enumerate(batches):
        if i == 1:
            started = time.perf_counter()
        loss, _ = _batch_loss(model, [examples[j] for j in b], encoder.label_ids, 0, cfg, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
    vocab.close()
    return time.perf_counter() - started


def main() -> None:
    from clave_lite.export.train import resolve_precision
    from clave_lite.runtime.llamacpp import usable_cpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("system"), ap.add_argument("labels")
    ap.add_argument("--steps", type=int, default=12)
    a = ap.parse_args()
    n = usable_cpus()
    precision = resolve_precision("auto")
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        one = pool.map(_worker, [(a.system, a.labels, n, a.steps, precision)])[0]
    with ctx.Pool(n) as pool:
        side = pool.map(_worker, [(a.system, a.labels, 1, a.steps, precision)] * n)
    one_rate = a.steps / one
    side_rate = sum(a.steps / s for s in side)
    print(json.dumps({"torch": torch.__version__, "cores": n, "precision": precision, "steps": a.steps,
                      "one_process_s": round(one, 1), "one_thread_each_s": [round(s, 1) for s in side],
                      "steps_per_s_one": round(one_rate, 3), "steps_per_s_parallel": round(side_rate, 3),
                      "parallel_vs_one": round(side_rate / one_rate, 2)}, indent=2))


if __name__ == "__main__":
    main()
