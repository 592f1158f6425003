"""Hypothesis properties of the request rules, checked against an independent oracle.

For random bodies (random lengths; NaN, infinities, huge, negative, zero and tiny numbers; wrong types;
unicode keys; nesting), the status is predicted from the documented rules alone: a valid request gets a
finite answer equal to the in-process Predictor's for the same window (or 422 ``computable`` when the
model overflows), an invalid one gets the documented 4xx shape naming the first offending field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from forecast_core.loader import load_set
from forecast_core.predictor import Predictor
from service.api.v1.schemas import FLOAT32_MAX, ForecastRequest, PredictRequest
from tests.reliability.conftest import GOOD, W, check_error

JSON = {"content-type": "application/json"}
MAX_HORIZON = 365  # the default setting
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def valid_price(value: Any) -> bool:
    """The documented rule, written independently of the pydantic model: a finite number in (0, float32 max]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        number = float(value)
    except OverflowError:
        return False
    return math.isfinite(number) and 0 < number <= FLOAT32_MAX


finite_prices = st.floats(min_value=5e-324, max_value=FLOAT32_MAX, allow_nan=False, allow_infinity=False)
ordinary_prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
bad_numbers = (
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, -1e-300, -FLOAT32_MAX, 3.5e38, 1e300, 0, -7])
    | st.integers(min_value=-(10**45), max_value=0)
    | st.integers(min_value=10**39, max_value=10**45)
)
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=6),
    st.lists(ordinary_prices, max_size=3),
    st.dictionaries(st.text(max_size=3), ordinary_prices, max_size=2),
)
elements = st.one_of(ordinary_prices, finite_prices, st.integers(1, 10**6), bad_numbers, wrong_types)


def post(client: TestClient, path: str, body: Any) -> Any:
    """Send ``body`` as JSON text, NaN and Infinity tokens included (what ``json=`` would refuse to send)."""
    return client.post(path, content=json.dumps(body, allow_nan=True), headers=JSON)


@pytest.fixture(scope="module")
def reference(tiny_artifacts: Path) -> dict[str, Predictor]:
    """Predictors loaded here, apart from the app's: the answers the served ones must equal."""
    return load_set(tiny_artifacts).predictors


def first_bad_index(window: list[Any]) -> int | None:
    return next((i for i, v in enumerate(window) if not valid_price(v)), None)


def assert_answer(body: dict[str, Any], key: str, expected: np.ndarray) -> None:
    got = np.asarray(body[key], dtype=np.float64)
    assert np.isfinite(got).all(), body
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)


# --- the pydantic models alone ------------------------------------------------------------------------


@EXAMPLES
@given(window=st.lists(elements, max_size=30))
def test_price_rule_matches_the_oracle(window: list[Any]) -> None:
    text = json.dumps({"window": window}, allow_nan=True)
    bad = first_bad_index(window)
    if window and bad is None:
        request = PredictRequest.model_validate_json(text)
        assert request.batch() == [[float(v) for v in window]]
        return
    with pytest.raises(ValidationError) as info:
        PredictRequest.model_validate_json(text)
    # The window union's branch tag ("prices") is not part of a client's field path (service.core.errors).
    locations = [tuple(p for p in e["loc"] if p != "prices") for e in info.value.errors()]
    assert (("window",) if not window else ("window", bad)) in locations, locations


@EXAMPLES
@given(horizon=st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=3), st.booleans()))
def test_horizon_rule_matches_the_oracle(horizon: Any) -> None:
    text = json.dumps({"window": GOOD, "horizon": horizon}, allow_nan=True)
    if isinstance(horizon, int) and not isinstance(horizon, bool) and horizon >= 1:
        assert ForecastRequest.model_validate_json(text).horizon == horizon  # the server's max is the route's
    else:
        with pytest.raises(ValidationError):
            ForecastRequest.model_validate_json(text)


# --- over HTTP -----------------------------------------------------------------------------------------


@EXAMPLES
@given(
    window=st.one_of(st.lists(elements, max_size=2 * W), st.lists(ordinary_prices, min_size=W - 2, max_size=W + 2)),
    name=st.sampled_from(["lstm", "gru", "ensemble"]),
)
def test_predict_status_follows_the_rules(
    served: TestClient, reference: dict[str, Predictor], window: list[Any], name: str
) -> None:
    response = post(served, f"/v1/models/{name}/predict", {"window": window})
    bad = first_bad_index(window)
    if not window:
        error = check_error(response, 422, "validation_error")
        assert ("window", "min_length") in [(d["field"], d["rule"]) for d in error["details"]]
    elif bad is not None:
        error = check_error(response, 422, "validation_error")
        assert f"window[{bad}]" in [d["field"] for d in error["details"]], error
    elif len(window) != W:
        error = check_error(response, 422, "validation_error")
        assert [(d["field"], d["rule"]) for d in error["details"]] == [("window", "length")]
    elif response.status_code == 422:
        assert check_error(response, 422)["details"][0]["rule"] == "computable"
    else:
        assert response.status_code == 200, response.text
        assert_answer(response.json(), "predictions", reference[name].predict(np.array([window], dtype=np.float64)))


@EXAMPLES
@given(
    windows=st.lists(
        st.lists(st.one_of(ordinary_prices, finite_prices), min_size=W, max_size=W), min_size=1, max_size=6
    ),
    name=st.sampled_from(["lstm", "gru", "ensemble"]),
)
def test_valid_batches_get_finite_answers_equal_to_the_predictor(
    served: TestClient, reference: dict[str, Predictor], windows: list[list[float]], name: str
) -> None:
    """Any finite positive prices up to float32 max: the answer, or 422 computable; never 500 or inf/NaN."""
    response = post(served, f"/v1/models/{name}/predict", {"windows": windows})
    expected = reference[name].predict(np.array(windows, dtype=np.float64))
    if response.status_code == 422:
        error = check_error(response, 422, "validation_error")
        assert [d["rule"] for d in error["details"]] == ["computable"], error
        assert not np.isfinite(expected).all()
    else:
        assert response.status_code == 200, response.text
        assert_answer(response.json(), "predictions", expected)


@EXAMPLES
@given(
    window=st.lists(st.one_of(ordinary_prices, finite_prices), min_size=W, max_size=W),
    horizon=st.one_of(st.integers(1, 40), st.sampled_from([0, -1, MAX_HORIZON, MAX_HORIZON + 1, 10**9])),
    name=st.sampled_from(["lstm", "gru", "ensemble"]),
    intervals=st.none() | st.lists(st.sampled_from([50, 80, 90, 95, 99]), min_size=1, max_size=3, unique=True),
)
def test_forecast_status_follows_the_rules(
    served: TestClient,
    reference: dict[str, Predictor],
    window: list[float],
    horizon: int,
    name: str,
    intervals: list[int] | None,
) -> None:
    body: dict[str, Any] = {"window": window, "horizon": horizon}
    if intervals is not None:
        body["intervals"] = intervals
    response = post(served, f"/v1/models/{name}/forecast", body)
    if horizon < 1 or horizon > MAX_HORIZON:
        error = check_error(response, 422, "validation_error")
        assert error["details"][0]["field"] == "horizon", error
        return
    expected = reference[name].forecast(np.array(window, dtype=np.float64), horizon)
    if response.status_code == 422:
        assert [d["rule"] for d in check_error(response, 422)["details"]] == ["computable"]
        assert not np.isfinite(expected).all()
        return
    assert response.status_code == 200, response.text
    got = response.json()
    assert_answer(got, "forecast", expected)
    for interval in got["intervals"] or []:
        lower, upper = np.asarray(interval["lower"]), np.asarray(interval["upper"])
        assert np.isfinite(lower).all()
        assert np.isfinite(upper).all()
        assert (lower <= np.asarray(got["forecast"])).all()
        assert (np.asarray(got["forecast"]) <= upper).all()


unicode_keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in {"window", "windows", "intervals"})


@EXAMPLES
@given(key=unicode_keys, value=st.recursive(st.none() | st.integers() | st.text(max_size=3), st.lists, max_leaves=8))
def test_unknown_keys_are_named_in_the_error(served: TestClient, key: str, value: Any) -> None:
    error = check_error(post(served, "/v1/models/lstm/predict", {"window": GOOD, key: value}), 422, "validation_error")
    assert (key, "unknown_field") in [(d["field"], d["rule"]) for d in error["details"]], error


@settings(max_examples=25, deadline=None, database=None)
@given(depth=st.integers(1, 3000), where=st.sampled_from(["window", "extra", "body"]))
def test_deep_nesting_is_a_client_error(served: TestClient, depth: int, where: str) -> None:
    nested = "[" * depth + "1.0" + "]" * depth
    text = {
        "window": '{"window": ' + nested + "}",
        "extra": '{"window": ' + json.dumps(GOOD) + ', "x": ' + nested + "}",
        "body": nested,
    }[where]
    response = served.post("/v1/models/lstm/predict", content=text, headers=JSON)
    assume(not (where == "window" and depth == 1 and W == 1))
    check_error(response, None)
    assert 400 <= response.status_code < 500
