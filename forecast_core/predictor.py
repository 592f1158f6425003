"""One predictor class used by training's evaluation, the tests and the HTTP service.

It owns the price <-> model-unit conversion and the recursive sequence forecast, so neither is
written twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from forecast_core.backends.base import Backend
from forecast_core.scaler import MinMaxScaling


class DeadlineExceeded(Exception):  # noqa: N818 (a domain fact, like the dataplane's own errors)
    """A recursive forecast ran past its deadline; raised between steps, so no runtime call is cut short."""

    def __init__(self, steps_done: int, horizon: int) -> None:
        super().__init__(f"deadline exceeded after {steps_done} of {horizon} steps")
        self.steps_done, self.horizon = steps_done, horizon


def check_backends(backends: Sequence[Backend]) -> None:
    """A predictor (univariate or OHLC) needs at least one backend, all on the same window length."""
    if not backends:
        raise ValueError("a predictor needs at least one backend")
    windows = {b.window for b in backends}
    if len(windows) != 1:
        raise ValueError(f"backends disagree on the window length: {sorted(windows)}")


@dataclass(frozen=True)
class Predictor:
    """Next-step and recursive forecasts in price units from one backend or the mean of several."""

    name: str
    version: str
    scaler: MinMaxScaling
    backends: Sequence[Backend]
    description: str = ""
    members: tuple[str, ...] = field(default_factory=tuple)
    # The recursive loop's backends, when they should differ from ``backends``: the service passes the
    # unbatched ones, since a forecast's steps are sequential and gain nothing from micro-batching.
    stepping_backends: Sequence[Backend] | None = None

    def __post_init__(self) -> None:
        check_backends(self.backends)

    @property
    def window(self) -> int:
        return self.backends[0].window

    def _predict_scaled(self, x: np.ndarray, backends: Sequence[Backend] | None = None) -> np.ndarray:
        backends = backends or self.backends
        if len(backends) == 1:
            return backends[0].predict(x)
        return np.asarray(np.mean([b.predict(x) for b in backends], axis=0, dtype=np.float64), dtype=np.float32)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Next value after each window; ``windows`` has shape (n, window), in prices."""
        x = self._check(windows)
        return self.scaler.inverse_transform(self._predict_scaled(self.scaler.transform(x)))

    def forecast(self, window: np.ndarray, horizon: int, deadline: float | None = None) -> np.ndarray:
        """The notebook's sequence generation: each prediction is fed back as the newest value."""
        return self.forecast_many(np.asarray(window)[None, :], horizon, deadline)[0]

    def forecast_many(self, windows: np.ndarray, horizon: int, deadline: float | None = None) -> np.ndarray:
        """Recursive forecasts from several origins at once; returns shape (n, horizon), in prices.

        The scaled history lives in one buffer and each step reads a view of it, so a step costs one
        runtime call and no array copies beyond writing the new column. ``deadline`` is a
        ``time.monotonic()`` instant: once it has passed, :class:`DeadlineExceeded` is raised before
        the next step (one clock read per step, ~50 ns against a step's tens of microseconds).
        """
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon}")
        x = self._check(windows)
        w = self.window
        buffer = np.empty((x.shape[0], w + horizon), dtype=np.float32)
        buffer[:, :w] = self.scaler.transform(x)
        backends = self.stepping_backends or self.backends
        for step in range(horizon):
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(step, horizon)
            buffer[:, w + step] = self._predict_scaled(buffer[:, step : step + w], backends)
        return self.scaler.inverse_transform(buffer[:, w:])

    def _check(self, windows: np.ndarray) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.window:
            raise ValueError(f"expected windows of shape (n, {self.window}), got {x.shape}")
        return x


def range_warnings(windows: np.ndarray, low: float, high: float) -> list[str]:
    """Say which windows leave the training value range, where the scaler extrapolates, and by how much."""
    out: list[str] = []
    w = np.asarray(windows, dtype=np.float64)
    # The usual case, every value inside the range, costs two reductions whatever the batch size; then
    # whole-array passes find the rows that leave it, and only those are looked at one by one.
    if w.size == 0 or (w.min() >= low and w.max() <= high):
        return out
    outside = np.flatnonzero(((w < low) | (w > high)).any(axis=1))
    for i in outside.tolist():
        row = w[i]
        below, above = row[row < low], row[row > high]
        label = f"window {i}" if len(w) > 1 else "window"
        if above.size:
            worst = float(above.max())
            out.append(
                f"{label}: {above.size} value(s) above the training maximum {high:.4g} "
                f"(by up to {worst - high:.4g}, {100 * (worst - high) / high:.1f}%); the model extrapolates"
            )
        if below.size:
            worst = float(below.min())
            out.append(
                f"{label}: {below.size} value(s) below the training minimum {low:.4g} "
                f"(by up to {low - worst:.4g}, {100 * (low - worst) / low:.1f}%); the model extrapolates"
            )
    return out
