"""``forecast-train --inputs ohlc``: several CSVs -> one global LSTM and GRU on OHLC windows.

Example::

    forecast-train --inputs ohlc --data ../shared/data --out runs/ohlc-try --seed 1

Without ``--out`` the set goes to a new ``runs/<UTC time>-<name>/``; a non-empty ``--out`` needs
``--force`` (or ``--resume``). The CSVs are read and checked before TensorFlow is imported.

``--data`` is repeatable and takes files, directories or globs. Held-out tickers (``--hold-out``,
by default the rule in :func:`training.ohlc.dataset.every_fifth`) are never trained or tuned on.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecast_core.bars import COLUMNS
from forecast_core.checksums import sha256_file
from forecast_core.intervals import INTERVALS_FILE as OHLC_INTERVALS_FILE
from forecast_core.loader import load_set
from forecast_core.manifest import EVALUATION_FILE, FileRef
from forecast_core.manifest_v2 import (
    OHLC_FORMAT_VERSION,
    OHLC_KIND,
    OhlcDataSource,
    OhlcEnsembleEntry,
    OhlcManifest,
    OhlcModelEntry,
    OhlcSplit,
    Repair,
)
from training.cli import HelpFormatter, git_commit, quiet_tensorflow, run_training
from training.data import DataError
from training.ohlc.data import IMPLAUSIBLE_RULE, BarSeries, load_bars, resolve_inputs
from training.ohlc.dataset import HELD_OUT_RULE, every_fifth, periods, training_arrays

if TYPE_CHECKING:
    from training.models import ModelKind

log = logging.getLogger("forecast-train")
NORMALISATION = "100 x natural log of each price over the window's last Close; outputs the next bar in the same units"
# training.recipes.OhlcRecipe's defaults, here so that --help and the data checks need no Keras import
# (tests/training/test_train_cli.py checks that they agree).
RECIPE_DEFAULTS: dict[str, Any] = {
    "epochs": 15,
    "batch_size": 256,
    "learning_rate": 1e-3,
    "dropout": 0.0,
    "patience": 3,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="forecast-train --inputs ohlc", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument("--inputs", choices=("ohlc",), required=True, help="the multi-file OHLC set")
    p.add_argument("--data", action="append", required=True, help="CSV file, directory or glob (repeatable)")
    p.add_argument("--hold-out", help="comma-separated tickers never trained on (default: every fifth, alphabetically)")
    p.add_argument(
        "--out",
        type=Path,
        help="set directory to write (default: a new runs/<UTC time>-<name>/); a non-empty one needs --force",
    )
    p.add_argument("--force", action="store_true", help="write into a non-empty --out")
    p.add_argument("--name", default="ohlc", help="the set's name; the service serves NAME-lstm, NAME-gru, ...")
    p.add_argument("--seed", type=int, default=1, help="random seed")
    p.add_argument("--window", type=int, default=60, help="bars per input window")
    p.add_argument(
        "--train-end", type=date.fromisoformat, default=date(2016, 12, 31), help="last day of training, YYYY-MM-DD"
    )
    p.add_argument("--validation-days", type=int, default=250, help="the last training rows of each file that validate")
    p.add_argument("--models", default="lstm,gru", help="which networks to train")
    p.add_argument("--lstm-units", type=int, default=32, help="LSTM units")
    p.add_argument("--gru-units", type=int, default=64, help="GRU units")
    p.add_argument(
        "--epochs", type=int, default=RECIPE_DEFAULTS["epochs"], help="epoch cap (early stopping usually ends sooner)"
    )
    p.add_argument("--batch-size", type=int, default=RECIPE_DEFAULTS["batch_size"], help="batch size")
    p.add_argument("--learning-rate", type=float, default=RECIPE_DEFAULTS["learning_rate"], help="Adam learning rate")
    p.add_argument("--gru-learning-rate", type=float, help="the GRU's own learning rate (default: --learning-rate)")
    p.add_argument("--dropout", type=float, default=RECIPE_DEFAULTS["dropout"], help="dropout rate")
    p.add_argument("--patience", type=int, default=RECIPE_DEFAULTS["patience"], help="early-stopping patience")
    p.add_argument(
        "--resume",
        action="store_true",
        help="reuse a network already trained in --out with the same recipe and seed (its KIND.fit.json); "
        "allows a non-empty --out",
    )
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2), help="Keras fit verbosity")
    args = p.parse_args(argv)
    if args.window < 2 or args.epochs < 1:
        p.error("--window must be at least 2 and --epochs at least 1")
    return args


def _source(s: BarSeries, held_out: bool) -> OhlcDataSource:
    return OhlcDataSource(
        name=s.source,
        ticker=s.ticker,
        sha256=sha256_file(s.path),
        rows=len(s.bars),
        duplicate_dates_dropped=s.duplicate_dates_dropped,
        gaps_filled=s.gaps_filled,
        first_date=s.dates[0].date(),
        last_date=s.dates[-1].date(),
        held_out=held_out,
        repairs=[Repair.model_validate(r) for r in s.repairs],
        open_close_outside_range=s.open_close_outside_range,
    )


def _reusable(out: Path, kind: str, params: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """The network trained earlier in ``out`` with exactly these hyperparameters and seed, if any."""
    record_path, keras_path = out / f"{kind}.fit.json", out / f"{kind}.keras"
    if not (record_path.is_file() and keras_path.is_file()):
        return None
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record.get("hyperparameters") != params:
        log.info(
            "%s: the earlier %s was trained with %s, not %s: retraining",
            out,
            kind,
            record.get("hyperparameters"),
            params,
        )
        return None
    import keras

    log.info("reusing %s trained earlier in %s (%s)", kind, out, record["fit"])
    return keras.saving.load_model(keras_path, compile=False, safe_mode=True), record["fit"]


def prepare(args: argparse.Namespace) -> tuple[list[BarSeries], list[str], list[BarSeries], Any]:
    """Read and check every CSV, the held-out tickers and the split (no TensorFlow), and log them."""
    series = [load_bars(p) for p in resolve_inputs(args.data)]
    tickers = [s.ticker for s in series]
    if len(set(tickers)) != len(tickers):
        raise DataError(f"two files give the same ticker: {sorted(tickers)}")
    held_out = args.hold_out.split(",") if args.hold_out else every_fifth(tickers)
    unknown = sorted(set(held_out) - set(tickers))
    if unknown:
        raise DataError(f"--hold-out names tickers with no file: {', '.join(unknown)}")
    training = [s for s in series if s.ticker not in held_out]
    if not training:
        raise DataError("every ticker is held out: nothing to train on")
    for s in series:
        p = periods(s, args.train_end, args.window, args.validation_days)
        log.info(
            "%s: %d rows, %s..%s, train targets to %s, test %d rows; gaps filled %s; %d repaired bar(s); "
            "%d bar(s) with Open/Close outside [Low, High]%s",
            s.source, len(s.bars), s.dates[0].date(), s.dates[-1].date(), s.dates[p.test_start - 1].date(),
            p.n - p.test_start, {k: v for k, v in s.gaps_filled.items() if v}, len(s.repairs),
            s.open_close_outside_range, " (held out)" if s.ticker in held_out else "",
        )  # fmt: skip
    data = training_arrays(training, args.train_end, args.window, args.validation_days)
    return series, held_out, training, data


def run(
    args: argparse.Namespace, prepared: tuple[list[BarSeries], list[str], list[BarSeries], Any] | None = None
) -> Path:
    series, held_out, training, data = prepared or prepare(args)
    from training.models import fit_model
    from training.ohlc.scoring import score_set
    from training.onnx_export import export_onnx
    from training.recipes import OhlcRecipe, fit_options

    kinds: list[ModelKind] = [k for k in ("lstm", "gru") if k in args.models.split(",")]
    base = OhlcRecipe(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        dropout=args.dropout, patience=args.patience,
    )  # fmt: skip
    recipes = {k: replace(base, units=args.lstm_units if k == "lstm" else args.gru_units) for k in kinds}
    if "gru" in recipes and args.gru_learning_rate is not None:
        recipes["gru"] = replace(recipes["gru"], learning_rate=args.gru_learning_rate)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC).replace(microsecond=0)
    entries: dict[str, OhlcModelEntry] = {}
    fit_info: dict[str, Any] = {}
    for kind in kinds:
        keras_path, onnx_path = out / f"{kind}.keras", out / f"{kind}.onnx"
        params = {**recipes[kind].hyperparameters(), "seed": args.seed}
        reused = _reusable(out, kind, params) if args.resume else None
        if reused is not None:
            model, fit_info[kind] = reused
        else:
            (x, y, x_val, y_val), options = data, fit_options(recipes[kind])
            net = recipes[kind].network(kind, args.window, x.shape[2])
            model, fit_info[kind] = fit_model(
                net, x, y, (x_val, y_val), seed=args.seed, verbose=args.verbose, **options
            )
            model.save(keras_path)
            # Written right after each fit, so a later failure does not cost the training (--resume).
            record = {"hyperparameters": params, "fit": fit_info[kind]}
            (out / f"{kind}.fit.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        error = export_onnx(model, onnx_path, args.window)
        sha = sha256_file(onnx_path)
        entries[kind] = OhlcModelEntry(
            name=kind, kind=kind, version=f"ohlc-{created:%Y%m%d}-{sha[:8]}", recipe="ohlc",
            keras=FileRef(file=keras_path.name, sha256=sha256_file(keras_path)),
            onnx=FileRef(file=onnx_path.name, sha256=sha), parameters=int(model.count_params()),
            hyperparameters=params, onnx_max_rel_error=error,
        )  # fmt: skip
        log.info("exported %s to ONNX (max relative difference from Keras %.1e)", kind, error)
    (out / OHLC_INTERVALS_FILE).unlink(missing_ok=True)  # belongs to the previous run in this directory
    first = periods(training[0], args.train_end, args.window, args.validation_days)
    manifest = OhlcManifest(
        format_version=OHLC_FORMAT_VERSION, kind=OHLC_KIND, name=args.name, created_at=created,
        git_commit=git_commit(),
        command=" ".join(["forecast-train", *map(shlex.quote, sys.argv[1:])]), window=args.window,
        columns=list(COLUMNS), normalisation=NORMALISATION,
        sources=[_source(s, s.ticker in held_out) for s in series],
        split=OhlcSplit(
            train_end=args.train_end, test_start=training[0].dates[first.test_start].date(),
            test_end=training[0].dates[-1].date(), validation_days=args.validation_days,
            train_windows=len(data[0]), validation_windows=len(data[2]),
            held_out_rule=HELD_OUT_RULE if not args.hold_out else "given by --hold-out",
        ),
        held_out=sorted(held_out), models=entries,
        ensemble=OhlcEnsembleEntry(members=list(kinds)) if len(kinds) > 1 else None,
    )  # fmt: skip
    manifest.save(out)
    loaded = load_set(out)  # score what will be served: the ONNX files through the service's loader
    if loaded.errors:
        raise RuntimeError(f"freshly written artifacts do not load: {loaded.errors}")
    evaluation, manifest = score_set(out, manifest, loaded.predictors, series, data, args)
    evaluation.update({"seed": args.seed, "fit": fit_info, "implausible_rule": IMPLAUSIBLE_RULE})
    manifest.save(out)
    (out / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    # --resume reuses networks already trained in --out, so a non-empty --out is expected there.
    return run_training(args, prepare, run, args.name, allow_existing=args.resume)
