"""The fast lanes of predict, forecast and infer answer exactly what the full FastAPI routes answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from service.api.v1 import routes as v1_routes
from service.api.v2 import routes as v2_routes
from service.core.limits import duplicate_key
from tests.conftest import ARTIFACTS_ROOT
from tests.service.conftest import running_client

WINDOW = [round(150 + 0.05 * i, 2) for i in range(60)]
BARS = {"open": WINDOW, "high": [p + 1 for p in WINDOW], "low": [p - 1 for p in WINDOW], "close": WINDOW}
TENSOR = {"name": "window", "datatype": "FP32", "shape": [2, 60], "data": WINDOW + WINDOW[::-1]}
ONE = {**TENSOR, "shape": [1, 60], "data": WINDOW}
JSON = {"content-type": "application/json"}

# (path, body, extra headers): valid requests of every shape the lanes take.
CASES: list[tuple[str, Any, dict[str, str]]] = [
    ("/v1/models/lstm/predict", {"window": WINDOW}, {}),
    ("/v1/models/ensemble/predict", {"windows": [WINDOW, WINDOW[::-1]], "intervals": [95, 80]}, {}),
    ("/v1/models/gru/forecast", {"window": WINDOW, "horizon": 25, "intervals": [50, 99]}, {}),
    ("/v1/models/ohlc-lstm/predict", {"windows": [BARS, BARS], "intervals": [90]}, {}),
    ("/v1/models/ohlc-ensemble/forecast", {"window": BARS, "horizon": 3}, {}),
    ("/v1/models/lstm/predict", {"window": [p * 100 for p in WINDOW]}, {}),  # far outside training: warnings
    ("/v2/models/lstm/infer", {"id": "7", "inputs": [TENSOR]}, {}),
    ("/v2/models/gru/infer", {"inputs": [ONE], "parameters": {"horizon": 4}}, {}),
    ("/v2/models/lstm/versions/{version}/infer", {"inputs": [TENSOR], "outputs": [{"name": "prediction"}]}, {}),
    ("/v2/models/ensemble/infer", {"inputs": [TENSOR], "parameters": {"binary_data_output": True}}, {}),
]


@pytest.fixture(scope="module")
def served() -> Iterator[TestClient]:
    with running_client(artifacts_dir=ARTIFACTS_ROOT) as client:
        yield client


def _answers(client: TestClient) -> list[tuple[int, str, bytes, str | None]]:
    out = []
    version = client.get("/v2/models/lstm").json()["versions"][0]
    for path, body, headers in CASES:
        response = client.post(path.format(version=version), json=body, headers=headers)
        framed = response.headers.get("inference-header-content-length")
        out.append((response.status_code, response.headers["content-type"], response.content, framed))
    return out


def test_every_case_is_answered_by_the_fast_lane(served: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[str] = []
    for module in (v1_routes, v2_routes):
        original = module.parse_body

        async def spy(request: Any, model: Any, original: Any = original) -> Any:
            parsed = await original(request, model)
            taken.append(request.url.path if parsed is not None else "declined")
            return parsed

        monkeypatch.setattr(module, "parse_body", spy)
    answers = _answers(served)
    assert [status for status, *_ in answers] == [200] * len(CASES)
    assert len(taken) == len(CASES)
    assert "declined" not in taken


def test_the_full_routes_answer_byte_for_byte_what_the_fast_lanes_answer(
    served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _answers(served)

    async def decline(*_: Any) -> None:
        return None

    monkeypatch.setattr(v1_routes, "parse_body", decline)
    monkeypatch.setattr(v2_routes, "parse_body", decline)
    full = _answers(served)
    for (path, _, _), got, want in zip(CASES, fast, full, strict=True):
        assert got == want, path
    # And the answers are real ones: warnings where the window is far outside the training range.
    assert json.loads(fast[5][2])["warnings"]
    assert np.isfinite(json.loads(fast[0][2])["predictions"]).all()


def test_the_fast_lane_checks_the_api_key_before_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_client(artifacts_dir=ARTIFACTS_ROOT, api_key="s3cret") as client:
        for path in ("/v1/models/lstm/predict", "/v1/models/nope/forecast", "/v2/models/nope/infer"):
            assert client.post(path, json={"window": WINDOW}).status_code == 401, path
        ok = client.post("/v1/models/lstm/predict", json={"window": WINDOW}, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200


def test_an_unknown_model_is_a_404_before_the_body_is_read(served: TestClient) -> None:
    response = served.post("/v1/models/nope/predict", content=b"{not json", headers=JSON)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_model"
    v2 = served.post("/v2/models/nope/infer", content=b"{not json", headers=JSON)
    assert v2.status_code == 404
    assert "nope" in v2.json()["error"]


# JSON texts with objects that may repeat a key, and whether they do: keys and strings drawn from an
# alphabet rich in the characters the duplicate screen splits on (quotes, colons, backslashes).
_TEXT = st.text(alphabet='ab:"\\ ,{}[]', max_size=4)


def _documents() -> st.SearchStrategy[tuple[str, bool]]:
    scalar = st.one_of(st.integers(-5, 5).map(lambda v: (str(v), False)), _TEXT.map(lambda s: (json.dumps(s), False)))

    def containers(inner: st.SearchStrategy[tuple[str, bool]]) -> st.SearchStrategy[tuple[str, bool]]:
        array = st.lists(inner, max_size=4).map(
            lambda items: ("[" + ",".join(t for t, _ in items) + "]", any(d for _, d in items))
        )
        pairs = st.lists(st.tuples(_TEXT, inner), max_size=4)
        obj = pairs.map(
            lambda items: (
                "{" + ", ".join(f"{json.dumps(k)} : {t}" for k, (t, _) in items) + "}",
                len({k for k, _ in items}) < len(items) or any(d for _, (_, d) in items),
            )
        )
        return st.one_of(array, obj)

    return st.recursive(scalar, containers, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_documents())
def test_the_duplicate_key_screen_never_lets_a_repeated_key_through(document: tuple[str, bool]) -> None:
    text, repeats = document
    assert (duplicate_key(text.encode()) is not None) == repeats


def test_an_unexpected_error_in_a_fast_lane_is_a_logged_500_in_the_service_shape(
    served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("boom at /secret/path")

    monkeypatch.setattr(v1_routes.codec, "encode_predict", broken)
    response = served.post("/v1/models/lstm/predict", json={"window": WINDOW})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text


def test_the_front_door_counts_its_requests_under_the_route_template(served: TestClient) -> None:
    served.post("/v1/models/gru/forecast", json={"window": WINDOW, "horizon": 2})
    served.post("/v2/models/nope/infer", json={"inputs": [TENSOR]})
    metrics = served.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/v1/models/{name}/forecast",status="200"}' in metrics
    assert 'http_requests_total{method="POST",route="/v2/models/{name}/infer",status="404"}' in metrics


def test_a_body_the_fast_lane_declines_is_parsed_by_it_once_then_by_the_full_route(
    served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = v1_routes.parse_body

    async def counting(request: Any, model: Any) -> Any:
        calls.append(request.url.path)
        return await original(request, model)

    monkeypatch.setattr(v1_routes, "parse_body", counting)
    response = served.post("/v1/models/lstm/predict", json={"window": WINDOW[:-1]})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "window"
    bad = served.post("/v1/models/lstm/predict", json={"window": ["x", *WINDOW[1:]]})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "window[0]"
    assert calls == ["/v1/models/lstm/predict"] * 2  # once per request: the declined one is not tried again
