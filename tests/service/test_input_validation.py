"""Every bad input gets a 4xx with the one error shape, naming the field and the rule; never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

W = 20  # the tiny artifacts' window
GOOD = [100.0 + 0.5 * i for i in range(W)]
PREDICT = "/v1/models/lstm/predict"
FORECAST = "/v1/models/lstm/forecast"
JSON = {"content-type": "application/json"}


def with_first(value: Any) -> list[Any]:
    return [value, *GOOD[1:]]


def raw_window(first: str) -> str:
    """A window as raw JSON text whose first element is ``first`` (e.g. NaN, which json= cannot send)."""
    return '{"window": [' + ", ".join([first, *map(repr, GOOD[1:])]) + "]}"


def details_of(error: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["field"], d["rule"]) for d in error["details"]]


@pytest.mark.parametrize(
    ("path", "body", "field", "rule"),
    [
        pytest.param(PREDICT, {"window": GOOD[:-1]}, "window", "length", id="window-too-short"),
        pytest.param(PREDICT, {"window": [*GOOD, 1.0]}, "window", "length", id="window-too-long"),
        pytest.param(PREDICT, {"windows": [GOOD, GOOD[:5]]}, "windows[1]", "length", id="batch-row-short"),
        pytest.param(FORECAST, {"window": GOOD[:3], "horizon": 2}, "window", "length", id="forecast-window-short"),
        pytest.param(PREDICT, {"window": with_first(1e39)}, "window[0]", "max_value", id="over-float32-max"),
        pytest.param(PREDICT, {"windows": [GOOD, with_first(-1e39)]}, "windows[1][0]", "positive", id="huge-negative"),
        pytest.param(PREDICT, {"window": with_first(0.0)}, "window[0]", "positive", id="zero-price"),
        pytest.param(PREDICT, {"window": with_first(0)}, "window[0]", "positive", id="zero-int-price"),
        pytest.param(PREDICT, {"window": with_first(-3.5)}, "window[0]", "positive", id="negative-price"),
        pytest.param(
            PREDICT, {"windows": [GOOD, [*GOOD[:5], -1.0, *GOOD[6:]]]}, "windows[1][5]", "positive", id="neg-b"
        ),
        pytest.param(PREDICT, {"window": with_first("101.5")}, "window[0]", "number", id="string-price"),
        pytest.param(PREDICT, {"window": with_first(True)}, "window[0]", "number", id="boolean-price"),
        pytest.param(PREDICT, {"window": with_first(False)}, "window[0]", "number", id="false-price"),
        pytest.param(PREDICT, {"window": with_first(None)}, "window[0]", "number", id="null-price"),
        pytest.param(PREDICT, {"window": with_first([1.0, 2.0])}, "window[0]", "number", id="nested-list"),
        pytest.param(PREDICT, {"window": with_first({"v": 1.0})}, "window[0]", "number", id="object-price"),
        pytest.param(PREDICT, {"window": "100,101"}, "window", "array", id="window-as-string"),
        pytest.param(PREDICT, {"window": 100.0}, "window", "array", id="window-as-number"),
        pytest.param(PREDICT, {"window": []}, "window", "min_length", id="empty-window"),
        pytest.param(PREDICT, {"windows": []}, "windows", "min_length", id="empty-windows"),
        pytest.param(PREDICT, {"windows": [[]]}, "windows[0]", "min_length", id="empty-row"),
        pytest.param(PREDICT, {"windows": GOOD}, "windows[0]", "array", id="windows-flat"),
        pytest.param(PREDICT, {"window": GOOD, "windows": [GOOD]}, "body", "value_error", id="both"),
        pytest.param(PREDICT, {}, "body", "value_error", id="neither"),
        pytest.param(PREDICT, {"window": None}, "body", "value_error", id="window-null"),
        pytest.param(PREDICT, {"window": GOOD, "horizon": 3}, "horizon", "unknown_field", id="extra-horizon"),
        pytest.param(PREDICT, {"window": GOOD, "model": "gru"}, "model", "unknown_field", id="extra-field"),
        pytest.param(PREDICT, [GOOD], "body", "object", id="body-is-list"),
        pytest.param(FORECAST, {"window": GOOD, "horizon": 0}, "horizon", None, id="horizon-zero"),
        pytest.param(FORECAST, {"window": GOOD, "horizon": -4}, "horizon", None, id="horizon-negative"),
        pytest.param(FORECAST, {"window": GOOD, "horizon": 1.5}, "horizon", "integer", id="horizon-float"),
        pytest.param(FORECAST, {"window": GOOD, "horizon": 3.0}, "horizon", "integer", id="horizon-float-whole"),
        pytest.param(FORECAST, {"window": GOOD, "horizon": "3"}, "horizon", "integer", id="horizon-string"),
        pytest.param(FORECAST, {"window": GOOD, "horizon": True}, "horizon", "integer", id="horizon-boolean"),
        pytest.param(FORECAST, {"window": GOOD, "horizon": None}, "horizon", "integer", id="horizon-null"),
        pytest.param(FORECAST, {"window": GOOD}, "horizon", "required", id="horizon-missing"),
        pytest.param(FORECAST, {"horizon": 3}, "window", "required", id="forecast-window-missing"),
        pytest.param(FORECAST, {"windows": [GOOD], "horizon": 3}, "windows", "unknown_field", id="forecast-windows"),
        pytest.param(FORECAST, {"window": with_first(-1.0), "horizon": 3}, "window[0]", "positive", id="fc-negative"),
        pytest.param(FORECAST, {"window": GOOD, "horizon": 3, "x": 1}, "x", "unknown_field", id="forecast-extra"),
    ],
)
def test_invalid_body_is_422_naming_field_and_rule(
    served: TestClient,
    expect_error: Callable[..., dict[str, Any]],
    path: str,
    body: Any,
    field: str,
    rule: str | None,
) -> None:
    error = expect_error(served.post(path, json=body), 422, "validation_error")
    fields = [f for f, _ in details_of(error)]
    assert field in fields, error
    if rule is not None:
        assert (field, rule) in details_of(error), error
    assert field in error["message"] or error["message"].startswith(field), error


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
@pytest.mark.parametrize("path", [PREDICT, FORECAST])
def test_non_finite_numbers_are_refused(
    served: TestClient, expect_error: Callable[..., dict[str, Any]], token: str, path: str
) -> None:
    text = raw_window(token)
    if path == FORECAST:
        text = text[:-1] + ', "horizon": 2}'
    json.loads(text)  # Python's parser accepts these tokens, so the service must refuse them itself
    error = expect_error(served.post(path, content=text, headers=JSON), 422, "validation_error")
    assert ("window[0]", "finite_number") in details_of(error), error


def test_non_finite_inside_a_batch_names_the_row_and_column(
    served: TestClient, expect_error: Callable[..., dict[str, Any]]
) -> None:
    row = ", ".join(map(repr, GOOD))
    bad = ", ".join(["NaN" if i == 7 else repr(v) for i, v in enumerate(GOOD)])
    text = '{"windows": [[' + row + "], [" + bad + "]]}"
    error = expect_error(served.post(PREDICT, content=text, headers=JSON), 422, "validation_error")
    assert details_of(error) == [("windows[1][7]", "finite_number")]


def test_window_length_error_says_the_expected_length(
    served: TestClient, expect_error: Callable[..., dict[str, Any]]
) -> None:
    error = expect_error(served.post(PREDICT, json={"window": GOOD[:7]}), 422)
    assert f"expected {W} values, got 7" in error["message"]
    assert str(W) in error["details"][0]["message"]


def test_batch_over_max_batch(
    make_client: Callable[..., TestClient], expect_error: Callable[..., dict[str, Any]]
) -> None:
    client = make_client(max_batch=3)
    assert client.post(PREDICT, json={"windows": [GOOD] * 3}).status_code == 200
    error = expect_error(client.post(PREDICT, json={"windows": [GOOD] * 4}), 422, "validation_error")
    assert details_of(error) == [("windows", "max_batch")]
    assert "4" in error["message"]
    assert "3" in error["message"]


def test_horizon_over_max_horizon(
    make_client: Callable[..., TestClient], expect_error: Callable[..., dict[str, Any]]
) -> None:
    client = make_client(max_horizon=5)
    ok = client.post(FORECAST, json={"window": GOOD, "horizon": 5})
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["forecast"]) == 5
    error = expect_error(client.post(FORECAST, json={"window": GOOD, "horizon": 6}), 422, "validation_error")
    assert details_of(error) == [("horizon", "max_value")]
    assert "5" in error["message"]


@pytest.mark.parametrize("path", ["/v1/models/nope/predict", "/v1/models/LSTM/predict", "/v1/models/nope/forecast"])
def test_unknown_model_is_404_listing_the_known_models(
    served: TestClient, expect_error: Callable[..., dict[str, Any]], path: str
) -> None:
    error = expect_error(served.post(path, json={"window": GOOD, "horizon": 1}), 404, "unknown_model")
    for known in ("lstm", "gru", "ensemble"):
        assert known in error["message"]
    lookup = expect_error(served.get("/v1/models/nope"), 404, "unknown_model")
    assert "lstm" in lookup["message"]


def test_body_over_the_size_cap_is_413(
    make_client: Callable[..., TestClient], expect_error: Callable[..., dict[str, Any]]
) -> None:
    client = make_client(max_body_bytes=2048)
    big = {"windows": [GOOD] * 20}
    assert len(json.dumps(big)) > 2048
    expect_error(client.post(PREDICT, json=big), 413, "payload_too_large")

    # Without a Content-Length (a streamed body), the cap still holds.
    def chunks() -> Any:
        yield json.dumps(big).encode()

    expect_error(client.post(PREDICT, content=chunks(), headers=JSON), 413, "payload_too_large")
    assert client.post(PREDICT, json={"windows": [GOOD] * 2}).status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_non_json_content_type_is_415(
    served: TestClient, expect_error: Callable[..., dict[str, Any]], content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = json.dumps({"window": GOOD}).encode()
    expect_error(served.post(PREDICT, content=body, headers=headers), 415, "unsupported_media_type")


def test_json_content_type_with_charset_is_accepted(served: TestClient) -> None:
    body = json.dumps({"window": GOOD}).encode()
    response = served.post(PREDICT, content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "text", ['{"window": [1.0,', "{window: [1]}", "{'window': [1.0]}", '{"window": [1.0]]}', "\xff\xfe", "NaN?"]
)
def test_malformed_json_is_400(served: TestClient, expect_error: Callable[..., dict[str, Any]], text: str) -> None:
    content = text.encode("latin-1") if text.startswith("\xff") else text.encode()
    error = expect_error(served.post(PREDICT, content=content, headers=JSON), 400, "malformed_json")
    assert details_of(error) == [("body", "json")]


def test_deeply_nested_json_is_a_client_error(served: TestClient, expect_clean: Callable[..., None]) -> None:
    text = '{"window": ' + "[" * 50_000 + "]" * 50_000 + "}"
    response = served.post(PREDICT, content=text, headers=JSON)
    assert 400 <= response.status_code < 500, response.text
    expect_clean(response)


def test_empty_body_is_422(served: TestClient, expect_error: Callable[..., dict[str, Any]]) -> None:
    error = expect_error(served.post(PREDICT, content=b"", headers=JSON), 422, "validation_error")
    assert details_of(error) == [("body", "required")]


def test_too_many_errors_are_capped(served: TestClient, expect_error: Callable[..., dict[str, Any]]) -> None:
    error = expect_error(served.post(PREDICT, json={"windows": [["x"] * W] * 5}), 422)
    assert 1 <= len(error["details"]) <= 20


def test_wrong_method_and_unknown_path(served: TestClient, expect_error: Callable[..., dict[str, Any]]) -> None:
    expect_error(served.get(PREDICT), 405, "method_not_allowed")
    expect_error(served.get("/v2/nothing-here"), 404, "not_found")


def test_extreme_but_valid_prices_never_fail_the_server(served: TestClient, expect_clean: Callable[..., None]) -> None:
    """At the edges of what validation lets through the answer is a 200 or a 422, never a 500."""
    for value in (3.4e38, 1e30, 1e-300, 5e-324, 1e-6):
        for path, body in (
            (PREDICT, {"windows": [[value] * W, GOOD]}),
            (FORECAST, {"window": [value] * W, "horizon": 10}),
        ):
            response = served.post(path, json=body)
            expect_clean(response)
            assert response.status_code in (200, 422), response.text
            if response.status_code == 200:
                values = response.json().get("predictions") or response.json()["forecast"]
                assert all(v == v and abs(v) != float("inf") for v in values)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=30,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"window": json_values}),
    st.fixed_dictionaries(
        {"window": st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=W, max_size=W)},
        optional={"horizon": json_values, "windows": json_values},
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, forecast=st.booleans())
def test_fuzzed_bodies_never_break_the_server(
    served: TestClient, expect_clean: Callable[..., None], body: Any, forecast: bool
) -> None:
    response = served.post(FORECAST if forecast else PREDICT, content=json.dumps(body), headers=JSON)
    expect_clean(response)
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"]
