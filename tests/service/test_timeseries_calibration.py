"""Per-series calibration (``options.calibration = "series"``): the conformal quantiles of one series' own
rolling-origin backtest, checked against a backtest rebuilt from /v1 forecasts, and the fallbacks."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecast_core.features import FeatureSet
from forecast_core.intervals import IntervalTable
from forecast_core.series_intervals import ORIGINS, backtest, min_points, series_table

PATH = "/v1/timeseries/forecast"


def walk(n: int, seed: int, sigma: float = 0.01) -> list[float]:
    rng = np.random.default_rng(seed)
    return (150 * np.exp(np.cumsum(rng.normal(0, sigma, n)))).round(4).tolist()


class LastPrice:
    """A feature set stub whose interval unit is the window's last price."""

    def unit(self, windows: np.ndarray, scale: str, floor: float) -> np.ndarray:
        return np.asarray(windows, dtype=np.float64)[:, -1, 0]


def table(steps: int) -> IntervalTable:
    return IntervalTable(
        method="split_conformal",
        columns=["value"],
        scales=["price"] * steps,
        volatility_floor=0.0,
        levels=[80],
        max_horizon=steps,
        calibration_start="2015-01-01",
        calibration_end="2015-12-31",
        quantiles={"m": {"80": [[0.5]] * steps}},
    )


def test_the_series_quantile_is_the_conformal_rank_of_its_own_backtest_errors() -> None:
    history = np.asarray(walk(400, 1))[:, None]
    test = backtest(history, 20, 2)
    assert test.windows.shape == (ORIGINS, 20, 1)
    np.testing.assert_array_equal(test.actuals[-1], history[-2:])  # the last origin ends where the history does
    relative = np.random.default_rng(2).uniform(0, 0.05, (ORIGINS, 2, 1))
    forecasts = test.actuals * (1 + relative)  # errors of `relative` last prices... in units of the actual
    own = series_table(table(2), "m", cast(FeatureSet, LastPrice()), test, forecasts, (80,))
    scores = np.abs(test.actuals - forecasts)[:, :, 0] / test.windows[:, -1, 0][:, None]
    rank = math.ceil((ORIGINS + 1) * 0.8)
    expected = [sorted(scores[:, h])[rank - 1] for h in range(2)]
    np.testing.assert_allclose(np.asarray(own.quantiles["m"]["80"])[:, 0], expected, rtol=1e-12)
    assert own.max_horizon == 2


def body(model: str, histories: list[list[float]], horizon: int, calibration: str) -> dict[str, Any]:
    inputs = [
        {"type": "univariate_time_series", "name": f"s{i}", "series": h, "frequency": "D"}
        for i, h in enumerate(histories)
    ]
    options = {"horizon": horizon, "quantiles": [0.1, 0.5, 0.9], "calibration": calibration}
    return {"model": model, "inputs": inputs, "options": options}


def test_series_calibration_matches_a_backtest_rebuilt_from_v1_forecasts(committed_sets: TestClient) -> None:
    history = walk(min_points(60) + 30, 3)
    horizon = 2
    response = committed_sets.post(PATH, json=body("gru", [history], horizon, "series"))
    assert response.status_code == 200, response.text
    (content,) = response.json()["outputs"][0]["content"]
    assert content["calibration"] == "series"
    # The backtest by hand: every origin forecast over /v1, then the conformal quantile and the bounds.
    model = committed_sets.app.state.dataplane.model("gru")  # type: ignore[attr-defined]
    x = np.asarray(history)
    ends = range(len(x) - horizon - ORIGINS + 1, len(x) - horizon + 1)
    forecasts = np.asarray(
        [
            committed_sets.post(
                "/v1/models/gru/forecast", json={"window": x[e - 60 : e].tolist(), "horizon": horizon}
            ).json()["forecast"]
            for e in ends
        ]
    )
    actuals = np.asarray([x[e : e + horizon] for e in ends])
    windows = np.stack([x[e - 60 : e] for e in ends])[:, :, None]
    pooled = model._intervals
    units = np.stack([model.features.unit(windows, s, pooled.volatility_floor) for s in pooled.scales[:horizon]], 1)
    scores = np.abs(actuals - forecasts) / units
    rank = math.ceil((len(scores) + 1) * 0.8)
    q = np.sort(scores, axis=0)[rank - 1]
    last = x[-60:][None, :, None]
    unit_now = np.asarray([model.features.unit(last, s, pooled.volatility_floor)[0] for s in pooled.scales[:horizon]])
    half = np.maximum.accumulate(q * unit_now)
    mean = np.asarray(content["mean_forecast"])
    np.testing.assert_allclose(content["quantiles"]["0.1"], mean - half, rtol=1e-9)
    np.testing.assert_allclose(content["quantiles"]["0.9"], mean + half, rtol=1e-9)


def test_series_calibration_widens_for_a_wild_series_and_keeps_the_mean(committed_sets: TestClient) -> None:
    wild = walk(min_points(60), 4, sigma=0.05)
    pooled = committed_sets.post(PATH, json=body("lstm", [wild], 3, "pooled")).json()["outputs"][0]["content"][0]
    own = committed_sets.post(PATH, json=body("lstm", [wild], 3, "series")).json()["outputs"][0]["content"][0]
    assert (pooled["calibration"], own["calibration"]) == ("pooled", "series")
    assert own["mean_forecast"] == pooled["mean_forecast"]
    width = np.subtract(own["quantiles"]["0.9"], own["quantiles"]["0.1"])
    pooled_width = np.subtract(pooled["quantiles"]["0.9"], pooled["quantiles"]["0.1"])
    assert (width > pooled_width).all(), (width, pooled_width)


def test_a_series_too_short_for_its_own_calibration_keeps_the_pooled_one_and_says_so(
    committed_sets: TestClient,
) -> None:
    histories = [walk(min_points(60), 5), walk(min_points(60) - 1, 6)]
    outputs = committed_sets.post(PATH, json=body("lstm", histories, 2, "series")).json()["outputs"]
    assert [o["content"][0]["calibration"] for o in outputs] == ["series", "pooled"]


@pytest.mark.parametrize("calibration", ["mine", "SERIES"])
def test_an_unknown_calibration_is_a_422(committed_sets: TestClient, calibration: str) -> None:
    response = committed_sets.post(PATH, json=body("lstm", [walk(80, 7)], 1, calibration))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "options.calibration"
