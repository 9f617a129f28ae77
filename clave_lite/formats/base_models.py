"""Base models come from PyPI weight packages (no model hub exists on air-gapped sites).

Each base has a model card in ``models/cards/`` (installed as ``clave_lite.models``) with its
package, file and sha256. A base file is used only after its sha256 matches the card: a
corrupted or substituted base would otherwise silently become a corrupted evaluator.
"""

from __future__ import annotations

import hashlib
import importlib.util
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from clave_lite.errors import ModelError
from clave_lite.paths import subdir

DEFAULT_BASE = "gemma3-270m"


def cards() -> dict[str, dict[str, Any]]:
    folder = resources.files("clave_lite.models") / "cards"
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            card = yaml.safe_load(entry.read_text(encoding="utf-8"))
            out[card["name"]] = card
    return out


def card(name: str) -> dict[str, Any]:
    known = cards()
    if name not in known:
        raise ModelError(f"unknown base model '{name}'; known: {', '.join(sorted(known))}")
    return known[name]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_dir(module: str, pip_package: str) -> Path:
    spec = importlib.util.find_spec(module)  # locate without importing (some pull heavy deps)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"base model package missing: pip install {pip_package}")
    return Path(list(spec.submodule_search_locations)[0])


def base_path(name: str = DEFAULT_BASE) -> Path:
    """The verified GGUF file of base ``name`` (assembled into the user dir if needed)."""
    c = card(name)
    if c["how_to_get"] == "package_file":
        path = _package_dir(c["module"], c["pip_package"]) / c["file"]
    else:
        path = subdir("bases") / c["file"]
        if not path.exists() or path.stat().st_size != c.get("size_bytes", path.stat().st_size):
            _package_dir(c["module"], c["pip_package"])
            import importlib

            pkg = importlib.import_module(c["module"])
            tmp = path.with_name(path.name + ".tmp")
            pkg.assemble(tmp, overwrite=True)
            tmp.replace(path)
    if not path.exists():
        raise ModelError(f"base model file {path} is missing; reinstall {c['pip_package']}")
    # Hashing 250 MB takes ~1 s: remember a verified (path, size, mtime) in the user dir.
    stamp = subdir("bases") / f"{name}.verified"
    mtime = f"{path}\n{path.stat().st_size}\n{path.stat().st_mtime_ns}"
    if not (stamp.exists() and stamp.read_text() == mtime):
        digest = sha256_file(path)
        if digest != c["sha256"]:
            raise ModelError(f"{path}: sha256 {digest[:16]}… does not match the model card "
                             f"({c['sha256'][:16]}…); reinstall {c['pip_package']}")
        stamp.write_text(mtime)
    return path
