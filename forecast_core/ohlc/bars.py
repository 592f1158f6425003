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

import numpy as np

COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
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
