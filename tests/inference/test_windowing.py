"""Sliding windows: the (window, next value) pairs for training and the origins for evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast_core.windowing import make_windows, origin_windows


def test_make_windows_values() -> None:
    series = np.arange(10.0) * 1.5
    x, y = make_windows(series, 3)
    assert x.shape == (7, 3)
    assert y.shape == (7,)
    np.testing.assert_array_equal(x[0], [0.0, 1.5, 3.0])
    np.testing.assert_array_equal(x[-1], series[6:9])
    np.testing.assert_array_equal(y, series[3:])
    assert x.flags["C_CONTIGUOUS"]
    x[0, 0] = -1.0  # the windows are copies, not views of the caller's series
    assert series[0] == 0.0


@given(n=st.integers(2, 60), window=st.integers(1, 30))
def test_make_windows_pairs(n: int, window: int) -> None:
    series = np.random.default_rng(n * 100 + window).normal(size=n)
    if n <= window:
        with pytest.raises(ValueError, match="too short"):
            make_windows(series, window)
        return
    x, y = make_windows(series, window)
    assert x.shape == (n - window, window)
    assert y.shape == (n - window,)
    for i in range(n - window):
        np.testing.assert_array_equal(x[i], series[i : i + window])
        assert y[i] == series[i + window]


def test_origin_windows_values() -> None:
    series = np.arange(12.0)
    x = origin_windows(series, 4, 9)
    # the windows that predict series[9], series[10], series[11]
    assert x.shape == (3, 4)
    np.testing.assert_array_equal(x, [[5, 6, 7, 8], [6, 7, 8, 9], [7, 8, 9, 10]])
    assert x.flags["C_CONTIGUOUS"]


@given(n=st.integers(3, 50), window=st.integers(1, 10), data=st.data())
def test_origin_windows_end_before_each_target(n: int, window: int, data: st.DataObject) -> None:
    if n <= window:
        return
    start = data.draw(st.integers(window, n - 1))
    series = np.arange(n, dtype=np.float64) ** 1.5
    x = origin_windows(series, window, start)
    assert x.shape == (n - start, window)
    for j, t in enumerate(range(start, n)):
        np.testing.assert_array_equal(x[j], series[t - window : t])
    # from the first possible origin, they are make_windows' inputs
    np.testing.assert_array_equal(origin_windows(series, window, window), make_windows(series, window)[0])


@pytest.mark.parametrize(
    ("series", "window", "match"),
    [(np.ones((3, 3, 3)), 2, r"\(n,\) or \(n, columns\)"), (np.ones(5), 0, "at least 1"), (np.ones(5), 5, "too short")],
)
def test_make_windows_refuses(series: np.ndarray, window: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_windows(series, window)


def test_origin_windows_refuses_a_start_without_history() -> None:
    with pytest.raises(ValueError, match="history"):
        origin_windows(np.arange(10.0), 5, 4)


def test_a_multi_column_series_is_windowed_row_by_row_like_a_one_column_one() -> None:
    rows = np.arange(40, dtype=np.float64).reshape(20, 2) ** 1.5
    x, y = make_windows(rows, 5)
    assert x.shape == (15, 5, 2)
    assert y.shape == (15, 2)
    for i in range(15):
        np.testing.assert_array_equal(x[i], rows[i : i + 5])
        np.testing.assert_array_equal(y[i], rows[i + 5])
    # Each column windowed alone gives the same numbers: one code path for any number of columns.
    for c in range(2):
        alone, target = make_windows(rows[:, c], 5)
        np.testing.assert_array_equal(x[:, :, c], alone)
        np.testing.assert_array_equal(y[:, c], target)
    np.testing.assert_array_equal(origin_windows(rows, 5, 5), x)
