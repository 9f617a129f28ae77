"""Ray Data on one machine: throughput with 1 and 2 scoring actors, and each actor's memory.

    python benchmarks/ray_actors.py --rows 160 -o docs/results/ray-actors.json

Scores the same short rows (one value, the default evaluator, ``batch_size=1``) through
``score_dataset`` on a local Ray with 1 actor × 1 CPU and 2 actors × 1 CPU, and with
single-process ``clave-lite score --threads 1`` / ``--threads 2`` beside them, in one run so the
ratios compare like with like. Each actor's peak RSS is read from /proc (VmHWM) while it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from parquet_flat_memory import corpus, cpu_model  # noqa: E402


def actor_peaks(stop: threading.Event, seen: dict[int, int]) -> None:
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
                if b"RayScorer" not in cmd:
                    continue
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmHWM:"):
                        seen[int(pid)] = max(seen.get(int(pid), 0), int(line.split()[1]) // 1024)
            except OSError:
                continue
        time.sleep(0.3)


def on_ray(src: Path, actors: int) -> dict:
    import ray

    from clave_lite.engines.ray_data import score_dataset

    seen: dict[int, int] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=actor_peaks, args=(stop, seen), daemon=True)
    watcher.start()
    t0 = time.monotonic()
    import pyarrow.parquet as pq

    # in memory: with 2 actors holding both CPUs, a read_parquet task would wait for a CPU forever
    ds = ray.data.from_arrow(pq.read_table(src))
    rows = score_dataset(ds, values=["Security"], actors=actors, cpus_per_actor=1, rows_per_call=16).take_all()
    seconds = time.monotonic() - t0
    stop.set()
    watcher.join()
    return {"actors": actors, "cpus_per_actor": 1, "rows": len(rows), "seconds": round(seconds, 1),
            "rows_per_second": round(len(rows) / seconds, 2), "actor_peak_rss_mib": sorted(seen.values())}


def single(src: Path, out: Path, threads: int) -> dict:
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "clave_lite.cli", "score", str(src), "-o", str(out), "--force",
                           "--values", "Security", "--batch-size", "1", "--threads", str(threads)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1000:]
    seconds = time.monotonic() - t0
    import pyarrow.parquet as pq

    n = pq.ParquetFile(out).metadata.num_rows
    return {"threads": threads, "rows": n, "seconds": round(seconds, 1), "rows_per_second": round(n / seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=160)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    import ray

    work = Path(tempfile.mkdtemp(prefix="clave-ray-bench-"))
    src = work / "corpus.parquet"
    corpus(src, args.rows)
    result: dict = {"machine": f"{cpu_model()}, {os.cpu_count()} CPUs", "rows": args.rows,
                    "ray": ray.__version__, "single_process": [single(src, work / f"s{t}.parquet", t) for t in (1, 2)]}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    result["ray_data"] = [on_ray(src, a) for a in (1, 2)]
    ray.shutdown()
    one, two = result["ray_data"]
    result["two_actors_vs_one"] = round(two["rows_per_second"] / one["rows_per_second"], 2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
