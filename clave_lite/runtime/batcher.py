"""Micro-batching: many concurrent requests, one model, shared llama.cpp decodes.

One worker thread owns the evaluator. Requests put ``(texts, values)`` jobs into a bounded
queue; the worker takes the first waiting job and every other waiting job that asks for the
same values, up to ``max_batch`` texts, scores them in one call (texts share decodes), and
hands each job its slice. A full queue refuses at once (:class:`QueueFull`: the server answers
503 with ``Retry-After``) instead of letting latency grow without bound.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Sequence

from clave_lite.errors import ClaveError


class QueueFull(ClaveError):
    """Too many requests are waiting; retry after a moment."""


@dataclass
class _Job:
    texts: list[str]
    values: tuple[str, ...]
    future: Future = field(default_factory=Future)
    call: Any = None
    """Instead of scoring: ``(fn, args)`` run on the worker (the model's one thread), alone."""


_STOP = object()


class Batcher:
    """Scores ``(texts, values)`` jobs from many threads on one evaluator, in shared batches."""

    def __init__(self, evaluator: Any, system: str, max_batch: int = 16, max_queue: int = 64) -> None:
        self.evaluator, self.system, self.max_batch = evaluator, system, max_batch
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._held: list[_Job] = []  # taken from the queue but asking for other values than the batch
        self.batches = 0
        self.texts = 0
        self._worker = threading.Thread(target=self._run, name="clave-lite-batcher", daemon=True)
        self._worker.start()

    @property
    def waiting(self) -> int:
        return self._queue.qsize() + len(self._held)

    def submit(self, texts: Sequence[str], values: Sequence[str]) -> Future:
        """A future of one :class:`~clave_lite.runtime.evaluator.TextScore` per text."""
        job = _Job(list(texts), tuple(values))
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull(f"{self._queue.maxsize} requests are already waiting") from None
        return job.future

    def call(self, fn, *args) -> Future:
        """Run ``fn(*args)`` on the worker thread (e.g. an explanation: it decodes on the model too)."""
        job = _Job([], (), call=(fn, args))
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull(f"{self._queue.maxsize} requests are already waiting") from None
        return job.future

    def close(self) -> None:
        """Finish the jobs already queued, then stop the worker."""
        self._queue.put(_STOP)
        self._worker.join(timeout=600)

    def _take(self) -> list[_Job] | None:
        first = self._held.pop(0) if self._held else self._queue.get()
        if first is _STOP:
            return None
        batch, n = [first], len(first.texts)
        while n < self.max_batch and first.call is None:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                self._queue.put(_STOP)
                break
            if job.call is None and job.values == first.values and n + len(job.texts) <= self.max_batch:
                batch.append(job)
                n += len(job.texts)
            else:
                self._held.append(job)
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if batch[0].call is not None:
                fn, args = batch[0].call
                try:
                    batch[0].future.set_result(fn(*args))
                except BaseException as exc:
                    batch[0].future.set_exception(exc)
                continue
            texts = [t for job in batch for t in job.texts]
            try:
                results = self.evaluator.score(texts, list(batch[0].values), self.system, batch_size=len(texts))
            except BaseException as exc:  # the requests get the error; the worker lives on
                for job in batch:
                    job.future.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(texts)
            start = 0
            for job in batch:
                job.future.set_result(results[start:start + len(job.texts)])
                start += len(job.texts)
