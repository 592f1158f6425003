"""``forecast-promote``: add a trained run to the model repository only if it is not worse than the live version.

Example::

    forecast-promote runs/20261206T101500Z-ohlc --repository artifacts --set ohlc --data ../shared/data
    forecast-promote --repository artifacts --set ohlc --rollback

The gate: the run is checked (its manifest, every checksum, its ONNX files against its Keras files, the
same kind of set as the live one), then both the run and the live version forecast the most recent
period of the given data that neither trained on (every day after the later of their training ends),
from rolling origins; at h = 1 and 5 each scores the RMSE of the target column (High where there is one)
over persistence's, per series, and the medians decide. The run becomes the next version (written
beside the others and renamed into place, as docs/operations.md says) when it is not worse than the
live one by more than ``--margin`` at any horizon, or with ``--force``; either way a ``promotion.json``
record says both scores, the period, the decision and the command. ``--rollback`` makes the version
before the current one current again (a ``versions.json`` pin); a running server picks up either
change at its next read of the repository (polling, SIGHUP or the repository API).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast_core.bars import CSV_COLUMNS
from forecast_core.loader import LoadedSet, load_set, read_set_manifest
from forecast_core.repository import read_policy, versions_of
from forecast_core.windowing import windows_at
from training.cli import quiet_tensorflow
from training.data import DataError, load_prices
from training.ohlc.data import load_bars, resolve_inputs

log = logging.getLogger("forecast-promote")
HORIZONS = (1, 5)
MIN_ORIGINS = 20
RECORD = "promotion.json"


def _series(path: Path, csv_columns: tuple[str, ...]) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """One CSV's rows of the feature set's columns, read as training reads them: bars with training's repairs
    of misprinted bars, any other columns one by one (the same dates for each)."""
    if csv_columns == CSV_COLUMNS:
        bars = load_bars(path)
        return bars.dates, bars.bars
    columns = [load_prices(path, column) for column in csv_columns]
    dates = columns[0].dates
    if any(not c.dates.equals(dates) for c in columns[1:]):
        raise DataError(f"{path}: its columns {list(csv_columns)} do not cover the same days")
    return dates, np.stack([c.values for c in columns], axis=1)


def score(loaded: LoadedSet, data: list[Path], after: date) -> dict[str, Any]:
    """Per series and horizon: the ensemble's (else the first network's) target RMSE over persistence's."""
    features = loaded.features
    model = loaded.predictors.get("ensemble") or next(iter(loaded.predictors.values()))
    target = features.columns.index("high") if "high" in features.columns else 0
    window, horizon = model.window, max(HORIZONS)
    per_series: dict[str, dict[str, float]] = {}
    for path in data:
        dates, rows = _series(path, features.csv_columns)
        first = int(np.searchsorted(dates.to_numpy(), np.datetime64(after), side="right"))
        origins = np.arange(max(first, window) - 1, len(rows) - horizon)
        if len(origins) < MIN_ORIGINS:
            continue
        paths = model.forecast_many(windows_at(rows, origins, window), horizon)
        last = rows[origins, target]
        per_series[path.stem] = {
            str(h): float(
                np.sqrt(np.mean((paths[:, h - 1, target] - rows[origins + h, target]) ** 2))
                / np.sqrt(np.mean((last - rows[origins + h, target]) ** 2))
            )
            for h in HORIZONS
        }
    if not per_series:
        raise DataError(f"no series has {MIN_ORIGINS} forecast origins after {after} to score on")
    median = {str(h): float(np.median([s[str(h)] for s in per_series.values()])) for h in HORIZONS}
    return {"model": model.name, "median_rmse_ratio": median, "per_series": per_series}


def _numbered(set_dir: Path) -> dict[int, Path]:
    """The set's version directories; a flat set (its files in the set directory) becomes version 1 first."""
    if (set_dir / "manifest.json").is_file():
        staging = set_dir / ".1.incoming"
        shutil.copytree(set_dir, staging, ignore=lambda d, names: [n for n in names if n.startswith(".")])
        staging.rename(set_dir / "1")
        # The manifest goes first: from then on the set reads as numbered versions (1 being these same files).
        (set_dir / "manifest.json").unlink()
        for item in set_dir.iterdir():
            if item.is_file() and item.name != "versions.json":
                item.unlink()
    return versions_of(set_dir)


def _check_run(run: Path, live: LoadedSet) -> LoadedSet:
    challenger = load_set(run)
    if challenger.errors:
        raise DataError(f"{run}: does not load: {challenger.errors}")
    if type(challenger.manifest) is not type(live.manifest) or challenger.features.columns != live.features.columns:
        raise DataError(
            f"{run}: a set of {list(challenger.features.columns)} cannot become a version of one of "
            f"{list(live.features.columns)}"
        )
    if set(challenger.predictors) != set(live.predictors):
        raise DataError(f"{run}: serves {sorted(challenger.predictors)}, the live set {sorted(live.predictors)}")
    reference = load_set(run, backend="keras")
    rng = np.random.default_rng(0)
    window = next(iter(challenger.predictors.values())).window
    walk = np.exp(np.cumsum(rng.normal(0, 0.01, (8, window, len(live.features.columns))), axis=1))
    bars = rng.uniform(50, 150, (8, 1, 1)) * walk
    if live.features.columns == ("open", "high", "low", "close"):  # valid bars: sorted, the largest the high
        bars = np.sort(bars, axis=2)[:, :, [1, 3, 0, 2]]
    for key, p in challenger.predictors.items():
        got, want = p.predict(bars), reference.predictors[key].predict(bars)
        if not np.allclose(got, want, rtol=1e-4):
            raise DataError(f"{run}: {key}'s ONNX file does not answer what its Keras file answers")
    return challenger


def promote(run: Path, set_dir: Path, data: list[Path], margin: float, force: bool, command: str) -> dict[str, Any]:
    versions = versions_of(set_dir)
    if not versions:
        raise DataError(f"{set_dir}: no version to compare with")
    live_version = max(read_policy(set_dir).keep(list(versions)) or versions)
    live = load_set(versions[live_version])
    challenger = _check_run(run, live)
    ends = [read_set_manifest(d).card_facts()["training_dates"][1] for d in (run, versions[live_version])]
    after = max(ends)
    scores = {"live": score(live, data, after), "challenger": score(challenger, data, after)}
    change = {
        h: scores["challenger"]["median_rmse_ratio"][h] / scores["live"]["median_rmse_ratio"][h] - 1
        for h in scores["live"]["median_rmse_ratio"]
    }
    passed = all(c <= margin for c in change.values())
    record = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "run": str(run),
        "live_version": live_version,
        "period_after": str(after),
        "margin": margin,
        "scores": scores,
        "change": change,
        "decision": "promoted" if passed else ("forced" if force else "refused"),
    }
    if passed or force:
        versions = _numbered(set_dir)  # a flat set becomes version 1/ only now, with a version to add beside it
        new = record["version"] = max(versions) + 1
        staging = set_dir / f".{new}.incoming"
        shutil.copytree(run, staging)
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        staging.rename(set_dir / str(new))
        (set_dir / "versions.json").unlink(missing_ok=True)  # a rollback's pin ends with a promotion
    else:
        (set_dir / f"refused-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def rollback(set_dir: Path) -> int:
    """Pin the version before the current one (the highest kept); returns it."""
    versions = sorted(versions_of(set_dir))
    kept = read_policy(set_dir).keep(versions)
    if not kept:
        raise DataError(f"{set_dir}: no version is served")
    older = [v for v in versions if v < kept[0]]
    if not older:
        raise DataError(f"{set_dir}: version {kept[0]} is the oldest; there is nothing to roll back to")
    staging = set_dir / ".versions.json.incoming"
    staging.write_text(json.dumps({"policy": "specific", "versions": [older[-1]]}) + "\n", encoding="utf-8")
    staging.rename(set_dir / "versions.json")
    return older[-1]


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="forecast-promote", description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, nargs="?", help="the trained run directory to promote")
    p.add_argument("--repository", type=Path, default=Path("artifacts"), help="the model repository")
    p.add_argument("--set", required=True, help="the set's directory name in the repository (e.g. ohlc)")
    p.add_argument("--data", action="append", default=[], help="CSV file, directory or glob (repeatable)")
    p.add_argument("--margin", type=float, default=0.01, help="how much worse (relative) the run may score")
    p.add_argument("--force", action="store_true", help="add the run as the next version even if refused")
    p.add_argument("--rollback", action="store_true", help="make the version before the current one current")
    args = p.parse_args(argv)
    set_dir = args.repository / args.set
    try:
        if not set_dir.is_dir():
            raise DataError(f"{set_dir}: no such set in the repository")
        if args.rollback:
            log.info("%s: version %d is current again", args.set, rollback(set_dir))
            return 0
        if args.run is None or not args.data:
            p.error("give the run directory and --data (or --rollback)")
        command = " ".join(["forecast-promote", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
        record = promote(args.run, set_dir, resolve_inputs(args.data), args.margin, args.force, command)
    except DataError as exc:
        log.error("%s", exc)
        return 2
    change = ", ".join(f"h{h} {100 * c:+.1f} %" for h, c in record["change"].items())
    log.info("%s against version %d (%s): %s", args.run, record["live_version"], change, record["decision"])
    return 0 if record["decision"] != "refused" else 1


if __name__ == "__main__":
    raise SystemExit(main())
