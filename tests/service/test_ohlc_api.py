"""The OHLC models over /v1 and /v2: bars in, bars out, beside the univariate models in one server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecast_core.loader import load_set
from service.core.config import Settings
from tests.conftest import TINY_OHLC_WINDOW, TINY_WINDOW
from tests.service.conftest import running_client

W = TINY_OHLC_WINDOW
COLUMNS = ("open", "high", "low", "close")


def bars(scale: float = 1.0, n: int = W) -> dict[str, list[float]]:
    close = 50.0 * np.exp(np.linspace(0, 0.05, n)) * scale
    return {
        "open": list(close * 0.998),
        "high": list(close * 1.01),
        "low": list(close * 0.99),
        "close": list(close),
    }


def as_array(window: dict[str, list[float]]) -> np.ndarray:
    return np.stack([np.asarray(window[c]) for c in COLUMNS], axis=1)


@pytest.fixture(scope="module")
def both(tiny_model_sets: Path) -> Iterator[TestClient]:
    with running_client(artifacts_dir=tiny_model_sets) as client:
        yield client


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_every_set_under_the_artifacts_directory_is_served(both: TestClient) -> None:
    ready = both.get("/readyz").json()
    expected = {"lstm", "gru", "ensemble", "ohlc-lstm", "ohlc-gru", "ohlc-ensemble"}
    assert ready["status"] == "ready"
    assert set(ready["models"]) == expected
    listed = {m["name"]: m for m in both.get("/v1/models").json()["models"]}
    assert set(listed) == expected
    assert listed["ohlc-gru"]["inputs"] == list(COLUMNS)
    assert listed["ohlc-gru"]["outputs"] == list(COLUMNS)
    assert listed["ohlc-gru"]["kind"] == "ohlc"
    assert listed["ohlc-gru"]["model_set"] == "ohlc"
    assert listed["ohlc-gru"]["window"] == W
    assert listed["ohlc-gru"]["training_values"] is None
    assert listed["lstm"]["inputs"] == ["high"]
    assert listed["lstm"]["model_set"] == "ibm-high"
    assert listed["ohlc-ensemble"]["members"] == ["ohlc-lstm", "ohlc-gru"]


def test_predict_answers_one_valid_bar_per_window_equal_to_the_predictor(
    both: TestClient, tiny_ohlc_artifacts: Path
) -> None:
    windows = [bars(), bars(2.0)]
    body = both.post("/v1/models/ohlc-ensemble/predict", json={"windows": windows}).json()
    assert body["model"] == "ohlc-ensemble"
    assert len(body["predictions"]) == 2
    predictor = load_set(tiny_ohlc_artifacts).predictors["ensemble"]
    expected = predictor.predict(np.stack([as_array(w) for w in windows]))
    got = np.array([[bar[c] for c in COLUMNS] for bar in body["predictions"]])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    for bar in body["predictions"]:
        assert bar["low"] <= min(bar["open"], bar["close"]) <= max(bar["open"], bar["close"]) <= bar["high"]


def test_a_window_ten_times_larger_gives_bars_ten_times_larger(both: TestClient) -> None:
    one = both.post("/v1/models/ohlc-lstm/predict", json={"window": bars()}).json()["predictions"][0]
    ten = both.post("/v1/models/ohlc-lstm/predict", json={"window": bars(10.0)}).json()["predictions"][0]
    for c in COLUMNS:
        assert ten[c] == pytest.approx(10 * one[c], rel=1e-5)


def test_forecast_answers_horizon_bars_with_intervals_shaped_like_them(both: TestClient) -> None:
    body = both.post("/v1/models/ohlc-gru/forecast", json={"window": bars(), "horizon": 25, "intervals": [80, 95]})
    assert body.status_code == 200, body.text
    out = body.json()
    assert out["horizon"] == 25
    assert len(out["forecast"]) == 25
    assert [i["level"] for i in out["intervals"]] == [80, 95]
    for interval in out["intervals"]:
        assert len(interval["lower"]) == len(interval["upper"]) == 25
        for lo, point, hi in zip(interval["lower"], out["forecast"], interval["upper"], strict=True):
            assert all(lo[c] <= point[c] <= hi[c] for c in COLUMNS)
    assert any("not calibrated" in w for w in out["warnings"])  # 25 > the calibrated 20 steps


def test_inconsistent_bars_get_a_warning_not_a_refusal(both: TestClient) -> None:
    window = bars()
    window["low"][3] = window["high"][3] * 1.05
    window["open"][5] = window["high"][5] * 1.02
    body = both.post("/v1/models/ohlc-lstm/predict", json={"window": window}).json()
    assert len(body["predictions"]) == 1
    assert any("low above the high" in w for w in body["warnings"])
    assert any("outside [low, high]" in w for w in body["warnings"])


@pytest.mark.parametrize(
    ("mutate", "field", "rule"),
    [
        (lambda w: w.pop("close"), "window.close", "required"),
        (lambda w: w.update(volume=[1.0] * W), "window.volume", "unknown_field"),
        (lambda w: w["high"].pop(), "window.high", "length"),
        (lambda w: w.update(low=w["low"] + [1.0]), "window.low", "length"),
        (lambda w: w["open"].__setitem__(2, -1.0), "window.open[2]", "positive"),
        (lambda w: w["close"].__setitem__(0, 0.0), "window.close[0]", "positive"),
        (lambda w: w["high"].__setitem__(1, "12"), "window.high[1]", "number"),
        (lambda w: w["low"].__setitem__(4, 1e39), "window.low[4]", "max_value"),
    ],
)
def test_bad_ohlc_windows_are_422_naming_the_field(both: TestClient, mutate: Any, field: str, rule: str) -> None:
    window: dict[str, Any] = bars()
    mutate(window)
    err = error(both.post("/v1/models/ohlc-gru/predict", json={"window": window}), 422)
    assert (err["details"][0]["field"], err["details"][0]["rule"]) == (field, rule), err


def test_non_finite_prices_are_refused(both: TestClient) -> None:
    text = '{"window": {"open": [NaN' + ", 1.0" * (W - 1) + "]}}"
    err = error(
        both.post("/v1/models/ohlc-gru/predict", content=text, headers={"content-type": "application/json"}), 422
    )
    assert err["details"][0]["field"] == "window.open[0]"


def test_a_window_of_the_wrong_kind_is_422(both: TestClient) -> None:
    err = error(both.post("/v1/models/ohlc-gru/predict", json={"window": [1.0] * W}), 422)
    assert err["details"][0]["field"] == "window"
    assert "open, high, low, close" in err["message"]
    err = error(both.post("/v1/models/lstm/predict", json={"window": bars(n=TINY_WINDOW)}), 422)
    assert err["details"][0]["field"] == "window"
    assert "list of" in err["message"]


def test_v2_infers_bars_with_the_column_order_of_the_metadata(both: TestClient) -> None:
    meta = both.get("/v2/models/ohlc-lstm").json()
    assert meta["inputs"] == [{"name": "window", "datatype": "FP32", "shape": [-1, W, 4]}]
    assert meta["outputs"] == [{"name": "prediction", "datatype": "FP32", "shape": [-1, 4]}]
    assert meta["parameters"]["input_columns"] == list(COLUMNS)
    x = np.stack([as_array(bars()), as_array(bars(3.0))])
    tensor = {"name": "window", "datatype": "FP32", "shape": [2, W, 4], "data": x.ravel().tolist()}
    out = both.post("/v2/models/ohlc-lstm/infer", json={"inputs": [tensor]}).json()["outputs"][0]
    v1 = both.post("/v1/models/ohlc-lstm/predict", json={"windows": [bars(), bars(3.0)]}).json()["predictions"]
    assert out["shape"] == [2, 4]
    np.testing.assert_allclose(np.reshape(out["data"], (2, 4)), [[b[c] for c in COLUMNS] for b in v1], rtol=1e-9)
    single = {**tensor, "shape": [1, W, 4], "data": x[0].ravel().tolist()}
    fc = both.post("/v2/models/ohlc-lstm/infer", json={"inputs": [single], "parameters": {"horizon": 3}}).json()
    assert fc["outputs"][0]["shape"] == [1, 3, 4]


def test_v2_refuses_a_wrong_ohlc_shape_or_value(both: TestClient) -> None:
    flat = {"name": "window", "datatype": "FP32", "shape": [1, W], "data": [1.0] * W}
    assert "window and columns" in both.post("/v2/models/ohlc-gru/infer", json={"inputs": [flat]}).json()["error"]
    bad = as_array(bars())
    bad[2, 1] = -5.0
    tensor = {"name": "window", "datatype": "FP32", "shape": [1, W, 4], "data": bad.ravel().tolist()}
    r = both.post("/v2/models/ohlc-gru/infer", json={"inputs": [tensor]})
    assert r.status_code == 400
    assert "position 2, column 'high') is -5.0" in r.json()["error"]


def test_a_model_filter_can_pick_ohlc_models_only(tiny_model_sets: Path) -> None:
    settings: dict[str, Any] = {"artifacts_dir": tiny_model_sets, "models": ("ohlc-gru",)}
    with running_client(**settings) as client:
        assert client.get("/readyz").json()["models"] == {"ohlc-gru": "ready"}
        assert client.post("/v1/models/lstm/predict", json={"window": [1.0] * TINY_WINDOW}).status_code == 404
    assert Settings(**settings).models == ("ohlc-gru",)
