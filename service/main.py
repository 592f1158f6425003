"""The app factory: wires settings, metrics, the model registry, middleware and routes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from fastapi import FastAPI

from service import __version__
from service.api import health, metrics, repository
from service.api.auth import KeyGuard
from service.api.docs import install_docs
from service.api.errors import install_dataplane_errors
from service.api.hot import add_hot_routes
from service.api.timeseries.routes import hot_routes as timeseries_hot_routes
from service.api.v1.routes import hot_routes as v1_hot_routes
from service.api.v1.routes import router as v1_router
from service.api.v2.routes import hot_routes as v2_hot_routes
from service.api.v2.routes import router as v2_router
from service.core import tracing
from service.core.config import Settings
from service.core.errors import install_error_handlers
from service.core.limits import BodyLimitMiddleware
from service.core.metrics import Metrics, MetricsMiddleware
from service.core.requestlog import RequestLogMiddleware
from service.dataplane import DataPlane, ModelRegistry
from service.dataplane.reloader import Reloader

DESCRIPTION = """Next-step and recursive multi-step forecasts of daily prices from LSTM and GRU models (and
their mean, the ensembles), trained offline by `forecast-train`: `lstm`, `gru`, `ensemble` on one price
column (IBM's High), `ohlc-lstm`, `ohlc-gru`, `ohlc-ensemble` on Open/High/Low/Close bars of any ticker.
Inputs and outputs are in price units; every input window holds the model's window length of
consecutive trading days, oldest first (see `GET /v1/models` for each model's inputs)."""


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    registry: ModelRegistry = app.state.dataplane.registry
    reloader = Reloader(registry, app.state.settings.poll_s)
    app.state.reloader = reloader
    # Load in a worker thread: the server answers /healthz (and /readyz 503) while models load; then the
    # repository is read again on the poll timer and on SIGHUP.
    loading = asyncio.create_task(asyncio.to_thread(registry.load))
    loading.add_done_callback(lambda _: reloader.start())
    # Only where the app runs in the main thread (forecast-serve, not a test client's portal thread).
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reloader.request)
    try:
        yield
    finally:
        reloader.stop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(loading), timeout=30)
        provider = getattr(app.state, "tracer_provider", None)
        if provider is not None:  # tracing on: the spans still batched are exported before the worker exits
            await asyncio.to_thread(provider.shutdown)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    docs = settings.docs_enabled
    app = FastAPI(
        title="Stock forecast service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs and /redoc are service.api.docs' own pages, which load nothing from outside the service.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app_metrics = Metrics()
    app.state.settings = settings
    app.state.metrics = app_metrics
    app.state.dataplane = DataPlane(ModelRegistry(settings, app_metrics), settings, app_metrics)
    install_error_handlers(app)
    install_dataplane_errors(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # The hot routes after their protocol's others: /openapi.json lists paths in route order.
    app.include_router(v1_router)
    add_hot_routes(app, v1_hot_routes)
    add_hot_routes(app, timeseries_hot_routes)
    app.include_router(v2_router)
    add_hot_routes(app, v2_hot_routes)
    if settings.admin_key is not None:  # the repository API exists only with its own key
        app.include_router(repository.router)
    if docs:
        install_docs(app, "/openapi.json")
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, max_header_bytes=settings.max_header_bytes
    )
    if settings.api_keys:
        # Outside the body guard: a request to a protected route without the key is refused from its
        # headers, before any body is buffered or parsed (service/api/auth.py).
        app.add_middleware(KeyGuard, settings=settings, routes=app.router.routes)
    app.add_middleware(MetricsMiddleware, metrics=app_metrics)  # outermost: counts 401/413/415 too
    if tracing.enabled():  # OTEL_* variables name an endpoint; else nothing of OpenTelemetry is imported
        tracing.install(app)
    # Outside the metrics: every response carries its X-Request-ID, and the request log times it all.
    app.add_middleware(RequestLogMiddleware, settings=settings)
    return app
