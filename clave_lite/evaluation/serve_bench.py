"""``clave-lite bench --serve``: a bounded load test of ``clave-lite serve`` on loopback.

Two servers are started in turn on the same evaluator: one that micro-batches concurrent
requests (``--max-batch 16``) and one that scores one request at a time (``--max-batch 1``).
Each gets the same load: ``clients`` threads, each sending ``requests`` one-text moderation
requests back to back, under a time cap. Reported per server: requests/s, p50/p95 latency,
errors, and the server's peak RSS (``VmHWM``) after a warm-up and at the end (flat = no growth
under load); and the micro-batching gain, the ratio of the two request rates in one run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Sequence

from clave_lite.errors import ClaveError
from clave_lite.progress import SILENT, Progress


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _post(url: str, text: str, timeout: float) -> int:
    req = urllib.request.Request(url, data=json.dumps({"input": text}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def _load(url: str, texts: Sequence[str], clients: int, requests: int, cap_s: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + cap_s

    def client(k: int) -> None:
        nonlocal errors
        for i in range(requests):
            if time.monotonic() > stop_at:
                return
            t0 = time.perf_counter()
            code = _post(url, texts[(k * requests + i) % len(texts)], cap_s)
            with lock:
                if code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else None

    return {"requests_ok": len(latencies), "errors": errors, "seconds": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 3) if wall else None,
            "p50_ms": pct(0.50), "p95_ms": pct(0.95)}


def _one_server(model: Path, max_batch: int, texts: Sequence[str], clients: int, requests: int,
                cap_s: float) -> dict[str, Any]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "clave_lite.cli", "serve", "--model", str(model), "--port", str(port),
                             "--max-batch", str(max_batch), "--max-queue", str(4 * clients)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ClaveError(f"serve did not start: {(proc.stderr.read() if proc.stderr else '')[-500:]}")
                time.sleep(0.3)
        _load(base + "/v1/moderations", texts, clients, 2, cap_s)  # warm-up
        rss_warm = _peak_rss_mib(proc.pid)
        result = _load(base + "/v1/moderations", texts, clients, requests, cap_s)
        with urllib.request.urlopen(base + "/health", timeout=5) as r:
            health = json.loads(r.read())
        result.update(max_batch=max_batch, peak_rss_mib_after_warmup=rss_warm, peak_rss_mib_end=_peak_rss_mib(proc.pid),
                      texts_per_decode=round(health["texts"] / health["batches"], 2) if health["batches"] else None)
        return result
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            result_code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            result_code = None
        if result_code not in (0, None):
            raise ClaveError(f"serve exited {result_code} on SIGTERM")


def bench_serve(model: Path, texts: Sequence[str], clients: int = 8, requests: int = 50, cap_s: float = 300.0,
                progress: Progress = SILENT) -> dict[str, Any]:
    """The load test of the module docstring: micro-batched vs one request at a time."""
    runs = {}
    for name, max_batch in (("batched", 16), ("one_at_a_time", 1)):
        progress.note(f"bench --serve: {name} (max batch {max_batch}): {clients} clients x {requests} requests")
        runs[name] = _one_server(model, max_batch, texts, clients, requests, cap_s)
    gain = (runs["batched"]["requests_per_s"] / runs["one_at_a_time"]["requests_per_s"]
            if runs["one_at_a_time"]["requests_per_s"] else None)
    return {"model": str(model), "clients": clients, "requests_per_client": requests, "time_cap_s": cap_s,
            "runs": runs, "micro_batching_gain": round(gain, 2) if gain else None}
