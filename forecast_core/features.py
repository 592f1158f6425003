"""Feature sets: what a kind of model takes and answers, declared once for training and serving.

A feature set names its columns (``("high",)``, ``("open", "high", "low", "close")``) and owns
everything between prices and model units: encoding a window, decoding the network's raw output, the
recursion step that appends a predicted row, the interval unit, its input warnings and the CSV
columns it reads. Windows are always prices shaped ``(n, window, columns)``; a one-column series is a
series with one component, not a second code path (as in darts' ``TimeSeries``). The predictor, the
interval table, the served model and the model card are written once against this interface.

Feature sets are registered by name (the name a manifest records): :func:`feature_set` builds one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from forecast_core.scaler import MinMaxScaling

#: The unit interval half-widths are measured in: the last price, or a volatility-scaled one.
Scale = Literal["price", "volatility"]
# The least volatility unit, relative to the last price, whatever the calibration's floor: a constant
# window must not collapse its interval to a point.
MIN_VOLATILITY = 1e-6


class Recursion(Protocol):
    """The state of a recursive forecast: the model input of the next step, and the rows so far."""

    def model_input(self) -> np.ndarray:
        """The newest ``window`` rows in model units (may be a reused array: consume before ``append``)."""
        ...

    def append(self, raw: np.ndarray) -> None:
        """Feed the network's raw output for every window back as the newest row."""
        ...

    def forecast(self) -> np.ndarray:
        """The predicted rows so far in prices, (n, steps, columns)."""
        ...


class FeatureSet(ABC):
    """One kind of model input. Subclasses register with ``name`` and implement the conversions."""

    name: ClassVar[str]
    columns: tuple[str, ...]
    #: The CSV columns training reads for each column, in order.
    csv_columns: tuple[str, ...]
    #: The networks' input layout: None for (n, window), k for (n, window, k); the backends check it.
    network_features: int | None

    @abstractmethod
    def encode(self, windows: np.ndarray) -> tuple[np.ndarray, Any]:
        """Price windows (n, window, columns) -> the network's float32 input and what ``decode`` needs."""

    @abstractmethod
    def decode(self, raw: np.ndarray, context: Any) -> np.ndarray:
        """The network's raw output for each window -> the next row in prices, (n, columns) float64."""

    @abstractmethod
    def targets(self, windows: np.ndarray, next_rows: np.ndarray) -> np.ndarray:
        """What the network is trained to output after each price window: ``encode``'s units, float32."""

    def recursion(self, windows: np.ndarray, horizon: int) -> Recursion:
        """A recursive forecast's state, started from price windows (n, window, columns).

        This one keeps the rows in prices and encodes the newest window at every step, which any feature
        set can do; a set whose encoding allows it overrides this with a cheaper incremental one.
        """
        return _PriceRecursion(self, windows, horizon)

    @classmethod
    def from_manifest(
        cls, columns: tuple[str, ...], parameters: Mapping[str, Any], files: Mapping[str, Path]
    ) -> FeatureSet:
        """Rebuild the feature set a manifest's ``features`` block describes (``files`` checksum-verified)."""
        made = cls(**parameters)
        if made.columns != columns:
            raise ValueError(f"feature set {cls.name!r} has columns {list(made.columns)}, not {list(columns)}")
        return made

    @abstractmethod
    def unit(self, windows: np.ndarray, scale: Scale, floor: float) -> np.ndarray:
        """Price units of one interval unit for each window (n,): the last price, or volatility-scaled."""

    def validate(self, windows: np.ndarray) -> None:  # noqa: B027 (most feature sets take any finite window)
        """Raise ``ValueError`` for windows this feature set cannot encode (the API refuses them earlier)."""

    def warnings(self, windows: np.ndarray) -> list[str]:
        """Non-fatal remarks about the inputs (out of the training range, implausible bars)."""
        return []


_REGISTRY: dict[str, type[FeatureSet]] = {}


def register(name: str) -> Callable[[type[FeatureSet]], type[FeatureSet]]:
    """Class decorator: make a feature set buildable by the name manifests record."""

    def add(cls: type[FeatureSet]) -> type[FeatureSet]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


def feature_set_class(name: str) -> type[FeatureSet]:
    """The feature set registered as ``name``; ``ValueError`` naming the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown feature set {name!r} (known: {sorted(_REGISTRY)})") from None


def registered() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def range_warnings(windows: np.ndarray, low: float, high: float) -> list[str]:
    """Say which windows leave the training value range, where a scaler extrapolates, and by how much."""
    out: list[str] = []
    w = np.asarray(windows, dtype=np.float64)
    w = w.reshape(len(w), -1) if w.ndim > 1 else w[None]
    # The usual case, every value inside the range, costs two reductions whatever the batch size; then
    # whole-array passes find the rows that leave it, and only those are looked at one by one.
    if w.size == 0 or (w.min() >= low and w.max() <= high):
        return out
    outside = np.flatnonzero(((w < low) | (w > high)).any(axis=1))
    for i in outside.tolist():
        row = w[i]
        below, above = row[row < low], row[row > high]
        label = f"window {i}" if len(w) > 1 else "window"
        if above.size:
            worst = float(above.max())
            out.append(
                f"{label}: {above.size} value(s) above the training maximum {high:.4g} "
                f"(by up to {worst - high:.4g}, {100 * (worst - high) / high:.1f}%); the model extrapolates"
            )
        if below.size:
            worst = float(below.min())
            out.append(
                f"{label}: {below.size} value(s) below the training minimum {low:.4g} "
                f"(by up to {low - worst:.4g}, {100 * (low - worst) / low:.1f}%); the model extrapolates"
            )
    return out


class _PriceRecursion:
    """Rows in prices, the newest window encoded afresh at every step and each raw output decoded."""

    def __init__(self, features: FeatureSet, windows: np.ndarray, horizon: int) -> None:
        n, w, c = windows.shape
        self.features, self.window, self.steps = features, w, 0
        self.rows = np.empty((n, w + horizon, c), dtype=np.float64)
        self.rows[:, :w] = windows
        self._context: Any = None

    def model_input(self) -> np.ndarray:
        x, self._context = self.features.encode(self.rows[:, self.steps : self.steps + self.window])
        return x

    def append(self, raw: np.ndarray) -> None:
        self.rows[:, self.window + self.steps] = self.features.decode(raw, self._context)
        self.steps += 1

    def forecast(self) -> np.ndarray:
        return self.rows[:, self.window : self.window + self.steps].copy()


class _ScaledRecursion:
    """Model-unit history in one float32 buffer; each step reads a view of it and writes one row."""

    def __init__(self, scaler: MinMaxScaling, windows: np.ndarray, horizon: int) -> None:
        n, w, _ = windows.shape
        self.scaler, self.window, self.steps = scaler, w, 0
        self.buffer = np.empty((n, w + horizon), dtype=np.float32)
        self.buffer[:, :w] = scaler.transform(windows[:, :, 0])

    def model_input(self) -> np.ndarray:
        return self.buffer[:, self.steps : self.steps + self.window]

    def append(self, raw: np.ndarray) -> None:
        self.buffer[:, self.window + self.steps] = np.reshape(raw, -1)
        self.steps += 1

    def forecast(self) -> np.ndarray:
        return self.scaler.inverse_transform(self.buffer[:, self.window : self.window + self.steps])[:, :, None]


@register("scaled-column")
class ScaledColumn(FeatureSet):
    """One price column MinMax-scaled over the training range (the notebook's IBM ``High``).

    The networks take (n, window) in [0, 1]-ish units and answer (n,) in the same units. Values outside
    the training range are extrapolated by the scaler, and the warnings say so.
    """

    def __init__(self, column: str, scaler: MinMaxScaling, training_range: tuple[float, float]) -> None:
        self.columns = (column.lower(),)
        self.csv_columns = (column,)
        self.network_features = None
        self.scaler, self.training_range = scaler, training_range

    def encode(self, windows: np.ndarray) -> tuple[np.ndarray, Any]:
        return self.scaler.transform(windows[:, :, 0]), None

    def decode(self, raw: np.ndarray, context: Any) -> np.ndarray:
        # float32 first: an ensemble's float64 mean is rounded as the networks' own outputs are.
        return self.scaler.inverse_transform(np.asarray(raw, dtype=np.float32).reshape(-1))[:, None]

    def targets(self, windows: np.ndarray, next_rows: np.ndarray) -> np.ndarray:
        return self.scaler.transform(np.reshape(next_rows, -1))

    def recursion(self, windows: np.ndarray, horizon: int) -> Recursion:
        return _ScaledRecursion(self.scaler, windows, horizon)

    @classmethod
    def from_manifest(
        cls, columns: tuple[str, ...], parameters: Mapping[str, Any], files: Mapping[str, Path]
    ) -> FeatureSet:
        if "scaler" not in files or len(columns) != 1:
            raise ValueError("a scaled-column feature set needs one column and a 'scaler' file")
        scaler = MinMaxScaling.load(files["scaler"])
        return cls(str(parameters.get("column", columns[0])), scaler, (scaler.data_min, scaler.data_max))

    def unit(self, windows: np.ndarray, scale: Scale, floor: float) -> np.ndarray:
        w = np.asarray(windows, dtype=np.float64)[:, :, 0]
        if scale == "price":
            return w[:, -1]
        return np.maximum(np.std(np.diff(w, axis=1), axis=1), max(floor, MIN_VOLATILITY) * w[:, -1])

    def warnings(self, windows: np.ndarray) -> list[str]:
        return range_warnings(windows, *self.training_range)
