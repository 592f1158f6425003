"""Split-conformal intervals for the OHLC set (the table of ``forecast_core/intervals.py``).

Calibration: rolling-origin recursive forecasts over the validation part of every training ticker
(the last 250 training days of each file), pooled; the score of each origin, horizon and column is
``|actual - forecast| / unit(window)``. The conformal quantile at level L over m scores is the
ceil((m + 1) L)-th smallest. The unit per horizon (``price`` or ``volatility``) is chosen like the
univariate set's: quantiles from the first half of each ticker's validation origins, coverage on
the second half, the unit whose 80 % and 95 % coverage there is closer to nominal wins; the final
quantiles then use all of it. The volatility floor is the 1st percentile of the calibration windows'
volatility, so a freakishly calm window does not collapse its interval. Coverage is then measured
on the test period of each group (trained, held-out).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from forecast_core.bars import COLUMNS, Bars, log_volatility
from forecast_core.features import Scale
from forecast_core.intervals import INTERVALS_FILE, LEVELS, GroupCoverage, IntervalTable, conformal_quantile
from training.ohlc.data import BarSeries
from training.ohlc.evaluate import PeriodForecasts, actuals

log = logging.getLogger("forecast-train")
MAX_HORIZON = 20
COVERAGE_HORIZONS: tuple[int, ...] = (1, 5, 20)
SCALES: tuple[Scale, ...] = ("price", "volatility")
CHOICE_LEVELS: tuple[int, ...] = (80, 95)
Pairs = Sequence[tuple[BarSeries, PeriodForecasts, int]]


BARS = Bars()  # its interval unit is the served one, so calibration measures what is served


def _scores(
    pairs: Pairs, model: str, h: int, floor: float, scale: Scale
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores (m, 4), plus forecasts, actuals and units, pooled over tickers at horizon ``h``."""
    sc, fs, ac, us = [], [], [], []
    for series, pf, end in pairs:
        actual, mask = actuals(series, pf.origins, h, end)
        f = pf.forecasts[model][mask, h - 1]
        unit = BARS.unit(pf.windows[mask], scale, floor)
        sc.append(np.abs(actual - f) / unit[:, None])
        fs.append(f)
        ac.append(actual)
        us.append(unit)
    return np.concatenate(sc), np.concatenate(fs), np.concatenate(ac), np.concatenate(us)


def _halves(
    pairs: Pairs,
) -> tuple[list[tuple[BarSeries, PeriodForecasts, int]], list[tuple[BarSeries, PeriodForecasts, int]]]:
    first, second = [], []
    for series, pf, end in pairs:
        mid = len(pf.origins) // 2
        cut_end = int(pf.origins[mid])  # first-half targets must lie before the second half's first origin + 1
        head = PeriodForecasts(pf.origins[:mid], pf.windows[:mid], {k: v[:mid] for k, v in pf.forecasts.items()})
        tail = PeriodForecasts(pf.origins[mid:], pf.windows[mid:], {k: v[mid:] for k, v in pf.forecasts.items()})
        first.append((series, head, cut_end + 1))
        second.append((series, tail, end))
    return first, second


def choose_scales(pairs: Pairs, model: str, floor: float) -> list[Scale]:
    """Per horizon, the unit whose first-half quantiles cover the second half closest to nominal."""
    first, second = _halves(pairs)
    chosen: list[Scale] = []
    for h in range(1, MAX_HORIZON + 1):
        gaps: dict[Scale, float] = {}
        for scale in SCALES:
            fit = _scores(first, model, h, floor, scale)[0]
            check = _scores(second, model, h, floor, scale)[0]
            gaps[scale] = float(
                np.mean([abs(np.mean(check <= conformal_quantile(fit, lv)) * 100 - lv) for lv in CHOICE_LEVELS])
            )
        chosen.append(min(SCALES, key=lambda s: gaps[s]))
    return chosen


def _accumulate_within_unit(q: np.ndarray, scales: list[Scale]) -> np.ndarray:
    """Quantiles (H, 4) made non-decreasing in h among horizons that share a unit (never across units)."""
    out = q.copy()
    for h in range(1, len(out)):
        if scales[h] == scales[h - 1]:
            out[h] = np.maximum(out[h], out[h - 1])
    return out


def calibrate(calibration: Pairs, models: Sequence[str], period: tuple[str, str]) -> IntervalTable:
    vols = np.concatenate([log_volatility(pf.windows) for _, pf, _ in calibration])
    floor = float(np.percentile(vols, 1))
    # One unit per horizon for every model, chosen on the ensemble (the mean of the members).
    scales = choose_scales(calibration, "ensemble" if "ensemble" in models else models[0], floor)
    log.info(
        "interval unit per horizon, chosen on the validation halves: %s",
        " ".join(f"h{h}={s}" for h, s in enumerate(scales, 1)),
    )
    quantiles: dict[str, dict[str, list[list[float]]]] = {}
    for model in models:
        per_h = [_scores(calibration, model, h, floor, scales[h - 1])[0] for h in range(1, MAX_HORIZON + 1)]
        quantiles[model] = {}
        for level in LEVELS:
            q = np.stack([conformal_quantile(s, level) for s in per_h])
            quantiles[model][str(level)] = _accumulate_within_unit(q, scales).tolist()
    return IntervalTable(
        method="split conformal, recursive rolling-origin backtest on the validation period pooled across training "
        "tickers; |error| / unit(window), unit per horizon the last close (price) or the last close times the std "
        "of daily log close changes in the window (volatility)",
        volatility_floor=floor,
        scales=scales,
        levels=list(LEVELS),
        max_horizon=MAX_HORIZON,
        calibration_start=period[0],
        calibration_end=period[1],
        columns=list(COLUMNS),
        calibration_points=int(sum(len(pf.origins) for _, pf, _ in calibration)),
        quantiles=quantiles,
    )


def _served_bounds(
    table: IntervalTable, pairs: Pairs, model: str, h: int, level: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Actuals, forecasts and the bounds the service would answer at step ``h``, pooled over tickers."""
    acts, fs, lows, ups = [], [], [], []
    for series, pf, end in pairs:
        actual, mask = actuals(series, pf.origins, h, end)
        path = pf.forecasts[model][mask, :h]
        lower, upper = table.bounds(model, level, path, pf.windows[mask], BARS)
        acts.append(actual)
        fs.append(path[:, h - 1])
        lows.append(lower[:, h - 1])
        ups.append(upper[:, h - 1])
    return np.concatenate(acts), np.concatenate(fs), np.concatenate(lows), np.concatenate(ups)


def coverage(table: IntervalTable, groups: Mapping[str, Pairs]) -> IntervalTable:
    """The table with its measured test coverage per model, group, column, horizon and level."""
    out: dict[str, list[GroupCoverage]] = {}
    for model in table.quantiles:
        rows: list[GroupCoverage] = []
        for group, pairs in groups.items():
            for h in COVERAGE_HORIZONS:
                for level in table.levels:
                    actual, f, lower, upper = _served_bounds(table, pairs, model, h, level)
                    inside = (lower <= actual) & (actual <= upper)
                    for k, column in enumerate(COLUMNS):
                        rows.append(
                            GroupCoverage(
                                group=group,
                                column=column,
                                horizon=h,
                                level=level,
                                coverage=float(np.mean(inside[:, k]) * 100.0),
                                mean_relative_width=float(np.mean((upper[:, k] - lower[:, k]) / actual[:, k])),
                                points=len(f),
                            )
                        )
        out[model] = rows
    return table.model_copy(update={"coverage": out})


def recalibrate(directory: Path, data: Path) -> IntervalTable:
    """``forecast-calibrate`` for a bars set: the intervals again from its networks and its own source files.

    The same backtests as training's (validation periods of the training tickers, coverage on each group's
    test period), so a set whose table was lost or whose calibration rules changed needs no retraining.
    """
    from forecast_core.checksums import sha256_file
    from forecast_core.loader import load_set, read_set_manifest
    from forecast_core.manifest import FileRef
    from forecast_core.manifest_v2 import OhlcManifest
    from training.data import DataError
    from training.ohlc.data import load_bars
    from training.ohlc.dataset import periods
    from training.ohlc.evaluate import forecast_period

    manifest = read_set_manifest(directory)
    if not isinstance(manifest, OhlcManifest):
        raise DataError(f"{directory}: not a bars set")
    manifest = manifest.model_copy(update={"intervals": None})  # the loader must not depend on the old table
    manifest.save(directory)
    served = load_set(directory).predictors
    split, held = manifest.split, set(manifest.held_out)
    calib: list[tuple[BarSeries, PeriodForecasts, int]] = []
    cover: dict[str, list[tuple[BarSeries, PeriodForecasts, int]]] = {"trained": [], "held_out": []}
    span = ("", "")
    for source in manifest.sources:
        path = data / source.name
        if not path.is_file() or sha256_file(path) != source.sha256:
            raise DataError(f"{path}: missing or not the file the set was trained on ({source.name})")
        series = load_bars(path)
        p = periods(series, split.train_end, manifest.window, split.validation_days)
        group = "held_out" if series.ticker in held else "trained"
        cover[group].append(
            (series, forecast_period(series, p.test_start, p.n, served, manifest.window, MAX_HORIZON), p.n)
        )
        if group == "trained":
            pv = forecast_period(series, p.val_start, p.test_start, served, manifest.window, MAX_HORIZON)
            calib.append((series, pv, p.test_start))
            if not span[0]:
                span = (str(series.dates[p.val_start].date()), str(series.dates[p.test_start - 1].date()))
    table = coverage(calibrate(calib, list(served), span), {g: v for g, v in cover.items() if v})
    table.save(directory / INTERVALS_FILE)
    ref = FileRef(file=INTERVALS_FILE, sha256=sha256_file(directory / INTERVALS_FILE))
    manifest.model_copy(update={"intervals": ref}).save(directory)
    return table
