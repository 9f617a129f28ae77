"""Where a scoring process's memory and cold start go, stage by stage (Linux: /proc/self/smaps_rollup).

    python benchmarks/memory_breakdown.py MODEL.gguf fulcra-dev.jsonl [--texts 8] > out.json

Stages: Python imports; llama.cpp model load (file-backed = the mmap'd weights; anonymous =
llama.cpp's own structures); context (KV cache, compute scratch and the logits rows llama.cpp
keeps per output); the clave-lite manifest (value systems; lexical layers as read); the lexical
layer of the system scored, parsed; scoring TEXTS. Each stage also says the seconds it took
(``seconds``): the parts of ``bench``'s cold start.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

_CLOCK = [time.perf_counter()]


def _mib(kb: str) -> float:
    return round(int(kb.split()[0]) / 1024, 1)


def snapshot() -> dict[str, float]:
    rollup = {line.split(":")[0]: line.split(":")[1].strip()
              for line in Path(f"/proc/{os.getpid()}/smaps_rollup").read_text().splitlines()[1:]}
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    now = time.perf_counter()
    seconds, _CLOCK[0] = round(now - _CLOCK[0], 3), now
    return {"seconds": seconds, "rss_mib": _mib(rollup["Rss"]), "anonymous_mib": _mib(rollup["Anonymous"]),
            "file_backed_mib": round(_mib(rollup["Rss"]) - _mib(rollup["Anonymous"]), 1),
            "peak_rss_mib": _mib(status["VmHWM"].strip())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("data", type=Path)
    ap.add_argument("--texts", type=int, default=8)
    a = ap.parse_args()
    stages = {"start": snapshot()}
    from clave_lite.evaluation.bench import distinct_texts
    from clave_lite.formats.manifest import read_gguf_manifest
    from clave_lite.runtime.backends import gguf
    from clave_lite.runtime.evaluator import Evaluator
    from clave_lite.runtime.llamacpp import LlamaContext, LlamaModel, usable_cpus

    stages["imports"] = snapshot()
    model = LlamaModel(a.model)
    stages["model"] = snapshot()
    ctx = LlamaContext(model, n_ctx=gguf.N_CTX, n_batch=gguf.N_CTX, n_seq_max=gguf.MAX_SEQUENCES,
                       threads=usable_cpus(), n_ubatch=gguf.N_UBATCH)
    stages["context"] = snapshot()
    manifest = read_gguf_manifest(a.model)
    stages["manifest"] = snapshot()
    manifest.lexical_layer(manifest.default_system)
    stages["lexical layer"] = snapshot()
    ctx.close()
    model.close()
    stages["closed"] = snapshot()
    with Evaluator.load(a.model) as ev:  # the whole evaluator, as `score` loads it (bench's cold start)
        stages["evaluator"] = snapshot()
        ev.resolve_values()
        stages["resolved"] = snapshot()
        ev.score(distinct_texts(a.data, a.texts))
        stages["scored"] = snapshot()
    print(json.dumps({"model": str(a.model), "model_bytes": a.model.stat().st_size, "texts": a.texts,
                      "n_ctx": gguf.N_CTX, "max_sequences": gguf.MAX_SEQUENCES, "stages": stages}, indent=1))


if __name__ == "__main__":
    main()
