"""Sliding windows: the one place that turns a series into (window, next value) pairs."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def make_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``X`` of shape (n - window, window) and ``y`` of shape (n - window,).

    ``X[i]`` holds ``series[i : i + window]`` and ``y[i]`` is ``series[i + window]``, the value
    that follows it, exactly as the reference notebook builds its training set.
    """
    values = np.asarray(series)
    if values.ndim != 1:
        raise ValueError(f"series must be one-dimensional, got shape {values.shape}")
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if len(values) <= window:
        raise ValueError(f"series of length {len(values)} is too short for window {window}")
    x = sliding_window_view(values[:-1], window)
    return np.ascontiguousarray(x), values[window:].copy()


def origin_windows(series: np.ndarray, window: int, start: int) -> np.ndarray:
    """Windows that end just before each index ``t >= start``: the inputs for predicting ``series[t]``."""
    values = np.asarray(series)
    if start < window:
        raise ValueError(f"start {start} leaves less than one window ({window}) of history")
    x = sliding_window_view(values[start - window : -1], window)
    return np.ascontiguousarray(x)
