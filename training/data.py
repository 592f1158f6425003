"""Loading and splitting a daily price CSV: the Kaggle, Yahoo Finance and Stooq layouts.

Headers are matched after stripping spaces and ``<>`` and ignoring case (``--column "adj close"``
finds ``Adj Close``); Stooq's Polish headers (``Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie,Wolumen``)
are read as their English names. Dates are ``YYYY-MM-DD`` (or ``YYYYMMDD``, Stooq's bulk files). A
cell that is empty or Yahoo's ``null`` is a missing value. Every refusal names the file, the row (the
line number in the file) and the rule.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

DATE_COLUMN = "Date"
# Canonical spellings, by their normalised key, for the columns the loaders ask for.
CANONICAL = {k.lower(): k for k in ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume")}
# stooq.pl serves its CSVs with Polish headers.
ALIASES = {
    "data": "date",
    "otwarcie": "open",
    "najwyzszy": "high",
    "najnizszy": "low",
    "zamkniecie": "close",
    "wolumen": "volume",
}
MISSING = ("", "null")  # an empty cell, or Yahoo Finance's "null" on a day without a quote
TEST_MONTHS = 12


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
    train_end: date  # the last calendar day of the training period (the day before test_start)
    test_start: date  # the first calendar day of the test period

    @property
    def n_train(self) -> int:
        return len(self.train.values)


def column_key(name: str) -> str:
    """How a header is matched: spaces, underscores and ``<>`` trimmed, case ignored, Polish names translated."""
    key = re.sub(r"[\s_]+", " ", str(name).strip().strip("<>").strip()).casefold()
    return ALIASES.get(key, key)


def display_name(name: str) -> str:
    """The canonical spelling of a known column (``adj close`` -> ``Adj Close``), else ``name`` as given."""
    return CANONICAL.get(column_key(name), str(name).strip())


def load_prices(path: Path, column: str = "High") -> PriceSeries:
    """Read, sort and clean one column of a daily price CSV.

    Duplicate dates keep their first row; empty cells in the target column are filled from the
    previous trading day (the last known price), and the count is reported.
    """
    frame, dates = read_frame(path, (column,))
    name = display_name(column)
    values = numeric_column(path, frame, column)
    table = pd.DataFrame(
        {"value": values.to_numpy(dtype=np.float64), "row": frame.index.to_numpy()}, index=pd.DatetimeIndex(dates)
    ).sort_index(kind="stable")
    duplicated = table.index.duplicated(keep="first")
    table = table[~duplicated]
    present = table["value"].notna()
    bad = present & ~np.isfinite(table["value"])
    if bad.any():
        raise DataError(f"{path}: row {int(table['row'][bad].iloc[0])}: {name} value is infinite")
    bad = present & (table["value"] <= 0)
    if bad.any():
        first = table[bad].iloc[0]
        raise DataError(
            f"{path}: row {int(first['row'])}: {name} on {table.index[bad][0].date()} is {first['value']:g}: "
            "prices must be positive"
        )
    series = table["value"]
    gaps = int(series.isna().sum())
    if gaps and series.isna().iloc[0]:
        raise DataError(
            f"{path}: row {int(table['row'].iloc[0])}: the first {name} value is empty "
            "and cannot be filled from an earlier day"
        )
    series = series.ffill()
    if gaps:
        log.warning("%s: filled %d empty %s value(s) from the previous trading day", path.name, gaps, name)
    if int(duplicated.sum()):
        log.warning("%s: dropped %d duplicate date(s) (each keeps its first row)", path.name, int(duplicated.sum()))
    return PriceSeries(
        dates=pd.DatetimeIndex(series.index),
        values=series.to_numpy(dtype=np.float64),
        column=name,
        source=path.name,
        duplicate_dates_dropped=int(duplicated.sum()),
        gaps_filled=gaps,
    )


def _find_columns(path: Path, header: list[str], wanted: tuple[str, ...]) -> dict[str, str]:
    """Each wanted column's header in the file, matched by :func:`column_key`."""
    found: dict[str, str] = {}
    for name in wanted:
        matches = [h for h in header if column_key(h) == column_key(name)]
        if not matches:
            raise DataError(
                f"{path}: row 1: column {display_name(name)!r} not found (columns: {', '.join(map(str, header))}); "
                "headers are matched ignoring case, e.g. Date,Open,High,Low,Close,Adj Close,Volume"
            )
        if len(matches) > 1:
            raise DataError(f"{path}: row 1: columns {matches} all match {display_name(name)!r}")
        found[name] = matches[0]
    return found


def read_frame(path: Path, columns: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Read a CSV as text and parse its dates; refuse a missing file, column or unparseable date.

    The frame holds ``Date`` and the ``columns`` under the names the caller gave, whatever their case
    in the file; its index is each row's line number in the file (the header is line 1).
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None
    frame.index = pd.RangeIndex(2, len(frame) + 2)  # line numbers: the header is line 1
    frame = frame[~(frame == "").all(axis=1)]  # blank lines
    found = _find_columns(path, list(frame.columns), (DATE_COLUMN, *columns))
    frame = pd.DataFrame({name: frame[header] for name, header in found.items()}, index=frame.index)
    if frame.empty:
        raise DataError(f"{path}: no data rows after the header")
    raw = frame[DATE_COLUMN].str.strip()
    dates = pd.to_datetime(raw, errors="coerce", format="%Y-%m-%d")
    if dates.isna().all() and raw.str.fullmatch(r"\d{8}").all():
        dates = pd.to_datetime(raw, errors="coerce", format="%Y%m%d")  # Stooq's bulk files: 20170103
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(f"{path}: row {frame.index[row]}: date {frame[DATE_COLUMN].iloc[row]!r} is not YYYY-MM-DD")
    return frame, pd.DatetimeIndex(dates)


def numeric_column(path: Path, frame: pd.DataFrame, column: str) -> pd.Series:
    """One column as floats, empty cells (and ``null``) as NaN; refuse a cell that is not a number."""
    raw = frame[column].str.strip()
    missing = raw.str.lower().isin(MISSING)
    values = pd.to_numeric(raw.mask(missing, np.nan), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: row {frame.index[row]}: {display_name(column)} value {raw.iloc[row]!r} is not a number"
        )
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


def default_test_start(last: date, months: int = TEST_MONTHS) -> date:
    """The first day of the default test period: ``months`` before the day after ``last``, rounded to
    the nearest first of a month (a file ending 2017-12-29 tests on 2017-01-01 onwards)."""
    anchor = (pd.Timestamp(last) + pd.Timedelta(days=1) - pd.DateOffset(months=months)).date()
    earlier = anchor.replace(day=1)
    later = (pd.Timestamp(earlier) + pd.DateOffset(months=1)).date()
    return later if (later - anchor) <= (anchor - earlier) else earlier


def split_at(series: PriceSeries, test_start: date, window: int, validation_days: int = 0) -> Split:
    """Train on dates before ``test_start`` and test on the rest; refuse a split too small to use."""
    train_end = test_start - timedelta(days=1)
    mask = np.asarray(series.dates < pd.Timestamp(test_start))
    split = Split(
        train=_subset(series, mask),
        test=_subset(series, ~mask),
        full=series,
        train_end=train_end,
        test_start=test_start,
    )
    needed = window + 1 + validation_days
    span = f"{series.dates[0].date()} … {series.dates[-1].date()}"
    if split.n_train < needed:
        raise DataError(
            f"{series.source}: {split.n_train} rows up to {train_end} (the file holds {len(series.values)} rows, "
            f"{span}) but window {window}"
            f"{f' and {validation_days} validation days' if validation_days else ''} need at least {needed}: "
            "give a longer file, an earlier test period (--test-start DATE or --train-end DATE) or a shorter --window"
        )
    if len(split.test.values) < 1:
        raise DataError(
            f"{series.source}: no rows after {train_end} to test on (the file holds {span}): "
            "give --test-start DATE (or --train-end DATE) within the file"
        )
    return split


def split_by_date(series: PriceSeries, train_end: date, window: int, validation_days: int = 0) -> Split:
    """Train on dates up to ``train_end`` and test on the rest; refuse a split too small to use."""
    return split_at(series, train_end + timedelta(days=1), window, validation_days)


def unused_rows_note(split: Split, months: int = TEST_MONTHS) -> str | None:
    """A warning when the test period is much longer than the default: those rows are never trained on."""
    default = default_test_start(split.full.dates[-1].date(), months)
    later = int(np.sum(np.asarray(split.test.dates < pd.Timestamp(default))))
    if split.test_start >= default or later < 21:  # within about a month of the default: nothing to say
        return None
    return (
        f"{split.full.source}: the test period {split.test_start} … {split.full.dates[-1].date()} holds "
        f"{len(split.test.values)} rows; {later} of them (before {default}) are never trained on. "
        f"Without --train-end/--test-start the models train on them and test on the last {months} months."
    )


def describe_split(split: Split, validation_days: int) -> list[str]:
    """The split in words, dates and row counts, for the log before training."""
    train, test = split.train, split.test
    fit = split.n_train - validation_days
    lines = [
        f"{split.full.source} `{split.full.column}`: {len(split.full.values)} rows "
        f"{split.full.dates[0].date()} … {split.full.dates[-1].date()}",
        f"  train      {train.dates[0].date()} … {train.dates[-1].date()}: {split.n_train} rows (to {split.train_end})",
    ]
    if validation_days:
        lines.append(
            f"    of which fit {train.dates[0].date()} … {train.dates[fit - 1].date()}: {fit} rows, "
            f"validation {train.dates[fit].date()} … {train.dates[-1].date()}: {validation_days} rows "
            "(early stopping, interval calibration)"
        )
    lines.append(
        f"  test       {test.dates[0].date()} … {test.dates[-1].date()}: {len(test.values)} rows "
        f"(from {split.test_start})"
    )
    return lines
