"""GET /v1/models and /v1/models/{name}: what each model is, what it was trained on, how it tested."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

REQUIRED = {
    "name",
    "version",
    "description",
    "trained_at",
    "target_column",
    "window",
    "training_dates",
    "training_values",
    "parameters",
    "test_metrics",
    "members",
    "ready",
}


@pytest.fixture(scope="module")
def manifest(tiny_artifacts: Path) -> dict[str, Any]:
    return json.loads((tiny_artifacts / "manifest.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def listed(served: TestClient) -> dict[str, dict[str, Any]]:
    response = served.get("/v1/models")
    assert response.status_code == 200, response.text
    models = response.json()["models"]
    assert [m["name"] for m in models] == ["lstm", "gru", "ensemble"]
    return {m["name"]: m for m in models}


def check_common(info: dict[str, Any], manifest: dict[str, Any]) -> None:
    assert set(info) >= REQUIRED, sorted(REQUIRED - set(info))
    assert datetime.fromisoformat(info["trained_at"]) == datetime.fromisoformat(manifest["created_at"])
    assert info["target_column"] == manifest["target_column"] == "High"
    assert info["window"] == manifest["window"] == 20
    rng = manifest["training_range"]
    assert info["training_dates"] == {"start": rng["start_date"], "end": rng["end_date"]}
    assert info["training_values"] == {"min": rng["min"], "max": rng["max"]}
    assert info["training_values"]["min"] < info["training_values"]["max"]
    assert info["ready"] is True
    assert info["backend"] == "onnx"


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_base_model_metadata(
    served: TestClient, listed: dict[str, dict[str, Any]], manifest: dict[str, Any], name: str
) -> None:
    response = served.get(f"/v1/models/{name}")
    assert response.status_code == 200, response.text
    info = response.json()
    assert info == listed[name]
    entry = manifest["models"][name]
    check_common(info, manifest)
    assert info["name"] == name
    assert info["version"] == "1"  # the repository's version (a flat set is its version 1)
    assert info["run"] == entry["version"]  # the training run's id moved to the card
    assert info["versions"] == [{"version": "1", "state": "ready", "reason": None}]
    assert info["parameters"] == entry["parameters"] > 0
    assert info["test_metrics"] == entry["test_metrics"]
    assert set(info["test_metrics"]) == {"rmse", "mae", "mape", "mase"}
    assert info["sequence_rmse"] == entry["sequence_rmse"]
    assert info["hyperparameters"] == entry["hyperparameters"]
    assert info["recipe"] == entry["recipe"]
    assert name.upper() in info["description"]
    assert info["members"] == []


def test_ensemble_metadata(served: TestClient, listed: dict[str, dict[str, Any]], manifest: dict[str, Any]) -> None:
    response = served.get("/v1/models/ensemble")
    assert response.status_code == 200, response.text
    info = response.json()
    assert info == listed["ensemble"]
    check_common(info, manifest)
    assert info["name"] == "ensemble"
    assert "mean" in info["description"].lower()
    assert "lstm" in info["description"]
    assert "gru" in info["description"]
    assert info["members"] == ["lstm", "gru"]
    assert info["version"] == "1"
    assert info["run"] == "+".join(manifest["models"][m]["version"] for m in ("lstm", "gru"))
    assert info["parameters"] == sum(manifest["models"][m]["parameters"] for m in ("lstm", "gru"))
    assert info["test_metrics"] == manifest["ensemble"]["test_metrics"]
    assert info["sequence_rmse"] == manifest["ensemble"]["sequence_rmse"]


def test_versions_are_what_predictions_report(served: TestClient, listed: dict[str, dict[str, Any]]) -> None:
    window = [100.0 + i for i in range(20)]
    for name, info in listed.items():
        response = served.post(f"/v1/models/{name}/predict", json={"window": window})
        assert response.status_code == 200, response.text
        assert response.json()["version"] == info["version"]


def test_metadata_needs_no_api_key_and_is_in_the_openapi_schema(served: TestClient) -> None:
    schema = served.get("/openapi.json").json()
    for path in ("/v1/models", "/v1/models/{name}", "/v1/models/{name}/predict", "/v1/models/{name}/forecast"):
        assert path in schema["paths"], sorted(schema["paths"])
    props = schema["components"]["schemas"]["ModelInfo"]["properties"]
    assert set(props) >= REQUIRED
