"""OpenTelemetry tracing, off unless the standard ``OTEL_*`` variables ask for it.

On when an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``:
then each request is a span (``POST /v1/models/{name}/predict``), a child of the caller's when it sends a
W3C ``traceparent``, with child spans for the wait for a model slot (``admission wait``) and the model's
work (``model``), exported over OTLP/HTTP (protobuf) by the SDK's batch processor, which reads every other
``OTEL_*`` variable itself (headers, timeouts, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``). Its trace and span ids go into the request's log lines.

Off, nothing of OpenTelemetry is imported (this module imports it only in :func:`install`), and a
request pays nothing for it. The child spans are built from times the dataplane notes on the request
(``note``, service/core/logs.py), with explicit start and end: the model runs in a pool thread, and
this way the dataplane needs no tracing code of its own. Needs the ``otel`` extra
(``pip install 'stock-forecast[otel]'``).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.logs import REQUEST

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVICE_NAME = "stock-forecast"
# (first note, last note, span name): the child spans, from the times DataPlane notes (ns since the epoch).
CHILDREN = (("admission_ns", "work_ns", "admission wait"), ("model_ns", "model_end_ns", "model"))
# What the request log notes about the model, as span attributes.
ATTRIBUTES = {"model": "forecast.model", "version": "forecast.version", "rows": "forecast.rows"}


def enabled(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether the OTEL_* variables ask for traces (an endpoint set, the SDK and the exporter not off)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def install(app: FastAPI) -> None:
    """Set up the SDK in this process (one provider per worker, after the fork) and trace ``app``."""
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:  # asked for traces without the extra: say so at start, not per request
        raise RuntimeError(
            "OTEL_EXPORTER_OTLP_ENDPOINT asks for traces but OpenTelemetry's SDK is not installed: "
            "pip install 'stock-forecast[otel]', or unset the variable"
        ) from exc

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over this default (Resource.create).
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    app.state.tracer_provider = provider  # shut down (flushed) with the app: service/main.py's lifespan
    app.add_middleware(TracingMiddleware, tracer=provider.get_tracer("service"), trace_api=trace)


class TracingMiddleware:
    """Pure ASGI middleware inside the request log's: a span per HTTP request, children from the notes."""

    def __init__(self, app: ASGIApp, tracer: Any, trace_api: Any) -> None:
        from opentelemetry.propagate import extract

        self.app, self.tracer, self.trace, self.extract = app, tracer, trace_api, extract

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        kind = self.trace.SpanKind.SERVER
        with self.tracer.start_as_current_span(scope["method"], context=self.extract(carrier), kind=kind) as span:
            info = REQUEST.get()
            context = span.get_span_context()
            if info is not None:  # the log lines of this request name its trace
                info["trace_id"] = format(context.trace_id, "032x")
                info["span_id"] = format(context.span_id, "016x")
            try:
                await self.app(scope, receive, send_status)
            finally:
                self._finish(span, scope, status, info)

    def _finish(self, span: Any, scope: Scope, status: int, info: dict[str, Any] | None) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        span.update_name(f"{scope['method']} {route}")
        span.set_attribute("http.request.method", scope["method"])
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(self.trace.Status(self.trace.StatusCode.ERROR))
        if info is None:
            return
        span.set_attribute("forecast.request_id", info["request_id"])
        attributes = {ATTRIBUTES[k]: info[k] for k in ATTRIBUTES if info.get(k) is not None}
        if info.get("horizon") is not None:
            attributes["forecast.horizon"] = info["horizon"]
        span.set_attributes(attributes)
        parent = self.trace.set_span_in_context(span)
        for first, last, name in CHILDREN:
            if first in info:
                end = info.get(last, time.time_ns())
                child = self.tracer.start_span(name, context=parent, start_time=info[first], attributes=attributes)
                child.end(end_time=end)
