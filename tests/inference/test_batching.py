"""Micro-batching: merged calls, each caller gets its own row, errors reach every caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from forecast_core.batching import BatchingBackend

WAIT = 30.0  # seconds before a wait that should end at once is called a failure


class RecordingBackend:
    """Row sums as predictions; records each call's batch size; slow enough for requests to pile up."""

    kind = "test"
    window = 7

    def __init__(self, delay: float = 0.002, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.delay, self.fail = delay, fail
        self._lock = threading.Lock()

    def predict(self, windows: np.ndarray) -> np.ndarray:
        with self._lock:
            self.calls.append(len(windows))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("backend broke")
        return windows.sum(axis=1).astype(np.float32)


def _hammer(backend: BatchingBackend, threads: int, calls: int) -> list[tuple[float, float]]:
    results: list[tuple[float, float]] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(calls):
            x = rng.random((1, 7)).astype(np.float32)
            got = float(backend.predict(x)[0])
            with lock:
                results.append((got, float(x.sum(dtype=np.float32))))

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    return results


def test_concurrent_callers_get_their_own_rows_in_shared_batches() -> None:
    inner = RecordingBackend()
    backend = BatchingBackend(inner, max_batch=8, max_wait_s=0.0005)
    results = _hammer(backend, threads=24, calls=40)
    assert len(results) == 24 * 40
    for got, want in results:
        assert got == pytest.approx(want, rel=1e-6)
    assert sum(inner.calls) == 24 * 40
    assert max(inner.calls) <= 8
    assert backend.queue_depth == 0


class GatedBackend(RecordingBackend):
    """The first call blocks until ``gate`` is set (a model call in progress), the others return at once."""

    def __init__(self) -> None:
        super().__init__(delay=0.0)
        self.entered, self.gate = threading.Event(), threading.Event()

    def predict(self, windows: np.ndarray) -> np.ndarray:
        if not self.calls:
            self.entered.set()
            assert self.gate.wait(WAIT), "never released"
        return super().predict(windows)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {WAIT} s"
        time.sleep(0.001)


def test_callers_arriving_during_a_model_call_are_answered_together_by_the_next_one() -> None:
    """While the first call runs (held by a gate), six more callers queue; released, they share one call."""
    inner = GatedBackend()
    backend = BatchingBackend(inner, max_batch=8, max_wait_s=0.0)
    results: dict[int, float] = {}

    def call(i: int) -> None:
        results[i] = float(backend.predict(np.full((1, 7), float(i), dtype=np.float32))[0])

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert inner.entered.wait(WAIT)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, 7)]
    for t in others:
        t.start()
    wait_until(lambda: backend.queue_depth == 6, "six callers queued behind the model call")
    inner.gate.set()
    for t in [first, *others]:
        t.join(WAIT)
        assert not t.is_alive(), "a caller never got its answer"
    assert inner.calls == [1, 6]
    assert results == {i: pytest.approx(7.0 * i) for i in range(7)}
    assert backend.queue_depth == 0


class NoWaitCondition(threading.Condition):
    """A condition variable on which a wait fails the test at once (instead of taking its time)."""

    def wait(self, timeout: float | None = None) -> bool:
        raise AssertionError(f"waited (up to {timeout} s) for a batch to fill")


def test_single_caller_is_never_batched_or_delayed() -> None:
    inner = RecordingBackend(delay=0.0)
    backend = BatchingBackend(inner, max_batch=64, max_wait_s=3600)  # a wait that must never apply
    backend._cond = NoWaitCondition()  # never waits for a batch to fill
    for i in range(20):
        assert backend.predict(np.full((1, 7), float(i), dtype=np.float32))[0] == pytest.approx(7.0 * i)
    assert inner.calls == [1] * 20


def test_larger_batches_pass_straight_through() -> None:
    inner = RecordingBackend(delay=0.0)
    backend = BatchingBackend(inner, max_batch=4)
    x = np.arange(70, dtype=np.float32).reshape(10, 7)
    np.testing.assert_allclose(backend.predict(x), x.sum(axis=1))
    assert inner.calls == [10]


def test_a_failing_batch_fails_every_caller_and_recovers() -> None:
    inner = RecordingBackend(fail=True)
    backend = BatchingBackend(inner, max_batch=8)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            backend.predict(np.ones((1, 7), dtype=np.float32))
        except RuntimeError as exc:
            errors.append(exc)

    pool = [threading.Thread(target=call) for _ in range(10)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=30)
    assert len(errors) == 10
    inner.fail = False
    assert backend.predict(np.ones((1, 7), dtype=np.float32))[0] == pytest.approx(7.0)
