"""Prometheus scrape endpoint: open by default, behind the API key with ``FORECAST_METRICS_REQUIRE_KEY``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.deps import API_KEY_HEADER, MetricsDep, check_api_key
from service.core import multiproc

router = APIRouter(tags=["probes"])


def scrape_key(request: Request) -> str | None:
    """The key a scraper sent: ``X-API-Key``, or ``Authorization: Bearer <key>``, the one header every
    Prometheus can send (its ``authorization`` setting, with the key in a file such as a mounted Secret)."""
    key = request.headers.get(API_KEY_HEADER)
    if key is None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        key = credentials.strip() if scheme.lower() == "bearer" else None
    return key


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (text format)")
def metrics(m: MetricsDep, request: Request) -> Response:
    settings = request.app.state.settings
    if settings.metrics_require_key:
        check_api_key(settings, scrape_key(request))
    # Several workers (forecast-serve sets PROMETHEUS_MULTIPROC_DIR): every worker's values, aggregated.
    shared = multiproc.directory()
    registry = m.registry if shared is None else multiproc.scrape_registry(shared)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
