"""Score a freshly written OHLC set beside ridge and persistence, calibrate its intervals.

Validation figures (the last 250 training days of each training ticker) drive recipe choices; test
figures (2017) are reported per ticker and per group: ``trained`` and ``held_out``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from forecast_core.bars import HIGH, Bars
from forecast_core.checksums import sha256_file
from forecast_core.intervals import INTERVALS_FILE as OHLC_INTERVALS_FILE
from forecast_core.manifest import FileRef, Metrics
from forecast_core.manifest_v2 import GroupMetrics, OhlcManifest
from forecast_core.predictor import Predictor
from training.ohlc.baselines import PersistenceBars, RidgeBars
from training.ohlc.calibrate import MAX_HORIZON, calibrate, coverage
from training.ohlc.data import BarSeries
from training.ohlc.dataset import periods
from training.ohlc.evaluate import HORIZONS, forecast_period, group_summary, score_ticker

log = logging.getLogger("forecast-train")


def _group_metrics(group: str, tickers: list[str], per_ticker: dict[str, Any], model: str) -> GroupMetrics:
    summary = group_summary(per_ticker, tickers, model)
    return GroupMetrics(
        group=group,
        tickers=tickers,
        high={t: Metrics(**per_ticker[t]["models"][model]["high"]) for t in tickers},
        high_rmse_ratio={t: per_ticker[t]["models"][model]["ratio"]["1"] for t in tickers},
        high_rmse_ratio_median=summary["median"]["1"],
        high_rmse_ratio_max=summary["max"]["1"],
        recursive_ratio_median={h: v for h, v in summary["median"].items() if h != "1"},
    )


def score_set(
    out: Path,
    manifest: OhlcManifest,
    served: dict[str, Predictor],
    series: list[BarSeries],
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    args: argparse.Namespace,
) -> tuple[dict[str, Any], OhlcManifest]:
    window = args.window
    ridge, ridge_scores = RidgeBars.fit(*data)
    log.info("ridge: alpha %g chosen on validation (MSE by alpha %s)", ridge.alpha, ridge_scores)
    everyone = {
        **served,
        "ridge": Predictor(name="ridge", version="ridge", features=Bars(), backends=(ridge,)),
        "persistence": Predictor(
            name="persistence", version="persistence", features=Bars(), backends=(PersistenceBars(window),)
        ),
    }
    held = set(manifest.held_out)
    groups: dict[str, list[str]] = {"trained": [], "held_out": []}
    test: dict[str, Any] = {}
    validation: dict[str, Any] = {}
    calib, cover = [], {"trained": [], "held_out": []}  # type: ignore[var-annotated]
    for s in series:
        p = periods(s, args.train_end, window, args.validation_days)
        group = "held_out" if s.ticker in held else "trained"
        groups[group].append(s.ticker)
        scale = float(np.mean(np.abs(np.diff(s.bars[: p.test_start, HIGH]))))
        pf = forecast_period(s, p.test_start, p.n, everyone, window, MAX_HORIZON)
        test[s.ticker] = {"group": group, **score_ticker(s, pf, p.n, scale)}
        cover[group].append((s, pf, p.n))
        if group == "trained":
            pv = forecast_period(s, p.val_start, p.test_start, everyone, window, MAX_HORIZON)
            validation[s.ticker] = score_ticker(s, pv, p.test_start, scale)
            calib.append((s, pv, p.test_start))
    names = list(everyone)
    summary = {
        "test": {g: {m: group_summary(test, t, m) for m in names} for g, t in groups.items() if t},
        "validation": {"trained": {m: group_summary(validation, groups["trained"], m) for m in names}},
    }
    for g, by_model in summary["test"].items():
        log.info(
            "test %s next-day High ratio median: %s",
            g,
            ", ".join(f"{m} {v['median']['1']:.4f}" for m, v in by_model.items()),
        )
    s0 = calib[0][0]
    p0 = periods(s0, args.train_end, window, args.validation_days)
    span = (str(s0.dates[p0.val_start].date()), str(s0.dates[p0.test_start - 1].date()))
    table = coverage(calibrate(calib, list(served), span), {g: v for g, v in cover.items() if v})
    table.save(out / OHLC_INTERVALS_FILE)
    update: dict[str, Any] = {
        "intervals": FileRef(file=OHLC_INTERVALS_FILE, sha256=sha256_file(out / OHLC_INTERVALS_FILE))
    }
    if groups["held_out"]:
        update["models"] = {
            k: e.model_copy(update={"test_metrics": _group_metrics("held_out", groups["held_out"], test, k)})
            for k, e in manifest.models.items()
        }
        if manifest.ensemble is not None:
            metrics = _group_metrics("held_out", groups["held_out"], test, "ensemble")
            update["ensemble"] = manifest.ensemble.model_copy(update={"test_metrics": metrics})
    evaluation = {
        "name": manifest.name,
        "horizons": list(HORIZONS),
        "groups": groups,
        "ridge": {"alpha": ridge.alpha, "lags": ridge.lags, "validation_mse_by_alpha": ridge_scores},
        "summary": summary,
        "test": test,
        "validation": validation,
    }
    return evaluation, manifest.model_copy(update=update)
