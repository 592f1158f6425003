"""Price bars <-> model units, shared by training and serving so both decode identically.

A window of daily bars (Open, High, Low, Close) is expressed as log ratios to the window's own last
Close, in percent (``UNITS`` = 100 times the log ratio: daily moves near 1 rather than 0.01, which
keeps the networks' inputs and outputs well conditioned). Scale-free, so one model serves any
ticker at any price level, and multiplying a window by 10 leaves the model's input unchanged. The
model answers the next bar in the same units.

Valid bars by construction: the decode takes the High as the largest and the Low as the smallest of
the four predicted values (exp is monotonic, so this can be done in log units). A raw network can
put its Open above its High; after :func:`repair_relative` the bar always satisfies
Low <= min(Open, Close) and max(Open, Close) <= High.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forecast_core.features import MIN_VOLATILITY, FeatureSet, Recursion, Scale, register

COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
CSV_COLUMNS: tuple[str, ...] = ("Open", "High", "Low", "Close")
OPEN, HIGH, LOW, CLOSE = range(4)
UNITS = 100.0  # model units per unit of natural-log ratio


def _check_windows(windows: np.ndarray) -> np.ndarray:
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != len(COLUMNS):
        raise ValueError(f"expected windows of shape (n, window, {len(COLUMNS)}), got {x.shape}")
    return x


def to_relative(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prices (n, w, 4) -> model inputs (n, w, 4) float32 and the reference last Close (n,)."""
    x = _check_windows(windows)
    reference = x[:, -1, CLOSE].copy()
    return (UNITS * np.log(x / reference[:, None, None])).astype(np.float32), reference


def repair_relative(outputs: np.ndarray) -> np.ndarray:
    """Make raw (n, 4) model outputs a valid bar: High the largest, Low the smallest value."""
    out = np.array(outputs, dtype=np.float64, copy=True)
    out[:, HIGH] = out.max(axis=1)
    out[:, LOW] = out.min(axis=1)
    return out


def from_relative(outputs: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Model outputs (n, 4) in model units relative to ``reference`` (n,) -> prices (n, 4), always valid bars."""
    return np.asarray(reference, dtype=np.float64)[:, None] * np.exp(repair_relative(outputs) / UNITS)


def relative_targets(windows: np.ndarray, next_bars: np.ndarray) -> np.ndarray:
    """What the model is trained to output: the next bar (n, 4) in model units relative to the last Close."""
    x = _check_windows(windows)
    return UNITS * np.log(np.asarray(next_bars, dtype=np.float64) / x[:, -1, CLOSE][:, None])


def log_volatility(windows: np.ndarray) -> np.ndarray:
    """Standard deviation of the daily log changes of the Close in each window (n,), unitless."""
    x = _check_windows(windows)
    return np.std(np.diff(np.log(x[:, :, CLOSE]), axis=1), axis=1)


class RecursionBuffer:
    """The state of a recursive forecast: log prices of the windows plus every predicted bar.

    One buffer of shape (n, window + horizon, 4) and one float32 scratch window are allocated up
    front; a step writes the model input into the scratch (no new array) and appends one bar.
    """

    def __init__(self, windows: np.ndarray, horizon: int) -> None:
        x = _check_windows(windows)
        n, w, _ = x.shape
        self.window, self.horizon, self.steps = w, horizon, 0
        self.logs = np.empty((n, w + horizon, len(COLUMNS)), dtype=np.float64)
        np.log(x, out=self.logs[:, :w])
        self._scratch = np.empty((n, w, len(COLUMNS)), dtype=np.float32)

    def model_input(self) -> np.ndarray:
        """The newest ``window`` bars in model units (a reused float32 array: consume before the next step)."""
        s, w = self.steps, self.window
        np.subtract(self.logs[:, s : s + w], self.logs[:, s + w - 1, CLOSE][:, None, None], out=self._scratch)
        self._scratch *= UNITS
        return self._scratch

    def append(self, outputs: np.ndarray) -> None:
        """Append the predicted bar (raw model outputs (n, 4), repaired here) as the newest input."""
        s, w = self.steps, self.window
        row = self.logs[:, s + w]
        np.divide(outputs, UNITS, out=row)
        row[:, HIGH] = row.max(axis=1)
        row[:, LOW] = row.min(axis=1)
        row += self.logs[:, s + w - 1, CLOSE][:, None]
        self.steps += 1

    def forecast(self) -> np.ndarray:
        """The predicted bars so far in prices, shape (n, steps, 4)."""
        return np.exp(self.logs[:, self.window : self.window + self.steps])


def implausible_lows(bars: np.ndarray) -> np.ndarray:
    """Where a bar's Low is at or below 0 or under half of min(Open, Close): a misprint in real data.

    The one rule for both halves: training repairs such a Low (``training/ohlc/data.py``), serving warns.
    """
    x = np.asarray(bars, dtype=np.float64)
    low, body_low = x[..., LOW], np.minimum(x[..., OPEN], x[..., CLOSE])
    return (low <= 0) | (low < 0.5 * body_low)


def bar_warnings(windows: np.ndarray) -> list[str]:
    """Bars that are not consistent (real data has them): said, not refused."""
    out: list[str] = []
    w = np.asarray(windows, dtype=np.float64)
    low_above_high = w[..., LOW] > w[..., HIGH]  # (windows, steps)
    outside = (np.minimum(w[..., OPEN], w[..., CLOSE]) < w[..., LOW]) | (
        np.maximum(w[..., OPEN], w[..., CLOSE]) > w[..., HIGH]
    )
    far_low = implausible_lows(w)
    # Whole-batch passes first; only windows with a bad bar are looked at one by one.
    for i in np.flatnonzero((low_above_high | outside | far_low).any(axis=1)).tolist():
        label = f"window {i}" if len(w) > 1 else "window"
        crossed, off, far = np.flatnonzero(low_above_high[i]), np.flatnonzero(outside[i]), np.flatnonzero(far_low[i])
        if crossed.size:
            out.append(
                f"{label}: {crossed.size} bar(s) with the low above the high "
                f"(first at position {int(crossed[0])}); the forecast may be unreliable"
            )
        if off.size:
            out.append(
                f"{label}: {off.size} bar(s) with the open or close outside [low, high] "
                f"(first at position {int(off[0])})"
            )
        if far.size:
            out.append(
                f"{label}: {far.size} bar(s) with the low under half of min(open, close) "
                f"(first at position {int(far[0])}), which training repairs as a misprint; "
                "the forecast may be unreliable"
            )
    return out


@register("bars-log-ratio")
class Bars(FeatureSet):
    """Daily Open/High/Low/Close bars as log ratios to the window's last Close (scale-free: any ticker)."""

    columns = COLUMNS
    csv_columns = CSV_COLUMNS
    network_features = len(COLUMNS)

    def encode(self, windows: np.ndarray) -> tuple[np.ndarray, Any]:
        return to_relative(windows)

    def decode(self, raw: np.ndarray, context: Any) -> np.ndarray:
        return from_relative(raw, context)

    def targets(self, windows: np.ndarray, next_rows: np.ndarray) -> np.ndarray:
        return relative_targets(windows, next_rows).astype(np.float32)

    def recursion(self, windows: np.ndarray, horizon: int) -> Recursion:
        return RecursionBuffer(windows, horizon)

    def unit(self, windows: np.ndarray, scale: Scale, floor: float) -> np.ndarray:
        w = np.asarray(windows, dtype=np.float64)
        if scale == "price":
            return w[:, -1, CLOSE]
        return w[:, -1, CLOSE] * np.maximum(log_volatility(w), max(floor, MIN_VOLATILITY))

    def validate(self, windows: np.ndarray) -> None:
        # Log ratios need positive prices; the API refuses them earlier with a 422.
        if not (np.all(windows > 0) and np.all(np.isfinite(windows))):
            raise ValueError("prices must be positive and finite")

    def warnings(self, windows: np.ndarray) -> list[str]:
        return bar_warnings(windows)
