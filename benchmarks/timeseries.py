"""Many series in one time-series call against one /v1 call per series, over HTTP, in one run.

Usage, from the repository root (reads OHLC bars from ../shared/data when it is there, else a random walk)::

    .venv/bin/python benchmarks/timeseries.py                  # 200 series x horizon 5, 5 rounds
    .venv/bin/python benchmarks/timeseries.py --series 200 --horizon 5 --rounds 7

One ``forecast-serve`` (one worker, the committed sets) and one keep-alive httpx client. Each round, turn
about: one ``POST /v1/timeseries/forecast`` with every series (``ohlc-gru``), then the same forecasts as
``POST /v1/models/ohlc-gru/forecast`` calls sent one after another; then one series at horizon 1 over
the time-series endpoint against a ``/v1`` predict of the same window, ``--single`` calls each,
interleaved. The table gives medians over rounds (the issue's targets: the batch at least 10x faster
than the sequential calls; one series within 1.5x of /v1 predict's p50). The answers are checked to
agree (1e-9 relative) before anything is timed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import csv
import statistics
import tempfile
import time
from typing import Any

import httpx
import numpy as np

from benchmarks.config import REPO
from benchmarks.machine import loadavg, machine_info, progress
from benchmarks.server import clean_env, start_server
from benchmarks.stats import fmt_duration, render_table

DATA = REPO.parent / "shared" / "data"
MODEL = "ohlc-gru"
COLUMNS = ("Open", "High", "Low", "Close")
PATH = "/v1/timeseries/forecast"


def histories(count: int, points: int) -> list[list[list[float]]]:
    """``count`` OHLC histories of ``points`` rows: spread over the shared price files, else a random walk."""
    files = sorted(DATA.glob("*.csv")) if DATA.is_dir() else []
    out: list[list[list[float]]] = []
    for i, path in enumerate(files * (count // max(len(files), 1) + 1)):
        if len(out) == count:
            break
        with path.open(newline="", encoding="utf-8") as fh:
            # Rows with every price present and positive (a few files hold zeros), so every series is answered.
            rows = [r for r in csv.DictReader(fh) if all(float(r.get(c) or 0) > 0 for c in COLUMNS)]
        start = (i * 97) % max(1, len(rows) - points)  # a different stretch of a file each time it comes round
        out.append([[float(r[c]) for c in COLUMNS] for r in rows[start : start + points]])
    rng = np.random.default_rng(0)
    while len(out) < count:  # no shared data: a geometric random walk per series
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, points)))
        out.append(np.stack([close * 0.998, close * 1.01, close * 0.99, close], axis=1).round(4).tolist())
    return out


def batch_body(series: list[list[list[float]]], horizon: int) -> dict[str, Any]:
    inputs = [
        {"type": "multivariate_time_series", "name": f"s{i}", "series": s, "frequency": "D"}
        for i, s in enumerate(series)
    ]
    return {"model": MODEL, "inputs": inputs, "options": {"horizon": horizon}}


def v1_body(history: list[list[float]], window: int, horizon: int | None) -> dict[str, Any]:
    last = history[-window:]
    body: dict[str, Any] = {"window": {c.lower(): [row[k] for row in last] for k, c in enumerate(COLUMNS)}}
    return {**body, "horizon": horizon} if horizon else body


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def check_same(client: httpx.Client, series: list[list[list[float]]], horizon: int, window: int) -> None:
    _, batch = post(client, PATH, batch_body(series, horizon))
    for history, output in zip(series, batch["outputs"], strict=True):
        _, single = post(client, f"/v1/models/{MODEL}/forecast", v1_body(history, window, horizon))
        expected = [[bar[c.lower()] for c in COLUMNS] for bar in single["forecast"]]
        np.testing.assert_allclose(output["content"][0]["mean_forecast"], expected, rtol=1e-9)


def run(args: argparse.Namespace) -> dict[str, list[float]]:
    series = histories(args.series, args.points)
    times: dict[str, list[float]] = {"batch": [], "sequential": [], "ts_single": [], "v1_predict": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "serve.log", env=clean_env(), workers=1)
        try:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                window = client.get(f"/v1/models/{MODEL}").json()["window"]
                check_same(client, series, args.horizon, window)
                one = batch_body(series[:1], 1)
                predict = v1_body(series[0], window, None)
                for r in range(args.rounds):
                    progress(f"round {r + 1}/{args.rounds}, load {loadavg()}")
                    times["batch"].append(post(client, PATH, batch_body(series, args.horizon))[0])
                    bodies = [v1_body(h, window, args.horizon) for h in series]
                    started = time.perf_counter()
                    for body in bodies:
                        post(client, f"/v1/models/{MODEL}/forecast", body)
                    times["sequential"].append(time.perf_counter() - started)
                    ts, v1 = [], []
                    for _ in range(args.single):
                        ts.append(post(client, PATH, one)[0])
                        v1.append(post(client, f"/v1/models/{MODEL}/predict", predict)[0])
                    times["ts_single"].append(statistics.median(ts))
                    times["v1_predict"].append(statistics.median(v1))
        finally:
            server.stop()
    return times


def report(args: argparse.Namespace, times: dict[str, list[float]], argv: list[str]) -> str:
    info = machine_info(argv, "benchmarks/timeseries.py")
    med = {k: statistics.median(v) for k, v in times.items()}
    spread = {k: (max(v) - min(v)) / statistics.median(v) for k, v in times.items()}
    n, h = args.series, args.horizon
    rows = [
        [f"{n} series x horizon {h}: one {PATH} call", fmt_duration(med["batch"]), f"{spread['batch']:.0%}"],
        [
            f"the same as {n} /v1 forecast calls, one after another",
            fmt_duration(med["sequential"]),
            f"{spread['sequential']:.0%}",
        ],
        [
            f"one series, horizon 1, {PATH} (p50 of {args.single})",
            fmt_duration(med["ts_single"]),
            f"{spread['ts_single']:.0%}",
        ],
        [
            f"/v1 predict, the same window (p50 of {args.single})",
            fmt_duration(med["v1_predict"]),
            f"{spread['v1_predict']:.0%}",
        ],
    ]
    speedup = med["sequential"] / med["batch"]
    ratio = med["ts_single"] / med["v1_predict"]
    return "\n".join(
        [
            f"`{info['command']}`, {info['date']}, commit {info['commit'][:7]}{' (dirty)' if info['dirty'] else ''}:",
            f"{info['cpu_model']}, {info['cpus']} CPUs, Python {info['python']}, onnxruntime "
            f"{info['versions']['onnxruntime']}; model `{MODEL}`, {args.points}-row histories, {args.rounds} rounds, "
            "one worker, one keep-alive httpx client.",
            "",
            render_table(["figure (median over rounds)", "time", "spread"], rows),
            "",
            f"Batch speed-up: {speedup:.1f}x (target at least 10x); one series against /v1 predict: "
            f"{ratio:.2f}x (target at most 1.5x).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--points", type=int, default=80, help="rows per history (at least the window, 60)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--single", type=int, default=200, help="calls per round for the one-series figures")
    args = parser.parse_args(argv)
    print(report(args, run(args), list(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
