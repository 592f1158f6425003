"""Liveness, readiness and what a broken or partial artifact set does to serving."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.dataplane import ModelRegistry
from tests.reliability.conftest import wait_loaded

W = 20
WINDOW = [100.0 + i for i in range(W)]


def predict(client: TestClient, name: str) -> Any:
    return client.post(f"/v1/models/{name}/predict", json={"window": WINDOW})


def readyz(client: TestClient, status: int) -> dict[str, Any]:
    response = client.get("/readyz")
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_reason_clean(reason: str, *directories: Path) -> None:
    for directory in directories:
        assert str(directory) not in reason
    assert "/" not in reason, reason
    assert "Traceback" not in reason, reason


def test_healthy_app_is_ready_and_alive(client: TestClient) -> None:
    body = readyz(client, 200)
    assert body["status"] == "ready"
    assert body["reason"] is None
    assert body["models"] == {"lstm": "ready", "gru": "ready", "ensemble": "ready"}
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").json()["status"] == "alive"


def test_not_ready_while_loading(
    monkeypatch: pytest.MonkeyPatch,
    make_client: Callable[..., TestClient],
    wait_until_ready: Callable[..., None],
    expect_error: Callable[..., dict[str, Any]],
) -> None:
    gate, entered = threading.Event(), threading.Event()
    load = ModelRegistry.load

    def gated_load(self: ModelRegistry) -> None:
        entered.set()
        gate.wait(timeout=60)
        load(self)

    monkeypatch.setattr(ModelRegistry, "load", gated_load)
    client = make_client(ready=False)
    try:
        assert entered.wait(timeout=30), "the app never started loading"
        for _ in range(3):
            body = readyz(client, 503)
            assert body["status"] == "loading"
            assert "load" in body["reason"]
            assert set(body["models"].values()) == {"loading"}
            assert client.get("/healthz").status_code == 200
        error = expect_error(predict(client, "lstm"), 503, "model_unavailable")
        assert "loading" in error["message"]
        forecast = client.post("/v1/models/gru/forecast", json={"window": WINDOW, "horizon": 2})
        expect_error(forecast, 503, "model_unavailable")
        assert predict(client, "lstm").headers.get("retry-after") == "1"
        expect_error(client.get("/v1/models/lstm"), 503, "model_unavailable")
        expect_error(predict(client, "nope"), 404, "unknown_model")
    finally:
        gate.set()
    wait_until_ready(client)
    assert readyz(client, 200)["status"] == "ready"
    assert client.get("/healthz").status_code == 200
    assert predict(client, "lstm").status_code == 200


def test_corrupt_model_file_fails_readiness_and_its_model(
    artifacts_copy: Path,
    corrupt: Callable[[Path], None],
    make_client: Callable[..., TestClient],
    wait_until_ready: Callable[..., None],
    expect_error: Callable[..., dict[str, Any]],
) -> None:
    corrupt(artifacts_copy / "lstm.onnx")
    client = make_client(artifacts_dir=artifacts_copy, ready=False)
    body = wait_for_state(client, "failed")
    assert "lstm.onnx" in body["reason"]
    assert "checksum" in body["reason"]
    assert_reason_clean(body["reason"], artifacts_copy)
    assert body["models"]["lstm"].startswith("unavailable")
    assert "lstm.onnx" in body["models"]["lstm"]
    assert body["models"]["ensemble"].startswith("unavailable")
    assert body["models"]["gru"] == "ready"
    assert client.get("/healthz").status_code == 200
    for name in ("lstm", "ensemble"):
        error = expect_error(predict(client, name), 503, "model_unavailable")
        assert "lstm.onnx" in error["message"]
        forecast = client.post(f"/v1/models/{name}/forecast", json={"window": WINDOW, "horizon": 3})
        expect_error(forecast, 503, "model_unavailable")
    info = client.get("/v1/models/lstm")
    assert info.status_code == 200, info.text
    assert info.json()["ready"] is False
    assert "lstm.onnx" in info.json()["error"]
    with pytest.raises(AssertionError):
        wait_until_ready(client, timeout=0.2)


@pytest.mark.parametrize("backend", ["onnx", "keras"])
def test_unparsable_model_file_with_a_matching_checksum(
    artifacts_copy: Path,
    reseal: Callable[[Path, str], None],
    make_client: Callable[..., TestClient],
    expect_error: Callable[..., dict[str, Any]],
    backend: str,
) -> None:
    """A file that passes the checksum but that the runtime cannot parse: 503 naming it, never 500."""
    file = f"gru.{backend}"
    (artifacts_copy / file).write_bytes(b"definitely not a model\x00\x01" * 64)
    reseal(artifacts_copy, file)
    client = make_client(artifacts_dir=artifacts_copy, backend=backend, models=("gru",), ready=False)
    body = wait_for_state(client, "failed")
    assert file in body["reason"]
    assert "cannot be loaded" in body["reason"]
    assert_reason_clean(body["reason"], artifacts_copy)
    error = expect_error(predict(client, "gru"), 503, "model_unavailable")
    assert file in error["message"]
    expect_error(predict(client, "lstm"), 404, "unknown_model")


def test_missing_manifest(
    artifacts_copy: Path, make_client: Callable[..., TestClient], expect_error: Callable[..., dict[str, Any]]
) -> None:
    (artifacts_copy / "manifest.json").unlink()
    client = make_client(artifacts_dir=artifacts_copy, ready=False)
    body = wait_for_state(client, "failed")
    assert "manifest.json" in body["reason"]
    assert "missing" in body["reason"]
    assert_reason_clean(body["reason"], artifacts_copy)
    assert all(state.startswith("unavailable") for state in body["models"].values())
    assert client.get("/healthz").status_code == 200
    expect_error(predict(client, "lstm"), 503, "model_unavailable")
    expect_error(client.get("/v1/models/gru"), 503, "model_unavailable")
    assert client.get("/v1/models").json() == {"models": []}


def test_missing_artifacts_directory(
    tmp_path: Path, make_client: Callable[..., TestClient], expect_error: Callable[..., dict[str, Any]]
) -> None:
    missing = tmp_path / "no-such-artifacts"
    client = make_client(artifacts_dir=missing, ready=False)
    body = wait_for_state(client, "failed")
    assert "no-such-artifacts" in body["reason"]
    assert "does not exist" in body["reason"]
    assert_reason_clean(body["reason"], tmp_path)
    assert client.get("/healthz").status_code == 200
    error = expect_error(predict(client, "ensemble"), 503, "model_unavailable")
    assert str(tmp_path) not in error["message"]


@pytest.mark.parametrize(
    ("file", "words"),
    [("scaler.json", ("scaler.json", "checksum")), ("manifest.json", ("manifest.json",))],
)
def test_corrupt_scaler_or_manifest(
    artifacts_copy: Path,
    corrupt: Callable[[Path], None],
    make_client: Callable[..., TestClient],
    expect_error: Callable[..., dict[str, Any]],
    file: str,
    words: tuple[str, ...],
) -> None:
    corrupt(artifacts_copy / file)
    client = make_client(artifacts_dir=artifacts_copy, ready=False)
    body = wait_for_state(client, "failed")
    for word in words:
        assert word in body["reason"], body
    assert_reason_clean(body["reason"], artifacts_copy)
    expect_error(predict(client, "lstm"), 503, "model_unavailable")


def test_partial_serving_when_not_all_models_are_required(
    artifacts_copy: Path,
    corrupt: Callable[[Path], None],
    make_client: Callable[..., TestClient],
    expect_error: Callable[..., dict[str, Any]],
) -> None:
    corrupt(artifacts_copy / "gru.onnx")
    strict = make_client(artifacts_dir=artifacts_copy, models=("lstm", "gru"), ready=False)
    assert "gru.onnx" in wait_for_state(strict, "failed")["reason"]

    client = make_client(artifacts_dir=artifacts_copy, models=("lstm", "gru"), require_all_models=False)
    body = readyz(client, 200)
    assert body["status"] == "ready"
    assert body["models"]["lstm"] == "ready"
    assert body["models"]["gru"].startswith("unavailable")
    assert "gru.onnx" in body["models"]["gru"]
    assert set(body["models"]) == {"lstm", "gru"}
    ok = predict(client, "lstm")
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["predictions"]) == 1
    assert client.post("/v1/models/lstm/forecast", json={"window": WINDOW, "horizon": 2}).status_code == 200
    error = expect_error(predict(client, "gru"), 503, "model_unavailable")
    assert "gru.onnx" in error["message"]
    expect_error(predict(client, "ensemble"), 404, "unknown_model")
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert listed["lstm"]["ready"] is True
    assert listed["lstm"]["error"] is None
    assert listed["gru"]["ready"] is False
    assert "gru.onnx" in listed["gru"]["error"]


def test_partial_serving_with_the_ensemble_configured(
    artifacts_copy: Path,
    corrupt: Callable[[Path], None],
    make_client: Callable[..., TestClient],
    expect_error: Callable[..., dict[str, Any]],
) -> None:
    corrupt(artifacts_copy / "gru.onnx")
    client = make_client(artifacts_dir=artifacts_copy, require_all_models=False)
    body = readyz(client, 200)
    assert body["models"]["ensemble"].startswith("unavailable")
    assert "gru" in body["models"]["ensemble"]
    assert predict(client, "lstm").status_code == 200
    expect_error(predict(client, "ensemble"), 503, "model_unavailable")
    expect_error(predict(client, "gru"), 503, "model_unavailable")


def test_nothing_loads_is_not_ready_even_when_not_all_are_required(
    artifacts_copy: Path, corrupt: Callable[[Path], None], make_client: Callable[..., TestClient]
) -> None:
    corrupt(artifacts_copy / "gru.onnx")
    corrupt(artifacts_copy / "lstm.onnx")
    client = make_client(artifacts_dir=artifacts_copy, require_all_models=False, ready=False)
    body = wait_for_state(client, "failed")
    assert "lstm.onnx" in body["reason"]
    assert "gru.onnx" in body["reason"]


def test_one_model_configured(
    artifacts_copy: Path,
    make_client: Callable[..., TestClient],
    expect_error: Callable[..., dict[str, Any]],
    metric_samples: Callable[[TestClient], list[tuple[str, dict[str, str], float]]],
) -> None:
    # Only the configured model's files are read: the others may be absent.
    for file in ("gru.onnx", "gru.keras"):
        os.remove(artifacts_copy / file)
    client = make_client(artifacts_dir=artifacts_copy, models=("lstm",))
    body = readyz(client, 200)
    assert body["models"] == {"lstm": "ready"}
    response = predict(client, "lstm")
    assert response.status_code == 200, response.text
    for name in ("gru", "ensemble"):
        error = expect_error(predict(client, name), 404, "unknown_model")
        assert "lstm" in error["message"]
        assert "gru," not in error["message"]
        expect_error(client.get(f"/v1/models/{name}"), 404, "unknown_model")
    assert [m["name"] for m in client.get("/v1/models").json()["models"]] == ["lstm"]
    info = [labels["model"] for name, labels, value in metric_samples(client) if name == "forecast_model_info"]
    assert info == ["lstm"]


def wait_for_state(client: TestClient, state: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll /readyz until loading has finished; /healthz answers 200 at every step."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        body = response.json()
        if body["status"] != "loading":
            break
        assert response.status_code == 503
        assert time.monotonic() < deadline, f"still loading after {timeout} s"
        time.sleep(0.02)
    assert body["status"] == state, body
    assert response.status_code == (200 if state == "ready" else 503), body
    assert isinstance(body["reason"], str) if state != "ready" else body["reason"] is None
    return body  # type: ignore[no-any-return]


@pytest.fixture
def twin_sets(tiny_model_sets: Path, tmp_path: Path) -> Path:
    """``ibm-high/`` and ``ohlc/``, and ``ibm-twin/``: a second set serving lstm, gru and ensemble again."""
    import shutil

    root = tmp_path / "artifacts"
    shutil.copytree(tiny_model_sets, root)
    shutil.copytree(root / "ibm-high", root / "ibm-twin")
    return root


def test_a_model_name_served_by_two_sets_is_served_by_neither_and_the_reason_names_both(
    make_client: Callable[..., TestClient], twin_sets: Path
) -> None:
    """Neither copy wins silently: the name is unavailable, naming both sets. By default (every model
    required) the server is not ready; without the requirement it serves the names only one set has."""
    strict = make_client(artifacts_dir=twin_sets, ready=False)
    body = wait_loaded(strict)
    assert body["status"] == "failed"
    for name in ("lstm", "gru", "ensemble"):
        why = f"model {name!r} is served by two sets (ibm-high, ibm-twin)"
        assert why in body["reason"], body
        assert body["models"][name] == f"unavailable: {why}"
    assert body["models"]["ohlc-lstm"] == "ready"

    lenient = make_client(artifacts_dir=twin_sets, require_all_models=False)
    body = readyz(lenient, 200)
    assert {n: s for n, s in body["models"].items() if s == "ready"} == dict.fromkeys(
        ["ohlc-lstm", "ohlc-gru", "ohlc-ensemble"], "ready"
    )
    refused = predict(lenient, "lstm")
    assert refused.status_code == 503, refused.text
    assert "served by two sets (ibm-high, ibm-twin)" in refused.json()["error"]["message"]
    bars = {c: [50.0 + i for i in range(10)] for c in ("open", "high", "low", "close")}
    served = lenient.post("/v1/models/ohlc-lstm/predict", json={"window": bars})
    assert served.status_code == 200, served.text
