"""Loading daily OHLC bars from several CSVs, with the univariate loader's cleaning and messages.

Per file: the same refusals as :func:`training.data.load_prices` (missing file or column, dates,
non-numeric or infinite cells, a non-positive Close), duplicate dates keep their first row, and then:

* **Implausible bars** are repaired, never trained on silently, and listed per file
  (``IMPLAUSIBLE_RULE``): a Low at or below 0 or under half of min(Open, Close) becomes
  min(Open, Close); a High above twice max(Open, Close) becomes max(Open, Close); an Open at or below
  0 becomes the previous Close; a High still below the Low swaps them. Half/twice is far outside any
  real daily range of these large caps (their widest genuine days span about 30 %), yet catches the
  known bad cells (HD Low 0.0, TRV Low 0.01, CSCO Low 11.78 with a Close of 24.29).
* **Empty cells** (e.g. 2017-07-31): Close from the previous Close, Open from the previous Close,
  High/Low from max/min(Open, Close), so a filled bar is a valid one; counted per column.
* Bars whose Open or Close lies outside [Low, High] are kept (real data has them) and counted.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from training.data import DataError, numeric_column, read_frame

log = logging.getLogger(__name__)

CSV_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close")
IMPLAUSIBLE_RULE = (
    "Low <= 0 or Low < 0.5 x min(Open, Close) -> Low := min(Open, Close); "
    "High > 2 x max(Open, Close) -> High := max(Open, Close); Open <= 0 -> previous Close; "
    "High < Low -> swapped"
)


@dataclass(frozen=True)
class BarSeries:
    """One ticker's cleaned daily bars (n, 4): Open, High, Low, Close, by trading date."""

    ticker: str
    path: Path
    dates: pd.DatetimeIndex
    bars: np.ndarray
    duplicate_dates_dropped: int
    gaps_filled: dict[str, int]
    repairs: list[dict[str, str]] = field(default_factory=list)
    open_close_outside_range: int = 0

    @property
    def source(self) -> str:
        return self.path.name


def resolve_inputs(specs: list[str]) -> list[Path]:
    """Files named by ``--data``: each a CSV, a directory (its ``*.csv``) or a glob; sorted, no repeats."""
    found: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            matches = sorted(path.glob("*.csv"))
        elif any(ch in spec for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(spec))
        else:
            matches = [path]  # a missing file is refused by load_bars with the usual message
        if not matches:
            raise DataError(f"{spec}: no CSV files found")
        found.extend(matches)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return sorted(unique, key=lambda p: p.stem)


def _note(repairs: list[dict[str, str]], day: pd.Timestamp, rule: str, action: str) -> None:
    repairs.append({"date": str(day.date()), "rule": rule, "action": action})


def load_bars(path: Path) -> BarSeries:
    """Read, sort, clean and repair one OHLC file (see the module docstring for the rules)."""
    frame, dates = read_frame(path, CSV_COLUMNS)
    table = pd.DataFrame({c: numeric_column(path, frame, c).to_numpy(dtype=np.float64) for c in CSV_COLUMNS})
    table.index = dates
    table["row"] = frame.index.to_numpy()  # line numbers in the file, for the messages
    table = table.sort_index(kind="stable")
    duplicated = table.index.duplicated(keep="first")
    table = table[~duplicated]
    rows = table.pop("row").to_numpy()
    values = table.to_numpy(dtype=np.float64)
    if np.isinf(values).any():
        i, j = np.argwhere(np.isinf(values))[0]
        raise DataError(f"{path}: row {rows[i]}: {CSV_COLUMNS[j]} value is infinite")
    close = table["Close"].to_numpy()
    if (close[~np.isnan(close)] <= 0).any():
        i = int(np.flatnonzero(close <= 0)[0])
        raise DataError(
            f"{path}: row {rows[i]}: Close on {table.index[i].date()} is {close[i]:g}: prices must be positive"
        )
    if np.isnan(values[0, 3]):
        raise DataError(
            f"{path}: row {rows[0]}: the first Close value is empty and cannot be filled from an earlier day"
        )
    gaps = {c: int(table[c].isna().sum()) for c in CSV_COLUMNS}
    o, h, lo, c = (values[:, k].copy() for k in range(4))
    c = pd.Series(c).ffill().to_numpy()
    prev_close = np.concatenate([[c[0]], c[:-1]])
    repairs: list[dict[str, str]] = []
    days = table.index
    for i in np.flatnonzero(~np.isnan(o) & (o <= 0)):
        _note(repairs, days[i], "Open <= 0", f"Open {o[i]:g} -> previous Close {prev_close[i]:g}")
        o[i] = prev_close[i]
    o = np.where(np.isnan(o), prev_close, o)
    body_low, body_high = np.minimum(o, c), np.maximum(o, c)
    for i in np.flatnonzero(~np.isnan(lo) & ((lo <= 0) | (lo < 0.5 * body_low))):
        _note(repairs, days[i], "Low <= 0 or < 0.5 x min(Open, Close)", f"Low {lo[i]:g} -> {body_low[i]:g}")
        lo[i] = body_low[i]
    for i in np.flatnonzero(~np.isnan(h) & (h > 2 * body_high)):
        _note(repairs, days[i], "High > 2 x max(Open, Close)", f"High {h[i]:g} -> {body_high[i]:g}")
        h[i] = body_high[i]
    h = np.where(np.isnan(h), body_high, h)
    lo = np.where(np.isnan(lo), body_low, lo)
    for i in np.flatnonzero(h < lo):
        _note(repairs, days[i], "High < Low", f"High {h[i]:g} and Low {lo[i]:g} swapped")
        h[i], lo[i] = lo[i], h[i]
    bars = np.stack([o, h, lo, c], axis=1)
    outside = int(np.sum((o < lo) | (o > h) | (c < lo) | (c > h)))
    for r in repairs:
        log.warning("%s: %s: %s (%s)", path.name, r["date"], r["action"], r["rule"])
    if any(gaps.values()):
        log.info("%s: filled empty cells %s", path.name, {k: v for k, v in gaps.items() if v})
    return BarSeries(
        ticker=path.stem.upper(),
        path=path,
        dates=pd.DatetimeIndex(days),
        bars=bars,
        duplicate_dates_dropped=int(duplicated.sum()),
        gaps_filled=gaps,
        repairs=repairs,
        open_close_outside_range=outside,
    )
