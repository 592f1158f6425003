"""Conformal prediction intervals from a rolling-origin backtest on the validation split.

``forecast-calibrate --artifacts artifacts/ibm-high --data IBM.csv`` (also run by ``forecast-train``):

1. From every origin in the calibration period (the validation part of the training period, or with
   ``--calibration-days`` the last N days of it, N chosen on validation with 0), forecast 1..H steps
   recursively with each served model (and with persistence, the naive baseline).
2. Keep the errors whose target still lies in the training period, as ``|error| / last price``.
3. Store the split-conformal quantile for each model, level and horizon in ``intervals.json``.
4. Measure coverage and width on the test period (reported, never used for fitting).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forecast_core.checksums import sha256_file
from forecast_core.errors import ArtifactError
from forecast_core.features import Scale
from forecast_core.intervals import INTERVALS_FILE, LEVELS, Coverage, IntervalTable, conformal_quantile
from forecast_core.loader import load_set, read_set_manifest
from forecast_core.manifest import FileRef, read_manifest
from forecast_core.manifest_v2 import OhlcManifest
from forecast_core.predictor import Predictor
from forecast_core.windowing import origin_windows
from training.data import DataError, load_prices
from training.evaluate import PERSISTENCE, persistence_predictor

log = logging.getLogger("forecast-calibrate")
MAX_HORIZON = 20
SCALES: tuple[Scale, ...] = ("price", "volatility")
REPORTED_HORIZONS = (1, 5, 20)
CALIBRATION_CANDIDATES = (250, 500, 750, 1000, 1500)
METHOD = (
    "split conformal on a rolling-origin backtest of the validation period; half-width = quantile of "
    "|actual - forecast| / scale(window), non-decreasing in the horizon; "
    "beyond max_horizon widened by sqrt(h / max_horizon)"
)


@dataclass(frozen=True)
class Calibrator:
    """Backtests ``predictors`` on ``values`` and turns the errors into interval tables."""

    values: np.ndarray
    predictors: Mapping[str, Predictor]
    max_horizon: int
    volatility_floor: float

    def scaled_errors(self, predictor: Predictor, start: int, end: int, scale: Scale) -> list[np.ndarray]:
        """For h = 1..max_horizon: |actual - forecast| / scale(window), origins in [start, end), targets before end."""
        windows = origin_windows(self.values[:end], predictor.window, start)
        forecasts = predictor.forecast_many(windows, self.max_horizon)
        unit = predictor.features.unit(windows[:, :, None], scale, self.volatility_floor)
        out = []
        for h in range(1, self.max_horizon + 1):
            rows = end - start - h + 1  # origins whose h-step target is still before `end`
            if rows < 1:
                raise ValueError(f"calibration period of {end - start} points is too short for horizon {h}")
            actual = self.values[start + h - 1 : start + h - 1 + rows]
            out.append(np.abs(actual - forecasts[:rows, h - 1]) / unit[:rows])
        return out

    def table(self, start: int, end: int, scales: list[Scale], dates: tuple[str, str] = ("", "")) -> IntervalTable:
        """Conformal quantiles from origins in [start, end), horizon h measured in ``scales[h - 1]``."""
        quantiles: dict[str, dict[str, list[list[float]]]] = {}
        for name, predictor in self.predictors.items():
            errors = {s: self.scaled_errors(predictor, start, end, s) for s in set(scales)}
            quantiles[name] = {
                str(level): np.maximum.accumulate(
                    [conformal_quantile(errors[s][h], level) for h, s in enumerate(scales)]
                )[:, None].tolist()
                for level in LEVELS
            }
        return IntervalTable(
            method=METHOD,
            columns=[next(iter(self.predictors.values())).columns[0]],
            scales=scales,
            volatility_floor=self.volatility_floor,
            levels=list(LEVELS),
            max_horizon=self.max_horizon,
            calibration_start=dates[0],
            calibration_end=dates[1],
            quantiles=quantiles,
        )

    def coverage(
        self, table: IntervalTable, start: int, end: int | None = None, horizons: tuple[int, ...] = REPORTED_HORIZONS
    ) -> dict[str, list[Coverage]]:
        """Share of points in ``values[start:end]`` inside each interval, counted directly."""
        values = self.values[:end]
        out: dict[str, list[Coverage]] = {}
        for name, predictor in self.predictors.items():
            windows = origin_windows(values, predictor.window, start)
            forecasts = predictor.forecast_many(windows, max(horizons))
            rows_out = []
            for h in horizons:
                rows = len(values) - start - h + 1
                if rows < 1:
                    continue
                actual = values[start + h - 1 :]
                for level in table.levels:
                    lower, upper = table.bounds(
                        name, level, forecasts[:rows, :h, None], windows[:rows, :, None], predictor.features
                    )
                    lower, upper = lower[:, :, 0], upper[:, :, 0]
                    inside = (actual >= lower[:, -1]) & (actual <= upper[:, -1])
                    rows_out.append(
                        Coverage(
                            horizon=h,
                            level=level,
                            coverage=float(inside.mean()),
                            mean_width=float(np.mean(upper[:, -1] - lower[:, -1])),
                            points=rows,
                        )
                    )
            out[name] = rows_out
        return out

    def choose_scales(self, start: int, end: int) -> tuple[list[Scale], dict[str, list[float]]]:
        """For each horizon, the scale whose intervals cover best out of sample *within* [start, end).

        Calibrate on the first half and measure the mean |coverage - nominal| (80 % and 95 %, all
        models) on the second half; the test period plays no part.
        """
        middle = (start + end) // 2
        horizons = tuple(range(1, self.max_horizon + 1))
        gaps: dict[str, list[float]] = {}
        for scale in SCALES:
            held_out = self.coverage(self.table(start, middle, [scale] * self.max_horizon), middle, end, horizons)
            gaps[scale] = [
                float(
                    np.mean(
                        [
                            abs(c.coverage - c.level / 100)
                            for rows in held_out.values()
                            for c in rows
                            if c.horizon == h and c.level in (80, 95)
                        ]
                    )
                )
                for h in horizons
            ]
        return [min(SCALES, key=lambda s: gaps[s][h - 1]) for h in horizons], gaps


def choose_calibration_days(
    values: np.ndarray, predictors: Mapping[str, Predictor], window: int, n_train: int, validation_days: int
) -> tuple[int, dict[int, float]]:
    """The backtest length whose intervals cover best on the validation period, never on the test period.

    Each candidate N calibrates on the N days before the validation period and is scored by the mean
    |coverage - nominal| at 80 % and 95 %, horizons 1, 5 and 20, on the validation period itself.
    """
    val_start = n_train - validation_days
    scores: dict[int, float] = {}
    for days in CALIBRATION_CANDIDATES:
        start = val_start - days
        if start < window:
            continue
        calibrator = Calibrator(values, predictors, MAX_HORIZON, volatility_floor(values, window, start, val_start))
        table = calibrator.table(start, val_start, ["volatility"] * MAX_HORIZON)
        rows = calibrator.coverage(table, val_start, n_train)
        gaps = [abs(c.coverage - c.level / 100) for r in rows.values() for c in r if c.level in (80, 95)]
        scores[days] = float(np.mean(gaps))
    if not scores:
        return validation_days, scores
    return min(scores, key=lambda d: scores[d]), scores


def volatility_floor(values: np.ndarray, window: int, start: int, end: int) -> float:
    """The 5th percentile of relative window volatility over the calibration origins."""
    windows = origin_windows(values[:end], window, start)
    relative = np.std(np.diff(windows, axis=1), axis=1) / windows[:, -1]
    return float(np.percentile(relative, 5))


def run(
    artifacts: Path, data: Path, max_horizon: int | None = None, calibration_days: int | None = None
) -> IntervalTable:
    manifest = read_manifest(artifacts)
    if sha256_file(data) != manifest.data.sha256:
        raise DataError(f"{data}: sha256 differs from the data the artifacts were trained on ({manifest.data.name})")
    series = load_prices(data, manifest.target_column)
    n_train, days = manifest.split.train_rows, manifest.split.validation_days
    # A longer history than the early-stopping period spans more volatility regimes; its older part was
    # seen in training, which for these near-persistence models makes little difference (report.md).
    requested = calibration_days
    # Up to 20 steps, fewer for short validation periods: each horizon needs enough backtest points.
    max_horizon = max_horizon or min(MAX_HORIZON, days // 2)
    if days < 2 * max_horizon:
        raise DataError(f"the artifacts hold out {days} validation days; horizon {max_horizon} needs {2 * max_horizon}")
    # Recalibrating replaces any earlier table, so the loader must not depend on it.
    manifest = manifest.model_copy(update={"intervals": None})
    manifest.save(artifacts)
    loaded = load_set(artifacts)
    predictors: dict[str, Predictor] = {
        **loaded.predictors,
        PERSISTENCE: persistence_predictor(loaded.features, manifest.window),
    }
    if requested == 0:  # "auto": chosen on the validation period
        requested, scores = choose_calibration_days(series.values, predictors, manifest.window, n_train, days)
        log.info("calibration length chosen on validation: %d days (mean coverage gap by length: %s)",
                 requested, {k: round(v, 4) for k, v in scores.items()})  # fmt: skip
    days = max(days, min(requested or 0, n_train - manifest.window))
    start = n_train - days
    calibrator = Calibrator(
        series.values, predictors, max_horizon, volatility_floor(series.values, manifest.window, start, n_train)
    )
    scales, gaps = calibrator.choose_scales(start, n_train)
    log.info(
        "interval scale per horizon, chosen on the validation halves: %s",
        " ".join(f"h{h}={s}" for h, s in enumerate(scales, 1)),
    )
    table = calibrator.table(
        start, n_train, scales, (str(series.dates[start].date()), str(series.dates[n_train - 1].date()))
    )
    table = table.model_copy(update={"selection": gaps, "coverage": calibrator.coverage(table, n_train)})
    path = artifacts / INTERVALS_FILE
    table.save(path)
    manifest.model_copy(update={"intervals": FileRef(file=INTERVALS_FILE, sha256=sha256_file(path))}).save(artifacts)
    log.info("intervals calibrated on %s … %s, written to %s", table.calibration_start, table.calibration_end, path)
    for name, rows in table.coverage.items():
        log.info(
            "%s test coverage: %s",
            name,
            ", ".join(f"h{c.horizon}@{c.level}%={100 * c.coverage:.0f}%" for c in rows if c.level in (80, 95)),
        )
    return table


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="forecast-calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts/ibm-high"),
        help="the model set to calibrate, of any kind (default: artifacts/ibm-high)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="the CSV the set was trained on (a bars set: the directory of its CSVs)",
    )
    parser.add_argument("--max-horizon", type=int, help=f"calibrated horizons (default {MAX_HORIZON})")
    parser.add_argument(
        "--calibration-days",
        type=int,
        help="backtest the last N trading days of the training period (default: the validation days; "
        "0: choose N on the validation period)",
    )
    args = parser.parse_args(argv)
    try:
        if isinstance(read_set_manifest(args.artifacts), OhlcManifest):
            from training.ohlc.calibrate import recalibrate

            recalibrate(args.artifacts, args.data)  # its report is rewritten by forecast-report with its runs
            return 0
        run(args.artifacts, args.data, args.max_horizon, args.calibration_days)
    except (DataError, ArtifactError) as exc:
        log.error("%s", exc)
        return 2
    from training.report import write_report

    write_report(args.artifacts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
