"""The micro-batcher behind `serve`, on the real default evaluator: cancelled jobs are dropped,
running ones always resolve, and a worker that dies says so instead of hanging its callers."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from clave_lite.jobs.batcher import Batcher, ShuttingDown, WorkerDied
from clave_lite.runtime.evaluator import Evaluator

TEXT = "Volunteering at the shelter taught me patience."


@pytest.fixture(scope="module")
def evaluator(default_model):
    with Evaluator.load(default_model[1]) as ev:
        yield ev


def test_a_cancelled_job_is_dropped_and_the_worker_goes_on(evaluator):
    b = Batcher(evaluator, "schwartz10", max_batch=4)
    try:
        b.call(lambda: b._queue.qsize()).result(timeout=60)  # the worker is up
        gate = threading.Event()
        blocker = b.call(gate.wait, 60)  # holds the worker, so the next job waits in the queue
        waiting = b.submit([TEXT], ("Benevolence",))
        assert waiting.cancel()  # what asyncio.wait_for does when a request times out
        gate.set()
        blocker.result(timeout=60)
        scored = b.submit([TEXT], ("Benevolence",)).result(timeout=120)
        assert scored[0].scores[0].value == "Benevolence"
        assert b.dropped == 1 and b.alive
        with pytest.raises(CancelledError):
            waiting.result(timeout=0)
    finally:
        assert b.close(grace=0, wait=60)


def test_a_dead_worker_fails_its_callers_and_reports(evaluator, monkeypatch):
    failures: list[BaseException] = []
    b = Batcher(evaluator, "schwartz10", on_failure=failures.append)
    b.call(lambda: None).result(timeout=60)
    gate = threading.Event()
    blocker = b.call(gate.wait, 60)
    queued = b.submit([TEXT], ("Benevolence",))

    def broken(self):  # a bug in the loop itself (fault injection: nothing else reaches this path)
        raise RuntimeError("bug in the batching loop")

    monkeypatch.setattr(Batcher, "_take", broken)
    gate.set()
    blocker.result(timeout=60)
    with pytest.raises(WorkerDied):
        queued.result(timeout=60)
    assert not b.alive and isinstance(failures[0], RuntimeError)
    with pytest.raises(WorkerDied):
        b.submit([TEXT], ("Benevolence",))


def test_shutdown_scores_within_the_grace_and_refuses_the_rest(evaluator):
    b = Batcher(evaluator, "schwartz10", max_batch=1)
    gate = threading.Event()
    blocker = b.call(gate.wait, 60)
    jobs = [b.submit([TEXT], ("Benevolence",)) for _ in range(3)]
    b.shutdown(grace=0)
    with pytest.raises(ShuttingDown):
        b.submit([TEXT], ("Benevolence",))
    gate.set()
    blocker.result(timeout=60)
    assert b.join(60)
    for job in jobs:
        with pytest.raises(ShuttingDown):
            job.result(timeout=10)
