"""POST /v1/timeseries/forecast on the committed_sets model sets: the same numbers as /v1, quantiles from the
calibrated intervals, per-series errors beside answered series, request-level 4xx, one stacked model
call for all series, and the API key."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.dataplane.served import SetModel
from tests.service.conftest import check_error

PATH = "/v1/timeseries/forecast"
WINDOW = 60  # both committed_sets sets
UNIVARIATE = ("lstm", "gru", "ensemble")
OHLC = ("ohlc-lstm", "ohlc-gru", "ohlc-ensemble")
COLUMNS = ("open", "high", "low", "close")


def prices(n: int, seed: int, level: float = 150.0) -> list[float]:
    """A geometric random walk near the IBM High models' training range."""
    rng = np.random.default_rng(seed)
    return (level * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))).round(4).tolist()


def bars(n: int, seed: int) -> list[list[float]]:
    """Time-major OHLC rows: [open, high, low, close] per session."""
    close = np.asarray(prices(n, seed, 40.0))
    return np.stack([close * 0.998, close * 1.01, close * 0.99, close], axis=1).round(4).tolist()


def series(name: str, values: list[Any], **extra: Any) -> dict[str, Any]:
    kind = "multivariate_time_series" if values and isinstance(values[0], list) else "univariate_time_series"
    return {"type": kind, "name": name, "series": values, "frequency": "D", **extra}


def body(model: str, inputs: list[dict[str, Any]], horizon: int = 5, **options: Any) -> dict[str, Any]:
    return {"model": model, "inputs": inputs, "options": {"horizon": horizon, **options}}


def v1_forecast(client: TestClient, model: str, values: list[Any], horizon: int, intervals: list[int] | None = None):
    last = values[-WINDOW:]
    window: Any = last if not isinstance(last[0], list) else {c: [r[k] for r in last] for k, c in enumerate(COLUMNS)}
    response = client.post(
        f"/v1/models/{model}/forecast", json={"window": window, "horizon": horizon, "intervals": intervals}
    )
    assert response.status_code == 200, response.text
    return response.json()


def rows(answer: list[Any]) -> np.ndarray:
    """A /v1 answer (prices, or bars keyed by column) as (horizon, columns)."""
    if isinstance(answer[0], dict):
        return np.asarray([[bar[c] for c in COLUMNS] for bar in answer])
    return np.asarray(answer)[:, None]


def same(actual: Any, expected: np.ndarray) -> None:
    got = np.asarray(actual, dtype=np.float64).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize("model", UNIVARIATE + OHLC)
def test_each_mean_forecast_equals_v1_forecast_on_the_series_last_window(
    committed_sets: TestClient, model: str
) -> None:
    make = bars if model in OHLC else prices
    histories = [make(WINDOW, 1), make(WINDOW + 37, 2), make(3 * WINDOW, 3)]
    response = committed_sets.post(PATH, json=body(model, [series(f"s{i}", h) for i, h in enumerate(histories)]))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "completed"
    assert [o["status"] for o in answer["outputs"]] == ["completed"] * 3
    for history, output in zip(histories, answer["outputs"], strict=True):
        (content,) = output["content"]
        expected = rows(v1_forecast(committed_sets, model, history, 5)["forecast"])
        same(content["mean_forecast"], expected)
        if model in OHLC:  # time-major: one row of four variables per step
            assert len(content["mean_forecast"]) == 5
            assert all(len(row) == 4 for row in content["mean_forecast"])


@pytest.mark.parametrize("model", ["lstm", "ohlc-gru"])
def test_quantiles_are_the_calibrated_interval_bounds_and_the_median_is_the_point(
    committed_sets: TestClient, model: str
) -> None:
    history = bars(90, 4) if model in OHLC else prices(90, 4)
    quantiles = [0.025, 0.1, 0.5, 0.9, 0.975]
    response = committed_sets.post(PATH, json=body(model, [series("x", history)], horizon=25, quantiles=quantiles))
    assert response.status_code == 200, response.text
    (content,) = response.json()["outputs"][0]["content"]
    assert set(content["quantiles"]) == {"0.025", "0.1", "0.5", "0.9", "0.975"}
    assert content["calibration"] == "pooled"
    v1 = v1_forecast(committed_sets, model, history, 25, [80, 95])
    bounds = {i["level"]: i for i in v1["intervals"]}
    same(content["quantiles"]["0.1"], rows(bounds[80]["lower"]))
    same(content["quantiles"]["0.9"], rows(bounds[80]["upper"]))
    same(content["quantiles"]["0.025"], rows(bounds[95]["lower"]))
    same(content["quantiles"]["0.975"], rows(bounds[95]["upper"]))
    same(content["quantiles"]["0.5"], rows(v1["forecast"]))
    assert response.json()["warnings"] == v1["warnings"]  # past the calibrated 20 steps, both say so


@pytest.mark.parametrize("quantile", [0.3, 0.0, 1.0, 0.15])
def test_a_quantile_the_calibration_cannot_give_is_refused_with_the_list_it_can(
    committed_sets: TestClient, quantile: float
) -> None:
    response = committed_sets.post(PATH, json=body("gru", [series("x", prices(60, 5))], quantiles=[0.1, quantile]))
    error = check_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "options.quantiles"
    assert f"quantile {quantile:g} " in error["message"]
    assert "0.005, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.995" in error["message"]


def problem(answer: dict[str, Any], i: int) -> dict[str, Any]:
    output = answer["outputs"][i]
    assert output["status"] == "error", output
    assert output["content"] == []
    assert output["error"]["code"] == "422"
    assert output["error"]["type"] == "invalid_input"
    return output["error"]  # type: ignore[no-any-return]


def test_bad_series_become_error_outputs_naming_series_component_and_index_while_the_others_are_answered(
    committed_sets: TestClient,
) -> None:
    good = bars(70, 6)
    holed = [row[:] for row in good]
    holed[12][2] = None
    ragged = [row[:] for row in good]
    ragged[40] = ragged[40][:3]
    inputs = [
        series("good", good),
        series("short", good[:59]),
        series("holed", holed),
        series("ragged", ragged),
        series("flat", prices(70, 7)),
        series("weekly", good, frequency="W"),
    ]
    response = committed_sets.post(PATH, json=body("ohlc-lstm", inputs, horizon=2))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "partial"
    assert [o["status"] for o in answer["outputs"]] == ["completed"] + ["error"] * 5
    same(
        answer["outputs"][0]["content"][0]["mean_forecast"],
        rows(v1_forecast(committed_sets, "ohlc-lstm", good, 2)["forecast"]),
    )
    short = problem(answer, 1)
    assert short["param"] == "inputs[1].series"
    assert "series 'short' (inputs[1]) holds 59 points" in short["message"]
    assert "at least 60" in short["message"]
    holed_error = problem(answer, 2)
    assert holed_error["param"] == "inputs[2].series[12][2]"
    assert "'holed'" in holed_error["message"]
    assert "component 'low' index 12 is null" in holed_error["message"]
    ragged_error = problem(answer, 3)
    assert ragged_error["param"] == "inputs[3].series[40]"
    assert "index 40 holds 3 values" in ragged_error["message"]
    assert "multivariate_time_series" in problem(answer, 4)["message"]
    assert "frequency 'W'" in problem(answer, 5)["message"]


@pytest.mark.parametrize(("value", "shown"), [(float("nan"), "nan"), (float("inf"), "inf"), (-1.0, "-1.0"), (0, "0.0")])
def test_a_value_that_is_not_a_price_is_named_by_its_index(
    committed_sets: TestClient, value: float, shown: str
) -> None:
    bad = prices(80, 8)
    bad[33] = value
    # json.dumps writes NaN and Infinity as JS literals, which pydantic's JSON parser reads back.
    payload = json.dumps(body("lstm", [series("ok", prices(80, 9)), series("bad", bad)]))
    response = committed_sets.post(PATH, content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    error = problem(response.json(), 1)
    assert error["param"] == "inputs[1].series[33]"
    assert f"series 'bad' (inputs[1]) index 33 is {shown}" in error["message"]


def test_when_every_series_is_bad_the_request_is_a_422_with_the_first_reason(committed_sets: TestClient) -> None:
    response = committed_sets.post(PATH, json=body("lstm", [series("tiny", [100.0] * 10), series("also", [1.0])]))
    error = check_error(response, 422, "validation_error")
    assert "series 'tiny' (inputs[0]) holds 10 points" in error["message"]
    assert error["details"][0]["field"] == "inputs[0].series"


def test_more_series_than_the_limit_is_a_422(make_client: Callable[..., TestClient]) -> None:
    client = make_client(timeseries_max_series=2)
    response = client.post(PATH, json=body("lstm", [series(str(i), [100.0] * 20) for i in range(3)]))
    error = check_error(response, 422, "validation_error")
    assert "3 series are over the limit of 2" in error["message"]
    assert client.post(PATH, json=body("lstm", [series(str(i), [100.0] * 20) for i in range(2)])).status_code == 200


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        (body("nope", [series("x", [1.0] * 60)]), 404, None),
        ({"model": "lstm", "inputs": [], "options": {"horizon": 1}}, 422, "inputs"),
        (body("lstm", [series("x", [1.0] * 60)], horizon=0), 422, "options.horizon"),
        (body("lstm", [series("x", [1.0] * 60)], horizon=100_000), 422, "horizon"),
        (body("lstm", [series("x", ["1.5"] * 60)]), 422, None),
        ({"model": "lstm", "inputs": [series("x", [1.0] * 60)]}, 422, "options"),
    ],
)
def test_request_level_problems_are_4xx_in_the_v1_error_shape(
    committed_sets: TestClient, payload: dict[str, Any], status: int, field: str | None
) -> None:
    error = check_error(committed_sets.post(PATH, json=payload), status)
    if field is not None:
        assert error["details"][0]["field"] == field, error


def test_the_columns_extension_names_the_variables_of_each_row_in_the_request_and_the_answer(
    committed_sets: TestClient,
) -> None:
    history = bars(60, 10)
    order = ["close", "open", "low", "high"]
    shuffled = [[row[COLUMNS.index(c)] for c in order] for row in history]
    response = committed_sets.post(PATH, json=body("ohlc-gru", [series("x", shuffled, columns=order)], horizon=3))
    assert response.status_code == 200, response.text
    (content,) = response.json()["outputs"][0]["content"]
    assert content["columns"] == order
    expected = rows(v1_forecast(committed_sets, "ohlc-gru", history, 3)["forecast"])[
        :, [COLUMNS.index(c) for c in order]
    ]
    same(content["mean_forecast"], expected)
    wrong = committed_sets.post(PATH, json=body("ohlc-gru", [series("x", shuffled, columns=["close", "open", "low"])]))
    assert wrong.status_code == 422
    assert "columns" in wrong.json()["error"]["message"]


def test_each_step_is_one_model_call_for_all_series(
    committed_sets: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    original = SetModel.forecast

    def spy(self: SetModel, x: np.ndarray, horizon: int, should_stop: Any) -> np.ndarray:
        calls.append((x.shape[0], horizon))
        return original(self, x, horizon, should_stop)

    monkeypatch.setattr(SetModel, "forecast", spy)
    inputs = [series(str(i), prices(60 + i, i)) for i in range(7)]
    assert committed_sets.post(PATH, json=body("gru", inputs, horizon=4)).status_code == 200
    assert calls == [(7, 4)]


def test_the_response_follows_the_protocol_shape(committed_sets: TestClient) -> None:
    response = committed_sets.post(PATH, json=body("lstm", [series("IBM", prices(61, 11))], horizon=2))
    answer = response.json()
    assert {"id", "created_at", "status", "error", "model", "outputs"} <= set(answer)
    assert answer["model"] == "lstm"
    assert isinstance(answer["created_at"], int)
    assert math.isclose(answer["created_at"], time.time(), abs_tol=3600)
    (output,) = answer["outputs"]
    assert output["type"] == "time_series_forecast"
    assert output["id"]
    assert output["id"] != answer["id"]
    (content,) = output["content"]
    assert content["type"] == "univariate_time_series"
    assert content["name"] == "IBM"
    assert content["frequency"] == "D"
    assert content["start_timestamp"] is None  # no dates in, none out
    assert content["quantiles"] is None


def test_the_endpoint_needs_the_api_key_when_one_is_set(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="s3cret")
    payload = body("lstm", [series("x", [100.0] * 20)])
    refused = client.post(PATH, json=payload)
    check_error(refused, 401, "unauthorized")
    assert refused.headers["www-authenticate"] == "ApiKey"
    check_error(client.post(PATH, json=payload, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    # The key guard answers before the body is read: a body over the cap is still a 401.
    check_error(client.post(PATH, content=b"x" * 2_000_000, headers={"content-type": "application/json"}), 401)
    assert client.post(PATH, json=payload, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_requests_are_counted_under_the_route_template(committed_sets: TestClient) -> None:
    from tests.service.conftest import scrape

    committed_sets.post(PATH, json=body("lstm", [series("x", prices(60, 12))], horizon=1))
    counted = [
        v for name, labels, v in scrape(committed_sets) if name == "http_requests_total" and labels.get("route") == PATH
    ]
    assert sum(counted) >= 1
