"""Windows, targets and the date split of the OHLC set.

For each file, a sample is the ``window`` bars ending at origin ``i`` and the bar at ``i + 1``.
Samples are assigned by their *target* date: train up to the start of the validation part, the
validation part is the last ``validation_days`` training rows of each file (early stopping and every
recipe choice), test is every target after ``train_end``. Held-out tickers give no training or
validation samples at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from forecast_core.bars import Bars
from forecast_core.windowing import windows_at
from training.data import DataError
from training.ohlc.data import BarSeries

BARS = Bars()


def every_fifth(tickers: list[str], count: int = 5) -> list[str]:
    """The held-out rule: alphabetical order, every fifth ticker (the 5th, 10th, ...), ``count`` of them."""
    ordered = sorted(tickers)
    step = max(len(ordered) // count, 1)
    return ordered[step - 1 :: step][:count]


HELD_OUT_RULE = "the tickers in alphabetical order, every fifth one (5th, 10th, 15th, 20th, 25th); fixed before any run"


@dataclass(frozen=True)
class Periods:
    """Index ranges of one file: targets in [val_start, test_start) validate, in [test_start, n) test."""

    train_first_target: int
    val_start: int
    test_start: int
    n: int


def periods(series: BarSeries, train_end: date, window: int, validation_days: int) -> Periods:
    n_train = int(np.sum(np.asarray(series.dates <= pd.Timestamp(train_end))))
    needed = window + 1 + validation_days
    if n_train < needed:
        raise DataError(
            f"{series.source}: {n_train} rows up to {train_end} but window {window} and "
            f"{validation_days} validation days need at least {needed}"
        )
    if n_train >= len(series.bars):
        raise DataError(f"{series.source}: no rows after {train_end} to test on")
    return Periods(window, n_train - validation_days, n_train, len(series.bars))


def samples(series: BarSeries, first_target: int, end_target: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Model-unit inputs (m, window, 4) float32 and targets (m, 4) for targets in [first, end)."""
    origins = np.arange(max(first_target, window) - 1, end_target - 1)
    prices = windows_at(series.bars, origins, window)
    x, _ = BARS.encode(prices)
    return x, BARS.targets(prices, series.bars[origins + 1])


def training_arrays(
    series: list[BarSeries], train_end: date, window: int, validation_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pooled training and validation samples of the given (training) tickers."""
    xs, ys, xv, yv = [], [], [], []
    for s in series:
        p = periods(s, train_end, window, validation_days)
        x, y = samples(s, p.train_first_target, p.val_start, window)
        xs.append(x)
        ys.append(y)
        x, y = samples(s, p.val_start, p.test_start, window)
        xv.append(x)
        yv.append(y)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(xv), np.concatenate(yv)
