"""CSV loading: cleaning rules and the refusal messages."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import synthetic_prices
from training.data import DataError, load_prices, split_by_date


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_sorts_dates_and_drops_duplicates(tmp_path: Path) -> None:
    frame = synthetic_prices(30)
    shuffled = pd.concat([frame.iloc[::-1], frame.iloc[[5]].assign(High=999.0)])
    series = load_prices(_write(tmp_path, shuffled))
    assert series.duplicate_dates_dropped == 1
    assert series.dates.is_monotonic_increasing
    assert series.dates.is_unique
    np.testing.assert_allclose(series.values, frame["High"].to_numpy())


def test_fills_gaps_from_previous_day_and_counts_them(tmp_path: Path) -> None:
    frame = synthetic_prices(30).astype({"High": object})
    frame.loc[[3, 4, 10], "High"] = ""
    series = load_prices(_write(tmp_path, frame))
    assert series.gaps_filled == 3
    original = synthetic_prices(30)["High"].to_numpy()
    assert series.values[3] == series.values[4] == original[2]
    assert series.values[10] == original[9]


def test_other_column(tmp_path: Path) -> None:
    frame = synthetic_prices(30)
    series = load_prices(_write(tmp_path, frame), column="Close")
    np.testing.assert_allclose(series.values, frame["Close"].to_numpy())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["High"]), "column 'High' not found"),
        (lambda f: f.drop(columns=["Date"]), "column 'Date' not found"),
        (
            lambda f: f.astype({"High": object}).assign(High=lambda d: d["High"].where(d.index != 7, "abc")),
            "row 9: High value 'abc' is not a number",
        ),
        (lambda f: f.assign(High=lambda d: d["High"].where(d.index != 4, -1.0)), "prices must be positive"),
        (lambda f: f.assign(High=lambda d: d["High"].where(d.index != 4, 0.0)), "prices must be positive"),
        (
            lambda f: f.astype({"Date": object}).assign(Date=lambda d: d["Date"].where(d.index != 2, "yesterday")),
            "row 4: date 'yesterday' is not YYYY-MM-DD",
        ),
        (
            lambda f: f.astype({"High": object}).assign(High=lambda d: d["High"].where(d.index != 0, "")),
            "first High value is empty",
        ),
        (lambda f: f.assign(High=lambda d: d["High"].where(d.index != 3, np.inf)), "infinite"),
    ],
)
def test_refuses_bad_csv(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, mutate(synthetic_prices(30)))
    with pytest.raises(DataError, match=message):
        load_prices(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_prices(tmp_path / "nope.csv")


def test_split_by_date_and_too_few_rows(tmp_path: Path) -> None:
    series = load_prices(_write(tmp_path, synthetic_prices(100, start="2016-10-03")))
    split = split_by_date(series, date(2016, 12, 31), window=10)
    assert split.train.dates.max() <= pd.Timestamp("2016-12-31") < split.test.dates.min()
    assert split.n_train + len(split.test.values) == 100
    with pytest.raises(DataError, match="need at least"):
        split_by_date(series, date(2016, 12, 31), window=80)
    with pytest.raises(DataError, match="no rows after"):
        split_by_date(series, date(2030, 1, 1), window=10)
