"""The mean of every network of several seeds (3 seeds × LSTM and GRU), scored like the served models.

Not served: it answers the issue's "average seeds or members if that is what it takes" by measuring
how much of the networks' margin over ridge is seed noise that averaging removes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from forecast_core.bars import HIGH, Bars
from forecast_core.checksums import sha256_file
from forecast_core.loader import load_set
from forecast_core.manifest_v2 import OhlcManifest
from forecast_core.predictor import Predictor
from training.ohlc.data import load_bars
from training.ohlc.dataset import periods
from training.ohlc.evaluate import forecast_period, group_summary, score_ticker


def seed_average(sets: list[Path], data: Path) -> dict[str, Any] | None:
    """Group summaries of the all-member mean on the test period; None if a data file is missing or changed."""
    loaded = [load_set(d) for d in sets]
    manifest = loaded[0].manifest
    assert isinstance(manifest, OhlcManifest), manifest
    backends = tuple(b for s in loaded for k in sorted(s.manifest.models) for b in s.predictors[k].backends)
    average = Predictor(name="seed-average", version="", features=Bars(), backends=backends)
    per_ticker: dict[str, Any] = {}
    groups: dict[str, list[str]] = {"trained": [], "held_out": []}
    for source in manifest.sources:
        path = data / source.name
        if not path.is_file() or sha256_file(path) != source.sha256:
            return None
        series = load_bars(path)
        p = periods(series, manifest.split.train_end, manifest.window, manifest.split.validation_days)
        scale = float(np.mean(np.abs(np.diff(series.bars[: p.test_start, HIGH]))))
        pf = forecast_period(series, p.test_start, p.n, {"seed-average": average}, manifest.window, 20)
        per_ticker[source.ticker] = score_ticker(series, pf, p.n, scale)
        groups["held_out" if source.held_out else "trained"].append(source.ticker)
    return {
        "members": len(backends),
        "groups": {g: group_summary(per_ticker, t, "seed-average") for g, t in groups.items() if t},
    }
