"""The OHLC model set (format 2: global models on Open/High/Low/Close bars of any ticker) as served models.

Served names carry the set's name, ``ohlc-lstm``, ``ohlc-gru`` and ``ohlc-ensemble``, so they never
clash with the univariate set's ``lstm``, ``gru`` and ``ensemble``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from forecast_core.backends import BackendKind
from forecast_core.manifest import ENSEMBLE, served_keys
from forecast_core.ohlc.bars import CLOSE, COLUMNS, HIGH, LOW, OPEN
from forecast_core.ohlc.intervals import OhlcIntervalTable
from forecast_core.ohlc.loader import load_ohlc_set
from forecast_core.ohlc.manifest import GroupMetrics, OhlcManifest
from forecast_core.ohlc.predictor import OhlcPredictor
from service.dataplane.model import LoadedSet, ModelCard, ServedModel, calibration_card


class OhlcModel(ServedModel):
    """An :class:`OhlcPredictor` over windows of daily bars, (n, window, 4) in prices."""

    _intervals: OhlcIntervalTable | None

    def __init__(
        self, card: ModelCard, key: str, predictor: OhlcPredictor, intervals: OhlcIntervalTable | None
    ) -> None:
        self.card, self.key, self.predictor = card, key, predictor
        self._intervals = intervals if intervals is not None and key in intervals.quantiles else None

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predictor.predict(x)[:, None, :]

    def forecast(self, x: np.ndarray, horizon: int, deadline: float | None) -> np.ndarray:
        return self.predictor.forecast_many(x, horizon, deadline)

    def warnings(self, x: np.ndarray) -> list[str]:
        return bar_warnings(x)

    def interval_bounds(self, level: int, values: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self._intervals is not None
        return self._intervals.bounds(self.key, level, values, x)


def bar_warnings(windows: np.ndarray) -> list[str]:
    """Bars that are not consistent (real data has them): said, not refused."""
    out: list[str] = []
    w = np.asarray(windows, dtype=np.float64)
    low_above_high = w[..., LOW] > w[..., HIGH]  # (windows, steps)
    outside = (np.minimum(w[..., OPEN], w[..., CLOSE]) < w[..., LOW]) | (
        np.maximum(w[..., OPEN], w[..., CLOSE]) > w[..., HIGH]
    )
    # Whole-batch passes first; only windows with a bad bar are looked at one by one.
    for i in np.flatnonzero((low_above_high | outside).any(axis=1)).tolist():
        label = f"window {i}" if len(w) > 1 else "window"
        crossed, off = np.flatnonzero(low_above_high[i]), np.flatnonzero(outside[i])
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
    return out


def _metrics(group: GroupMetrics | None) -> dict[str, float] | None:
    if group is None:
        return None
    out = {
        "high_rmse_ratio_median": group.high_rmse_ratio_median,
        "high_rmse_ratio_max": group.high_rmse_ratio_max,
    }
    out.update({f"recursive_h{h}_ratio_median": v for h, v in group.recursive_ratio_median.items()})
    return out


def _card(m: OhlcManifest, key: str, backend: str, set_name: str, table: OhlcIntervalTable | None) -> ModelCard:
    trained = [s for s in m.sources if not s.held_out] or m.sources
    common: dict[str, Any] = {
        "name": f"{m.name}-{key}",
        "model_set": set_name,
        "kind": "ohlc",
        "backend": backend,
        "window": m.window,
        "inputs": COLUMNS,
        "outputs": COLUMNS,
        "target_column": "Open,High,Low,Close",
        "trained_at": m.created_at,
        "training_dates": (min(s.first_date for s in trained), m.split.train_end),
        "calibration": calibration_card(table, key),
        "extra": {"held_out_tickers": list(m.held_out), "trained_tickers": [s.ticker for s in trained]},
    }
    if key == ENSEMBLE:
        members = list(m.ensemble.members if m.ensemble else m.models)
        return ModelCard(
            **common,
            version="+".join(m.models[k].version for k in members if k in m.models),
            description=f"mean of the {' and '.join(members)} outputs (log ratios) at every step, decoded once",
            parameters=sum(m.models[k].parameters for k in members if k in m.models),
            members=tuple(f"{m.name}-{k}" for k in members),
            test_metrics=_metrics(m.ensemble.test_metrics if m.ensemble else None),
        )
    entry = m.model(key)
    return ModelCard(
        **common,
        version=entry.version,
        description=f"global {entry.kind.upper()} on {m.window}-day OHLC windows relative to the last close, "
        f"recipe {entry.recipe}",
        parameters=entry.parameters,
        recipe=entry.recipe,
        hyperparameters=dict(entry.hyperparameters),
        test_metrics=_metrics(entry.test_metrics),
    )


def load_ohlc_models(directory: Path, wanted: Callable[[str], bool], backend: BackendKind, threads: int) -> LoadedSet:
    """Load an OHLC set and keep the wanted served names; manifest problems raise ``ArtifactError``."""
    loaded = load_ohlc_set(directory, backend=backend, threads=threads)
    m = loaded.manifest
    out = LoadedSet(name=directory.name)
    keys = served_keys(m.models)
    for key in keys:
        name = f"{m.name}-{key}"
        if not wanted(name):
            continue
        out.cards[name] = _card(m, key, backend, directory.name, loaded.intervals)
        predictor = loaded.predictors.get(key)
        if predictor is not None:
            out.models[name] = OhlcModel(out.cards[name], key, predictor, loaded.intervals)
        else:
            out.errors[name] = loaded.errors.get(key, "not loaded")
    return out
