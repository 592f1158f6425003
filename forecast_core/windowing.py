"""Sliding windows: the one place that turns a series into (window, next row) pairs, for training and serving.

A series is (n,) for one column or (n, columns) for several; windows keep that layout, (m, window) or
(m, window, columns), oldest row first, as darts and neuralforecast make them for any number of
components.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows_at(series: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """The windows ending at each index in ``ends`` (inclusive): (len(ends), window[, columns])."""
    values = np.asarray(series)
    view = sliding_window_view(values, window, axis=0)  # (n - window + 1, [columns,] window)
    picked = view[np.asarray(ends) - window + 1]
    return np.ascontiguousarray(picked if values.ndim == 1 else picked.transpose(0, 2, 1))


def make_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``X`` of shape (n - window, window[, columns]) and ``y`` of shape (n - window[, columns]).

    ``X[i]`` holds ``series[i : i + window]`` and ``y[i]`` is ``series[i + window]``, the row that
    follows it, exactly as the reference notebook builds its training set.
    """
    values = np.asarray(series)
    if values.ndim not in (1, 2):
        raise ValueError(f"series must be (n,) or (n, columns), got shape {values.shape}")
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if len(values) <= window:
        raise ValueError(f"series of length {len(values)} is too short for window {window}")
    return windows_at(values, np.arange(window - 1, len(values) - 1), window), values[window:].copy()


def origin_windows(series: np.ndarray, window: int, start: int) -> np.ndarray:
    """Windows that end just before each index ``t >= start``: the inputs for predicting ``series[t]``."""
    values = np.asarray(series)
    if start < window:
        raise ValueError(f"start {start} leaves less than one window ({window}) of history")
    return windows_at(values, np.arange(start - 1, len(values) - 1), window)
