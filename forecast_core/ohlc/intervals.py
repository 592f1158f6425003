"""Split-conformal intervals for every column of a forecast bar (``intervals.json`` of an OHLC set).

Mirrors ``forecast_core/intervals.py``: for each model, level, horizon h and column, training
stores ``q``, the conformal quantile of ``|actual - forecast| / unit(window)`` over a rolling-origin
backtest of the validation period pooled across the training tickers. The unit is relative, so one
table serves any price level: ``price`` is the window's last Close, ``volatility`` the last Close
times the standard deviation of the window's daily log Close changes (floored), which widens
intervals in turbulent windows and narrows them in calm ones. Training picks the unit per horizon
on the validation data (``scales``). The interval is ``forecast ± q * unit``; half-widths never
shrink as the horizon grows, and beyond ``max_horizon`` they grow like a random walk's,
``q_H * sqrt(h / H)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from forecast_core.intervals import Scale
from forecast_core.ohlc.bars import CLOSE, COLUMNS, log_volatility

OHLC_INTERVALS_FILE = "intervals.json"


class OhlcCoverage(BaseModel):
    """Measured on the test period of one group: share of actual values inside, and mean relative width."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str
    column: str
    horizon: int
    level: int
    coverage: float
    mean_relative_width: float
    points: int


class OhlcIntervalTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    columns: list[str] = Field(default_factory=lambda: list(COLUMNS))
    volatility_floor: float = Field(ge=0, description="least volatility scale (std of daily log changes)")
    scales: list[Scale] = Field(description="the error unit used at each horizon 1..max_horizon")
    levels: list[int]
    max_horizon: int = Field(ge=1)
    calibration_start: str
    calibration_end: str
    calibration_points: int = Field(ge=0, description="origins pooled at horizon 1")
    # model -> level (string key, JSON-friendly) -> per horizon 1..max_horizon, one quantile per column
    quantiles: dict[str, dict[str, list[list[float]]]]
    coverage: dict[str, list[OhlcCoverage]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> OhlcIntervalTable:
        if len(self.scales) != self.max_horizon:
            raise ValueError(f"need one scale per horizon 1..{self.max_horizon}")
        for model, by_level in self.quantiles.items():
            for level, q in by_level.items():
                ok = len(q) == self.max_horizon and all(
                    len(row) == len(self.columns) and all(math.isfinite(v) and v >= 0 for v in row) for row in q
                )
                if not ok:
                    raise ValueError(
                        f"{model} level {level}: need {self.max_horizon} rows of {len(self.columns)} "
                        "finite non-negative quantiles"
                    )
        return self

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> OhlcIntervalTable:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def half_widths(self, model_key: str, level: int, horizon: int) -> np.ndarray:
        """Relative half-widths (horizon, 4) for steps 1..horizon, extrapolated past ``max_horizon``."""
        # Not accumulated here: quantiles of different horizons may be in different units; bounds()
        # makes the half-widths non-decreasing once they are in prices.
        q = np.asarray(self.quantiles[model_key][str(level)], dtype=np.float64)
        if horizon <= self.max_horizon:
            return q[:horizon]
        steps = np.arange(self.max_horizon + 1, horizon + 1, dtype=np.float64)
        extra = q[-1][None, :] * np.sqrt(steps / self.max_horizon)[:, None]
        return np.concatenate([q, extra])

    def unit(self, windows: np.ndarray, scale: Scale) -> np.ndarray:
        """Price units of one relative unit for each window (n,)."""
        w = np.asarray(windows, dtype=np.float64)
        if scale == "price":
            return w[:, -1, CLOSE]
        return w[:, -1, CLOSE] * np.maximum(log_volatility(w), max(self.volatility_floor, 1e-6))

    def bounds(
        self, model_key: str, level: int, forecast: np.ndarray, windows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds, both (n, h, 4), for ``forecast`` (n, h, 4) made from ``windows`` (n, w, 4)."""
        f = np.asarray(forecast, dtype=np.float64)
        if f.ndim != 3 or f.shape[2] != len(self.columns):
            raise ValueError(f"expected a forecast of shape (n, h, {len(self.columns)}), got {f.shape}")
        horizon = f.shape[1]
        units = {s: self.unit(windows, s) for s in set(self.scales)}
        per_step = np.stack([units[self.scales[min(h, self.max_horizon) - 1]] for h in range(1, horizon + 1)], axis=1)
        half = self.half_widths(model_key, level, horizon)[None] * per_step[:, :, None]
        half = np.maximum.accumulate(half, axis=1)  # a change of unit between horizons must not narrow it
        return f - half, f + half
