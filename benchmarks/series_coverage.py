"""Coverage of the time-series protocol's intervals in 2017, pooled against per-series calibration.

Usage, from the repository root (needs ../shared/data)::

    .venv/bin/python benchmarks/series_coverage.py            # prints the table
    .venv/bin/python benchmarks/series_coverage.py --every 5 --points 400

The app runs in-process on the committed sets. For every served model, on the tickers the OHLC set held
out of training (CSCO, IBM, MMM, TRV, XOM; the IBM High set on IBM), origins every ``--every`` trading
days of 2017 with 20 known days after them: the history up to the origin (its last ``--points`` rows) is
forecast 20 sessions ahead with quantiles 0.025, 0.1, 0.9, 0.975, once with ``calibration: pooled`` and
once with ``calibration: series``, and the table gives the share of actual Highs inside the 80 % and
95 % intervals at h = 1, 5 and 20 (the issue's targets for series calibration: within 5 and 3 points).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import csv
import time
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from benchmarks.config import REPO
from benchmarks.machine import progress
from benchmarks.stats import render_table
from service.core.config import Settings
from service.main import create_app

DATA = REPO.parent / "shared" / "data"
HELD_OUT = ("CSCO", "IBM", "MMM", "TRV", "XOM")
UNIVARIATE, OHLC = ("lstm", "gru", "ensemble"), ("ohlc-lstm", "ohlc-gru", "ohlc-ensemble")
MODELS = dict.fromkeys(UNIVARIATE, ("IBM",)) | dict.fromkeys(OHLC, HELD_OUT)
STEPS = (1, 5, 20)
LEVELS = {80: ("0.1", "0.9"), 95: ("0.025", "0.975")}
COLUMNS = ("Open", "High", "Low", "Close")
CHUNK = 40  # series a request may ask series calibration for


def bars(ticker: str) -> tuple[list[str], np.ndarray]:
    with (DATA / f"{ticker}.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if all(float(r[c] or 0) > 0 for c in ("Open", "High", "Low", "Close"))]
    return [r["Date"] for r in rows], np.asarray(
        [[float(r[c]) for c in ("Open", "High", "Low", "Close")] for r in rows]
    )


def inputs(x: np.ndarray, origins: list[int], points: int, multivariate: bool) -> list[dict[str, Any]]:
    out = []
    for o in origins:
        history = x[max(0, o - points) : o]
        series = history.tolist() if multivariate else history[:, 1].tolist()
        kind = "multivariate_time_series" if multivariate else "univariate_time_series"
        out.append({"type": kind, "name": str(o), "series": series, "frequency": "D"})
    return out


def hits(client: TestClient, model: str, x: np.ndarray, origins: list[int], points: int, calibration: str) -> dict:
    """(level, h) -> list of 0/1: whether the actual High lay inside the interval."""
    out: dict[tuple[int, int], list[int]] = {(lv, h): [] for lv in LEVELS for h in STEPS}
    multivariate = model.startswith("ohlc")
    for start in range(0, len(origins), CHUNK):
        chunk = origins[start : start + CHUNK]
        options = {"horizon": 20, "quantiles": [0.025, 0.1, 0.9, 0.975], "calibration": calibration}
        body = {"model": model, "inputs": inputs(x, chunk, points, multivariate), "options": options}
        response = client.post("/v1/timeseries/forecast", json=body)
        assert response.status_code == 200, response.text[:300]
        for o, output in zip(chunk, response.json()["outputs"], strict=True):
            content = output["content"][0]
            assert content["calibration"] == calibration, content["calibration"]
            for level, (lo, hi) in LEVELS.items():
                for h in STEPS:
                    low, high = content["quantiles"][lo][h - 1], content["quantiles"][hi][h - 1]
                    low, high = (low[1], high[1]) if multivariate else (low, high)
                    out[(level, h)].append(int(low <= x[o + h - 1, 1] <= high))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=5, help="trading days between origins")
    parser.add_argument("--points", type=int, default=400, help="history rows sent per origin (at least 310)")
    args = parser.parse_args(argv)
    settings = Settings(artifacts_dir=REPO / "artifacts", max_body_bytes=50_000_000, request_timeout_s=600)
    rows = []
    with TestClient(create_app(settings)) as client:
        while client.get("/readyz").status_code != 200:
            time.sleep(0.05)
        for model, tickers in MODELS.items():
            total: dict[str, dict[tuple[int, int], list[int]]] = {"pooled": {}, "series": {}}
            for ticker in tickers:
                dates, x = bars(ticker)
                first = next(i for i, d in enumerate(dates) if d >= "2017-01-01")
                origins = list(range(first, len(x) - 20 + 1, args.every))
                progress(f"{model} {ticker}: {len(origins)} origins")
                for calibration in total:
                    for key, values in hits(client, model, x, origins, args.points, calibration).items():
                        total[calibration].setdefault(key, []).extend(values)
            n = len(total["pooled"][(80, 1)])
            for level in LEVELS:
                pooled, own = total["pooled"], total["series"]
                cells = [
                    f"{100 * np.mean(pooled[key]):.1f} / {100 * np.mean(own[key]):.1f}"
                    for key in ((level, h) for h in STEPS)
                ]
                rows.append([model, ", ".join(tickers), str(n), f"{level} %", *cells])
    headers = ["model", "tickers", "origins", "level", *(f"h = {h}: pooled / series" for h in STEPS)]
    print(render_table(headers, rows, align="lllr" + "r" * len(STEPS)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
