"""The small model interface the dataplane serves, and its model card.

Like MLServer's ``MLModel``: the dataplane asks a :class:`ServedModel` for predictions, recursive
forecasts, input warnings and interval bounds, always with the same array layout, so one request
pipeline serves every kind of model. Inputs are prices shaped ``(n, window)`` for a univariate model
or ``(n, window, columns)`` for a multi-column one; outputs are always ``(n, horizon, outputs)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

from forecast_core.intervals import IntervalTable
from forecast_core.predictor import ShouldStop

WARM_UP_BATCHES = (1, 8, 64, 256)


@dataclass(frozen=True)
class ModelCard:
    """What a client may know about a model, whether or not it loaded (from its set's manifest)."""

    name: str
    model_set: str
    kind: str  # the set's kind as its manifest names it ("univariate", "ohlc"), shown on /v1/models
    version: str
    description: str
    backend: str
    window: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    target_column: str
    trained_at: datetime
    training_dates: tuple[date, date]
    parameters: int
    training_values: tuple[float, float] | None = None
    #: The training run's id (its networks' versions in the manifest); ``version`` is the repository's.
    run: str | None = None
    recipe: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    test_metrics: dict[str, float] | None = None
    sequence_rmse: float | None = None
    calibration: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One input window's shape, without the batch axis."""
        # A one-column model takes plain lists of prices: its column axis stays implicit on the wire.
        return (self.window,) if len(self.inputs) == 1 else (self.window, len(self.inputs))


class ServedModel(ABC):
    """A loaded model as the dataplane sees it. Subclasses adapt one predictor kind."""

    card: ModelCard
    #: True when single-window calls go through the micro-batcher (they may then wait on other threads).
    batched: bool = False

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def members(self) -> int:
        """How many networks one step runs (the ensemble's cost is its members')."""
        return max(1, len(self.card.members))

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Next step after each window: prices (n, *input_shape) -> (n, 1, outputs)."""

    @abstractmethod
    def forecast(self, x: np.ndarray, horizon: int, should_stop: ShouldStop | None) -> np.ndarray:
        """Recursive forecast: (n, *input_shape) -> (n, horizon, outputs); raises the core's
        ``DeadlineExceeded`` between steps once ``should_stop()`` says True."""

    def warnings(self, x: np.ndarray) -> list[str]:
        """Non-fatal remarks about the inputs (e.g. outside the training range)."""
        return []

    #: The model's interval calibration (None: it has none); subclasses set it and use it in
    #: :meth:`interval_bounds`.
    _intervals: IntervalTable | None = None

    @property
    def interval_levels(self) -> tuple[int, ...]:
        """Calibrated interval levels; empty when the model carries no calibration."""
        return tuple(self._intervals.levels) if self._intervals else ()

    @property
    def interval_max_horizon(self) -> int:
        return self._intervals.max_horizon if self._intervals else 0

    def interval_bounds(self, level: int, values: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds shaped like ``values`` (n, horizon, outputs)."""
        raise NotImplementedError

    def warm_up(self) -> None:
        """Run every batch shape once so the first real request pays no compile or allocation cost."""
        for size in WARM_UP_BATCHES:
            self.predict(np.full((size, *self.card.input_shape), 100.0))


def calibration_card(table: IntervalTable | None, key: str) -> dict[str, Any] | None:
    """The calibration a model card shows: method, levels, horizons, dates and measured coverage."""
    if table is None or key not in table.quantiles:
        return None
    return {
        "method": table.method,
        "levels": table.levels,
        "max_horizon": table.max_horizon,
        "calibration_dates": {"start": table.calibration_start, "end": table.calibration_end},
        "test_coverage": [c.model_dump() for c in table.coverage.get(key, [])],
    }


@dataclass
class ServedSet:
    """One version of a model set, as loaded: a card for every model its manifest names, the models that
    loaded, and why the others did not."""

    name: str
    version: int = 1
    cards: dict[str, ModelCard] = field(default_factory=dict)
    models: dict[str, ServedModel] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
