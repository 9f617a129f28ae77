"""The embedded default evaluator: a small committed LoRA adapter, merged into the installed
base package on first use and cached in the user directory.

Shipping the adapter (megabytes) instead of an evaluator (hundreds of megabytes) keeps the
package small; building needs only numpy, ``gguf`` and llama.cpp, no torch and no network.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path

from clave_lite.errors import ModelError, Remedy
from clave_lite.formats.manifest import Manifest
from clave_lite.paths import file_lock, subdir
from clave_lite.progress import SILENT, Progress

DEFAULT_QUANT = "q8_0"


def default_dir() -> Path:
    """The embedded default's run directory (adapter, run.json, train_keys.json, lexical.json.gz) inside the
    installed package: what `score` builds from, and what `train --init-from default` starts at."""
    return Path(str(resources.files("clave_lite.models") / "default"))


def has_default() -> bool:
    d = default_dir()
    return (d / "run.json").exists() and (d / "adapter" / "adapter_model.safetensors").exists()


def default_evaluator_path(progress: Progress = SILENT) -> Path:
    """Path of the built default evaluator, building it first if needed (~1 minute)."""
    from clave_lite.build.lexical import read_layers
    from clave_lite.build.merge import build_evaluator
    from clave_lite.formats.base_models import base_path

    d = default_dir()
    if not has_default():
        raise ModelError("this build of clave-lite ships no embedded default evaluator (build one with "
                         "`clave-lite train` and `clave-lite export`)", remedies=(Remedy("model", "FILE"),), lead="pass")
    lexical = d / "lexical.json.gz"
    h = hashlib.sha256()
    for f in (d / "run.json", d / "adapter" / "adapter_model.safetensors", d / "adapter" / "adapter_config.json",
              lexical):
        if f.exists():
            h.update(f.read_bytes())
    target = subdir("models") / f"default-{h.hexdigest()[:12]}-{DEFAULT_QUANT}.gguf"
    if target.exists():
        return target
    with file_lock(target):  # many processes of one machine (Ray actors, server workers) build it once
        if target.exists():
            return target
        run = json.loads((d / "run.json").read_text())
        progress.note(f"building the default evaluator into {target} (first use only) ...")
        base = base_path(run["base"])
        tmp = target.with_name(f"{target.name}.{os.getpid()}.building.gguf")
        try:
            layers = read_layers(lexical) if lexical.exists() else None
            build_evaluator(base, d / "adapter", Manifest.from_run(run, layers), tmp, quant=DEFAULT_QUANT)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    return target
