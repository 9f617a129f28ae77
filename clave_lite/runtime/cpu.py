"""Which llama.cpp CPU paths are safe on this machine, decided once for every model load.

llama-cpp-python builds llama.cpp from source with native flags. On a CPU with AMX (Intel
Sapphire Rapids and later: ``amx_tile``/``amx_int8`` in /proc/cpuinfo) that build contains
llama.cpp's AMX "extra buffer type", and in llama-cpp-python 0.3.36 that path dies with SIGILL
at ``tileloadd`` (upstream: ggml-org/llama.cpp PR #26954). Loading a model with
``llama_model_params.use_extra_bufts = False`` never enters it. Extra buffer types also carry
llama.cpp's weight repacking on AVX2/AVX-512, so they are turned off only where AMX is present
(measured in docs/benchmarks.md); ``CLAVE_LITE_EXTRA_BUFTS=on|off|auto`` overrides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16", "amx_fp16", "amx_complex"})
ENV = "CLAVE_LITE_EXTRA_BUFTS"


@dataclass(frozen=True)
class BuftDecision:
    """Whether models load with llama.cpp's extra buffer types, and why."""

    use_extra_bufts: bool
    reason: str
    amx: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"use_extra_bufts": self.use_extra_bufts, "reason": self.reason, "cpu_amx_flags": list(self.amx)}


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the kernel reports (the first processor's ``flags`` line); empty
    where there is no /proc/cpuinfo (macOS, Windows)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def decide(flags: frozenset[str], setting: str | None = None) -> BuftDecision:
    """The decision for a CPU with ``flags``; ``setting`` is the environment override."""
    amx = tuple(sorted(flags & AMX_FLAGS))
    setting = (setting or "auto").strip().lower()
    if setting in ("on", "1", "true"):
        return BuftDecision(True, f"{ENV}={setting}", amx)
    if setting in ("off", "0", "false"):
        return BuftDecision(False, f"{ENV}={setting}", amx)
    if setting != "auto":
        from clave_lite.errors import UsageError

        raise UsageError(f"{ENV} must be on, off or auto, not {setting!r}")
    if amx:
        return BuftDecision(False, f"CPU reports AMX ({', '.join(amx)}): llama.cpp's AMX path crashes (SIGILL)", amx)
    return BuftDecision(True, "no AMX on this CPU: extra buffer types (weight repacking) stay on", amx)


@lru_cache(maxsize=1)
def current() -> BuftDecision:
    """The decision for this process's CPU and environment (read once)."""
    return decide(cpu_flags(), os.environ.get(ENV))


def apply(params) -> None:
    """Set the decision on a ``llama_model_params`` struct before ``llama_model_load_from_file``."""
    if hasattr(params, "use_extra_bufts"):
        params.use_extra_bufts = current().use_extra_bufts


def llama_features() -> dict[str, object]:
    """What llama.cpp was built with and uses here: its system-info line (e.g. ``AVX2 = 1 |
    AMX_INT8 = 1``) and the extra-buffer-type decision."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    info = info.decode(errors="replace") if isinstance(info, bytes) else str(info)
    return {"llama_cpp_python": getattr(llama_cpp, "__version__", "?"), "system_info": info.strip(),
            **current().to_dict()}
