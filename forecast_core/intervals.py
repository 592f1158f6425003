"""Prediction intervals from split-conformal quantiles stored in ``intervals.json``.

For each model, level and horizon h, training stores ``q``: the conformal quantile of
``|actual - forecast| / s(window)`` over a rolling-origin backtest on the validation part of the
training period, where the scale ``s`` is either the window's last price (``price``) or the standard
deviation of its daily changes (``volatility``: intervals then widen in turbulent periods and narrow
in calm ones). Training picks the scale for each horizon on the validation data. The interval for a forecast ``y`` is
``y ± q * s(window)``. Quantiles are made non-decreasing in h, so intervals never narrow as the
horizon grows. Beyond the calibrated horizon ``H``, widths grow like a random walk's,
``q_H * sqrt(h / H)``, and responses say so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

INTERVALS_FILE = "intervals.json"
LEVELS: tuple[int, ...] = (50, 80, 90, 95, 99)
Scale = Literal["price", "volatility"]


def window_scale(windows: np.ndarray, scale: Scale, volatility_floor: float = 0.0) -> np.ndarray:
    """The per-window unit that errors are measured in (price units), shape (n,).

    ``volatility_floor`` (relative to the last price) keeps an unusually calm or constant window from
    collapsing its interval to a point; training sets it from the calmest calibration windows.
    """
    w = np.atleast_2d(np.asarray(windows, dtype=np.float64))
    if scale == "price":
        return w[:, -1]
    return np.maximum(np.std(np.diff(w, axis=1), axis=1), max(volatility_floor, 1e-6) * w[:, -1])


class Coverage(BaseModel):
    """Measured on the test period: share of actual values inside the interval, and mean width."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon: int
    level: int
    coverage: float
    mean_width: float
    points: int


class IntervalTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    scales: list[Scale] = Field(description="the error scale used at each horizon 1..max_horizon")
    volatility_floor: float = Field(ge=0, description="least volatility scale, relative to the last price")
    levels: list[int]
    max_horizon: int = Field(ge=1)
    calibration_start: str
    calibration_end: str
    # model -> level (as a string key, JSON-friendly) -> one relative half-width per horizon 1..max_horizon
    quantiles: dict[str, dict[str, list[float]]]
    coverage: dict[str, list[Coverage]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> IntervalTable:
        for model, by_level in self.quantiles.items():
            for level, q in by_level.items():
                if len(q) != self.max_horizon or not all(math.isfinite(v) and v >= 0 for v in q):
                    raise ValueError(f"{model} level {level}: need {self.max_horizon} finite non-negative quantiles")
        if len(self.scales) != self.max_horizon:
            raise ValueError(f"need one scale per horizon 1..{self.max_horizon}")
        return self

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> IntervalTable:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def half_widths(self, model: str, level: int, horizon: int) -> np.ndarray:
        """Relative half-widths for steps 1..horizon (extrapolated past ``max_horizon``)."""
        q = np.asarray(self.quantiles[model][str(level)], dtype=np.float64)
        if horizon <= self.max_horizon:
            return q[:horizon]
        extra = q[-1] * np.sqrt(np.arange(self.max_horizon + 1, horizon + 1) / self.max_horizon)
        return np.concatenate([q, extra])

    def bounds(
        self, model: str, level: int, forecast: np.ndarray, windows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds for ``forecast`` of shape (n, horizon) made from ``windows`` (n, window)."""
        f = np.atleast_2d(np.asarray(forecast, dtype=np.float64))
        horizon = f.shape[1]
        units = {s: window_scale(windows, s, self.volatility_floor) for s in set(self.scales)}
        per_step = [self.scales[min(h, self.max_horizon) - 1] for h in range(1, horizon + 1)]
        unit = np.stack([units[s] for s in per_step], axis=1)
        half = np.maximum.accumulate(self.half_widths(model, level, horizon)[None, :] * unit, axis=1)
        return f - half, f + half
