"""The request pipeline, written once for every protocol (after KServe's ``protocol/dataplane.py``).

A protocol decodes its wire format into an :class:`InferenceRequest` (prices as an array shaped for
the model), calls :meth:`DataPlane.infer`, and encodes the :class:`InferenceResult`. Everything in
between happens here, the same way for /v1 and /v2: model lookup and readiness, limits, the price
rule, range warnings, the deadline, timing and metrics, the non-finite check and interval bounds.

One concurrency policy for both protocols (BENCHMARKS.md, docs/reliability.md): a request whose
model work is a handful of single steps runs right on the event loop, because a hop to a thread and
back costs more than the work, and it never waits behind heavy forecasts. Anything larger goes through
admission control (:mod:`service.dataplane.admission`): a bounded number at once in a pool sized to the
cores, a bounded queue, 503 beyond it, 504 for a request whose deadline (counted from its arrival)
passes in the queue, and a stop at the next step when its client disconnects. Small calls that may wait
on the micro-batcher take a thread of their own small pool, so the batcher can fill a batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import time_ns  # wall-clock times for a trace's spans (tests replace this module's ``time``)
from typing import Literal

import numpy as np

from forecast_core.predictor import DeadlineExceeded as StepsDeadlineExceeded
from service.core.config import Settings
from service.core.drift import count_kinds
from service.core.logs import note
from service.core.metrics import Metrics
from service.dataplane.admission import Admission
from service.dataplane.errors import ClientDisconnected, DeadlineExceeded, InvalidInput
from service.dataplane.model import ModelCard, ServedModel
from service.dataplane.registry import ModelRegistry
from service.dataplane.rules import Locator, check_finite_output, check_limit, check_prices, default_locator

log = logging.getLogger("service.dataplane")
#: Awaiting it returns once the client has disconnected.
Watch = Callable[[], Awaitable[None]]
# Model steps (windows x forecast steps x ensemble members) cheap enough to run on the event loop.
INLINE_MAX_STEPS = 8


@dataclass(frozen=True)
class InferenceRequest:
    """Prices shaped ``(n, *model.card.input_shape)``; ``horizon`` None asks for the next step only."""

    inputs: np.ndarray
    horizon: int | None = None
    intervals: tuple[int, ...] = ()
    #: How the protocol names the input in messages ("window", "windows", "input 'window'").
    field: str = "window"
    #: Names one element of ``inputs`` for a price error; defaults to ``field[i][j]``.
    locate: Locator | None = None
    #: When the request arrived (``time.monotonic()``): the deadline counts from here.
    received: float = dataclasses.field(default_factory=time.monotonic)
    #: Set by whoever knows the answer is no longer wanted (the dataplane sets it too when the client
    #: disconnects); a forecast stops at its next step once it is set.
    cancelled: threading.Event | None = None
    #: Awaiting it returns once the client has disconnected (None: the protocol cannot tell). The
    #: protocol builds it from its transport once the body is read, so work nobody will read can stop.
    client_gone: Watch | None = None
    #: A protocol that forecasts many series in one request (each step one model call for all of them)
    #: sets its own row limit here; None: ``max_batch`` rows for a predict, one window for a forecast.
    max_rows: int | None = None


@dataclass(frozen=True)
class InferenceResult:
    """Point values and bounds shaped ``(n, horizon, outputs)`` (horizon 1 for a next-step predict)."""

    model: str
    version: str
    kind: Literal["predict", "forecast"]
    outputs: tuple[str, ...]
    values: np.ndarray
    intervals: list[tuple[int, np.ndarray, np.ndarray]]
    warnings: list[str]


def _stop_rule(deadline: float, cancelled: threading.Event | None) -> Callable[[], bool]:
    """What a recursive forecast asks between steps: past the deadline, or no longer wanted (a client's
    disconnect, the server giving up on the request), it stops about one model call later."""
    if cancelled is None:
        return lambda: time.monotonic() > deadline
    return lambda: cancelled.is_set() or time.monotonic() > deadline


async def _until_gone(watch: Watch) -> None:
    """Returns once the client has disconnected; never, when the server cannot tell."""
    try:
        await watch()
    except Exception:  # a transport whose receive fails says nothing about the client: keep working
        log.warning("cannot watch the client for a disconnect", exc_info=True)
        await asyncio.Event().wait()


class DataPlane:
    """What both protocols call; raises only :mod:`service.dataplane.errors`."""

    def __init__(self, registry: ModelRegistry, settings: Settings, metrics: Metrics) -> None:
        self.registry, self._settings, self._metrics = registry, settings, metrics
        self.admission = Admission(settings.inflight_limit, settings.max_queue, metrics)
        self._light: concurrent.futures.ThreadPoolExecutor | None = None

    # --- metadata -----------------------------------------------------------------------------------

    def model(self, name: str, version: str | None = None) -> ServedModel:
        """The model to infer with (its current version, or ``version``): not found, unknown version or not
        ready raise domain errors."""
        return self.registry.get(name, version)

    def card(self, name: str, version: str | None = None) -> ModelCard:
        return self.registry.card(name) if version is None else self.registry.get(name, version).card

    def cards(self) -> list[ModelCard]:
        return self.registry.cards()

    # --- inference ----------------------------------------------------------------------------------

    async def infer(self, model: ServedModel, request: InferenceRequest) -> InferenceResult:
        rows = int(request.inputs.shape[0]) if request.inputs.ndim else 0
        note(model=model.name, version=model.version, rows=rows, horizon=request.horizon)  # the request log's
        steps = rows * (request.horizon or 1) * model.members
        if steps <= INLINE_MAX_STEPS:
            if not model.batched:
                return self.infer_sync(model, request)
            loop = asyncio.get_running_loop()
            # In the request's context: log lines from the thread name the request, and its notes reach its log.
            run = contextvars.copy_context().run
            return await loop.run_in_executor(self._light_pool(), run, self.infer_sync, model, request)
        cancelled = request.cancelled or threading.Event()
        if request.cancelled is None:
            request = dataclasses.replace(request, cancelled=cancelled)
        watch = request.client_gone
        gone = asyncio.ensure_future(_until_gone(watch)) if watch is not None else None
        if gone is not None:
            gone.add_done_callback(lambda f: None if f.cancelled() else cancelled.set())
        run = contextvars.copy_context().run
        note(admission_ns=time_ns())  # the admission wait's start (service/core/tracing.py)
        try:
            return await self.admission.run(
                model.name,
                lambda: run(self._infer_admitted, model, request),
                deadline=request.received + self._settings.request_timeout_s,
                timeout_s=self._settings.request_timeout_s,
                cancelled=cancelled,
                gone=gone,
            )
        except ClientDisconnected:
            self._metrics.requests_cancelled.labels(model.name).inc()
            raise
        finally:
            if gone is not None:
                gone.cancel()  # the answer is ready (or the request failed): stop listening

    def _light_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """Threads for small calls that may wait on the micro-batcher: enough to fill one batch."""
        if self._light is None:
            size = min(self._settings.batch_max_size, 64)
            self._light = concurrent.futures.ThreadPoolExecutor(max_workers=size, thread_name_prefix="batched")
        return self._light

    def _infer_admitted(self, model: ServedModel, request: InferenceRequest) -> InferenceResult:
        note(work_ns=time_ns())  # the admission wait's end
        return self.infer_sync(model, request)

    def infer_sync(self, model: ServedModel, request: InferenceRequest) -> InferenceResult:
        """The whole pipeline, synchronously (the thread pool's entry, and the tests')."""
        s, card = self._settings, model.card
        x = np.asarray(request.inputs, dtype=np.float64)
        self._check_input(card, x, request)
        horizon = request.horizon
        if horizon is not None:
            check_limit(horizon, s.max_horizon, "horizon", "max_value", "horizon")
        levels = self._check_levels(model, request.intervals)
        warnings = model.warnings(x)
        if warnings:  # drift signals: the callers' warnings counted too (service/core/drift.py)
            for warning_kind, n in count_kinds(warnings).items():
                self._metrics.input_warnings.labels(card.name, warning_kind).inc(n)
        started = time.perf_counter()
        note(model_ns=time_ns())  # the model's work, for a trace's "model" span
        if horizon is None:
            kind: Literal["predict", "forecast"] = "predict"
            values = model.predict(x)
        else:
            kind = "forecast"
            should_stop = _stop_rule(request.received + s.request_timeout_s, request.cancelled)
            try:
                if should_stop():
                    raise StepsDeadlineExceeded(0, horizon)
                values = model.forecast(x, horizon, should_stop)
            except StepsDeadlineExceeded as exc:
                if request.cancelled is not None and request.cancelled.is_set():
                    raise ClientDisconnected(exc.steps_done) from None
                raise DeadlineExceeded(s.request_timeout_s, exc.steps_done, exc.horizon) from None
        note(model_end_ns=time_ns())
        series = self._metrics.per_model(card.name, kind)
        elapsed = time.perf_counter() - started
        series.inference_seconds.observe(elapsed)
        self._metrics.per_version(card.name, model.version).observe(elapsed)
        series.predictions.inc(x.shape[0] * (horizon or 1))
        if kind == "predict":
            series.batch_size.observe(x.shape[0])
        check_finite_output(values, request.field)
        bounds = [(level, *model.interval_bounds(level, values, x)) for level in levels]
        if levels and horizon is not None and horizon > model.interval_max_horizon:
            h = model.interval_max_horizon
            warnings.append(
                f"intervals beyond step {h} are not calibrated: they widen like a random walk's, by sqrt(h / {h})"
            )
        return InferenceResult(card.name, model.version, kind, card.outputs, values, bounds, warnings)

    def _check_input(self, card: ModelCard, x: np.ndarray, request: InferenceRequest) -> None:
        if x.ndim != 1 + len(card.input_shape) or x.shape[1:] != card.input_shape:
            expected = ", ".join(str(d) for d in ("N", *card.input_shape))
            raise InvalidInput(
                request.field,
                "shape",
                f"windows of shape [{expected}] expected, got {list(x.shape)}",
                f"shape [{expected}]",
            )
        rows = x.shape[0]
        if rows < 1:
            raise InvalidInput(request.field, "min_length", "holds no window", "at least one window")
        limit = request.max_rows or self._settings.max_batch
        if rows > limit:
            raise InvalidInput(
                request.field, "max_batch", f"batch of {rows} windows is over the limit of {limit}", f"at most {limit}"
            )
        if request.horizon is not None and rows != 1 and request.max_rows is None:
            raise InvalidInput(request.field, "one_window", f"a forecast takes exactly one window, got {rows}")
        check_prices(x, request.locate or default_locator(request.field))

    @staticmethod
    def _check_levels(model: ServedModel, levels: tuple[int, ...]) -> tuple[int, ...]:
        if not levels:
            return ()
        have = model.interval_levels
        if not have:
            raise InvalidInput(
                "intervals",
                "available",
                "this model's artifacts carry no interval calibration",
                "no calibrated intervals",
            )
        missing = [level for level in levels if level not in have]
        if missing:
            raise InvalidInput(
                "intervals",
                "calibrated_level",
                f"levels {missing} are not calibrated (have {list(have)})",
                f"one of {list(have)}",
            )
        return tuple(levels)
