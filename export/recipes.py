"""The two bake-time jobs the CLI runs: ``train`` (tuples → adapter run dir) and ``export``
(run dir → evaluator file). A run directory holds everything export needs::

    run/adapter/          peft LoRA adapter (adapter_config.json, adapter_model.safetensors)
    run/run.json          base model, value systems, template, label tokens, data fingerprint
    run/checkpoint/       resumable training state
    run/train_summary.json
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from clave_lite import __version__
from clave_lite.base_models import base_path, card
from clave_lite.errors import DataError
from clave_lite.export.dataset import build_examples, fingerprint
from clave_lite.export.torch_model import load_base
from clave_lite.export.train import TrainConfig, train
from clave_lite.llamacpp import LlamaModel, usable_cpus
from clave_lite.manifest import Manifest
from clave_lite.merge import build_evaluator
from clave_lite.prompt import PromptEncoder, PromptTemplate
from clave_lite.tuples import LabelledTuple, read_tuples
from clave_lite.valuesystem import ValueSystem, load_system


def load_training_tuples(paths: Sequence[Path], system: str | None, on_error: str,
                         max_texts: int | None, seed: int) -> dict[str, list[LabelledTuple]]:
    """Tuples grouped by value system (``--system`` or each tuple's own ``system`` field)."""
    grouped: dict[str, list[LabelledTuple]] = defaultdict(list)
    for path in paths:
        tuples, _ = read_tuples(path, None, on_error)
        for t in tuples:
            name = t.system or system
            if not name:
                raise DataError(f"{path}: tuple for text {t.key[:40]!r} names no system; pass --system")
            grouped[name].append(t)
    if max_texts:
        rng = random.Random(seed)
        for name, tuples in grouped.items():
            keys = sorted({t.key for t in tuples})
            if len(keys) > max_texts:
                keep = set(rng.sample(keys, max_texts))
                grouped[name] = [t for t in tuples if t.key in keep]
    return dict(grouped)


def train_run(paths: Sequence[Path], out_dir: Path, system: str | None = None, base: str = "gemma3-270m",
              cfg: TrainConfig | None = None, resume: bool = False, on_error: str = "stop",
              max_texts: int | None = None, max_unrelated: int | None = None, base_file: Path | None = None,
              progress: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
    cfg = cfg or TrainConfig()
    torch.set_num_threads(usable_cpus())
    grouped = load_training_tuples(paths, system, on_error, max_texts, cfg.seed)
    systems: list[ValueSystem] = [load_system(name) for name in grouped]
    base_gguf = Path(base_file) if base_file else base_path(base)
    vocab = LlamaModel(base_gguf, vocab_only=True)
    template = PromptTemplate()
    encoder = PromptEncoder(template, vocab.tokenize)
    examples = []
    for s in systems:
        for t in grouped[s.name]:
            s.get(t.value)  # unknown values fail here, naming the value and the system
            if t.label not in s.labels:
                raise DataError(f"label '{t.label}' is not used by system '{s.name}'")
        examples += build_examples(grouped[s.name], s, encoder, seed=cfg.seed, max_unrelated=max_unrelated)
    all_tuples = [t for ts in grouped.values() for t in ts]
    model, rd = load_base(base_gguf)
    pad = model.config.pad_token_id
    model, summary = train(model, examples, encoder.label_ids, int(pad) if pad is not None else 0,
                           out_dir, cfg, resume=resume, progress=progress)
    model.save_pretrained(out_dir / "adapter")
    run = {
        "clave_lite_version": __version__,
        "base": base if not base_file else str(base_file),
        "base_card": card(base) if not base_file else {"file": str(base_file)},
        "systems": [s.to_dict() for s in systems],
        "template": template.to_dict(),
        "label_token_ids": encoder.label_ids,
        "data": {"files": [str(p) for p in paths], "fingerprint": fingerprint(all_tuples),
                 "tuples": {s.name: len(grouped[s.name]) for s in systems},
                 "texts": {s.name: len({t.key for t in grouped[s.name]}) for s in systems},
                 "max_texts": max_texts, "max_unrelated": max_unrelated},
        "train": summary,
    }
    (out_dir / "run.json").write_text(json.dumps(run, indent=2, ensure_ascii=False))
    return run


def export_run(run_dir: Path, out: Path, quant: str = "q8_0", keep_f32: bool = False) -> Path:
    run_path = run_dir / "run.json"
    if not run_path.exists():
        raise DataError(f"{run_dir}: not a training run (no run.json); run `clave-lite train` first")
    run = json.loads(run_path.read_text())
    base = Path(run["base"]) if Path(run["base"]).suffix == ".gguf" else base_path(run["base"])
    return build_evaluator(base, run_dir / "adapter", Manifest.from_run(run), out, quant=quant, keep_f32=keep_f32)
