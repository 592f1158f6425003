"""Prediction intervals over HTTP: shape, ordering, metadata and refusals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import TINY_WINDOW, synthetic_prices

WINDOW = synthetic_prices()["High"].to_numpy()[-TINY_WINDOW:].round(2).tolist()


def test_forecast_intervals_bracket_the_forecast_and_widen(client: TestClient) -> None:
    r = client.post("/v1/models/ensemble/forecast", json={"window": WINDOW, "horizon": 25, "intervals": [95, 80]})
    assert r.status_code == 200, r.text
    body = r.json()
    point = np.array(body["forecast"])
    levels = [iv["level"] for iv in body["intervals"]]
    assert levels == [80, 95]
    bands = {iv["level"]: (np.array(iv["lower"]), np.array(iv["upper"])) for iv in body["intervals"]}
    for lower, upper in bands.values():
        assert lower.shape == upper.shape == point.shape
        assert np.all(lower <= point)
        assert np.all(point <= upper)
        assert np.all(np.diff(upper - lower) >= -1e-9)
    assert np.all(bands[95][1] - bands[95][0] >= bands[80][1] - bands[80][0])
    max_h = client.get("/v1/models/ensemble").json()["calibration"]["max_horizon"]
    assert any(f"beyond step {max_h}" in w for w in body["warnings"])


def test_predict_intervals_per_window(client: TestClient) -> None:
    windows = [WINDOW, [v * 1.01 for v in WINDOW]]
    r = client.post("/v1/models/lstm/predict", json={"windows": windows, "intervals": [90]})
    assert r.status_code == 200, r.text
    body = r.json()
    (band,) = body["intervals"]
    assert band["level"] == 90
    for p, lo, hi in zip(body["predictions"], band["lower"], band["upper"], strict=True):
        assert lo < p < hi
    assert body["intervals"] is not None
    plain = client.post("/v1/models/lstm/predict", json={"windows": windows}).json()
    assert plain["intervals"] is None
    assert plain["predictions"] == body["predictions"]


@pytest.mark.parametrize("levels", [[81], [0], [100], [80, 80], [], ["80"], [80.5], [True], "80"])
def test_bad_interval_levels_are_422(client: TestClient, levels: object) -> None:
    r = client.post("/v1/models/gru/forecast", json={"window": WINDOW, "horizon": 3, "intervals": levels})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"].startswith("intervals")


def test_model_metadata_shows_calibration(client: TestClient) -> None:
    info = client.get("/v1/models/gru").json()
    cal = info["calibration"]
    assert 80 in cal["levels"]
    assert 95 in cal["levels"]
    rows = {(c["horizon"], c["level"]) for c in cal["test_coverage"]}
    assert {(1, 80), (1, 95), (5, 80), (20, 95)} <= rows
    assert all(0.0 <= c["coverage"] <= 1.0 for c in cal["test_coverage"])


def test_no_calibration_means_422(make_client: Callable[..., TestClient], artifacts_copy) -> None:  # type: ignore[no-untyped-def]
    import json

    manifest = json.loads((artifacts_copy / "manifest.json").read_text())
    manifest["intervals"] = None
    (artifacts_copy / "manifest.json").write_text(json.dumps(manifest))
    client = make_client(artifacts_dir=artifacts_copy)
    r = client.post("/v1/models/lstm/predict", json={"window": WINDOW, "intervals": [80]})
    assert r.status_code == 422
    assert "no interval calibration" in r.json()["error"]["message"]
    assert client.post("/v1/models/lstm/predict", json={"window": WINDOW}).status_code == 200
