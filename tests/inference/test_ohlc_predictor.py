"""Predictor and IntervalTable on stand-in backends (NumPy functions, no runtime needed)."""

from __future__ import annotations

import numpy as np
import pytest

from forecast_core.bars import Bars
from forecast_core.intervals import IntervalTable
from forecast_core.predictor import DeadlineExceeded, Predictor
from tests.inference.test_ohlc_bars import random_bars


class Linear:
    """A backend (n, w, 4) -> (n, 4): a fixed linear map of the last bar, like a tiny trained model."""

    kind = "fake"
    features = 4

    def __init__(self, window: int, scale: float) -> None:
        self.window, self.scale = window, scale

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return (self.scale * windows[:, -1, :] + np.array([0.1, 0.8, -0.8, 0.05])).astype(np.float32)


def test_predict_shapes_valid_bars_and_ensemble_mean() -> None:
    a, b = Linear(12, 0.5), Linear(12, -0.3)
    pa = Predictor(name="a", version="1", features=Bars(), backends=(a,))
    pb = Predictor(name="b", version="1", features=Bars(), backends=(b,))
    ens = Predictor(name="ensemble", version="1+1", features=Bars(), backends=(a, b), members=("a", "b"))
    windows = random_bars(5, 12)
    assert ens.window == 12
    assert ens.columns == ("open", "high", "low", "close")
    out = ens.predict(windows)
    assert out.shape == (5, 4)
    assert out.dtype == np.float64
    assert np.all(out[:, 2] <= np.minimum(out[:, 0], out[:, 3]))
    assert np.all(np.maximum(out[:, 0], out[:, 3]) <= out[:, 1])
    # The ensemble averages in model units (log ratios): its bar is the geometric mean of the members'.
    from forecast_core.bars import to_relative

    x, _ = to_relative(windows)
    np.testing.assert_allclose(ens.raw(x), (a.predict(x) + b.predict(x)) / 2, rtol=1e-6)
    assert pa.forecast_many(windows, 7).shape == (5, 7, 4)
    np.testing.assert_allclose(pb.forecast(windows[0], 1)[0], pb.predict(windows[:1])[0], rtol=1e-9)


def test_forecast_feeds_whole_bars_back_and_scales() -> None:
    p = Predictor(name="a", version="1", features=Bars(), backends=(Linear(8, 0.5),))
    windows = random_bars(2, 8, seed=3)
    f1, f10 = p.forecast_many(windows, 30), p.forecast_many(windows * 10, 30)
    np.testing.assert_allclose(f10, f1 * 10, rtol=1e-5)
    assert np.all(f1[..., 2] <= f1[..., 1])


def test_bad_input_and_deadline() -> None:
    p = Predictor(name="a", version="1", features=Bars(), backends=(Linear(8, 0.5),))
    with pytest.raises(ValueError, match="shape"):
        p.predict(np.ones((2, 8)))
    with pytest.raises(ValueError, match="positive"):
        p.predict(-np.ones((1, 8, 4)))
    with pytest.raises(ValueError, match="horizon"):
        p.forecast_many(np.ones((1, 8, 4)), 0)
    with pytest.raises(DeadlineExceeded) as caught:
        p.forecast_many(random_bars(1, 8), 50, should_stop=lambda: True)
    assert caught.value.steps_done == 0
    assert caught.value.horizon == 50
    with pytest.raises(ValueError, match="disagree"):
        Predictor(name="e", version="x", features=Bars(), backends=(Linear(8, 1), Linear(9, 1)))


def _table() -> IntervalTable:
    q = [[0.5 + 0.1 * h + 0.01 * c for c in range(4)] for h in range(5)]
    return IntervalTable(
        method="test",
        columns=["open", "high", "low", "close"],
        volatility_floor=0.002,
        scales=["volatility", "volatility", "price", "price", "volatility"],
        levels=[80, 95],
        max_horizon=5,
        calibration_start="2016-01-04",
        calibration_end="2016-12-30",
        calibration_points=100,
        quantiles={"lstm": {"80": q, "95": [[2 * v for v in row] for row in q]}},
    )


def test_interval_bounds_shapes_widths_and_json_round_trip(tmp_path: object) -> None:
    table = _table()
    windows = random_bars(3, 20, seed=5)
    forecast = np.repeat(windows[:, -1:, :], 9, axis=1)
    lower, upper = table.bounds("lstm", 80, forecast, windows, Bars())
    assert lower.shape == upper.shape == (3, 9, 4)
    width = upper - lower
    assert np.all(np.diff(width, axis=1) >= -1e-12)  # never narrower at a longer horizon
    assert np.all(lower <= forecast)
    assert np.all(forecast <= upper)
    lo95, up95 = table.bounds("lstm", 95, forecast, windows, Bars())
    assert np.all(up95 - lo95 >= width)
    # Past the calibrated horizon widths grow like sqrt(h / H).
    half = table.half_widths("lstm", 80, 20)
    np.testing.assert_allclose(half[19], half[4] * np.sqrt(20 / 5))
    again = IntervalTable.model_validate_json(table.model_dump_json())
    assert again == table


def test_interval_table_refuses_bad_quantiles() -> None:
    with pytest.raises(ValueError, match="finite non-negative"):
        IntervalTable.model_validate({**_table().model_dump(), "quantiles": {"lstm": {"80": [[1.0, 2.0]]}}})
