"""``POST /v1/timeseries/forecast``: KServe's time-series forecast protocol on the service's one dataplane.

A hot route (service/api/hot.py) like /v1's forecast: the API key first (it depends on
``require_api_key``, so the key guard in service/api/auth.py protects it too), then the body, the model,
and one stacked dataplane call for every good series. Request-level problems (the body, an unknown
model, a quantile the calibration cannot give, too many series, a horizon over the limit, every series
bad) answer in the service's /v1 error shape; a problem with one series is that series' error output.
"""

from __future__ import annotations

from fastapi import Request, Response

from service.api import hot
from service.api.deps import authorized_dataplane
from service.api.timeseries import calibration, codec, quantiles
from service.api.timeseries.types import TimeSeriesForecastRequest, TimeSeriesForecastResponse
from service.api.v1.schemas import ErrorResponse
from service.dataplane import InvalidInput

PATH = "/v1/timeseries/forecast"
_ERRORS = hot.error_responses(
    ErrorResponse,
    {
        400: "malformed JSON",
        401: "missing or wrong API key",
        404: "unknown model",
        413: "body over the size cap",
        415: "body is not application/json",
        422: "invalid request (options, limits), or every series invalid: the details name the field",
        503: "model not loaded (yet), or the server is at capacity (Retry-After)",
        504: "the forecast ran past the server's per-request time limit",
    },
)


async def forecast(request: Request) -> Response:
    dataplane = authorized_dataplane(request)
    body = hot.parse_body(TimeSeriesForecastRequest, await request.body())
    model = dataplane.model(body.model)
    limit = request.app.state.settings.timeseries_max_series
    horizon = body.options.horizon
    wanted, levels = quantiles.plan(body.options.quantiles, model.interval_levels)
    plan = codec.decode(body.inputs, model.card, horizon, limit)
    if not plan.good:
        # Nothing to forecast: the request as a whole failed, with the first series' reason.
        first = plan.problems[min(plan.problems)]
        raise InvalidInput(first.param, first.kind, first.message, text=first.message)
    forecast_request = codec.request(plan, horizon, levels, limit, hot.client_gone(request))
    result = await dataplane.infer(model, forecast_request)
    calibrated = None
    if body.options.calibration == "series":
        calibrated = await calibration.calibrate(dataplane, model, plan, forecast_request, result, levels)
    return hot.json_response(codec.encode(body.model, body.inputs, plan, model.card, result, wanted, calibrated))


hot_routes = [
    hot.HotRoute(
        hot.operation(
            PATH,
            "timeseries_forecast",
            TimeSeriesForecastRequest,
            tags=["timeseries"],
            response_model=TimeSeriesForecastResponse,
            responses=_ERRORS,
            summary="KServe's time-series forecast: whole histories of many series, quantiles, trading-day dates",
        ),
        forecast,
    )
]
