"""The multi-file OHLC loader: file resolution, the implausible-bar rule, gaps, windows and split."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast_core.bars import CLOSE, HIGH, LOW, OPEN
from tests.conftest import SHARED_DATA, synthetic_prices
from training.data import DataError
from training.ohlc.data import load_bars, resolve_inputs
from training.ohlc.dataset import every_fifth, periods, samples, windows_at


def ohlc_frame(n: int = 300, seed: int = 0, start: str = "2015-06-01") -> pd.DataFrame:
    """Synthetic bars with an Open that differs from the Close, in the Kaggle CSV layout."""
    frame = synthetic_prices(n, seed=seed, start=start)
    rng = np.random.default_rng(seed + 100)
    close = frame["Close"].to_numpy()
    frame["Open"] = (np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0, 0.003, n))).round(2)
    frame["High"] = np.maximum(frame["High"], np.maximum(frame["Open"], frame["Close"]))
    frame["Low"] = np.minimum(frame["Low"], np.minimum(frame["Open"], frame["Close"]))
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_repairs_implausible_bars_and_keeps_the_rest(tmp_path: Path) -> None:
    frame = ohlc_frame()
    frame["High"] = frame["High"].astype(object)
    frame.loc[10, "Low"] = 0.0  # like HD 2009-04-17
    frame.loc[20, "Low"] = 0.01  # like TRV 2008-06-06
    frame.loc[30, "Low"] = round(0.45 * min(frame.loc[30, "Open"], frame.loc[30, "Close"]), 2)  # like CSCO 2008-09-19
    frame.loc[40, "High"] = 3 * max(frame.loc[40, "Open"], frame.loc[40, "Close"])
    frame.loc[50, ["High", "Low"]] = frame.loc[50, ["Low", "High"]].to_numpy()  # High < Low
    frame.loc[60, "Open"] = frame.loc[60, "High"] + 0.5  # Open outside [Low, High]: kept, counted
    frame.loc[70, "Low"] = 0.8 * min(frame.loc[70, "Open"], frame.loc[70, "Close"])  # a wide but real day
    s = load_bars(write(frame, tmp_path / "SYN.csv"))
    rules = {r["date"]: r["rule"] for r in s.repairs}
    assert len(s.repairs) == 5
    assert set(rules) == {frame.loc[i, "Date"] for i in (10, 20, 30, 40, 50)}
    for i in (10, 20, 30):
        assert s.bars[i, LOW] == min(s.bars[i, OPEN], s.bars[i, CLOSE])
    assert s.bars[40, HIGH] == max(s.bars[40, OPEN], s.bars[40, CLOSE])
    assert s.bars[50, HIGH] > s.bars[50, LOW]
    assert s.bars[70, LOW] == pytest.approx(frame.loc[70, "Low"])
    assert s.open_close_outside_range >= 1
    assert s.ticker == "SYN"


def test_empty_cells_become_valid_bars(tmp_path: Path) -> None:
    frame = ohlc_frame().astype({"Open": object, "Low": object, "High": object})
    frame.loc[5, ["Open", "Low"]] = ""
    frame.loc[6, "High"] = ""
    s = load_bars(write(frame, tmp_path / "GAP.csv"))
    assert s.gaps_filled == {"Open": 1, "High": 1, "Low": 1, "Close": 0}
    assert s.bars[5, OPEN] == s.bars[4, CLOSE]
    for i in (5, 6):
        assert s.bars[i, LOW] <= min(s.bars[i, OPEN], s.bars[i, CLOSE])
        assert s.bars[i, HIGH] >= max(s.bars[i, OPEN], s.bars[i, CLOSE])
    assert s.repairs == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["Low"]), "column 'Low' not found"),
        (lambda f: f.assign(Close=f["Close"].astype(object).where(f.index != 3, "abc")), "row 5: Close value 'abc'"),
        (lambda f: f.assign(Close=f["Close"].where(f.index != 3, -1.0)), "prices must be positive"),
    ],
)
def test_refusals_name_file_and_problem(tmp_path: Path, change: object, message: str) -> None:
    path = write(change(ohlc_frame()), tmp_path / "BAD.csv")  # type: ignore[operator]
    with pytest.raises(DataError, match=message):
        load_bars(path)


def test_resolve_inputs_directory_glob_and_files(tmp_path: Path) -> None:
    for t in ("BBB", "AAA", "CCC"):
        write(ohlc_frame(50), tmp_path / f"{t}.csv")
    assert [p.stem for p in resolve_inputs([str(tmp_path)])] == ["AAA", "BBB", "CCC"]
    assert [p.stem for p in resolve_inputs([str(tmp_path / "A*.csv"), str(tmp_path / "AAA.csv")])] == ["AAA"]
    with pytest.raises(DataError, match="no CSV files"):
        resolve_inputs([str(tmp_path / "Z*.csv")])


def test_windows_targets_and_split(tmp_path: Path) -> None:
    s = load_bars(write(ohlc_frame(400), tmp_path / "SYN.csv"))
    p = periods(s, date(2016, 6, 30), window=10, validation_days=30)
    assert s.dates[p.test_start - 1] <= pd.Timestamp("2016-06-30") < s.dates[p.test_start]
    assert p.test_start - p.val_start == 30
    w = windows_at(s.bars, np.array([9, 20]), 10)
    np.testing.assert_array_equal(w[1], s.bars[11:21])
    x, y = samples(s, p.val_start, p.test_start, 10)
    assert x.shape == (30, 10, 4)
    assert y.shape == (30, 4)
    assert x.dtype == np.float32
    assert np.all(x[:, -1, CLOSE] == 0)


def test_held_out_rule() -> None:
    tickers = [f"T{i:02d}" for i in range(25)]
    assert every_fifth(tickers) == ["T04", "T09", "T14", "T19", "T24"]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
def test_shared_files_repairs() -> None:
    repaired = {p.stem: load_bars(p).repairs for p in resolve_inputs([str(SHARED_DATA)])}
    assert {t for t, r in repaired.items() if r} == {"CSCO", "HD", "TRV"}
    assert repaired["HD"][0]["date"] == "2009-04-17"
