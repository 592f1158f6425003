"""MinMaxScaling: the JSON scaler the service uses in place of a pickled scikit-learn MinMaxScaler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydantic import ValidationError
from sklearn.preprocessing import MinMaxScaler

from forecast_core.scaler import MinMaxScaling

prices = st.floats(min_value=0.01, max_value=1e5, allow_nan=False, allow_infinity=False)


def fitted(train: np.ndarray, feature_range: tuple[float, float] = (0.0, 1.0)) -> tuple[MinMaxScaler, MinMaxScaling]:
    sk = MinMaxScaler(feature_range=feature_range).fit(train.reshape(-1, 1))
    return sk, MinMaxScaling.from_sklearn(sk)


@settings(max_examples=60, deadline=None)
@given(
    train=arrays(np.float64, st.integers(2, 40), elements=prices).filter(lambda a: np.ptp(a) > 1e-3 * a.max()),
    values=arrays(np.float64, st.integers(1, 30), elements=prices),
    feature_range=st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (0.1, 0.9)]),
)
def test_equals_sklearn_and_round_trips(
    train: np.ndarray, values: np.ndarray, feature_range: tuple[float, float]
) -> None:
    sk, ours = fitted(train, feature_range)
    assert ours.data_min == train.min()
    assert ours.data_max == train.max()
    assert ours.feature_range == feature_range

    expected = sk.transform(values.reshape(-1, 1)).reshape(-1)
    scaled = ours.transform(values)
    assert scaled.dtype == np.float32
    assert scaled.shape == values.shape
    np.testing.assert_allclose(scaled, expected, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(expected).max()))

    # inverse_transform is sklearn's, in float64
    units = np.asarray(scaled, dtype=np.float64)
    np.testing.assert_allclose(
        ours.inverse_transform(units), sk.inverse_transform(units.reshape(-1, 1)).reshape(-1), rtol=1e-12, atol=1e-9
    )
    # round trip: back to prices within the float32 resolution of the model units
    span = train.max() - train.min()
    resolution = 2e-7 * max(1.0, float(np.abs(expected).max())) * span / (feature_range[1] - feature_range[0])
    np.testing.assert_allclose(ours.inverse_transform(scaled), values, rtol=0, atol=resolution)


def test_training_extremes_map_onto_the_feature_range() -> None:
    _, ours = fitted(np.array([91.32, 100.0, 120.4]))
    np.testing.assert_array_equal(ours.transform(np.array([91.32, 120.4])), np.array([0.0, 1.0], dtype=np.float32))
    assert ours.transform(np.array([120.4 + 29.08]))[0] == pytest.approx(2.0, rel=1e-6)  # extrapolates linearly
    assert ours.inverse_transform(np.array([0.5]))[0] == pytest.approx((91.32 + 120.4) / 2, rel=1e-12)
    assert ours.scale == pytest.approx(1 / (120.4 - 91.32))
    assert ours.offset == pytest.approx(-91.32 / (120.4 - 91.32))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    _, ours = fitted(np.array([3.0, 7.5, 11.25]), (-1.0, 1.0))
    path = tmp_path / "scaler.json"
    ours.save(path)
    loaded = MinMaxScaling.load(path)
    assert loaded == ours
    x = np.array([1.0, 5.0, 20.0])
    np.testing.assert_array_equal(loaded.transform(x), ours.transform(x))
    assert "data_min" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "params",
    [
        {"data_min": 2.0, "data_max": 2.0},
        {"data_min": 3.0, "data_max": 1.0},
        {"data_min": float("nan"), "data_max": 1.0},
        {"data_min": 0.0, "data_max": float("inf")},
        {"data_min": 0.0, "data_max": 1.0, "feature_range": (1.0, 0.0)},
        {"data_min": 0.0, "data_max": 1.0, "unexpected": 1},
    ],
)
def test_invalid_parameters_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MinMaxScaling.model_validate(params)


def test_frozen() -> None:
    scaler = MinMaxScaling(data_min=1.0, data_max=2.0)
    with pytest.raises(ValidationError):
        scaler.data_min = 0.0  # type: ignore[misc]
