"""Prometheus metrics, one registry per app so tests can build fresh apps side by side."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Up to 10 s, the default request deadline (FORECAST_REQUEST_TIMEOUT_S), so a p99 near it can be seen.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_WARNINGS_HELP = "Input warnings returned to callers, by model and kind (above_range, below_range, bars, ...)"
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ModelSeries(NamedTuple):
    inference_seconds: Histogram
    predictions: Counter
    batch_size: Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.requests = Counter(
            "http_requests", "HTTP requests by route template and status", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        # multiprocess_mode: how each gauge combines over forecast-serve's workers (service/core/multiproc.py,
        # docs/observability.md); with one worker it changes nothing.
        self.in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being handled now", registry=r, multiprocess_mode="livesum"
        )
        self.ready = Gauge(
            "forecast_ready",
            "1 while /readyz answers 200 (every configured model loaded), else 0",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.predictions = Counter(
            "forecast_predictions",
            "Values predicted, by model and kind (predict/forecast)",
            ["model", "kind"],
            registry=r,
        )
        self.inference_seconds = Histogram(
            "forecast_model_inference_seconds",
            "Model time per request, by model and kind",
            ["model", "kind"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        # By version, so that a canary and the current version can be compared live.
        self.version_seconds = Histogram(
            "forecast_version_inference_seconds",
            "Model time per request, by model and version",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "forecast_batch_size", "Windows per predict request", ["model"], buckets=_BATCH_BUCKETS, registry=r
        )
        self.model_batch_size = Histogram(
            "forecast_model_batch_size",
            "Rows per model call after micro-batching",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "forecast_batch_queue_depth",
            "Single-window calls waiting for a model call",
            ["model"],
            registry=r,
            multiprocess_mode="livesum",
        )
        # Admission control (service/dataplane/admission.py): what it refused, and what it holds now.
        self.requests_shed = Counter(
            "forecast_requests_shed",
            "Requests refused before any model work, by model and reason (queue_full: 503, deadline: 504)",
            ["model", "reason"],
            registry=r,
        )
        self.requests_cancelled = Counter(
            "forecast_requests_cancelled",
            "Requests whose client disconnected before the answer, so their work was stopped",
            ["model"],
            registry=r,
        )
        self.work_running = Gauge(
            "forecast_work_running", "Model computations running in the pool", registry=r, multiprocess_mode="livesum"
        )
        self.work_queued = Gauge(
            "forecast_work_queued", "Requests waiting for a model slot", registry=r, multiprocess_mode="livesum"
        )
        info_labels = ["model", "version", "backend"]
        self.model_info = Gauge(
            "forecast_model_info", "Loaded models (1 = serving)", info_labels, registry=r, multiprocess_mode="livemax"
        )
        # Drift signals: the input warnings callers get (out of the training range, implausible bars),
        # counted by model and kind (service/core/drift.py names the kinds).
        self.input_warnings = Counter("forecast_input_warnings", _WARNINGS_HELP, ["model", "kind"], registry=r)
        self.version_load_failures = Counter(
            "forecast_model_version_load_failures",
            "Model set versions that failed verification when loaded (the set kept serving its current one)",
            ["set"],
            registry=r,
        )
        self._per_version: dict[tuple[str, str], Any] = {}
        self._per_model: dict[tuple[str, str], ModelSeries] = {}

    def per_version(self, model: str, version: str) -> Any:
        """The by-version latency series of one model version, looked up once (see :meth:`per_model`)."""
        series = self._per_version.get((model, version))
        if series is None:
            series = self._per_version[(model, version)] = self.version_seconds.labels(model, version)
        return series

    def per_model(self, model: str, kind: str) -> ModelSeries:
        """One model's series for one kind of work, looked up once: ``labels()`` takes a lock and builds
        its key on every call, which three times a request is as much as a small model call."""
        series = self._per_model.get((model, kind))
        if series is None:
            series = ModelSeries(
                self.inference_seconds.labels(model, kind),
                self.predictions.labels(model, kind),
                self.batch_size.labels(model),
            )
            self._per_model[(model, kind)] = series
        return series


# The methods a label may name: HTTP/1.1's own (RFC 9110) and PATCH. Any other method a client makes up is
# counted as "other", so made-up methods cannot add series (h11 passes any token as a method).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def method_label(method: str) -> str:
    """``method`` when it is a standard HTTP method, else ``other``."""
    return method if method in METHODS else "other"


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware overhead); labels routes by template, never raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        self.metrics.in_flight.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            count, latency = self._series(method_label(scope["method"]), template, status)
            count.inc()
            latency.observe(time.perf_counter() - started)

    def _series(self, method: str, template: str, status: int) -> tuple[Counter, Histogram]:
        """The counter and histogram children of one (method, route, status): ``labels()`` takes a lock
        and builds its key each call, a few µs a request; the label sets are few (templates, not paths)."""
        key = (method, template, status)
        series = self._children.get(key)
        if series is None:
            m = self.metrics
            series = (m.requests.labels(method, template, str(status)), m.request_seconds.labels(method, template))
            self._children[key] = series
        return series
