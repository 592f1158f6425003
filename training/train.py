"""``forecast-train``: CSV -> fitted scaler, LSTM and GRU models, ONNX exports, evaluation, report.

Example::

    forecast-train --data mine.csv                       # writes a new runs/<UTC time>-mine/
    forecast-train --data ../shared/data/IBM.csv --out artifacts/ibm-high --force --recipe default --seed 1

The CSV is read and the split checked before TensorFlow is imported, so a bad file is refused at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from forecast_core.checksums import sha256_file
from forecast_core.manifest import (
    EVALUATION_FILE,
    FORMAT_VERSION,
    SCALER_FILE,
    DataSource,
    EnsembleEntry,
    FileRef,
    Manifest,
    Metrics,
    ModelEntry,
    Split,
    ValueRange,
)
from forecast_core.scaler import MinMaxScaling
from forecast_core.windowing import make_windows
from training.cli import git_commit, new_run_dir, quiet_tensorflow, run_training
from training.data import (
    PriceSeries,
    default_test_start,
    describe_split,
    load_prices,
    split_at,
    split_by_date,
    unused_rows_note,
)
from training.data import Split as DataSplit
from training.recipes import ModelKind, ModelRecipe, fit_options
from training.train_args import parse_args, recipe_for

log = logging.getLogger("forecast-train")
CALIBRATION_MIN_DAYS = 40  # interval calibration needs a backtest of at least this many validation days


# What a run writes into its directory; with --force these are removed first, so none is left from an older run.
RUN_FILES = (
    "manifest.json", SCALER_FILE, EVALUATION_FILE, "intervals.json", "report.md", "seed_study.json",
    "next_step.png", "sequence.png", "lstm.keras", "lstm.onnx", "gru.keras", "gru.onnx",
)  # fmt: skip


def fit_network(
    kind: ModelKind, recipe: ModelRecipe, x: np.ndarray, y: np.ndarray, window: int, seed: int, verbose: int
) -> tuple[Any, dict[str, Any]]:
    """Train one network; with ``validation_days`` the last windows steer early stopping."""
    from training.models import fit_model

    validation = None
    if recipe.validation_days:
        days = recipe.validation_days
        x, y, validation = x[:-days], y[:-days], (x[-days:], y[-days:])
    net = recipe.network(kind, window)
    return fit_model(net, x, y, validation, seed=seed, verbose=verbose, **fit_options(recipe))


@dataclass(frozen=True)
class Prepared:
    """What is known before any heavy import: the recipes, the cleaned series and its split."""

    kinds: list[ModelKind]
    recipes: dict[ModelKind, ModelRecipe]
    validation_days: int
    series: PriceSeries
    split: DataSplit


def prepare(args: argparse.Namespace) -> Prepared:
    """Read and check the CSV and the split (pandas only: no TensorFlow), and log the split."""
    kinds: list[ModelKind] = [k for k in ("lstm", "gru") if k in args.models.split(",")]
    recipes = {k: recipe_for(args, k) for k in kinds}
    validation_days = max(r.validation_days for r in recipes.values())
    series = load_prices(args.data, args.column)
    if args.train_end is not None:
        split = split_by_date(series, args.train_end, args.window, validation_days)
    else:
        test_start = args.test_start or default_test_start(series.dates[-1].date())
        split = split_at(series, test_start, args.window, validation_days)
    for line in describe_split(split, validation_days):
        log.info("%s", line)
    if series.gaps_filled or series.duplicate_dates_dropped:
        log.info(
            "  cleaning: %d empty value(s) filled from the previous day, %d duplicate date(s) dropped",
            series.gaps_filled,
            series.duplicate_dates_dropped,
        )
    note = unused_rows_note(split)
    if note:
        log.warning("%s", note)
    return Prepared(kinds, recipes, validation_days, series, split)


def run(args: argparse.Namespace, prepared: Prepared | None = None) -> Path:
    """Train, export, evaluate, calibrate and report into ``args.out``."""
    p = prepared or prepare(args)
    if args.out is None:
        args.out = new_run_dir(args.data.stem)
    kinds, recipes, validation_days, series, split = p.kinds, p.recipes, p.validation_days, p.series, p.split
    from sklearn.preprocessing import MinMaxScaler

    from forecast_core.loader import load_set
    from training.calibrate import run as calibrate
    from training.onnx_export import export_onnx
    from training.report import write_report

    train_values = split.train.values
    sk_scaler = MinMaxScaler(feature_range=(0, 1)).fit(train_values.reshape(-1, 1))
    scaler = MinMaxScaling.from_sklearn(sk_scaler)
    x, y = make_windows(scaler.transform(train_values), args.window)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:  # an older run's files (--force) must not be mistaken for this run's
        (out / name).unlink(missing_ok=True)
    scaler.save(out / SCALER_FILE)
    created = datetime.now(UTC).replace(microsecond=0)
    entries: dict[str, ModelEntry] = {}
    fit_info: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        model, fit_info[kind] = fit_network(kind, recipes[kind], x, y, args.window, args.seed, args.verbose)
        keras_path, onnx_path = out / f"{kind}.keras", out / f"{kind}.onnx"
        model.save(keras_path)
        error = export_onnx(model, onnx_path, args.window)
        onnx_sha = sha256_file(onnx_path)
        params = {**recipes[kind].hyperparameters(), "seed": args.seed}
        entries[kind] = ModelEntry(
            name=kind,
            kind=kind,
            recipe=args.recipe,
            version=f"{args.recipe}-{created:%Y%m%d}-{onnx_sha[:8]}",
            keras=FileRef(file=keras_path.name, sha256=sha256_file(keras_path)),
            onnx=FileRef(file=onnx_path.name, sha256=onnx_sha),
            parameters=int(model.count_params()),
            hyperparameters=params,
            onnx_max_rel_error=error,
        )
        log.info("exported %s to ONNX (max relative difference from Keras %.1e)", kind, error)

    manifest = Manifest(
        format_version=FORMAT_VERSION,
        created_at=created,
        git_commit=git_commit(),
        command=" ".join(["forecast-train", *map(shlex.quote, sys.argv[1:])]),
        data=DataSource(
            name=series.source,
            sha256=sha256_file(args.data),
            rows=len(series.values),
            duplicate_dates_dropped=series.duplicate_dates_dropped,
            gaps_filled=series.gaps_filled,
            first_date=series.dates[0].date(),
            last_date=series.dates[-1].date(),
        ),
        target_column=series.column,
        window=args.window,
        split=Split(
            train_end=split.train_end,
            test_start=split.test.dates[0].date(),
            validation_days=validation_days,
            train_rows=split.n_train,
            test_rows=len(split.test.values),
        ),
        training_range=ValueRange(
            start_date=split.train.dates[0].date(),
            end_date=split.train.dates[-1].date(),
            min=scaler.data_min,
            max=scaler.data_max,
        ),
        scaler=FileRef(file=SCALER_FILE, sha256=sha256_file(out / SCALER_FILE)),
        models=entries,
    )
    manifest.save(out)
    # Score what will be served: the ONNX files, read back through the service's own loader.
    served = tuple(kinds) + (("ensemble",) if len(kinds) > 1 else ())
    loaded = load_set(out, served, backend="onnx")
    if loaded.errors:
        raise RuntimeError(f"freshly written artifacts do not load: {loaded.errors}")
    test = _evaluate(series, split.n_train, loaded.predictors, args.window)
    validation = (
        _evaluate(series, split.n_train - validation_days, loaded.predictors, args.window, end=split.n_train)
        if validation_days
        else None
    )
    manifest = manifest.model_copy(
        update={
            "models": {
                k: e.model_copy(
                    update={"test_metrics": Metrics(**test["next_step"][k]), "sequence_rmse": test["sequence_rmse"][k]}
                )
                for k, e in entries.items()
            }
        }
    )
    if "ensemble" in test["next_step"]:
        manifest = manifest.model_copy(
            update={
                "ensemble": EnsembleEntry(
                    members=list(kinds),
                    test_metrics=Metrics(**test["next_step"]["ensemble"]),
                    sequence_rmse=test["sequence_rmse"]["ensemble"],
                )
            }
        )
    manifest.save(out)
    evaluation = {
        "recipe": args.recipe,
        "seed": args.seed,
        "data": series.source,
        "column": series.column,
        "fit": fit_info,
        "test": _public(test),
        "validation": _public(validation) if validation else None,
    }
    (out / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2) + "\n", encoding="utf-8")

    if validation_days >= CALIBRATION_MIN_DAYS:
        calibrate(out, args.data)
    if not args.no_plots:
        _plots(out, split.test.dates, series, test)
    write_report(out)
    _summary(test)
    return out


def _evaluate(series: PriceSeries, start: int, predictors: Any, window: int, end: int | None = None) -> dict[str, Any]:
    from training.evaluate import evaluate

    return evaluate(series.values[:end], start, predictors, window)


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if not k.startswith("_")}


def _plots(out: Path, dates: Any, series: PriceSeries, test: dict[str, Any]) -> None:
    from training.plots import plot_forecasts

    s = test["_series"]
    title = f"{series.source} {series.column}"
    persistence = series.values[len(series.values) - len(dates) - 1 : -1]
    plot_forecasts(
        out / "next_step.png",
        dates,
        s["actual"],
        {**s["next_step"], "persistence": persistence},
        f"{title}: next-step forecasts on the test period",
        f"{series.column} price",
    )
    plot_forecasts(
        out / "sequence.png",
        dates,
        s["actual"],
        s["sequence"],
        f"{title}: recursive sequence from the last training window",
        f"{series.column} price",
    )


def _summary(test: dict[str, Any]) -> None:
    log.info("test next-step RMSE: %s", ", ".join(f"{k} {v['rmse']:.3f}" for k, v in test["next_step"].items()))
    log.info("test sequence RMSE: %s", ", ".join(f"{k} {v:.2f}" for k, v in test["sequence_rmse"].items()))


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow()
    given = sys.argv[1:] if argv is None else argv
    if "--inputs" in given or any(a.startswith("--inputs=") for a in given):
        # The multi-file OHLC set has its own options (training/ohlc/train.py).
        from training.ohlc.train import main as ohlc_main

        return ohlc_main(given)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    return run_training(args, prepare, run, args.data.stem)


if __name__ == "__main__":
    raise SystemExit(main())
