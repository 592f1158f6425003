"""Both serving backends agree with the Keras models themselves; the ensemble and the recursion are what they claim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecast_core.loader import load_set
from forecast_core.predictor import Predictor

REL = 1e-5  # the contract: served prices equal the Keras model's within 1e-5 relative
# Float32 noise, in model (scaled) units, allowed between runtimes. The tiny models are one epoch
# from persistence, so lstm and gru differ by little in price terms; comparing the predicted change
# in model units with this bound is what tells one model from the other (checked below).
SCALED_ATOL = 2e-6
BACKENDS = ("onnx", "keras")
HORIZON = 20


@pytest.fixture(scope="module")
def scaling(tiny_artifacts: Path) -> tuple[float, float]:
    raw = json.loads((tiny_artifacts / "scaler.json").read_text(encoding="utf-8"))
    assert tuple(raw["feature_range"]) == (0.0, 1.0)
    return float(raw["data_min"]), float(raw["data_max"])


@pytest.fixture(scope="module")
def keras_models(tiny_artifacts: Path) -> dict[str, Any]:
    import keras

    return {
        name: keras.saving.load_model(tiny_artifacts / f"{name}.keras", compile=False, safe_mode=True)
        for name in ("lstm", "gru")
    }


@pytest.fixture(scope="module")
def reference(keras_models: dict[str, Any], scaling: tuple[float, float]) -> Any:
    """Next values by the Keras model itself, with the min-max scaling written out here.

    ``graph=True`` runs the same ``model(x)`` call inside a plain ``tf.function`` (no XLA): eager
    calls cost ~0.1 s each, too slow for step-by-step recursions. A test checks both agree.
    """
    import tensorflow as tf

    low, high = scaling
    graphs = {
        name: tf.function(
            lambda x, model=model: model(x, training=False),
            input_signature=[tf.TensorSpec([None, model.input_shape[-1]], tf.float32)],
        )
        for name, model in keras_models.items()
    }

    def predict(name: str, windows: np.ndarray, graph: bool = False) -> np.ndarray:
        if name == "ensemble":
            return (predict("lstm", windows, graph) + predict("gru", windows, graph)) / 2
        scaled = ((np.asarray(windows, dtype=np.float64) - low) / (high - low)).astype(np.float32)
        model = graphs[name] if graph else keras_models[name]
        out = np.asarray(model(scaled, training=False) if not graph else model(scaled), dtype=np.float64)
        out = out.reshape(-1)
        assert out.shape == (len(windows),)
        return out * (high - low) + low

    return predict


@pytest.fixture(scope="module")
def origins(windows: np.ndarray) -> np.ndarray:
    """Forecast origins: in the training period, at its end, and late in the test period."""
    return windows[[100, len(windows) // 2, len(windows) - 5]]


@pytest.fixture(scope="module")
def keras_recursion(reference: Any, origins: np.ndarray) -> dict[str, np.ndarray]:
    """The recursive forecast driven by the Keras models: predict, append, slide, repeat."""
    out = {}
    for name in ("lstm", "gru", "ensemble"):
        history = origins.copy()
        steps = []
        for _ in range(HORIZON):
            step = reference(name, history[:, -origins.shape[1] :], graph=True)
            steps.append(step)
            history = np.concatenate([history, step[:, None]], axis=1)
        out[name] = np.stack(steps, axis=1)
    return out


@pytest.fixture(scope="module")
def clients(served: TestClient, served_keras: TestClient) -> dict[str, TestClient]:
    return {"onnx": served, "keras": served_keras}


def assert_same_prices(got: np.ndarray, expected: np.ndarray, scaling: tuple[float, float]) -> None:
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=REL, atol=0)
    low, high = scaling
    np.testing.assert_allclose(got / (high - low), expected / (high - low), rtol=0, atol=SCALED_ATOL)


def test_the_models_are_told_apart_by_the_comparison(
    reference: Any, windows: np.ndarray, scaling: tuple[float, float]
) -> None:
    """Guard: the comparison bound is far tighter than how much lstm, gru and persistence differ."""
    low, high = scaling
    lstm, gru = reference("lstm", windows), reference("gru", windows)
    assert np.abs(lstm - gru).max() / (high - low) > 10 * SCALED_ATOL
    assert np.abs(lstm - windows[:, -1]).min() / (high - low) > 10 * SCALED_ATOL
    with pytest.raises(AssertionError):
        assert_same_prices(lstm, gru, scaling)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["lstm", "gru", "ensemble"])
def test_served_predictions_equal_the_keras_model(
    clients: dict[str, TestClient],
    reference: Any,
    windows: np.ndarray,
    scaling: tuple[float, float],
    backend: str,
    name: str,
) -> None:
    client = clients[backend]
    batch = windows[::3][:200]  # spans the training and the test period
    response = client.post(f"/v1/models/{name}/predict", json={"windows": batch.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == name
    assert_same_prices(np.array(body["predictions"]), reference(name, batch), scaling)

    one = client.post(f"/v1/models/{name}/predict", json={"window": windows[-1].tolist()})
    assert one.status_code == 200, one.text
    assert_same_prices(np.array(one.json()["predictions"]), reference(name, windows[-1:]), scaling)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ensemble_is_the_mean_of_lstm_and_gru(
    clients: dict[str, TestClient], windows: np.ndarray, scaling: tuple[float, float], backend: str
) -> None:
    batch = windows[1::7][:100].tolist()
    got = {}
    for name in ("lstm", "gru", "ensemble"):
        response = clients[backend].post(f"/v1/models/{name}/predict", json={"windows": batch})
        assert response.status_code == 200, response.text
        got[name] = np.array(response.json()["predictions"])
    assert_same_prices(got["ensemble"], (got["lstm"] + got["gru"]) / 2, scaling)
    with pytest.raises(AssertionError):
        assert_same_prices(got["ensemble"], got["lstm"], scaling)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["lstm", "gru", "ensemble"])
def test_predictor_matches_keras_on_every_window(
    clients: dict[str, TestClient],
    reference: Any,
    windows: np.ndarray,
    scaling: tuple[float, float],
    backend: str,
    name: str,
) -> None:
    """The in-process predictor, on more windows than one request may hold (the keras backend chunks them)."""
    predictor: Predictor = clients[backend].app.state.dataplane.registry.get(name).predictor  # type: ignore[attr-defined]
    assert len(windows) > 300
    assert_same_prices(predictor.predict(windows), reference(name, windows), scaling)


def loop_forecast(predictor: Predictor, window: np.ndarray, horizon: int) -> np.ndarray:
    """The recursion written out: predict one step, append it, slide the window, repeat."""
    history = [float(v) for v in window]
    out = []
    for _ in range(horizon):
        x = np.array([history[-predictor.window :]])
        (value,) = predictor.predict(x)
        out.append(float(value))
        history.append(float(value))
    return np.array(out)


def test_graph_reference_equals_eager(reference: Any, windows: np.ndarray) -> None:
    batch = windows[::40]
    for name in ("lstm", "gru"):
        np.testing.assert_allclose(reference(name, batch, graph=True), reference(name, batch), rtol=1e-9, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["lstm", "gru", "ensemble"])
def test_forecast_is_the_step_by_step_loop(
    clients: dict[str, TestClient],
    keras_recursion: dict[str, np.ndarray],
    origins: np.ndarray,
    scaling: tuple[float, float],
    backend: str,
    name: str,
) -> None:
    predictor: Predictor = clients[backend].app.state.dataplane.registry.get(name).predictor  # type: ignore[attr-defined]
    for i, origin in enumerate(origins):
        recursive = predictor.forecast(origin, HORIZON)
        assert recursive.shape == (HORIZON,)
        np.testing.assert_allclose(recursive, loop_forecast(predictor, origin, HORIZON), rtol=1e-6, atol=0)
        # The same loop driven by the Keras models themselves.
        assert_same_prices(recursive, keras_recursion[name][i], scaling)

    # Over HTTP, the same numbers; the first step is the next-step prediction.
    origin = origins[-1]
    response = clients[backend].post(
        f"/v1/models/{name}/forecast", json={"window": origin.tolist(), "horizon": HORIZON}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["horizon"]) == (name, HORIZON)
    np.testing.assert_allclose(body["forecast"], predictor.forecast(origin, HORIZON), rtol=1e-12, atol=0)
    np.testing.assert_allclose(body["forecast"][0], predictor.predict(origin[None, :])[0], rtol=1e-12, atol=0)


def test_forecast_many_equals_one_forecast_per_origin(tiny_artifacts: Path, windows: np.ndarray) -> None:
    predictor = load_set(tiny_artifacts, ("lstm",)).predictors["lstm"]
    origins = windows[::97]
    many = predictor.forecast_many(origins, 7)
    assert many.shape == (len(origins), 7)
    for row, origin in zip(many, origins, strict=True):
        np.testing.assert_allclose(row, predictor.forecast(origin, 7), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="horizon"):
        predictor.forecast(origins[0], 0)
    with pytest.raises(ValueError, match="shape"):
        predictor.predict(origins[:, :-1])
