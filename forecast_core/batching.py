"""Micro-batching: concurrent single-window calls share one model call.

Like TF Serving's batching or Triton's dynamic batcher, but without a scheduler thread: the first
caller to find the model idle becomes the *leader* and runs a batch of everything queued so far;
callers arriving meanwhile queue up and are served together by the next leader. At concurrency 1
nothing ever waits. With others in flight, a leader may wait up to ``max_wait_s`` for the batch to
fill; each caller gets back exactly its own row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from forecast_core.backends.base import Backend


@dataclass
class _Request:
    row: np.ndarray
    wake: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    result: np.ndarray | None = None
    error: BaseException | None = None


class BatchingBackend:
    """Wraps a backend; single-row calls from many threads are merged, larger batches pass through."""

    def __init__(
        self,
        inner: Backend,
        max_batch: int = 64,
        max_wait_s: float = 0.0002,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.window = inner.window
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch  # (batch size, queue depth left) for metrics
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._leader_busy = False

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        if windows.shape[0] != 1:
            return self.inner.predict(windows)
        request = _Request(np.asarray(windows[0], dtype=np.float32))
        with self._cond:
            self._queue.append(request)
            lead = not self._leader_busy
            if lead:
                self._leader_busy = True
            else:
                self._cond.notify_all()  # a leader waiting for its batch to fill may now go
        if not lead:
            request.wake.wait()
        if not request.finished:  # the first caller, or promoted by the previous leader
            self._lead(request)
        if request.error is not None:
            raise request.error
        return np.asarray(request.result)[None]

    def _lead(self, own: _Request) -> None:
        """Run batches until ``own`` is answered, then hand the leader role to the next in line.

        Handing over (rather than draining the queue) keeps a leader's latency bounded under load.
        """
        while not own.finished:
            with self._cond:
                if 1 < len(self._queue) < self.max_batch and self.max_wait_s > 0:
                    # Others are in flight: give the batch a moment to fill.
                    deadline = time.perf_counter() + self.max_wait_s
                    while len(self._queue) < self.max_batch:
                        left = deadline - time.perf_counter()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                depth = len(self._queue)
            try:
                out = self.inner.predict(np.stack([r.row for r in batch]))
                for r, value in zip(batch, out, strict=True):
                    r.result = value  # a row of the batch's output: a scalar or one value per column
            except BaseException as exc:  # every caller of the failed batch learns about it
                for r in batch:
                    r.error = exc
            for r in batch:
                r.finished = True
                if r is not own:
                    r.wake.set()
            if self._on_batch is not None:
                self._on_batch(len(batch), depth)
        with self._cond:
            if self._queue:
                self._queue[0].wake.set()  # woken without a result: it takes over as leader
            else:
                self._leader_busy = False
