"""CSV layouts (Kaggle, Yahoo Finance, Stooq), header matching, and the split that follows the data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import COMMITTED_ARTIFACTS, SHARED_DATA, synthetic_prices
from training.data import (
    DataError,
    default_test_start,
    describe_split,
    load_prices,
    split_at,
    split_by_date,
    unused_rows_note,
)


def yahoo(n: int = 40, start: str = "2014-01-01") -> pd.DataFrame:
    frame = synthetic_prices(n, start=start).drop(columns=["Name"])
    frame.insert(5, "Adj Close", (frame["Close"] * 0.9).round(4))
    return frame


def test_yahoo_layout_and_adj_close(tmp_path: Path) -> None:
    frame = yahoo()
    path = tmp_path / "IBM.csv"
    frame.to_csv(path, index=False)
    assert list(pd.read_csv(path).columns) == ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
    np.testing.assert_allclose(load_prices(path).values, frame["High"])
    series = load_prices(path, "adj close")
    assert series.column == "Adj Close"
    np.testing.assert_allclose(series.values, frame["Adj Close"])


def test_yahoo_null_rows_are_missing_values(tmp_path: Path) -> None:
    frame = yahoo().astype(str)
    frame.loc[5, ["Open", "High", "Low", "Close", "Adj Close", "Volume"]] = "null"
    path = tmp_path / "y.csv"
    frame.to_csv(path, index=False)
    series = load_prices(path)
    assert series.gaps_filled == 1
    assert series.values[5] == series.values[4]


@pytest.mark.parametrize(
    "header",
    [
        "Date,Open,High,Low,Close,Volume",  # Stooq (stooq.com)
        "date,open,high,low,close,volume",  # lower case
        "Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie,Wolumen",  # Stooq (stooq.pl)
        " Date , Open , HIGH , Low , Close , Volume ",  # spaces and capitals
        "Date,Open,High,Low,Close,Volume,Name",  # Kaggle
    ],
)
def test_stooq_kaggle_and_header_spellings(tmp_path: Path, header: str) -> None:
    frame = synthetic_prices(40)
    cells = frame[["Date", "Open", "High", "Low", "Close", "Volume", "Name"]].astype(str).to_numpy()
    width = len(header.split(","))
    path = tmp_path / "s.csv"
    path.write_text("\n".join([header, *(",".join(row[:width]) for row in cells)]) + "\n", encoding="utf-8")
    series = load_prices(path)
    assert series.column == "High"
    np.testing.assert_allclose(series.values, frame["High"])
    np.testing.assert_allclose(load_prices(path, "close").values, frame["Close"])


def test_stooq_bulk_layout_and_a_byte_order_mark(tmp_path: Path) -> None:
    frame = synthetic_prices(40)
    lines = ["<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>"]
    for row in frame.itertuples():
        lines.append(f"SYN.US,D,{row.Date.replace('-', '')},000000,{row.Open},{row.High},{row.Low},{row.Close},1,0")
    path = tmp_path / "syn.us.txt"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    series = load_prices(path)
    np.testing.assert_allclose(series.values, frame["High"])
    assert str(series.dates[0].date()) == frame["Date"].iloc[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Date,High,high\n2020-01-02,1,2\n", r"row 1: columns \['High', 'high'\] all match 'High'"),
        ("Date,Close\n2020-01-02,1\n", r"row 1: column 'High' not found \(columns: Date, Close\)"),
        ("Date,High\n", "no data rows"),
        ("Date,High\n2020-01-02,1\n\n2020-01-06,x\n", "row 4: High value 'x' is not a number"),
        ("Date,High\n2020-01-02,1\n2020-01-03,-2\n", "row 3: High on 2020-01-03 is -2: prices must be positive"),
        ("Date,High\n2020-01-02,1\n2020-13-03,2\n", "row 3: date '2020-13-03' is not YYYY-MM-DD"),
        ("Date,High\n2020-01-02,\n2020-01-03,2\n", "row 2: the first High value is empty"),
        ("Date,High\n2020-01-02,1\n2020-01-03,inf\n", "row 3: High value is infinite"),
    ],
)
def test_refusals_name_file_row_and_rule(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        load_prices(path)
    assert str(info.value).startswith(str(path))


def test_a_row_number_survives_sorting(tmp_path: Path) -> None:
    frame = synthetic_prices(30).iloc[::-1].reset_index(drop=True)  # newest first, as some exports are
    frame.loc[3, "High"] = -1.0
    path = tmp_path / "desc.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="row 5: High"):
        load_prices(path)


# --- the split ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "start"),
    [
        ("2017-12-29", "2017-01-01"),  # IBM.csv: the committed split
        ("2017-12-31", "2017-01-01"),
        ("2024-07-01", "2023-07-01"),
        ("2024-06-14", "2023-06-01"),
        ("2024-06-20", "2023-07-01"),
        ("2024-02-29", "2023-03-01"),
        ("2025-01-02", "2024-01-01"),
    ],
)
def test_default_test_start_is_12_months_rounded_to_a_month(last: str, start: str) -> None:
    assert default_test_start(date.fromisoformat(last)) == date.fromisoformat(start)


def test_split_at_and_split_by_date_agree(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    synthetic_prices(700, start="2014-01-01").to_csv(path, index=False)
    series = load_prices(path)
    a = split_at(series, date(2016, 1, 1), window=20, validation_days=40)
    b = split_by_date(series, date(2015, 12, 31), window=20, validation_days=40)
    assert (a.n_train, a.train_end, a.test_start) == (b.n_train, b.train_end, b.test_start)
    assert a.train.dates[-1] < pd.Timestamp("2016-01-01") <= a.test.dates[0]
    text = "\n".join(describe_split(a, 40))
    assert f"{a.n_train} rows (to 2015-12-31)" in text
    assert "validation" in text
    assert f"{len(a.test.values)} rows (from 2016-01-01)" in text


def test_unused_rows_are_said_out_loud(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    synthetic_prices(2800, start="2014-01-01").to_csv(path, index=False)  # 2014 to 2024
    series = load_prices(path)
    default = split_at(series, default_test_start(series.dates[-1].date()), window=60, validation_days=250)
    assert unused_rows_note(default) is None
    assert 240 < len(default.test.values) < 270
    old = split_by_date(series, date(2016, 12, 31), window=60, validation_days=250)
    note = unused_rows_note(old)
    assert note is not None
    assert "never trained on" in note
    assert "--train-end" in note


def test_too_short_for_the_default_split_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    synthetic_prices(400, start="2021-01-01").to_csv(path, index=False)
    series = load_prices(path)
    with pytest.raises(DataError, match="need at least 311") as info:
        split_at(series, default_test_start(series.dates[-1].date()), window=60, validation_days=250)
    assert "--test-start" in str(info.value)
    assert "--train-end" in str(info.value)


@pytest.mark.shared_data
def test_the_default_split_of_ibm_is_the_committed_one() -> None:
    csv = SHARED_DATA / "IBM.csv"
    if not csv.is_file():
        pytest.skip("../shared/data is absent")
    series = load_prices(csv)
    split = split_at(series, default_test_start(series.dates[-1].date()), window=60, validation_days=250)
    committed = json.loads((COMMITTED_ARTIFACTS / "manifest.json").read_text(encoding="utf-8"))["split"]
    assert str(split.train_end) == committed["train_end"] == "2016-12-31"
    assert str(split.test.dates[0].date()) == committed["test_start"]
    assert (split.n_train, len(split.test.values)) == (committed["train_rows"], committed["test_rows"])


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("Close", -1.0, "row 12: Close on .* is -1: prices must be positive"),
        ("Low", float("inf"), "row 12: Low value is infinite"),
    ],
)
def test_ohlc_refusals_name_the_row(tmp_path: Path, column: str, value: float, message: str) -> None:
    from training.ohlc.data import load_bars

    frame = synthetic_prices(50)
    frame.loc[10, column] = value
    path = tmp_path / "AAA.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=message):
        load_bars(path)


def test_ohlc_reads_yahoo_headers_in_any_case(tmp_path: Path) -> None:
    from training.ohlc.data import load_bars

    frame = yahoo(80)
    frame.columns = [c.upper() for c in frame.columns]
    path = tmp_path / "bbb.csv"
    frame.to_csv(path, index=False)
    bars = load_bars(path)
    assert bars.ticker == "BBB"
    np.testing.assert_allclose(bars.bars[:, 3], frame["CLOSE"])
