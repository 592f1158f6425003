"""``forecast-train``'s command line for one price column: its options and the recipe they select.

The options are read, and checked, before anything heavy is imported (``training/train.py`` runs them).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import date
from pathlib import Path

from training.cli import HelpFormatter
from training.data import TEST_MONTHS
from training.recipes import RECIPES, ModelKind, ModelRecipe

DESCRIPTION = "CSV -> fitted scaler, LSTM and GRU models, ONNX exports, evaluation, report."
CSV_LAYOUTS = (
    "Date plus price columns, headers matched ignoring case: Kaggle (Date,Open,High,Low,Close,Volume,Name), "
    "Yahoo Finance (Date,Open,High,Low,Close,Adj Close,Volume), Stooq (Date,Open,High,Low,Close,Volume)"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="forecast-train",
        description=DESCRIPTION,
        epilog="The multi-file OHLC set has options of its own: forecast-train --inputs ohlc --help",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help=f"daily price CSV: {CSV_LAYOUTS}")
    parser.add_argument("--column", default="High", help="target column, any case (e.g. 'adj close')")
    parser.add_argument(
        "--out",
        type=Path,
        help="artifact directory to write (default: a new runs/<UTC time>-<data file name>/); "
        "an existing non-empty one needs --force",
    )
    parser.add_argument("--force", action="store_true", help="overwrite the run files in a non-empty --out")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="default", help="training recipe")
    parser.add_argument("--epochs", type=int, help="override the recipe's epoch count (for quick runs)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--window", type=int, default=60, help="trading days per input window")
    split = parser.add_mutually_exclusive_group()
    split.add_argument(
        "--test-start",
        type=date.fromisoformat,
        help=f"first day of the test period, YYYY-MM-DD (default: the last {TEST_MONTHS} months of the file, "
        "from the nearest first of a month)",
    )
    split.add_argument(
        "--train-end", type=date.fromisoformat, help="last day of the training period, YYYY-MM-DD (or --test-start)"
    )
    parser.add_argument("--units", type=str, help="override layer sizes, e.g. 8,8 (for quick runs)")
    parser.add_argument("--dropout", type=float, help="override the dropout rate")
    parser.add_argument("--learning-rate", type=float, help="override the learning rate")
    parser.add_argument("--batch-size", type=int, help="override the batch size")
    parser.add_argument("--residual", choices=("yes", "no"), help="override whether the model predicts the change")
    parser.add_argument("--models", default="lstm,gru", help="which networks to train")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--verbose", type=int, default=2, choices=(0, 1, 2), help="Keras fit verbosity (2: a line per epoch)"
    )
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.window < 2:
        parser.error("--window must be at least 2")
    if not [k for k in ("lstm", "gru") if k in args.models.split(",")]:
        parser.error("--models must name lstm, gru or both")
    return args


def recipe_for(args: argparse.Namespace, kind: ModelKind) -> ModelRecipe:
    recipe = RECIPES[args.recipe].models[kind]
    if args.epochs is not None:
        recipe = replace(recipe, epochs=args.epochs)
    if args.units:
        recipe = replace(recipe, units=tuple(int(u) for u in args.units.split(",")))
    if args.dropout is not None:
        recipe = replace(recipe, dropout=args.dropout)
    if args.learning_rate is not None:
        recipe = replace(recipe, learning_rate=args.learning_rate)
    if args.batch_size is not None:
        recipe = replace(recipe, batch_size=args.batch_size)
    if args.residual is not None:
        recipe = replace(recipe, residual=args.residual == "yes")
    return recipe
