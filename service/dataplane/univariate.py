"""The univariate model set (format 1: one price column, MinMax-scaled, e.g. IBM's ``High``) as served models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from forecast_core.backends import BackendKind
from forecast_core.intervals import IntervalTable
from forecast_core.loader import ENSEMBLE_DESCRIPTION as LOADER_DESCRIPTION
from forecast_core.loader import load_artifacts
from forecast_core.manifest import ENSEMBLE, Manifest, served_keys
from forecast_core.predictor import Predictor, range_warnings
from service.dataplane.model import LoadedSet, ModelCard, ServedModel, calibration_card

ENSEMBLE_DESCRIPTION = f"{LOADER_DESCRIPTION} (each prediction fed back for forecasts)"

Wrap = Callable[[dict[str, Predictor]], dict[str, Predictor]]


class UnivariateModel(ServedModel):
    """A :class:`Predictor` (one network or the ensemble) over windows of one price column."""

    _intervals: IntervalTable | None

    def __init__(
        self, card: ModelCard, predictor: Predictor, manifest: Manifest, intervals: IntervalTable | None, batched: bool
    ) -> None:
        self.card, self.predictor, self.batched = card, predictor, batched
        self._range = (manifest.training_range.min, manifest.training_range.max)
        self._intervals = intervals if intervals is not None and card.name in intervals.quantiles else None

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predictor.predict(x)[:, None, None]

    def forecast(self, x: np.ndarray, horizon: int, deadline: float | None) -> np.ndarray:
        return self.predictor.forecast_many(x, horizon, deadline)[:, :, None]

    def warnings(self, x: np.ndarray) -> list[str]:
        return range_warnings(x, *self._range)

    def interval_bounds(self, level: int, values: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self._intervals is not None
        lo, hi = self._intervals.bounds(self.card.name, level, values[:, :, 0], x)
        return lo[:, :, None], hi[:, :, None]


def names_in(manifest: Manifest) -> list[str]:
    """The names a univariate set serves: its networks, then the ensemble when it has two or more."""
    return served_keys(manifest.models)


def card(manifest: Manifest, name: str, backend: str, set_name: str, intervals: IntervalTable | None) -> ModelCard:
    m = manifest
    column = m.target_column.lower()
    common: dict[str, Any] = {
        "name": name,
        "model_set": set_name,
        "kind": "univariate",
        "backend": backend,
        "window": m.window,
        "inputs": (column,),
        "outputs": (column,),
        "target_column": m.target_column,
        "trained_at": m.created_at,
        "training_dates": (m.training_range.start_date, m.training_range.end_date),
        "training_values": (m.training_range.min, m.training_range.max),
        "calibration": calibration_card(intervals, name),
    }
    if name == ENSEMBLE:
        members = list(m.ensemble.members if m.ensemble else m.models)
        ens = m.ensemble
        return ModelCard(
            **common,
            version="+".join(m.models[k].version for k in members if k in m.models),
            description=ENSEMBLE_DESCRIPTION,
            parameters=sum(m.models[k].parameters for k in members if k in m.models),
            members=tuple(members),
            test_metrics=ens.test_metrics.model_dump() if ens and ens.test_metrics else None,
            sequence_rmse=ens.sequence_rmse if ens else None,
        )
    entry = m.model(name)
    return ModelCard(
        **common,
        version=entry.version,
        description=f"stacked {entry.kind.upper()}, recipe {entry.recipe}",
        parameters=entry.parameters,
        recipe=entry.recipe,
        hyperparameters=dict(entry.hyperparameters),
        test_metrics=entry.test_metrics.model_dump() if entry.test_metrics else None,
        sequence_rmse=entry.sequence_rmse,
    )


def load_univariate_set(
    directory: Path,
    manifest: Manifest,
    wanted: tuple[str, ...],
    backend: BackendKind,
    threads: int,
    wrap: Wrap | None = None,
) -> LoadedSet:
    """Load the ``wanted`` names of a univariate set; per-model problems land in ``errors``."""
    loaded = load_artifacts(directory, wanted, backend=backend, threads=threads)
    predictors = wrap(loaded.predictors) if wrap is not None else loaded.predictors
    out = LoadedSet(name=directory.name)
    for name in wanted:
        out.cards[name] = card(manifest, name, backend, directory.name, loaded.intervals)
    for name, predictor in predictors.items():
        c = out.cards[name]
        if predictor.version != c.version:  # the ensemble's card is built from the manifest, same rule
            c = ModelCard(**{**c.__dict__, "version": predictor.version})
            out.cards[name] = c
        out.models[name] = UnivariateModel(c, predictor, manifest, loaded.intervals, batched=wrap is not None)
    out.errors.update(loaded.errors)
    return out
