"""Micro-batching: many concurrent requests, one model, shared llama.cpp decodes.

One worker thread owns the evaluator. Requests put ``(texts, values)`` jobs into a bounded
queue; the worker takes the first waiting job and every other waiting job that asks for the
same values, up to ``max_batch`` texts, scores them in one call (texts share decodes), and
hands each job its slice. A full queue refuses at once (:class:`QueueFull`: the server answers
503 with ``Retry-After``) instead of letting latency grow without bound.

Each job's result travels in a :class:`concurrent.futures.Future`, and the worker follows that
class's protocol: it calls ``set_running_or_notify_cancel()`` before scoring a job, so a job
whose caller gave up (a request that timed out or whose client hung up cancels its future) is
dropped unscored, and a job being scored can no longer be cancelled, so resolving it never
fails. A scoring exception goes to the jobs of that batch; the worker lives on. Should the
worker itself ever die, every waiting job fails with :class:`WorkerDied`, :attr:`Batcher.failure`
says why and ``on_failure`` is called (the server then reports unhealthy and exits non-zero,
so a supervisor restarts it).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from clave_lite.errors import ClaveError

if TYPE_CHECKING:
    from clave_lite.runtime.evaluator import Evaluator


class QueueFull(ClaveError):
    """Too many requests are waiting; retry after a moment."""


class ShuttingDown(ClaveError):
    """The server is stopping: the job was not scored."""


class WorkerDied(ClaveError):
    """The scoring worker stopped on an unexpected error; the process must be restarted."""


@dataclass
class _Job:
    texts: list[str]
    values: tuple[str, ...]
    future: Future = field(default_factory=Future)
    call: Any = None
    """Instead of scoring: ``(fn, args)`` run on the worker (the model's one thread), alone."""


_STOP = object()


def _resolve(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    """Set a job's outcome; a future already resolved (failed at shutdown) keeps its first one."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


class Batcher:
    """Scores ``(texts, values)`` jobs from many threads on one evaluator, in shared batches."""

    def __init__(self, evaluator: Evaluator, system: str, max_batch: int = 16, max_queue: int = 64,
                 on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.evaluator, self.system, self.max_batch = evaluator, system, max_batch
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._held: list[_Job] = []  # taken from the queue but asking for other values than the batch
        self._on_failure = on_failure
        self._closing = False
        self._drain_until = float("inf")
        self.failure: BaseException | None = None
        self.batches = 0
        self.texts = 0
        self.dropped = 0
        """Jobs whose caller gave up before the worker reached them (never scored)."""
        self._worker = threading.Thread(target=self._run, name="clave-lite-batcher", daemon=True)
        self._worker.start()

    @property
    def waiting(self) -> int:
        return self._queue.qsize() + len(self._held)

    @property
    def alive(self) -> bool:
        """The worker is running and accepts jobs."""
        return self._worker.is_alive() and self.failure is None

    def submit(self, texts: Sequence[str], values: Sequence[str]) -> Future:
        """A future of one :class:`~clave_lite.runtime.evaluator.TextScore` per text."""
        return self._put(_Job(list(texts), tuple(values)))

    def call(self, fn, *args) -> Future:
        """Run ``fn(*args)`` on the worker thread (e.g. an explanation: it decodes on the model too)."""
        return self._put(_Job([], (), call=(fn, args)))

    def _put(self, job: _Job) -> Future:
        if self.failure is not None:
            raise WorkerDied(f"the scoring worker stopped: {self.failure!r}")
        if self._closing:
            raise ShuttingDown("the server is shutting down")
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull(f"{self._queue.maxsize} requests are already waiting") from None
        return job.future

    def shutdown(self, grace: float = 2.0) -> None:
        """Begin stopping (returns at once): refuse new jobs, keep scoring queued ones for
        ``grace`` seconds, then fail the rest with :class:`ShuttingDown`."""
        if self._closing:
            return
        self._closing = True
        self._drain_until = time.monotonic() + grace
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass  # the worker polls: it sees _closing within half a second

    def join(self, timeout: float) -> bool:
        """Wait for the worker to stop; True when it has (the evaluator is then free to close)."""
        self._worker.join(timeout=timeout)
        return not self._worker.is_alive()

    def close(self, grace: float = 2.0, wait: float = 30.0) -> bool:
        """:meth:`shutdown`, then :meth:`join` for up to ``grace + wait`` seconds."""
        self.shutdown(grace)
        stopped = self.join(grace + wait)
        self._fail_waiting(ShuttingDown("the server is shutting down"))
        return stopped

    def _fail_waiting(self, error: BaseException) -> None:
        jobs, self._held = self._held, []
        while True:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for job in jobs:
            if job is not _STOP:
                _resolve(job.future, error=error)

    def _take(self) -> list[_Job] | None:
        if self._closing and time.monotonic() > self._drain_until:
            return None
        if self._held:
            first = self._held.pop(0)
        else:
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                return [] if not self._closing or self.waiting else None
        if first is _STOP:
            return None if not self.waiting else []
        batch, n = [first], len(first.texts)
        while n < self.max_batch and first.call is None:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                continue  # closing is already set; drain what is left first
            if job.call is None and job.values == first.values and n + len(job.texts) <= self.max_batch:
                batch.append(job)
                n += len(job.texts)
            else:
                self._held.append(job)
        return batch

    def _start(self, batch: list[_Job]) -> list[_Job]:
        """The jobs still wanted, now marked running (so they can no longer be cancelled)."""
        started = [job for job in batch if job.future.set_running_or_notify_cancel()]
        self.dropped += len(batch) - len(started)
        return started

    def _run(self) -> None:
        try:
            while True:
                taken = self._take()
                if taken is None:
                    self._fail_waiting(ShuttingDown("the server is shutting down"))
                    return
                batch = self._start(taken)
                if batch:
                    self._process(batch)
        except BaseException as exc:  # a bug in the loop itself: say so everywhere, never hang
            self.failure = exc
            self._fail_waiting(WorkerDied(f"the scoring worker stopped: {exc!r}"))
            if self._on_failure is not None:
                self._on_failure(exc)

    def _process(self, batch: list[_Job]) -> None:
        if batch[0].call is not None:
            fn, args = batch[0].call
            try:
                _resolve(batch[0].future, fn(*args))
            except Exception as exc:
                _resolve(batch[0].future, error=exc)
            return
        texts = [t for job in batch for t in job.texts]
        try:
            results = self.evaluator.score(texts, list(batch[0].values), self.system, batch_size=len(texts))
        except Exception as exc:  # the requests get the error; the worker lives on
            for job in batch:
                _resolve(job.future, error=exc)
            return
        self.batches += 1
        self.texts += len(texts)
        start = 0
        for job in batch:
            _resolve(job.future, results[start:start + len(job.texts)])
            start += len(job.texts)
