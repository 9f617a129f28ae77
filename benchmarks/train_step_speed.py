"""Seconds per training step (forward, backward + optimizer) of the real base, by precision and LoRA
dropout, on the same batches in one process: the ratios are what to read on a shared machine.

    python benchmarks/train_step_speed.py DATA.jsonl [--texts 40] [--steps 6] [--profile]

Variants: fp32 (the default recipe, dropout 0.05), fp32 with dropout 0, bf16 autocast (dropout 0.05),
bf16 with the frozen base's Linear weights stored in bf16 (no per-step cast), and bf16 with dropout 0
(`train --precision bf16 --lora-dropout 0`). ``--profile`` prints torch's operator table for one bf16 step.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from clave_lite.core.prompt import PromptEncoder, with_markers
from clave_lite.core.tuples import read_tuples
from clave_lite.core.valuesystem import load_system
from clave_lite.export.dataset import build_examples
from clave_lite.export.torch_model import load_base
from clave_lite.export.train import TrainConfig, _batch_loss, add_lora, make_batches
from clave_lite.formats.base_models import base_path
from clave_lite.runtime.cpu import cpu_flags
from clave_lite.runtime.llamacpp import LlamaModel, usable_cpus

VARIANTS = {  # name: (precision, LoRA dropout, frozen Linear weights stored in bf16)
    "fp32": ("fp32", 0.05, False),
    "fp32-dropout0": ("fp32", 0.0, False),
    "bf16": ("bf16", 0.05, False),
    "bf16-base-bf16": ("bf16", 0.05, True),
    "bf16-dropout0": ("bf16", 0.0, False),
}


def step_seconds(examples, label_ids, batches, precision: str, dropout: float, base_bf16: bool,
                 profile: bool = False) -> tuple[float, float]:
    model, _ = load_base(base_path("gemma3-270m"))
    cfg = TrainConfig(precision=precision, dropout=dropout)
    model = add_lora(model, cfg)
    if base_bf16:
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.Linear) and not mod.weight.requires_grad and "lora" not in name:
                mod.weight.data = mod.weight.data.to(torch.bfloat16)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    model.train()
    fwd, bwd = [], []
    for i, b in enumerate(batches):
        t0 = time.perf_counter()
        loss, _ = _batch_loss(model, [examples[j] for j in b], label_ids, 0, cfg, None)
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first step warms up allocators and kernels
            fwd.append(t1 - t0)
            bwd.append(time.perf_counter() - t1)
    if profile:
        from torch.profiler import profile as run_profile

        with run_profile() as prof:
            loss, _ = _batch_loss(model, [examples[j] for j in batches[0]], label_ids, 0, cfg, None)
            loss.backward()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    return sum(fwd) / len(fwd), sum(bwd) / len(bwd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--texts", type=int, default=40)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(usable_cpus())
    vocab = LlamaModel(base_path("gemma3-270m"), vocab_only=True)
    encoder = PromptEncoder(with_markers("short", vocab.tokenize), vocab.tokenize)
    tuples, _ = read_tuples(args.data, None, "stop")
    system = load_system(tuples[0].system or "schwartz10")
    keep = set(sorted({t.key for t in tuples})[:args.texts])
    examples = build_examples([t for t in tuples if t.key in keep], system, encoder, seed=0)
    batches = make_batches(examples, TrainConfig().tokens_per_step, random.Random(0))[:args.steps]
    rows = {}
    for name, (precision, dropout, base_bf16) in VARIANTS.items():
        f, b = step_seconds(examples, encoder.label_ids, batches, precision, dropout, base_bf16,
                            profile=args.profile and name == "bf16")
        rows[name] = {"forward_s": round(f, 3), "backward_s": round(b, 3), "step_s": round(f + b, 3)}
    base = rows["fp32"]["step_s"]
    for r in rows.values():
        r["speedup_vs_fp32"] = round(base / r["step_s"], 2)
    amx = sorted(f for f in cpu_flags() if f.startswith("amx"))
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_amx_flags": amx,
                      "texts": args.texts, "steps_timed": len(batches) - 1, "variants": rows}, indent=2))


if __name__ == "__main__":
    main()
