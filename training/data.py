"""Loading and splitting a daily price CSV (Kaggle "DJIA 30 stock time series" format)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

DATE_COLUMN = "Date"


class DataError(ValueError):
    """A CSV that cannot be trained on; the message says which file, column or row and why."""


@dataclass(frozen=True)
class PriceSeries:
    """One target column indexed by trading date, with what cleaning did to it."""

    dates: pd.DatetimeIndex
    values: np.ndarray
    column: str
    source: str
    duplicate_dates_dropped: int
    gaps_filled: int


@dataclass(frozen=True)
class Split:
    train: PriceSeries
    test: PriceSeries
    full: PriceSeries

    @property
    def n_train(self) -> int:
        return len(self.train.values)


def load_prices(path: Path, column: str = "High") -> PriceSeries:
    """Read, sort and clean one column of a daily price CSV.

    Duplicate dates keep their first row; empty cells in the target column are filled from the
    previous trading day (the last known price), and the count is reported.
    """
    frame, dates = read_frame(path, (column,))
    values = numeric_column(path, frame, column)
    series = pd.Series(values.to_numpy(dtype=np.float64), index=pd.DatetimeIndex(dates)).sort_index(kind="stable")
    duplicated = series.index.duplicated(keep="first")
    series = series[~duplicated]
    if not np.isfinite(series.dropna().to_numpy()).all():
        raise DataError(f"{path}: column {column} holds infinite values")
    if (series.dropna() <= 0).any():
        bad_day = series[series <= 0]
        raise DataError(f"{path}: {column} on {bad_day.index[0].date()} is {bad_day.iloc[0]}: prices must be positive")
    gaps = int(series.isna().sum())
    if gaps and series.isna().iloc[0]:
        raise DataError(f"{path}: the first {column} value is empty and cannot be filled from an earlier day")
    series = series.ffill()
    if gaps:
        log.warning("%s: filled %d empty %s value(s) from the previous trading day", path.name, gaps, column)
    if int(duplicated.sum()):
        log.warning("%s: dropped %d duplicate date(s)", path.name, int(duplicated.sum()))
    return PriceSeries(
        dates=pd.DatetimeIndex(series.index),
        values=series.to_numpy(dtype=np.float64),
        column=column,
        source=path.name,
        duplicate_dates_dropped=int(duplicated.sum()),
        gaps_filled=gaps,
    )


def read_frame(path: Path, columns: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Read a CSV as text and parse its dates; refuse a missing file, column or unparseable date."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None
    for needed in (DATE_COLUMN, *columns):
        if needed not in frame.columns:
            raise DataError(f"{path}: column {needed!r} not found (columns: {', '.join(frame.columns)})")
    dates = pd.to_datetime(frame[DATE_COLUMN].str.strip(), errors="coerce", format="%Y-%m-%d")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: date {frame[DATE_COLUMN].iloc[row]!r} is not YYYY-MM-DD")
    return frame, pd.DatetimeIndex(dates)


def numeric_column(path: Path, frame: pd.DataFrame, column: str) -> pd.Series:
    """One column as floats, empty cells as NaN; refuse a cell that is not a number."""
    raw = frame[column].str.strip()
    values = pd.to_numeric(raw.replace("", np.nan), errors="coerce")
    bad = values.isna() & (raw != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: {column} value {raw.iloc[row]!r} is not a number")
    return values


def _subset(series: PriceSeries, mask: np.ndarray) -> PriceSeries:
    return PriceSeries(
        dates=series.dates[mask],
        values=series.values[mask],
        column=series.column,
        source=series.source,
        duplicate_dates_dropped=series.duplicate_dates_dropped,
        gaps_filled=series.gaps_filled,
    )


def split_by_date(series: PriceSeries, train_end: date, window: int, validation_days: int = 0) -> Split:
    """Train on dates up to ``train_end`` and test on the rest; refuse a split too small to use."""
    mask = np.asarray(series.dates <= pd.Timestamp(train_end))
    split = Split(train=_subset(series, mask), test=_subset(series, ~mask), full=series)
    needed = window + 1 + validation_days
    if split.n_train < needed:
        raise DataError(
            f"{series.source}: {split.n_train} rows up to {train_end} but window {window}"
            f"{f' and {validation_days} validation days' if validation_days else ''} need at least {needed}"
        )
    if len(split.test.values) < 1:
        raise DataError(f"{series.source}: no rows after {train_end} to test on")
    return split
