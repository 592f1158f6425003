"""The optional API key guards predictions only; docs can be switched off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

KEY = "s3cret-key"
WINDOW = [100.0 + i for i in range(20)]
CALLS = [
    ("/v1/models/lstm/predict", {"window": WINDOW}),
    ("/v1/models/ensemble/predict", {"windows": [WINDOW, WINDOW]}),
    ("/v1/models/gru/forecast", {"window": WINDOW, "horizon": 3}),
]


@pytest.fixture
def keyed(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_key=KEY)


@pytest.mark.parametrize(("path", "body"), CALLS)
def test_predictions_need_the_key(
    keyed: TestClient, expect_error: Callable[..., dict[str, Any]], path: str, body: dict[str, Any]
) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY[:-1]}, {"X-API-Key": KEY + "x"}, {"X-API-Key": ""}):
        response = keyed.post(path, json=body, headers=headers)
        error = expect_error(response, 401, "unauthorized")
        assert "X-API-Key" in error["message"]
        assert response.headers.get("www-authenticate") == "ApiKey"
        assert KEY not in response.text
    response = keyed.post(path, json=body, headers={"X-API-Key": KEY})
    assert response.status_code == 200, response.text


def test_the_key_is_checked_before_anything_else(
    keyed: TestClient, expect_error: Callable[..., dict[str, Any]]
) -> None:
    """Without the key, neither model names nor validation rules nor the body guard's limits are revealed:
    the key is checked from the headers, before the body is read (service/api/auth.py; every guard's
    case, on /v1 and /v2, in test_key_first.py)."""
    expect_error(keyed.post("/v1/models/nope/predict", json={"window": WINDOW}), 401, "unauthorized")
    wrong_type = keyed.post("/v1/models/lstm/predict", content=b"x", headers={"content-type": "text/plain"})
    expect_error(wrong_type, 401, "unauthorized")
    expect_error(keyed.post("/v1/models/lstm/predict", json={"window": [1.0]}), 401, "unauthorized")
    with_key = keyed.post("/v1/models/lstm/predict", json={"window": [1.0]}, headers={"X-API-Key": KEY})
    expect_error(with_key, 422, "validation_error")


def test_probes_and_metrics_stay_open(keyed: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert keyed.get(path).status_code == 200, path


def test_without_a_configured_key_predictions_are_open(client: TestClient) -> None:
    for path, body in CALLS:
        assert client.post(path, json=body).status_code == 200
        assert client.post(path, json=body, headers={"X-API-Key": "anything"}).status_code == 200


def test_docs_can_be_switched_off(
    make_client: Callable[..., TestClient], expect_error: Callable[..., dict[str, Any]]
) -> None:
    on = make_client()
    for path in ("/docs", "/openapi.json"):
        assert on.get(path).status_code == 200, path
    assert "X-API-Key" in on.get("/openapi.json").text

    off = make_client(docs_enabled=False)
    for path in ("/docs", "/openapi.json", "/redoc"):
        expect_error(off.get(path), 404, "not_found")
    assert off.get("/healthz").status_code == 200
    assert off.post("/v1/models/lstm/predict", json={"window": WINDOW}).status_code == 200
