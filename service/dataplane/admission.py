"""Admission control for model work (after TF Serving's and Triton's bounded queues).

A worker runs at most ``slots`` model computations at once, in its own pool of ``slots`` threads (sized
to the cores: more threads than cores only share the same CPUs and the GIL more finely, and the event
loop, which answers the probes, is one more contender). Up to ``queue`` more requests wait for a slot, in
arrival order; beyond that a request is refused at once with :class:`Overloaded` (503 + ``Retry-After``),
which costs the server microseconds instead of a computation nobody may wait for.

A queued request keeps its deadline, counted from its arrival: if no slot frees up in time it is refused
with a 504 before anything is computed. If its client disconnects it leaves the queue at once, and once
running it stops at the next forecast step (the dataplane's stop rule asks ``cancelled``).

State is plain counters and futures created on the caller's event loop, so one ``Admission`` serves
any number of loops one after another (the tests run several), and the thread pool is a standard
``ThreadPoolExecutor``, which belongs to no loop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from service.core.metrics import Metrics
from service.dataplane.errors import ClientDisconnected, DeadlineExceeded, Overloaded

T = TypeVar("T")


class Admission:
    """``slots`` computations at once in a dedicated pool, ``queue`` more waiting, the rest refused."""

    def __init__(self, slots: int, queue: int, metrics: Metrics) -> None:
        self.slots, self.queue = slots, queue
        self._running = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=slots, thread_name_prefix="model")
        self._shed, self._gauges = metrics.requests_shed, (metrics.work_running, metrics.work_queued)

    @property
    def running(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._waiting)

    async def run(
        self,
        model: str,
        work: Callable[[], T],
        *,
        deadline: float,
        timeout_s: float,
        cancelled: threading.Event,
        gone: asyncio.Future[None] | None = None,
    ) -> T:
        """``work()`` in the pool once a slot is free; raises :class:`Overloaded` when the queue is full,
        :class:`DeadlineExceeded` when ``deadline`` passes while queued, :class:`ClientDisconnected`
        when ``gone`` completes first. ``cancelled`` is set whenever the caller stops waiting."""
        await self._acquire(model, deadline, timeout_s, gone)
        try:
            if cancelled.is_set() or (gone is not None and gone.done()):
                raise ClientDisconnected(0)
            future = asyncio.get_running_loop().run_in_executor(self._pool, work)
        except BaseException:
            self._release()
            raise
        try:
            # Shielded: when this task is cancelled the thread cannot be, so it is told to stop at its
            # next step instead and keeps its slot until it has (the pool never runs more than ``slots``).
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        finally:
            if future.done():
                self._release()
            else:
                future.add_done_callback(self._release_after)

    async def _acquire(self, model: str, deadline: float, timeout_s: float, gone: asyncio.Future[None] | None) -> None:
        if self._running < self.slots and not self._waiting:
            self._running += 1
            self._update()
            return
        if len(self._waiting) >= self.queue:
            self._shed.labels(model, "queue_full").inc()
            raise Overloaded(self._running, len(self._waiting))
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(slot)
        self._update()
        waits: set[asyncio.Future[None]] = {slot} if gone is None else {slot, gone}
        try:
            left = max(0.0, deadline - time.monotonic())
            await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled while waiting: give back whatever this request holds
            self._leave(slot)
            raise
        granted = slot.done()
        if not granted:
            self._leave(slot)
        # A slot handed over at the very moment the client left or time ran out goes to the next in line.
        if gone is not None and gone.done():
            if granted:
                self._release()
            raise ClientDisconnected(0)
        if not granted:
            self._shed.labels(model, "deadline").inc()
            raise DeadlineExceeded(timeout_s, queued=True)

    def _leave(self, slot: asyncio.Future[None]) -> None:
        """Stop waiting: pass the slot on if it was just handed over, else leave the queue."""
        if slot.done() and not slot.cancelled():
            self._release()
            return
        slot.cancel()
        self._waiting.remove(slot)
        self._update()

    def _release(self) -> None:
        """Hand the slot to the longest waiting request, or free it."""
        while self._waiting:
            slot = self._waiting.popleft()
            if not slot.done():
                slot.set_result(None)
                self._update()
                return
        self._running -= 1
        self._update()

    def _release_after(self, future: asyncio.Future[T]) -> None:
        if not future.cancelled():
            future.exception()  # retrieved: its caller has gone, and asyncio would log it as lost
        self._release()

    def _update(self) -> None:
        self._gauges[0].set(self._running)
        self._gauges[1].set(len(self._waiting))
