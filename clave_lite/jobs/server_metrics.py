"""``GET /metrics`` of ``clave-lite serve``, in Prometheus' text format (``prometheus_client``).

Each server has its own registry: requests by path and status, request latency, scoring
timeouts, texts flagged and truncated, batch sizes, queue depth, jobs dropped because their
caller had given up, and whether the scoring worker is alive.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("clave_lite_requests", "HTTP requests answered", ["path", "status"], registry=r)
        self.latency = Histogram("clave_lite_request_seconds", "Time to answer a request", ["path"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.timeouts = Counter("clave_lite_timeouts", "Requests answered 504 (no scores in time)", registry=r)
        self.texts = Counter("clave_lite_texts_decided", "Texts given a moderation decision", ["flagged"], registry=r)
        self.truncated = Counter("clave_lite_texts_truncated", "Texts the evaluator read only in part", registry=r)
        self._batcher: Any = None
        Gauge("clave_lite_queue_depth", "Jobs waiting for the model", registry=r).set_function(
            lambda: self._batcher.waiting if self._batcher else 0)
        Gauge("clave_lite_worker_alive", "1 while the scoring worker runs", registry=r).set_function(
            lambda: 1 if self._batcher and self._batcher.alive else 0)
        Gauge("clave_lite_batches", "Shared decodes run", registry=r).set_function(
            lambda: self._batcher.batches if self._batcher else 0)
        Gauge("clave_lite_batched_texts", "Texts scored in shared decodes", registry=r).set_function(
            lambda: self._batcher.texts if self._batcher else 0)
        Gauge("clave_lite_dropped_jobs", "Jobs dropped unscored because their request had given up",
              registry=r).set_function(lambda: self._batcher.dropped if self._batcher else 0)

    def watch(self, batcher: Any) -> None:
        self._batcher = batcher

    def request(self, path: str, status: int, seconds: float) -> None:
        known = path if path.startswith(("/v1/", "/beta/", "/health", "/ready", "/metrics")) else "other"
        self.requests.labels(known, str(status)).inc()
        self.latency.labels(known).observe(seconds)

    def decided(self, flagged: bool, truncated: bool) -> None:
        self.texts.labels("true" if flagged else "false").inc()
        if truncated:
            self.truncated.inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
