"""Prediction intervals from split-conformal quantiles stored in ``intervals.json``: one table for every
feature set, indexed by model, level, horizon and column.

For each model, level, horizon h and column, training stores ``q``: the conformal quantile
(:func:`conformal_quantile`) of ``|actual - forecast| / unit(window)`` over a rolling-origin backtest
on the validation part of the training period. The unit is the feature set's
(:meth:`~forecast_core.features.FeatureSet.unit`): the window's last price (``price``) or a
volatility-scaled one (``volatility``: intervals then widen in turbulent periods and narrow in calm
ones), chosen per horizon on the validation data. The interval for a forecast ``y`` is
``y ± q * unit(window)``; half-widths never shrink as the horizon grows, and beyond the calibrated
horizon ``H`` they grow like a random walk's, ``q_H * sqrt(h / H)``, and responses say so.

Tables written before columns existed (one price column, one quantile per horizon) load as a
one-column table.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from forecast_core.features import FeatureSet, Scale

INTERVALS_FILE = "intervals.json"
LEVELS: tuple[int, ...] = (50, 80, 90, 95, 99)


def conformal_quantile(scores: np.ndarray, level: int) -> np.ndarray:
    """The ceil((n + 1) * level) / n empirical quantile along axis 0: covers ``level`` % of exchangeable new
    points (the largest score when there are too few). Scores (n,) give a scalar, (n, k) one per column."""
    x = np.asarray(scores, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("no calibration scores")
    rank = min(n, math.ceil((n + 1) * level / 100.0))
    return np.asarray(np.sort(x, axis=0)[rank - 1])


class Coverage(BaseModel):
    """Measured on the test period: share of actual values inside the interval, and mean width."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon: int
    level: int
    coverage: float
    mean_width: float
    points: int


class GroupCoverage(BaseModel):
    """Measured on the test period of one group of series and one column: share inside, mean relative width."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str
    column: str
    horizon: int
    level: int
    coverage: float
    mean_relative_width: float
    points: int


class IntervalTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    columns: list[str]
    scales: list[Scale] = Field(description="the error unit used at each horizon 1..max_horizon")
    volatility_floor: float = Field(ge=0, description="least volatility unit (see the feature set's unit)")
    levels: list[int]
    max_horizon: int = Field(ge=1)
    calibration_start: str
    calibration_end: str
    calibration_points: int | None = Field(default=None, ge=0, description="origins pooled at horizon 1")
    # model -> level (string key, JSON-friendly) -> per horizon 1..max_horizon, one quantile per column
    quantiles: dict[str, dict[str, list[list[float]]]]
    coverage: dict[str, list[Coverage | GroupCoverage]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _one_column_tables(cls, data: Any) -> Any:
        """A table of one quantile per horizon (written before columns existed) is a one-column table."""
        if not isinstance(data, dict) or not isinstance(data.get("quantiles"), dict):
            return data
        flat = any(
            isinstance(q, list) and q and not isinstance(q[0], list)
            for by_level in data["quantiles"].values()
            if isinstance(by_level, dict)
            for q in by_level.values()
        )
        if not flat:
            return data
        quantiles = {
            model: {level: [[v] for v in q] if isinstance(q, list) else q for level, q in by_level.items()}
            if isinstance(by_level, dict)
            else by_level
            for model, by_level in data["quantiles"].items()
        }
        return {**data, "quantiles": quantiles, "columns": data.get("columns", ["value"])}

    @model_validator(mode="after")
    def _check(self) -> IntervalTable:
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
        path.write_text(self.model_dump_json(indent=2, exclude_none=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> IntervalTable:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def half_widths(self, model: str, level: int, horizon: int) -> np.ndarray:
        """Relative half-widths (horizon, columns) for steps 1..horizon, extrapolated past ``max_horizon``."""
        # Not accumulated here: quantiles of different horizons may be in different units; bounds()
        # makes the half-widths non-decreasing once they are in prices.
        q = np.asarray(self.quantiles[model][str(level)], dtype=np.float64)
        if horizon <= self.max_horizon:
            return q[:horizon]
        steps = np.arange(self.max_horizon + 1, horizon + 1, dtype=np.float64)
        extra = q[-1][None, :] * np.sqrt(steps / self.max_horizon)[:, None]
        return np.concatenate([q, extra])

    def bounds(
        self, model: str, level: int, forecast: np.ndarray, windows: np.ndarray, features: FeatureSet
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds, both (n, h, columns), for ``forecast`` (n, h, columns) from price
        ``windows`` (n, window, columns), in ``features``' interval unit."""
        f = np.asarray(forecast, dtype=np.float64)
        if f.ndim != 3 or f.shape[2] != len(self.columns):
            raise ValueError(f"expected a forecast of shape (n, h, {len(self.columns)}), got {f.shape}")
        horizon = f.shape[1]
        units = {s: features.unit(windows, s, self.volatility_floor) for s in set(self.scales)}
        per_step = np.stack([units[self.scales[min(h, self.max_horizon) - 1]] for h in range(1, horizon + 1)], axis=1)
        half = self.half_widths(model, level, horizon)[None] * per_step[:, :, None]
        half = np.maximum.accumulate(half, axis=1)  # a change of unit between horizons must not narrow it
        return f - half, f + half
