"""One predictor for every feature set: next-step and recursive forecasts in prices.

Backends map float32 windows in model units to the network's raw next row; the feature set converts
prices to model units and back. An ensemble averages its members' raw outputs (scaled values, log
ratios), then decodes once, so its answer is a valid row like each member's. Windows are prices
shaped (n, window, columns); a one-column series may also come as (n, window), and is then answered
without the column axis, as it came.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from forecast_core.backends.base import Backend
from forecast_core.features import FeatureSet

#: Asked between the steps of a recursive forecast: True stops it (a deadline passed, a client left).
ShouldStop = Callable[[], bool]


class DeadlineExceeded(Exception):  # noqa: N818 (a domain fact, like the dataplane's own errors)
    """A recursive forecast was told to stop; raised between steps, so no runtime call is cut short."""

    def __init__(self, steps_done: int, horizon: int) -> None:
        super().__init__(f"deadline exceeded after {steps_done} of {horizon} steps")
        self.steps_done, self.horizon = steps_done, horizon


@dataclass(frozen=True)
class Predictor:
    """Next-step and recursive forecasts in price units from one backend or the mean of several."""

    name: str
    version: str
    features: FeatureSet
    backends: Sequence[Backend]
    description: str = ""
    members: tuple[str, ...] = field(default_factory=tuple)
    # The recursive loop's backends, when they should differ from ``backends``: the service passes the
    # unbatched ones, since a forecast's steps are sequential and gain nothing from micro-batching.
    stepping_backends: Sequence[Backend] | None = None

    def __post_init__(self) -> None:
        if not self.backends:
            raise ValueError("a predictor needs at least one backend")
        windows = {b.window for b in self.backends}
        if len(windows) != 1:
            raise ValueError(f"backends disagree on the window length: {sorted(windows)}")

    @property
    def window(self) -> int:
        return self.backends[0].window

    @property
    def columns(self) -> tuple[str, ...]:
        return self.features.columns

    def raw(self, x: np.ndarray, backends: Sequence[Backend] | None = None) -> np.ndarray:
        """The networks' raw outputs for model-unit windows; the ensemble's is their float64 mean."""
        backends = backends or self.backends
        if len(backends) == 1:
            return np.asarray(backends[0].predict(x))
        total = np.asarray(backends[0].predict(x), dtype=np.float64)
        for backend in backends[1:]:
            total = total + backend.predict(x)
        return total / len(backends)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """The next row after each window: prices (n, window, columns) -> (n, columns), float64."""
        bars, flat = self._check(windows)
        x, context = self.features.encode(bars)
        out = self.features.decode(self.raw(x), context)
        return out[:, 0] if flat else out

    def forecast_many(self, windows: np.ndarray, horizon: int, should_stop: ShouldStop | None = None) -> np.ndarray:
        """Recursive forecasts, each predicted row fed back: (n, window, columns) -> (n, horizon, columns).

        ``should_stop`` is asked before every step (one call, next to a step's tens of microseconds);
        once it says True, :class:`DeadlineExceeded` is raised and no further step runs.
        """
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon}")
        bars, flat = self._check(windows)
        state = self.features.recursion(bars, horizon)
        backends = self.stepping_backends or self.backends
        for step in range(horizon):
            if should_stop is not None and should_stop():
                raise DeadlineExceeded(step, horizon)
            state.append(self.raw(state.model_input(), backends))
        out = state.forecast()
        return out[:, :, 0] if flat else out

    def forecast(self, window: np.ndarray, horizon: int, should_stop: ShouldStop | None = None) -> np.ndarray:
        """One window -> its recursive forecast, (horizon, columns), or (horizon,) for a flat one-column window."""
        return self.forecast_many(np.asarray(window)[None], horizon, should_stop)[0]

    def _check(self, windows: np.ndarray) -> tuple[np.ndarray, bool]:
        x = np.asarray(windows, dtype=np.float64)
        columns = len(self.features.columns)
        flat = x.ndim == 2 and columns == 1
        if flat:
            x = x[:, :, None]
        if x.ndim != 3 or x.shape[1:] != (self.window, columns):
            raise ValueError(f"expected windows of shape (n, {self.window}, {columns}), got {x.shape}")
        self.features.validate(x)
        return x, flat
