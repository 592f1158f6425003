"""The /v2 (Open Inference Protocol) routes in process: error shapes, validation, readiness, the API key."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.core.config import Settings
from service.main import create_app
from tests.interop.conftest import wait_ready

W = 20  # the tiny artifacts' window
WINDOW = [100 + 0.25 * i for i in range(W)]
JSON = {"Content-Type": "application/json"}


def tensor(data: Any, shape: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": "window", "datatype": "FP32", "shape": shape or [1, W], "data": data, **extra}


def infer(client: TestClient, body: Any, model: str = "lstm", **headers: str) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(f"/v2/models/{model}/infer", content=raw, headers={**JSON, **headers})


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str)
    return str(body["error"])


def test_server_metadata_and_health(app_client: TestClient) -> None:
    assert app_client.get("/v2").json() == {
        "name": "stock-forecast",
        "version": "0.1.0",
        "extensions": ["parameters", "binary_tensor_data"],
    }
    assert app_client.get("/v2/health/live").json() == {"live": True}
    assert app_client.get("/v2/health/ready").json() == {"ready": True}
    assert app_client.get("/v2/models/gru/ready").json() == {"name": "gru", "ready": True}


def test_model_metadata(app_client: TestClient) -> None:
    meta = app_client.get("/v2/models/ensemble").json()
    v1 = app_client.get("/v1/models/ensemble").json()
    assert meta == {
        "name": "ensemble",
        "versions": [v1["version"]],
        "platform": "onnxruntime",
        "inputs": [{"name": "window", "datatype": "FP32", "shape": [-1, W]}],
        "outputs": [{"name": "prediction", "datatype": "FP32", "shape": [-1, 1]}],
        "parameters": {"input_columns": ["high"], "output_columns": ["high"]},
    }
    assert app_client.get(f"/v2/models/ensemble/versions/{v1['version']}").json() == meta
    assert "no version 'x'" in error_of(app_client.get("/v2/models/ensemble/versions/x"), 404)
    assert "unknown model 'nope'" in error_of(app_client.get("/v2/models/nope"), 404)
    assert "unknown model 'nope'" in error_of(app_client.get("/v2/models/nope/ready"), 404)


def test_infer_flat_and_nested_agree_with_v1(app_client: TestClient) -> None:
    second = [w + 1 for w in WINDOW]
    flat = infer(app_client, {"id": "abc", "inputs": [tensor(WINDOW + second, [2, W])]})
    nested = infer(app_client, {"inputs": [tensor([WINDOW, second], [2, W])], "outputs": [{"name": "prediction"}]})
    one_dim = infer(app_client, {"inputs": [tensor(WINDOW, [W])]})
    v1 = app_client.post("/v1/models/lstm/predict", json={"windows": [WINDOW, second]}).json()
    assert flat.status_code == nested.status_code == one_dim.status_code == 200
    body = flat.json()
    assert body["id"] == "abc"
    assert body["model_name"] == "lstm"
    assert body["model_version"] == v1["version"]
    assert body["outputs"] == [{"name": "prediction", "datatype": "FP32", "shape": [2, 1], "data": v1["predictions"]}]
    assert "id" not in nested.json()
    assert nested.json()["outputs"] == body["outputs"]
    assert one_dim.json()["outputs"][0]["data"] == v1["predictions"][:1]


def test_infer_horizon_agrees_with_v1_forecast(app_client: TestClient) -> None:
    r = infer(app_client, {"inputs": [tensor(WINDOW)], "parameters": {"horizon": 6}}, model="ensemble")
    v1 = app_client.post("/v1/models/ensemble/forecast", json={"window": WINDOW, "horizon": 6}).json()
    assert r.json()["outputs"] == [{"name": "prediction", "datatype": "FP32", "shape": [1, 6], "data": v1["forecast"]}]


def test_out_of_range_windows_carry_a_warning_parameter(app_client: TestClient) -> None:
    r = infer(app_client, {"inputs": [tensor([1e5] * W)]})
    assert r.status_code == 200
    assert "above the training maximum" in r.json()["parameters"]["warnings"]


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("not json", "{not json", "request body is not valid JSON"),
    ("not an object", "[1, 2]", "request body must be a JSON object"),
    ("no inputs", {}, "inputs: Field required"),
    ("empty inputs", {"inputs": []}, "inputs: List should have at least 1 item"),
    ("shape not ints", {"inputs": [tensor(WINDOW, ["a", W])]}, "inputs[0].shape[0]"),
    ("two inputs", {"inputs": [tensor(WINDOW), tensor(WINDOW)]}, "takes exactly one input, 'window'"),
    ("wrong name", {"inputs": [{**tensor(WINDOW), "name": "x"}]}, "got 'x'"),
    ("wrong datatype", {"inputs": [{**tensor(WINDOW), "datatype": "INT64"}]}, "datatype 'INT64' is not supported"),
    ("short window", {"inputs": [tensor(WINDOW[:5], [1, 5])]}, "the last dimension must be the model's window 20"),
    ("rank 3", {"inputs": [tensor(WINDOW, [1, 1, W])]}, "must be [N, 20]"),
    ("no windows", {"inputs": [tensor([], [0, W])]}, "holds no window"),
    ("shape vs data", {"inputs": [tensor(WINDOW, [2, W])]}, "needs 40 values, data holds 20"),
    ("ragged", {"inputs": [tensor([WINDOW, WINDOW[:-1]], [2, W])]}, "ragged"),
    ("nested deeper", {"inputs": [tensor([[WINDOW]], [1, W])]}, "nested deeper than its shape"),
    (
        "nested shape",
        {"inputs": [tensor([WINDOW[:10], WINDOW[10:]])]},
        "nested data has shape [2, 10], but the declared",
    ),
    ("nested 500 deep", {"inputs": [tensor(json.loads("[" * 500 + "1" + "]" * 500))]}, "nested deeper than its shape"),
    ("negative", {"inputs": [tensor([*WINDOW[:-1], -3.0])]}, "data[19] (window 0, position 19) is -3.0"),
    ("zero", {"inputs": [tensor([0, *WINDOW[1:]])]}, "data[0] (window 0, position 0) is 0"),
    ("string value", {"inputs": [tensor(["1", *WINDOW[1:]])]}, "is '1'"),
    ("bool value", {"inputs": [tensor([True, *WINDOW[1:]])]}, "is True"),
    ("null value", {"inputs": [tensor([None, *WINDOW[1:]])]}, "is None"),
    ("over float32", {"inputs": [tensor([1e39, *WINDOW[1:]])]}, "finite positive number"),
    ("no data", {"inputs": [{k: v for k, v in tensor(WINDOW).items() if k != "data"}]}, "'data' is required"),
    ("unknown output", {"inputs": [tensor(WINDOW)], "outputs": [{"name": "y"}]}, "unknown output 'y'"),
    ("horizon zero", {"inputs": [tensor(WINDOW)], "parameters": {"horizon": 0}}, "at least 1"),
    ("horizon float", {"inputs": [tensor(WINDOW)], "parameters": {"horizon": 2.5}}, "must be an integer"),
    ("horizon bool", {"inputs": [tensor(WINDOW)], "parameters": {"horizon": True}}, "must be an integer"),
    ("horizon max", {"inputs": [tensor(WINDOW)], "parameters": {"horizon": 366}}, "over the limit of 365"),
    (
        "horizon batch",
        {"inputs": [tensor(WINDOW * 2, [2, W])], "parameters": {"horizon": 2}},
        "takes exactly one window, got 2",
    ),
    ("batch max", {"inputs": [tensor(WINDOW * 257, [257, W])]}, "batch of 257 windows is over the limit of 256"),
]


@pytest.mark.parametrize(("body", "fragment"), [pytest.param(b, f, id=i) for i, b, f in BAD_BODIES])
def test_bad_requests_are_400_in_the_protocol_shape(app_client: TestClient, body: Any, fragment: str) -> None:
    assert fragment in error_of(infer(app_client, body), 400)


def test_nan_and_infinity_tokens_are_refused(app_client: TestClient) -> None:
    raw = json.dumps({"inputs": [tensor(["_", *WINDOW[1:]])]}).replace('"_"', "NaN")  # not JSON, but parsed
    assert "is nan" in error_of(infer(app_client, raw), 400)
    assert "is inf" in error_of(infer(app_client, raw.replace("NaN", "Infinity")), 400)


def test_unknown_model_is_404_even_with_a_bad_body(app_client: TestClient) -> None:
    assert "unknown model 'nope'" in error_of(infer(app_client, {"inputs": "x"}, model="nope"), 404)
    assert "no version 'x'" in error_of(
        app_client.post("/v2/models/lstm/versions/x/infer", json={"inputs": [tensor(WINDOW)]}), 404
    )


def test_v1_errors_keep_their_shape(app_client: TestClient) -> None:
    r = app_client.post("/v1/models/lstm/predict", json={"window": [1.0]})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    r = app_client.get("/v1/models/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "unknown_model"


def test_openapi_documents_the_v2_routes(app_client: TestClient) -> None:
    paths = app_client.get("/openapi.json").json()["paths"]
    assert {"/v2", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/infer"} <= set(paths)


@pytest.fixture
def keyed(tiny_artifacts: Path) -> Iterator[TestClient]:
    settings = Settings(artifacts_dir=tiny_artifacts, api_key="k", models=("lstm",))  # type: ignore[arg-type]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        wait_ready(client)
        yield client


def test_infer_needs_the_api_key(keyed: TestClient) -> None:
    r = infer(keyed, {"inputs": [tensor(WINDOW)]})
    assert error_of(r, 401) == "missing or invalid X-API-Key header"
    assert r.headers["WWW-Authenticate"] == "ApiKey"
    assert infer(keyed, {"inputs": [tensor(WINDOW)]}, **{"X-API-Key": "k"}).status_code == 200
    assert keyed.get("/v2/models/lstm").status_code == 200  # metadata stays open, as on /v1
    assert "unknown model 'gru'" in error_of(keyed.get("/v2/models/gru"), 404)  # not configured here


def test_not_ready_is_503(tmp_path: Path) -> None:
    settings = Settings(artifacts_dir=tmp_path / "missing")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").json()["status"] == "loading":  # fails at once: the directory is missing
            assert time.monotonic() < deadline, "still loading after 60 s"
            time.sleep(0.02)
        r = client.get("/v2/health/ready")
        assert r.status_code == 503
        assert r.json()["ready"] is False
        assert client.get("/v2/health/live").status_code == 200
        assert "unavailable" in error_of(client.get("/v2/models/lstm/ready"), 503)
        assert error_of(client.get("/v2/models/lstm"), 503)
        r = infer(client, {"inputs": [tensor(WINDOW)]})
        assert "unavailable" in error_of(r, 503)
        assert r.headers["Retry-After"] == "1"


def test_a_forecast_past_the_time_limit_is_504(tiny_artifacts: Path) -> None:
    settings = Settings(artifacts_dir=tiny_artifacts, models=("lstm",), request_timeout_s=1e-9)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        wait_ready(client)
        r = infer(client, {"inputs": [tensor(WINDOW)], "parameters": {"horizon": 365}})
        assert "longer than the server's limit" in error_of(r, 504)
        assert infer(client, {"inputs": [tensor(WINDOW)]}).status_code == 200  # no deadline on a next-step call


@pytest.mark.slow
def test_keras_backend_reports_the_tensorflow_platform(tiny_artifacts: Path) -> None:
    settings = Settings(artifacts_dir=tiny_artifacts, backend="keras", models=("lstm",))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        wait_ready(client, timeout=180)
        assert client.get("/v2/models/lstm").json()["platform"] == "tensorflow"
