"""Score a Parquet corpus of short rows: peak memory stays flat as the corpus grows, and a run
killed with SIGKILL resumes to exactly the output of an uninterrupted one.

    python benchmarks/parquet_flat_memory.py --rows 10000 -o docs/results/parquet-10k.json

Three runs of ``clave-lite score CORPUS.parquet -o OUT.parquet --values Security``: on the
first tenth of the corpus, on all of it (peak RSS of both, sampled from /proc every 0.2 s and
from the kernel's high-water mark), and on all of it again killed at about a third and resumed
with ``--resume``; the resumed file must equal the uninterrupted one, row for row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUBJECTS = ["I", "We", "They", "She", "He", "My neighbour", "The company", "Our team"]
VERBS = ["helped", "ignored", "cheated", "protected", "thanked", "lied to", "supported", "robbed"]
OBJECTS = ["the old man", "a stranger", "the children", "their rivals", "the community", "a friend", "the poor"]


def corpus(path: Path, rows: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    texts = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} (#{i})." for i in range(rows)]
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(rows)], "text": texts}), path, row_group_size=1000)


def cpu_model() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def cmd(src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "clave_lite.cli", "score", str(src), "-o", str(out), "--values", "Security", *extra]


def vm(pid: int, key: str) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def run(args: list[str], kill_when=None) -> dict:
    """Run ``args``; sample its RSS; with ``kill_when`` (a callable), SIGKILL it once that holds."""
    t0 = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples, peak = [], 0
    while proc.poll() is None:
        rss = vm(proc.pid, "VmRSS")
        peak = max(peak, vm(proc.pid, "VmHWM"))
        samples.append(rss)
        if kill_when is not None and kill_when():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.2)
    proc.wait()
    err = proc.stderr.read() if proc.stderr else ""
    return {"seconds": round(time.monotonic() - t0, 1), "returncode": proc.returncode, "peak_rss_mib": peak,
            "rss_mib_at_25_50_75_pct_of_run": [samples[int(len(samples) * q)] for q in (0.25, 0.5, 0.75)] if samples else [],
            "stderr_tail": err[-300:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    import pyarrow.parquet as pq

    work = Path(tempfile.mkdtemp(prefix="clave-parquet-bench-"))
    big, small = work / "corpus.parquet", work / "tenth.parquet"
    corpus(big, args.rows)
    corpus(small, args.rows // 10)
    result: dict = {"rows": args.rows, "machine": f"{cpu_model()}, {os.cpu_count()} CPUs",
                    "command": " ".join(cmd(big, work / "a.parquet"))}
    result["tenth"] = run(cmd(small, work / "tenth-out.parquet"))
    result["full"] = run(cmd(big, work / "a.parquet"))
    parts = work / "b.parquet.parts"
    third = args.rows // 3
    result["killed"] = run(cmd(big, work / "b.parquet"),
                           kill_when=lambda: parts.is_dir() and len(list(parts.glob("part-*.parquet"))) * 256 >= third)
    result["killed"]["parts_kept"] = len(list(parts.glob("part-*.parquet")))
    result["resumed"] = run(cmd(big, work / "b.parquet", "--resume"))
    a, b = pq.read_table(work / "a.parquet"), pq.read_table(work / "b.parquet")
    result["resumed_equals_uninterrupted"] = a.equals(b)
    result["rows_per_second_full"] = round(args.rows / result["full"]["seconds"], 2)
    result["peak_rss_ratio_full_vs_tenth"] = round(result["full"]["peak_rss_mib"] / max(1, result["tenth"]["peak_rss_mib"]), 3)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=1))


if __name__ == "__main__":
    main()
