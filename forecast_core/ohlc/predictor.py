"""``OhlcPredictor``: next bars and recursive bar forecasts in prices, from one model or an ensemble.

Backends map float32 windows (n, window, 4) in model units to raw next bars (n, 4) in model units.
The ensemble averages its members' raw outputs (log ratios), then decodes once, so it is a valid bar
like each member's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from forecast_core.backends.base import Backend
from forecast_core.ohlc.bars import COLUMNS, RecursionBuffer, from_relative, to_relative
from forecast_core.predictor import DeadlineExceeded, check_backends


@dataclass(frozen=True)
class OhlcPredictor:
    name: str
    version: str
    backends: Sequence[Backend]
    members: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""

    def __post_init__(self) -> None:
        check_backends(self.backends)

    @property
    def window(self) -> int:
        return self.backends[0].window

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS

    def predict_relative(self, x: np.ndarray) -> np.ndarray:
        """Raw outputs (n, 4) for model-unit windows; the ensemble is the mean of its members'."""
        if len(self.backends) == 1:
            return np.asarray(self.backends[0].predict(x))
        total = np.asarray(self.backends[0].predict(x), dtype=np.float64)
        for backend in self.backends[1:]:
            total = total + backend.predict(x)
        return total / len(self.backends)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """The next bar after each window: prices (n, window, 4) -> prices (n, 4), float64, valid bars."""
        x, reference = to_relative(self._check(windows))
        return from_relative(self.predict_relative(x), reference)

    def forecast_many(self, windows: np.ndarray, horizon: int, deadline: float | None = None) -> np.ndarray:
        """Recursive forecasts, each predicted bar fed back whole: (n, window, 4) -> (n, horizon, 4) prices.

        ``deadline`` is a ``time.monotonic()`` instant, checked between steps (never mid-call).
        """
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon}")
        buffer = RecursionBuffer(self._check(windows), horizon)
        for step in range(horizon):
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(step, horizon)
            buffer.append(self.predict_relative(buffer.model_input()))
        return buffer.forecast()

    def forecast(self, window: np.ndarray, horizon: int, deadline: float | None = None) -> np.ndarray:
        """One window (window, 4) -> (horizon, 4)."""
        return self.forecast_many(np.asarray(window)[None], horizon, deadline)[0]

    def _check(self, windows: np.ndarray) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (self.window, len(COLUMNS)):
            raise ValueError(f"expected windows of shape (n, {self.window}, {len(COLUMNS)}), got {x.shape}")
        if not (
            np.all(x > 0) and np.all(np.isfinite(x))
        ):  # log ratios need positive prices; the API refuses them earlier with a 422
            raise ValueError("prices must be positive and finite")
        return x
