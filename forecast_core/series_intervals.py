"""Intervals calibrated on one series' own recent past, instead of the table pooled over training series.

The pooled table (:mod:`forecast_core.intervals`) holds on the validation data it was calibrated on, but
can miss on a given series: the IBM High set's 80 % interval covered 86.5 % of IBM's 2017 days at
h = 1 and 67-69 % at h = 20. Here the same split-conformal recipe runs on the caller's series: a
rolling-origin backtest over its last ``ORIGINS`` windows (recursive forecasts, the same horizons as
the request, up to the table's calibrated horizon), scores ``|actual - forecast| / unit(window)`` in the
table's unit for each horizon, and the conformal quantile of each level, horizon and column. The bounds
are then built exactly as the pooled ones (:meth:`IntervalTable.bounds`: non-decreasing in price units,
widened like a random walk's past the calibrated horizon), from a copy of the table holding these
quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast_core.features import FeatureSet
from forecast_core.intervals import IntervalTable, conformal_quantile

#: Backtest origins per series (about a trading year); a series needs ``window + ORIGINS`` points.
ORIGINS = 250


def min_points(window: int) -> int:
    """The shortest history series calibration takes."""
    return window + ORIGINS


@dataclass(frozen=True)
class Backtest:
    """One series' backtest: the windows to forecast from and the values that followed each."""

    windows: np.ndarray  # (origins, window, columns), prices
    actuals: np.ndarray  # (origins, steps, columns)


def backtest(history: np.ndarray, window: int, steps: int) -> Backtest:
    """The last ``ORIGINS`` (or as many as the history allows) origins of ``history`` (points, columns)
    whose next ``steps`` values are known."""
    x = np.asarray(history, dtype=np.float64)
    last = len(x) - steps  # the last origin's window ends here (exclusive)
    first = max(window, last - ORIGINS + 1)
    if last < first:
        raise ValueError(f"a backtest of {steps} steps needs at least {window + steps} points, got {len(x)}")
    ends = np.arange(first, last + 1)
    windows = np.stack([x[e - window : e] for e in ends])
    actuals = np.stack([x[e : e + steps] for e in ends])
    return Backtest(windows, actuals)


def series_table(
    table: IntervalTable,
    key: str,
    features: FeatureSet,
    test: Backtest,
    forecasts: np.ndarray,
    levels: tuple[int, ...],
) -> IntervalTable:
    """A copy of ``table`` whose quantiles for ``key`` come from one series' backtest ``forecasts``
    (origins, steps, columns); its calibrated horizon is the backtest's ``steps``."""
    steps = forecasts.shape[1]
    scales = table.scales[:steps]
    units = {s: features.unit(test.windows, s, table.volatility_floor) for s in set(scales)}
    errors = np.abs(test.actuals - forecasts)  # (origins, steps, columns)
    quantiles: dict[str, list[list[float]]] = {}
    for level in levels:
        rows = [conformal_quantile(errors[:, h] / units[scales[h]][:, None], level) for h in range(steps)]
        quantiles[str(level)] = np.asarray(rows, dtype=np.float64).reshape(steps, -1).tolist()
    return table.model_copy(
        update={"quantiles": {key: quantiles}, "max_horizon": steps, "scales": scales, "coverage": {}}
    )
