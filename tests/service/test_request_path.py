"""One request path for predict, forecast and infer: one parse of the body, FastAPI's own errors for a
body that does not validate, the checks in their order, and the OpenAPI schema of FastAPI routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api import hot
from service.api.v1 import routes as v1_routes
from service.api.v1.schemas import ForecastRequest, PredictRequest
from service.api.v2 import errors as v2_errors
from service.api.v2.types import InferRequest
from service.core.errors import install_error_handlers
from service.core.limits import duplicate_key
from tests.conftest import ARTIFACTS_ROOT
from tests.service.conftest import running_client

WINDOW = [round(150 + 0.05 * i, 2) for i in range(60)]
BARS = {"open": WINDOW, "high": [p + 1 for p in WINDOW], "low": [p - 1 for p in WINDOW], "close": WINDOW}
TENSOR = {"name": "window", "datatype": "FP32", "shape": [2, 60], "data": WINDOW + WINDOW[::-1]}
ONE = {**TENSOR, "shape": [1, 60], "data": WINDOW}
JSON = {"content-type": "application/json"}

# (path, body, extra headers): valid requests of every shape the hot endpoints take.
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


def test_every_case_is_answered_with_one_parse_of_its_body(served: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    original = hot.parse_body

    def counting(model: Any, body: bytes) -> Any:
        parsed.append(model.__name__)
        return original(model, body)

    monkeypatch.setattr(hot, "parse_body", counting)
    answers = _answers(served)
    assert [status for status, *_ in answers] == [200] * len(CASES)
    assert len(parsed) == len(CASES)
    assert [framed is not None for *_, framed in answers] == [False] * (len(CASES) - 1) + [True]
    # And the answers are real ones: warnings where the window is far outside the training range.
    assert json.loads(answers[5][2])["warnings"]
    assert np.isfinite(json.loads(answers[0][2])["predictions"]).all()


# Bodies that do not validate, each a different way FastAPI's reading of a body parameter fails.
BAD_BODIES: list[bytes] = [
    b"",
    b"{not json",
    b'{"window": [1, 2,',
    b"[1, 2, 3]",
    b'"text"',
    b"null",
    b"{}",
    b'{"window": "prices"}',
    b'{"window": [1, "x", null, true]}',
    b'{"window": [1, 2], "horizon": "soon", "intervals": [95, "a"]}',
    b'{"window": [1, 2], "extra": 1}',
    b'{"inputs": [{"name": "window", "datatype": "FP32", "shape": "1x60", "data": [1]}]}',
    b'{"inputs": [], "outputs": [{"parameters": 3}], "id": 7}',
    b'{"window": [NaN, Infinity, -Infinity]}',
    b"\xff\xfe{}",
    b"[" * 5000,
]


def _reference(path: str, model: type[BaseModel], convert: Any = None) -> TestClient:
    """The same body as a FastAPI body parameter, errors answered by the protocol's handlers."""
    app = FastAPI()
    install_error_handlers(app)

    async def endpoint(body: Any) -> dict[str, str]:
        return {}

    endpoint.__annotations__["body"] = model  # what FastAPI reads the body as
    app.add_api_route(path, endpoint, methods=["POST"])
    if convert is not None:
        for kind in (RequestValidationError, StarletteHTTPException):
            app.add_exception_handler(kind, lambda _, exc: convert(exc))
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("path", "model", "convert"),
    [
        ("/v1/models/lstm/predict", PredictRequest, None),
        ("/v1/models/gru/forecast", ForecastRequest, None),
        ("/v2/models/lstm/infer", InferRequest, v2_errors.to_response),
    ],
)
def test_a_body_that_does_not_validate_is_answered_byte_for_byte_as_fastapi_answers_it(
    served: TestClient, path: str, model: type[BaseModel], convert: Any
) -> None:
    reference = _reference(path, model, convert)
    for body in BAD_BODIES:
        want = reference.post(path, content=body, headers=JSON)
        if want.status_code == 200:
            continue  # a body FastAPI takes: the dataplane's checks answer it, not the parser
        got = served.post(path, content=body, headers=JSON)
        assert (got.status_code, got.content) == (want.status_code, want.content), body[:40]


def test_the_api_key_is_checked_before_the_model_and_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_client(artifacts_dir=ARTIFACTS_ROOT, api_key="s3cret") as client:
        for path in ("/v1/models/lstm/predict", "/v1/models/nope/forecast", "/v2/models/nope/infer"):
            assert client.post(path, content=b"{not json", headers=JSON).status_code == 401, path
        ok = client.post("/v1/models/lstm/predict", json={"window": WINDOW}, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200


def test_the_openapi_schema_documents_each_hot_endpoint_body_responses_and_key() -> None:
    with running_client(artifacts_dir=ARTIFACTS_ROOT, docs_enabled=True) as client:
        schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert schema["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "description": "required when FORECAST_API_KEY is set",
        "in": "header",
        "name": "X-API-Key",
    }
    for path, body, answer in [
        ("/v1/models/{name}/predict", "PredictRequest", "PredictResponse"),
        ("/v1/models/{name}/forecast", "ForecastRequest", "ForecastResponse"),
        ("/v2/models/{name}/infer", "InferRequest", "InferResponse"),
        ("/v2/models/{name}/versions/{version}/infer", "InferRequest", "InferResponse"),
    ]:
        post = paths[path]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{body}"}
        assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(answer)
        assert post["security"] == [{"APIKeyHeader": []}]
        assert [p["name"] for p in post["parameters"]] == [p.strip("{}") for p in path.split("/") if "{" in p]


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


def test_an_unexpected_error_in_a_handler_is_a_logged_500_in_the_service_shape(
    served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("boom at /secret/path")

    monkeypatch.setattr(v1_routes.codec, "encode_predict", broken)
    response = served.post("/v1/models/lstm/predict", json={"window": WINDOW})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text


def test_the_hot_routes_are_counted_under_their_route_template(served: TestClient) -> None:
    served.post("/v1/models/gru/forecast", json={"window": WINDOW, "horizon": 2})
    served.post("/v2/models/nope/infer", json={"inputs": [TENSOR]})
    metrics = served.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/v1/models/{name}/forecast",status="200"}' in metrics
    assert 'http_requests_total{method="POST",route="/v2/models/{name}/infer",status="404"}' in metrics


def test_a_get_on_a_hot_path_is_a_405_naming_post(served: TestClient) -> None:
    response = served.get("/v1/models/lstm/predict")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
