"""Per-series calibration (``options.calibration = "series"``): intervals from each series' own backtest.

For every series at least ``window + 250`` points long, the last 250 windows of its history are
forecast recursively (the request's horizon, up to the model's calibrated one) in one stacked dataplane
call, under the same deadline as the forecast itself, and each level's quantiles come from that
series' errors (:mod:`forecast_core.series_intervals`). Shorter series keep the pooled intervals; each
forecast says which calibration it got.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from forecast_core.series_intervals import ORIGINS, Backtest, backtest, min_points, series_table
from service.api.timeseries.codec import Bounds, Calibrated, Plan
from service.dataplane import DataPlane, InferenceRequest, InferenceResult, InvalidInput, ServedModel
from service.dataplane.served import SetModel

SERIES = "series"
#: Backtest windows in one request (40 series of 250 origins): bounds the memory one call takes; the deadline
#: bounds its time.
MAX_WINDOWS = 10_000


async def calibrate(
    dataplane: DataPlane,
    model: ServedModel,
    plan: Plan,
    forecast: InferenceRequest,
    result: InferenceResult,
    levels: tuple[int, ...],
) -> Calibrated:
    """Series-calibrated bounds for every row of ``result`` whose series is long enough."""
    table = model._intervals if isinstance(model, SetModel) else None
    if table is None or not levels:
        return Calibrated(SERIES, {})
    assert isinstance(model, SetModel)
    window, horizon = model.card.window, result.values.shape[1]
    steps = min(horizon, table.max_horizon)
    rows = [r for r, s in enumerate(plan.good) if len(s.history) >= min_points(window)]
    if not rows:
        return Calibrated(SERIES, {})
    if len(rows) * ORIGINS > MAX_WINDOWS:
        limit = MAX_WINDOWS // ORIGINS
        raise InvalidInput(
            "options.calibration",
            "max_series",
            f"series calibration of {len(rows)} series is over the limit of {limit} series a request",
            f"at most {limit} series with calibration 'series'",
        )
    tests = [backtest(plan.good[r].history, window, steps) for r in rows]
    stacked = np.concatenate([t.windows for t in tests])
    if len(model.card.inputs) == 1:  # one-column models take (n, window) on the dataplane
        stacked = stacked[:, :, 0]
    request = dataclasses.replace(
        forecast, inputs=stacked, horizon=steps, intervals=(), max_rows=MAX_WINDOWS, field="calibration"
    )
    backtested = (await dataplane.infer(model, request)).values
    out: dict[int, Bounds] = {}
    start = 0
    for row, test in zip(rows, tests, strict=True):
        forecasts = backtested[start : start + len(test.windows)]
        start += len(test.windows)
        out[row] = _bounds(model, test, forecasts, levels, result.values[row], plan.good[row].window)
    return Calibrated(SERIES, out)


def _bounds(
    model: SetModel,
    test: Backtest,
    forecasts: np.ndarray,
    levels: tuple[int, ...],
    values: np.ndarray,
    window: np.ndarray,
) -> Bounds:
    assert model._intervals is not None
    own = series_table(model._intervals, model.key, model.features, test, forecasts, levels)
    x = window.reshape(1, window.shape[0], -1)
    out: Bounds = {}
    for level in levels:
        lo, hi = own.bounds(model.key, level, values[None], x, model.features)
        out[level] = (lo[0], hi[0])
    return out
