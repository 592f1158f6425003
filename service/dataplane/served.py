"""Any model set's predictors as served models, with their model cards: one class for every feature set.

The core's loader (``forecast_core.loader``) gives one :class:`~forecast_core.predictor.Predictor` per
network and ensemble; :class:`SetModel` adapts it to the dataplane's array layout, (n, window) or
(n, window, columns) in, (n, horizon, columns) out, and takes its warnings and interval unit from the
set's feature set. Cards come from the manifest, whatever its format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from forecast_core.backends import BackendKind
from forecast_core.batching import BatchingBackend
from forecast_core.features import FeatureSet
from forecast_core.intervals import IntervalTable
from forecast_core.loader import SetManifest, ensemble_description, ensemble_members, load_set, read_set_manifest
from forecast_core.manifest import ENSEMBLE, served_keys
from forecast_core.predictor import Predictor, ShouldStop
from service.core.metrics import Metrics
from service.dataplane.model import ModelCard, ServedModel, ServedSet, calibration_card

#: Replaces a set's predictors before they are served (the registry's micro-batching wrapper).
Wrap = Callable[[dict[str, Predictor]], dict[str, Predictor]]


class SetModel(ServedModel):
    """One network or ensemble of a model set, over price windows of the set's feature set."""

    def __init__(
        self, card: ModelCard, key: str, predictor: Predictor, intervals: IntervalTable | None, batched: bool
    ) -> None:
        self.card, self.key, self.predictor, self.batched = card, key, predictor, batched
        self.features: FeatureSet = predictor.features
        self._intervals = intervals if intervals is not None and key in intervals.quantiles else None

    def _rows(self, x: np.ndarray) -> np.ndarray:
        return x[:, :, None] if x.ndim == 2 else x

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predictor.predict(self._rows(x))[:, None, :]

    def forecast(self, x: np.ndarray, horizon: int, should_stop: ShouldStop | None) -> np.ndarray:
        return self.predictor.forecast_many(self._rows(x), horizon, should_stop)

    def warnings(self, x: np.ndarray) -> list[str]:
        return self.features.warnings(self._rows(x))

    def interval_bounds(self, level: int, values: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self._intervals is not None
        return self._intervals.bounds(self.key, level, values, self._rows(x), self.features)


def card(
    m: SetManifest,
    key: str,
    features: FeatureSet,
    backend: str,
    set_name: str,
    intervals: IntervalTable | None,
    version: str = "1",
) -> ModelCard:
    """The model card of ``key`` (a network or the ensemble) of version ``version`` of the set whose manifest
    is ``m``: the version is the repository's (a directory name), the training run's id is ``run``."""
    common: dict[str, Any] = {
        "version": version,
        "name": m.served_name(key),
        "model_set": set_name,
        "kind": getattr(m, "kind", "univariate"),
        "backend": backend,
        "window": m.window,
        "inputs": features.columns,
        "outputs": features.columns,
        "trained_at": m.created_at,
        "calibration": calibration_card(intervals, key),
        **m.card_facts(),
        **m.test_facts(key),
    }
    if key == ENSEMBLE:
        members = [k for k in ensemble_members(m) if k in m.models]
        return ModelCard(
            **common,
            run="+".join(m.models[k].version for k in members),
            description=ensemble_description(members),
            parameters=sum(m.models[k].parameters for k in members),
            members=tuple(m.served_name(k) for k in members),
        )
    entry = m.model(key)
    return ModelCard(
        **common,
        run=entry.version,
        description=m.network_description(entry),
        parameters=entry.parameters,
        recipe=entry.recipe,
        hyperparameters=dict(entry.hyperparameters),
    )


def load_served_set(
    directory: Path,
    wanted: Callable[[str], bool],
    backend: BackendKind,
    threads: int,
    wrap: Wrap | None = None,
    version: int = 1,
    set_name: str | None = None,
) -> ServedSet:
    """Load the wanted served names of version ``version`` of a set (its directory: ``directory``);
    manifest problems raise ``ArtifactError``."""
    manifest = read_set_manifest(directory)
    keys = [k for k in served_keys(manifest.models) if wanted(manifest.served_name(k))]
    loaded = load_set(directory, keys, backend=backend, threads=threads)
    predictors = wrap(loaded.predictors) if wrap is not None else loaded.predictors
    out = ServedSet(name=set_name or directory.name, version=version)
    for key in keys:
        name = manifest.served_name(key)
        out.cards[name] = card(manifest, key, loaded.features, backend, out.name, loaded.intervals, str(version))
        predictor = predictors.get(key)
        if predictor is not None:
            out.models[name] = SetModel(out.cards[name], key, predictor, loaded.intervals, wrap is not None)
        else:
            out.errors[name] = loaded.errors.get(key, "not loaded")
    return out


def batching_wrap(max_size: int, max_wait_s: float, metrics: Metrics) -> Wrap:
    """The micro-batching wrapper for a set's predictors: each distinct backend wrapped once, so the
    ensemble shares its members' queues; a forecast's steps keep the unbatched backends."""

    def wrap(predictors: dict[str, Predictor]) -> dict[str, Predictor]:
        wrapped: dict[int, BatchingBackend] = {}
        out: dict[str, Predictor] = {}
        for name, predictor in predictors.items():
            backends = []
            for member, backend in zip(predictor.members or (name,), predictor.backends, strict=True):
                if id(backend) not in wrapped:
                    size, depth = metrics.model_batch_size.labels(member), metrics.queue_depth.labels(member)

                    def observe(batch: int, queued: int, size: Any = size, depth: Any = depth) -> None:
                        size.observe(batch)
                        depth.set(queued)

                    wrapped[id(backend)] = BatchingBackend(backend, max_size, max_wait_s, on_batch=observe)
                backends.append(wrapped[id(backend)])
            out[name] = replace(predictor, backends=backends, stepping_backends=predictor.backends)
        return out

    return wrap
