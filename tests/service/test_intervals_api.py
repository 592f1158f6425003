"""Prediction intervals over HTTP: shape, ordering, metadata, refusals, and the served bounds of both
committed sets equal to the forecast plus and minus the calibrated quantile of ``intervals.json``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import ARTIFACTS_ROOT, TINY_WINDOW, synthetic_prices
from tests.service.conftest import running_client

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


# --- the bounds' values, against intervals.json ------------------------------------------------------
#
# What the calibration documents (docs/accuracy.md, forecast_core/intervals.py): for step h of a
# forecast y made from window w, the bound is y +- q[h] * unit(w), where q is the table's quantile for the
# model, level and horizon h (past the calibrated max_horizon H: q[H] * sqrt(h / H)), and unit is the
# window's last price ("price") or its volatility ("volatility", floored at volatility_floor times the
# last price); the half-widths in prices never shrink from one step to the next. Written out here from
# the raw JSON, not through the service's IntervalTable.

COMMITTED_SETS = pytest.mark.skipif(
    not all((ARTIFACTS_ROOT / s / "intervals.json").is_file() for s in ("ibm-high", "ohlc")),
    reason="the committed artifact sets are absent",
)
COLUMNS = ("open", "high", "low", "close")


@pytest.fixture(scope="module")
def committed() -> Iterator[TestClient]:
    """One app serving both committed sets (ibm-high: lstm, gru, ensemble; ohlc: ohlc-*)."""
    with running_client(artifacts_dir=ARTIFACTS_ROOT) as client:
        yield client


def table(set_name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ARTIFACTS_ROOT / set_name / "intervals.json").read_text(encoding="utf-8"))
    return data


def half_widths(t: dict[str, Any], key: str, level: int, horizon: int, units: dict[str, float]) -> np.ndarray:
    """Half-widths in prices for steps 1..horizon, (horizon,) or (horizon, columns)."""
    q = np.asarray(t["quantiles"][key][str(level)], dtype=np.float64)
    top = t["max_horizon"]
    rows = []
    for h in range(1, horizon + 1):
        relative = q[h - 1] if h <= top else q[top - 1] * np.sqrt(h / top)
        rows.append(relative * units[t["scales"][min(h, top) - 1]])
    return np.maximum.accumulate(np.asarray(rows), axis=0)


def ibm_units(t: dict[str, Any], window: np.ndarray) -> dict[str, float]:
    last = float(window[-1])
    return {"price": last, "volatility": max(float(np.std(np.diff(window))), t["volatility_floor"] * last)}


def ohlc_units(t: dict[str, Any], window: np.ndarray) -> dict[str, float]:
    close = window[:, COLUMNS.index("close")]
    last = float(close[-1])
    return {"price": last, "volatility": last * max(float(np.std(np.diff(np.log(close)))), t["volatility_floor"])}


def ibm_windows() -> list[list[float]]:
    """A window of real-looking highs, and a calm one whose volatility is below the floor."""
    highs = synthetic_prices(300, seed=3)["High"].to_numpy()[-60:]
    moving = (highs / highs[-1] * 150.0).round(2)
    calm = 150.0 + 0.001 * np.arange(60)
    return [moving.tolist(), calm.tolist()]


def ohlc_window(seed: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    close = 80.0 * np.exp(np.cumsum(rng.normal(0, 0.015, 60)))
    opened = close * np.exp(rng.normal(0, 0.004, 60))
    high = np.maximum(close, opened) * (1 + np.abs(rng.normal(0, 0.006, 60)))
    low = np.minimum(close, opened) * (1 - np.abs(rng.normal(0, 0.006, 60)))
    return {"open": opened.tolist(), "high": high.tolist(), "low": low.tolist(), "close": close.tolist()}


def bands(body: dict[str, Any]) -> dict[int, tuple[Any, Any]]:
    return {band["level"]: (band["lower"], band["upper"]) for band in body["intervals"]}


@COMMITTED_SETS
@pytest.mark.parametrize("model", ["lstm", "gru", "ensemble"])
def test_the_ibm_sets_served_bounds_are_the_forecast_plus_and_minus_its_calibrated_quantile(
    committed: TestClient, model: str
) -> None:
    t = table("ibm-high")
    levels = [50, 80, 95, 99]
    for window in ibm_windows():
        units = ibm_units(t, np.asarray(window))
        horizon = t["max_horizon"] + 5  # past the calibrated horizon too
        r = committed.post(
            f"/v1/models/{model}/forecast", json={"window": window, "horizon": horizon, "intervals": levels}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        point = np.asarray(body["forecast"])
        for level, (lower, upper) in bands(body).items():
            half = half_widths(t, model, level, horizon, units)
            np.testing.assert_allclose(lower, point - half, rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(upper, point + half, rtol=1e-12, atol=1e-9)
        assert sorted(bands(body)) == levels
    # Next-step predictions of several windows: each window's own unit.
    windows = ibm_windows()
    r = committed.post(f"/v1/models/{model}/predict", json={"windows": windows, "intervals": [90]})
    assert r.status_code == 200, r.text
    body = r.json()
    lower, upper = bands(body)[90]
    for i, window in enumerate(windows):
        half = half_widths(t, model, 90, 1, ibm_units(t, np.asarray(window)))[0]
        assert lower[i] == pytest.approx(body["predictions"][i] - half, rel=1e-12, abs=1e-9)
        assert upper[i] == pytest.approx(body["predictions"][i] + half, rel=1e-12, abs=1e-9)
    assert half_widths(t, model, 90, 1, ibm_units(t, np.asarray(windows[1])))[0] > 0  # the floor holds


@COMMITTED_SETS
@pytest.mark.parametrize("key", ["lstm", "gru", "ensemble"])
def test_the_ohlc_sets_served_bounds_are_the_forecast_plus_and_minus_its_calibrated_quantile(
    committed: TestClient, key: str
) -> None:
    t = table("ohlc")
    assert len(set(t["scales"])) == 2  # its unit changes with the horizon: the bounds must still widen
    horizon = t["max_horizon"] + 5
    for seed in (1, 2):
        window = ohlc_window(seed)
        units = ohlc_units(t, np.stack([np.asarray(window[c]) for c in COLUMNS], axis=1))
        r = committed.post(
            f"/v1/models/ohlc-{key}/forecast", json={"window": window, "horizon": horizon, "intervals": [80, 95]}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        point = np.asarray([[bar[c] for c in COLUMNS] for bar in body["forecast"]])
        for level, (lower, upper) in bands(body).items():
            half = half_widths(t, key, level, horizon, units)
            assert half.shape == point.shape
            np.testing.assert_allclose([[b[c] for c in COLUMNS] for b in lower], point - half, rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose([[b[c] for c in COLUMNS] for b in upper], point + half, rtol=1e-12, atol=1e-9)
