"""Warnings when a window leaves the training value range, saying which way and by how much."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecast_core.features import range_warnings

BY = re.compile(r"by up to ([0-9.eE+-]+)")


@pytest.fixture(scope="module")
def bounds(served: TestClient) -> tuple[float, float]:
    info = served.get("/v1/models/lstm").json()["training_values"]
    return info["min"], info["max"]


@pytest.fixture(scope="module")
def inside(bounds: tuple[float, float]) -> list[float]:
    low, high = bounds
    return list(np.linspace(low + 0.1 * (high - low), high - 0.1 * (high - low), 20))


def amount(warning: str) -> float:
    match = BY.search(warning)
    assert match, warning
    return float(match.group(1))


@pytest.mark.parametrize("kind", ["predict", "forecast"])
def test_no_warning_inside_the_training_range(
    served: TestClient, inside: list[float], bounds: tuple[float, float], kind: str
) -> None:
    low, high = bounds
    edges = [low, high, *inside[2:]]  # the extremes themselves are inside
    for window in (inside, edges):
        body = {"window": window, "horizon": 3} if kind == "forecast" else {"window": window}
        response = served.post(f"/v1/models/lstm/{kind}", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["warnings"] == []


@pytest.mark.parametrize("kind", ["predict", "forecast"])
def test_warning_above_the_training_maximum(
    served: TestClient, inside: list[float], bounds: tuple[float, float], kind: str
) -> None:
    _low, high = bounds
    window = list(inside)
    window[5], window[9] = high + 2.5, high + 7.25
    body = {"window": window, "horizon": 3} if kind == "forecast" else {"window": window}
    response = served.post(f"/v1/models/gru/{kind}", json=body)
    assert response.status_code == 200, response.text
    (warning,) = response.json()["warnings"]
    assert "above" in warning
    assert "maximum" in warning
    assert "below" not in warning
    assert f"{high:.4g}" in warning
    assert "2 value" in warning
    assert amount(warning) == pytest.approx(7.25, rel=1e-3)


@pytest.mark.parametrize("kind", ["predict", "forecast"])
def test_warning_below_the_training_minimum(
    served: TestClient, inside: list[float], bounds: tuple[float, float], kind: str
) -> None:
    low, _high = bounds
    window = list(inside)
    window[0] = low - 3.5
    body = {"window": window, "horizon": 3} if kind == "forecast" else {"window": window}
    response = served.post(f"/v1/models/ensemble/{kind}", json=body)
    assert response.status_code == 200, response.text
    (warning,) = response.json()["warnings"]
    assert "below" in warning
    assert "minimum" in warning
    assert "above" not in warning
    assert f"{low:.4g}" in warning
    assert amount(warning) == pytest.approx(3.5, rel=1e-3)
    assert f"{100 * 3.5 / low:.1f}%" in warning


def test_batch_warnings_name_the_window(served: TestClient, inside: list[float], bounds: tuple[float, float]) -> None:
    low, high = bounds
    above, below, both = list(inside), list(inside), list(inside)
    above[-1] = high * 1.5
    below[3] = low / 2
    both[0], both[1] = low - 1, high + 1
    response = served.post("/v1/models/lstm/predict", json={"windows": [inside, above, below, both]})
    assert response.status_code == 200, response.text
    warnings = response.json()["warnings"]
    assert len(warnings) == 4
    assert not any(w.startswith("window 0") for w in warnings)
    (w1,) = [w for w in warnings if w.startswith("window 1:")]
    assert "above" in w1
    assert amount(w1) == pytest.approx(high * 0.5, rel=1e-3)
    (w2,) = [w for w in warnings if w.startswith("window 2:")]
    assert "below" in w2
    assert amount(w2) == pytest.approx(low / 2, rel=1e-3)
    w3 = sorted(w for w in warnings if w.startswith("window 3:"))
    assert len(w3) == 2
    assert "above" in w3[0]
    assert "below" in w3[1]
    assert all(amount(w) == pytest.approx(1.0, rel=1e-3) for w in w3)
    assert len(response.json()["predictions"]) == 4


def test_range_warnings_function() -> None:
    x = np.array([[1.0, 2.0, 3.0], [0.5, 2.0, 4.0]])
    assert range_warnings(x[:1], 1.0, 3.0) == []
    warnings = range_warnings(x, 1.0, 3.0)
    assert len(warnings) == 2
    assert all(w.startswith("window 1:") for w in warnings)
    assert amount(next(w for w in warnings if "above" in w)) == pytest.approx(1.0)
    assert amount(next(w for w in warnings if "below" in w)) == pytest.approx(0.5)
