"""Evaluation metrics and baselines, checked against direct computations."""

from __future__ import annotations

import numpy as np

from forecast_core.features import ScaledColumn
from forecast_core.predictor import Predictor
from forecast_core.scaler import MinMaxScaling
from training.evaluate import drift_forecast, evaluate, point_metrics


class LastValue:
    """A backend that is exactly the persistence forecast, in scaled units."""

    kind = "test"

    def __init__(self, window: int) -> None:
        self.window = window

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(windows, dtype=np.float32)[:, -1]


def test_point_metrics_by_hand() -> None:
    pred, actual = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.0])
    m = point_metrics(pred, actual, mase_scale=0.5)
    assert np.isclose(m["rmse"], np.sqrt(5 / 3))
    assert np.isclose(m["mae"], 1.0)
    assert np.isclose(m["mape"], 50.0)
    assert np.isclose(m["mase"], 2.0)


def test_drift_is_line_through_first_and_last() -> None:
    values = np.array([10.0, 11.0, 13.0, 16.0])
    assert np.isclose(drift_forecast(values, np.array([3]), 2)[0], 16.0 + 2 * (16.0 - 10.0) / 3)


def test_persistence_model_scores_like_persistence_baseline() -> None:
    rng = np.random.default_rng(1)
    values = 100 + np.cumsum(rng.normal(0, 1, 300))
    scaler = MinMaxScaling(data_min=float(values[:200].min()), data_max=float(values[:200].max()))
    features = ScaledColumn("High", scaler, (scaler.data_min, scaler.data_max))
    predictor = Predictor(name="last", version="1", features=features, backends=[LastValue(10)])
    result = evaluate(values, 200, {"last": predictor}, window=10)
    assert result["points"] == 100
    assert np.isclose(result["next_step"]["last"]["rmse"], result["next_step"]["persistence"]["rmse"], rtol=1e-5)
    direct = float(np.sqrt(np.mean((values[199:-1] - values[200:]) ** 2)))
    assert np.isclose(result["next_step"]["persistence"]["rmse"], direct)
    # A recursive persistence forecast is flat.
    assert np.isclose(result["sequence_rmse"]["last"], result["sequence_rmse"]["flat"], rtol=1e-5)
    for h in ("1", "5", "20"):
        assert np.isclose(result["rolling_rmse"]["last"][h], result["rolling_rmse"]["persistence"][h], rtol=1e-5)
    h5 = float(np.sqrt(np.mean((values[199:-5] - values[204:]) ** 2)))
    assert np.isclose(result["rolling_rmse"]["persistence"]["5"], h5)
