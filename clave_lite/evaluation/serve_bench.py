"""``clave-lite bench --serve``: a bounded load test of ``clave-lite serve`` on loopback.

Two servers are started in turn on the same evaluator: one that micro-batches concurrent
requests (``--max-batch 16``) and one that scores one request at a time (``--max-batch 1``).
Each gets the same load: ``clients`` threads, each sending ``requests`` one-text moderation
requests back to back, under a time cap, twice: before and after a burst of requests too large
to answer within the server's ``--timeout`` (each of ``clients`` requests carries 64 texts), which
all get 504. Reported per server and phase: requests/s, p50/p95 latency, errors; the burst's
status codes and the jobs the server dropped unscored; the server's peak RSS (``VmHWM``) after a
warm-up and at the end (flat = no growth under load); and the micro-batching gain, the ratio of
the two request rates in one run. "After" equal to "before" with no errors is what a server that
survives timeouts looks like.
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
from dataclasses import asdict, dataclass
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


SERVER_TIMEOUT_S = 10.0
BURST_TEXT = "Some text about helping people and values, written at length to take time. " * 6


def _post(url: str, text: str | list[str], timeout: float) -> int:
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


@dataclass(frozen=True)
class Load:
    """One load of ``clients`` threads sending one-text requests back to back."""

    requests_ok: int
    errors: int
    seconds: float
    requests_per_s: float | None
    p50_ms: float | None
    p95_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load(url: str, texts: Sequence[str], clients: int, requests: int, cap_s: float) -> Load:
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

    return Load(len(latencies), errors, round(wall, 2), round(len(latencies) / wall, 3) if wall else None,
                pct(0.50), pct(0.95))


def _burst(url: str, clients: int) -> dict[str, int]:
    """``clients`` concurrent requests of 64 long texts each: more than the server answers in
    its timeout, so they end 504; the status codes, counted."""
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(_post(url, [BURST_TEXT] * 64, 4 * SERVER_TIMEOUT_S)))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {str(c): codes.count(c) for c in sorted(set(codes))}


def _health(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(base + "/health", timeout=5) as r:
        return json.loads(r.read())


def _settle(base: str, cap_s: float = 120.0) -> None:
    """Wait until the server has finished whatever the burst left it scoring."""
    deadline, last = time.monotonic() + cap_s, None
    while time.monotonic() < deadline:
        now = _health(base)
        if now["waiting"] == 0 and last is not None and now["batches"] == last["batches"]:
            return
        last = now
        time.sleep(2.0)


def wait_ready(url: str, proc: subprocess.Popen, what: str, timeout: float = 180.0) -> None:
    """Poll ``url`` until it answers; a process that exits, or ``timeout`` seconds, is an error
    carrying the end of its output."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stderr if proc.stderr is not None else proc.stdout
                raise ClaveError(f"{what} did not start: {(output.read() if output else '')[-2000:]}") from None
            time.sleep(0.3)


@dataclass(frozen=True)
class ServerRun:
    """One server under the load test: the load before and after a burst of requests that time out."""

    before: Load
    after_timeouts: Load
    burst_status_codes: dict[str, int]
    """How many of the burst's requests ended with each HTTP status."""
    jobs_dropped: int
    """Jobs the server dropped unscored after the burst."""
    max_batch: int
    server_timeout_s: float
    peak_rss_mib_after_warmup: float | None
    peak_rss_mib_end: float | None
    worker_alive: bool
    texts_per_decode: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.before.to_dict(), "after_timeouts": self.after_timeouts.to_dict(),
                "timeout_burst": {"status_codes": self.burst_status_codes, "jobs_dropped": self.jobs_dropped},
                "max_batch": self.max_batch, "server_timeout_s": self.server_timeout_s,
                "peak_rss_mib_after_warmup": self.peak_rss_mib_after_warmup, "peak_rss_mib_end": self.peak_rss_mib_end,
                "worker_alive": self.worker_alive, "texts_per_decode": self.texts_per_decode}


def _one_server(model: Path, max_batch: int, texts: Sequence[str], clients: int, requests: int,
                cap_s: float) -> ServerRun:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "clave_lite.cli", "serve", "--model", str(model), "--port", str(port),
                             "--max-batch", str(max_batch), "--max-queue", str(4 * clients),
                             "--timeout", str(SERVER_TIMEOUT_S), "--on-truncated", "score"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/health", proc, "serve")
        url = base + "/v1/moderations"
        _load(url, texts, clients, 2, cap_s)  # warm-up
        rss_warm = _peak_rss_mib(proc.pid)
        before = _load(url, texts, clients, requests, cap_s)
        steady = _health(base)  # texts per decode under the load itself, before the burst's big jobs
        burst = _burst(url, clients)
        _settle(base)
        after = _load(url, texts, clients, requests, cap_s)
        health = _health(base)
        return ServerRun(before, after, burst, health["dropped"], max_batch, SERVER_TIMEOUT_S, rss_warm,
                         _peak_rss_mib(proc.pid), health["status"] == "ok",
                         round(steady["texts"] / steady["batches"], 2) if steady["batches"] else None)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            result_code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            result_code = None
        if result_code not in (0, None):
            raise ClaveError(f"serve exited {result_code} on SIGTERM")


@dataclass(frozen=True)
class ServeBench:
    """What :func:`bench_serve` measures; ``to_dict()`` is the JSON ``bench --serve`` prints."""

    model: str
    clients: int
    requests_per_client: int
    time_cap_s: float
    runs: dict[str, ServerRun]
    """``batched`` and ``one_at_a_time``."""
    command: str | None = None
    """The command line that ran the benchmark (set by the CLI)."""

    @property
    def micro_batching_gain(self) -> float | None:
        """Requests/s micro-batched over requests/s one at a time."""
        batched, one = self.runs["batched"].before.requests_per_s, self.runs["one_at_a_time"].before.requests_per_s
        gain = (batched or 0.0) / one if one else None
        return round(gain, 2) if gain else None

    def to_dict(self) -> dict[str, Any]:
        out = {"model": self.model, "clients": self.clients, "requests_per_client": self.requests_per_client,
               "time_cap_s": self.time_cap_s, "runs": {k: r.to_dict() for k, r in self.runs.items()},
               "micro_batching_gain": self.micro_batching_gain}
        if self.command is not None:
            out["command"] = self.command
        return out


def bench_serve(model: Path, texts: Sequence[str], clients: int = 8, requests: int = 50, cap_s: float = 300.0,
                progress: Progress = SILENT) -> ServeBench:
    """The load test of the module docstring: micro-batched vs one request at a time."""
    runs = {}
    for name, max_batch in (("batched", 16), ("one_at_a_time", 1)):
        progress.note(f"bench --serve: {name} (max batch {max_batch}): {clients} clients x {requests} requests")
        runs[name] = _one_server(model, max_batch, texts, clients, requests, cap_s)
    return ServeBench(str(model), clients, requests, cap_s, runs)
