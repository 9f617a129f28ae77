"""LoRA fine-tuning of the verbalizer on CPU (or a GPU when present), resumable.

Loss: cross-entropy over the label tokens only (supports / opposes / unrelated) at each value's
read position: the same restricted softmax scoring uses. The tied embeddings / lm_head are
left frozen; LoRA goes on the attention and MLP projections.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from clave_lite.export.dataset import Example
from clave_lite.export.forward import label_and_explanation_logits, label_logits
from clave_lite.progress import SILENT, Progress

TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    epochs: float = 1.0
    lr: float = 2e-4
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    tokens_per_step: int = 2048  # batches are filled up to this many tokens (text + suffixes)
    warmup_steps: int = 10
    seed: int = 0
    checkpoint_every: int = 50
    explain_weight: float = 0.5  # weight of the explanation (concept text) loss beside the label loss
    # Label weights in the loss: "none", "sqrt" (inverse square root of each label's share of the
    # training pairs) or "balanced" (inverse share). Rare labels (FULCRA's `opposes`, 2-3 % of
    # pairs) otherwise barely move the loss; export's tuned biases re-centre the decision.
    class_weight: str = "none"
    # Matmul precision of the forward and backward passes: "fp32", or "bf16" (torch autocast; the
    # LoRA weights, optimizer state and loss stay fp32). bf16 pays off where the CPU has bf16
    # units (Intel AMX-BF16, AVX512-BF16: see docs/training.md for the measured speed and agreement).
    precision: str = "fp32"
    # LoRA on the top ``top_layers`` decoder layers only (None, or more than the base has: every
    # layer). The frozen layers below then need no backward pass: a cheaper run.
    top_layers: int | None = None
    target_modules: list[str] = field(default_factory=lambda: list(TARGET_MODULES))


def make_batches(examples: Sequence[Example], tokens_per_step: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, then group examples of similar length (less padding) under a token budget."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    # sort within windows of 64 so length-grouping keeps some randomness
    for w in range(0, len(order), 64):
        window = sorted(order[w:w + 64], key=lambda i: examples[i].n_tokens)
        current: list[int] = []
        longest = 0
        for i in window:
            n = examples[i].n_tokens
            if current and max(longest, n) * (len(current) + 1) > tokens_per_step:
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, n)
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


def load_adapter_weights(adapter_dir: Path, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """An earlier run's LoRA weights (safetensors only: no pickle), checked to fit ``cfg``."""
    from safetensors.torch import load_file

    from clave_lite.errors import DataError

    config_file, weights = adapter_dir / "adapter_config.json", adapter_dir / "adapter_model.safetensors"
    if not config_file.exists() or not weights.exists():
        raise DataError(f"{adapter_dir}: not a LoRA adapter (needs adapter_config.json and adapter_model.safetensors)")
    config = json.loads(config_file.read_text())
    if int(config.get("r", -1)) != cfg.rank or sorted(config.get("target_modules") or []) != sorted(cfg.target_modules):
        raise DataError(f"{adapter_dir}: adapter has rank {config.get('r')} on {config.get('target_modules')}; "
                        f"this run uses rank {cfg.rank} on {cfg.target_modules} (pass --rank {config.get('r')})")
    return load_file(str(weights))


CLASS_WEIGHTS = ("none", "sqrt", "balanced")


def label_weights(examples: Sequence[Example], n_labels: int, mode: str) -> torch.Tensor | None:
    """Per-label loss weights from the training pairs' label counts (mean weight over pairs = 1)."""
    if mode == "none":
        return None
    if mode not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight must be one of {CLASS_WEIGHTS}, not {mode!r}")
    counts = torch.zeros(n_labels)
    for e in examples:
        for t in e.targets:
            counts[t] += 1
    share = counts / counts.sum().clamp(min=1)
    power = 0.5 if mode == "sqrt" else 1.0
    weights = torch.where(counts > 0, share.clamp(min=1e-12) ** -power, torch.zeros_like(share))
    return weights / (weights * share).sum()  # the average pair keeps weight 1


def add_lora(model, cfg: TrainConfig):
    from peft import LoraConfig, get_peft_model

    layers = None
    if cfg.top_layers is not None:
        if cfg.top_layers < 1:
            raise ValueError(f"top_layers must be at least 1, not {cfg.top_layers}")
        n = model.config.num_hidden_layers
        layers = list(range(max(0, n - cfg.top_layers), n))
    lcfg = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                      target_modules=cfg.target_modules, layers_to_transform=layers, bias="none",
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lcfg)


def _schedule(examples: Sequence[Example], cfg: TrainConfig, rng: random.Random) -> list[list[int]]:
    """The batches of the whole run, in order: fixed by the seed, so a resume replays it."""
    full_epochs = math.ceil(cfg.epochs)
    schedule: list[list[int]] = []
    for _ in range(full_epochs):
        schedule.extend(make_batches(examples, cfg.tokens_per_step, rng))
    return schedule[:max(1, int(len(schedule) * cfg.epochs / full_epochs))]


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then linear decay to 0 at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.lr * max(0.0, (total - step) / max(1, total - cfg.warmup_steps))


PRECISIONS = ("fp32", "bf16")


BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
"""/proc/cpuinfo flags of bf16 matmul instructions, on which torch's bf16 autocast pays: a LoRA
step ran 2.1x fp32 (dropout 0 vs the fp32 default; 1.77x at equal dropout) on a 2-core AMD EPYC
with AVX512-BF16 and 2.1x on an AMX Xeon (docs/training.md)."""


def resolve_precision(setting: str, flags: frozenset[str] | None = None) -> str:
    """``fp32``/``bf16`` as given; ``auto`` = bf16 where the CPU has bf16 matmul instructions
    (:data:`BF16_FLAGS`: Intel AMX-BF16, or AVX512-BF16 as on AMD Zen 4 EPYC; ``flags`` default to
    this machine's /proc/cpuinfo), else fp32. Resolved once, before training, and recorded in the
    run's config."""
    if setting in PRECISIONS:
        return setting
    if setting != "auto":
        raise ValueError(f"precision must be auto or one of {PRECISIONS}, not {setting!r}")
    if flags is None:
        from clave_lite.runtime.cpu import cpu_flags

        flags = cpu_flags()
    return "bf16" if flags & BF16_FLAGS else "fp32"


def autocast(model, precision: str):
    """The autocast context of ``precision`` on the model's device (a no-op context for fp32;
    ``train`` has checked the name once, before the first step)."""
    device = next(model.parameters()).device.type
    return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=precision == "bf16")


def _batch_loss(model, batch: Sequence[Example], label_ids: Sequence[int], pad_id: int, cfg: TrainConfig,
                weights) -> tuple[torch.Tensor, int]:
    """Weighted cross-entropy of the label tokens (+ the explanation tokens when the batch has them)."""
    items = [(e.shared, e.suffixes) for e in batch]
    targets = torch.tensor([t for e in batch for t in e.targets])
    with autocast(model, cfg.precision):
        if any(e.has_explanations for e in batch):
            logits, vocab_logits, text_targets = label_and_explanation_logits(
                model, items, [e.tails or [0] * len(e.suffixes) for e in batch],
                [e.learn_from or [0] * len(e.suffixes) for e in batch], label_ids, pad_id)
        else:
            logits, vocab_logits, text_targets = label_logits(model, items, label_ids, pad_id), None, None
    # the losses in fp32, whatever the matmuls ran in
    loss = torch.nn.functional.cross_entropy(logits.float(), targets, weight=weights)
    if text_targets is not None and len(text_targets):
        loss = loss + cfg.explain_weight * torch.nn.functional.cross_entropy(vocab_logits.float(), text_targets)
    return loss, len(targets)


def _save_checkpoint(ckpt: Path, model, optimizer, step: int, losses: list[float]) -> None:
    from peft.utils import get_peft_model_state_dict

    ckpt.mkdir(exist_ok=True)
    tmp = ckpt / "state.pt.tmp"
    torch.save({"adapter": get_peft_model_state_dict(model), "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(), "step": step, "losses": losses}, tmp)
    tmp.replace(ckpt / "state.pt")


def _restore(model, optimizer, ckpt: Path, resume: bool, init_adapter: Path | None,
             cfg: TrainConfig) -> tuple[int, list[float]]:
    """Warm start from an earlier adapter, then (``resume``) the checkpoint: (first step, losses)."""
    from peft import set_peft_model_state_dict

    if init_adapter is not None:
        set_peft_model_state_dict(model, load_adapter_weights(init_adapter, cfg))
    if resume and (ckpt / "state.pt").exists():
        state = torch.load(ckpt / "state.pt", weights_only=True)
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        return int(state["step"]), list(state["losses"])
    return 0, []


def train(
    model,
    examples: Sequence[Example],
    label_ids: Sequence[int],
    pad_id: int,
    out_dir: Path,
    cfg: TrainConfig,
    resume: bool = False,
    progress: Progress = SILENT,
    init_adapter: Path | None = None,
):
    """Train a LoRA adapter; checkpoints to ``out_dir/checkpoint`` and resumes from there.

    ``init_adapter`` (a peft adapter directory) warm-starts the LoRA from an earlier run, so a
    second pass over one system's data costs that pass only, not a retrain of everything.

    Returns the peft model (adapter attached) and a summary dict.
    """
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {cfg.precision!r}")
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "checkpoint"
    model = add_lora(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    schedule = _schedule(examples, cfg, rng)
    total = len(schedule)
    start_step, losses = _restore(model, optimizer, ckpt, resume, init_adapter, cfg)
    weights = label_weights(examples, len(label_ids), cfg.class_weight)
    model.train()
    started = time.time()
    n_pairs = 0
    progress.start("training", total)
    progress.advance(start_step)
    for step in range(start_step, total):
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, total, cfg)
        loss, pairs = _batch_loss(model, [examples[i] for i in schedule[step]], label_ids, pad_id, cfg, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(loss.item())
        n_pairs += pairs
        progress.advance(1, f"loss {losses[-1]:.3f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == total:
            _save_checkpoint(ckpt, model, optimizer, step + 1, losses)
    progress.finish()
    elapsed = time.time() - started
    model.eval()
    summary = {
        "steps": total, "resumed_from": start_step, "examples": len(examples),
        "pairs_trained_this_run": n_pairs, "seconds": round(elapsed, 1),
        "seconds_per_pair": round(elapsed / n_pairs, 4) if n_pairs else None,
        "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4) if losses else None,
        "config": asdict(cfg),
        "label_weights": [round(float(w), 4) for w in weights] if weights is not None else None,
    }
    (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return model, summary
