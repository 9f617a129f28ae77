"""``python -m clave_lite.calibration.llm_server``: llama-cpp-python's OpenAI-compatible server with
clave-lite's CPU-path decision applied (see :mod:`clave_lite.runtime.cpu`).

``python -m llama_cpp.server`` loads models through the high-level ``Llama`` class, which does
not expose ``use_extra_bufts``; on an AMX CPU it then dies with SIGILL at the first request.
This entry point patches the one load function every ``Llama`` goes through, then hands over
to llama-cpp-python's own server ``main`` with the same arguments (``--model``, ``--port``, ...).
"""

from __future__ import annotations

from clave_lite.runtime import cpu


def patch_llama_cpp() -> None:
    """Route every ``llama_model_load_from_file`` through :func:`clave_lite.runtime.cpu.apply` (idempotent)."""
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_load_from_file
    if getattr(original, "_clave_lite_patched", False):
        return

    def load(path_model, params):
        cpu.apply(params)
        return original(path_model, params)

    load._clave_lite_patched = True  # type: ignore[attr-defined]
    lib.llama_model_load_from_file = load


def main() -> None:
    patch_llama_cpp()
    from llama_cpp.server.__main__ import main as server_main

    server_main()


if __name__ == "__main__":
    main()
