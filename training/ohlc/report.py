"""``python -m training.ohlc.report``: ``report.md`` of an OHLC set, with the other seeds beside it.

Usage::

    python -m training.ohlc.report --set artifacts/ohlc --runs runs/ohlc-s2 runs/ohlc-s3 --sweep runs/ohlc-sweep-*

Reads ``manifest.json``, ``evaluation.json`` and ``intervals.json`` of the set and ``evaluation.json``
of each run (same recipe, other seeds); every figure is a mean ± std over the set and the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from training.ohlc.report_tables import coverage_section, data_section, sweep_section, targets_section

NETS = ("lstm", "gru", "ensemble")
BASELINES = ("ridge", "persistence")


def spread(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def _group_rows(evals: list[dict[str, Any]], group: str) -> list[str]:
    rows = [
        "| model | next-day ratio, median | worst ticker | recursive h=5, median | h=20, median | runs |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in (*NETS, *BASELINES):
        s = [e["summary"]["test"][group][m] for e in evals]
        rows.append(
            f"| {m} | {spread([x['median']['1'] for x in s])} | {spread([x['max']['1'] for x in s])} | "
            f"{spread([x['median']['5'] for x in s])} | {spread([x['median']['20'] for x in s])} | {len(s)} |"
        )
    return rows


def _ticker_rows(evals: list[dict[str, Any]]) -> list[str]:
    head = (
        "| ticker | group | "
        + " | ".join(f"{m} h=1" for m in (*NETS, "ridge"))
        + " | ensemble h=5 | ensemble h=20 | ridge h=5 | ridge h=20 | persistence RMSE |"
    )
    rows = [head, "|" + " --- |" * 11]
    first = evals[0]["test"]
    order = sorted(first, key=lambda t: (first[t]["group"] != "held_out", t))
    for t in order:
        cells = [t, first[t]["group"].replace("_", "-")]
        for m in (*NETS, "ridge"):
            cells.append(spread([e["test"][t]["models"][m]["ratio"]["1"] for e in evals]))
        for m, h in (("ensemble", "5"), ("ensemble", "20"), ("ridge", "5"), ("ridge", "20")):
            cells.append(spread([e["test"][t]["models"][m]["ratio"][h] for e in evals]))
        cells.append(f"{first[t]['persistence']['rmse']:.3f}")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _best_ms(fn: Callable[[], object], repeats: int = 7) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times) * 1e3


def speed_section(directory: Path, rounds: int = 7) -> list[str]:
    """The 251-step ensemble forecast, in process, beside the univariate set's, interleaved on the same machine."""
    from forecast_core.loader import load_set

    ensemble = load_set(directory).predictors["ensemble"]
    rng = np.random.default_rng(0)
    close = 150 * np.exp(np.cumsum(rng.normal(0, 0.01, ensemble.window)))
    window = np.stack([close, close * 1.01, close * 0.99, close], axis=1)[None]
    univariate = directory.parent / "ibm-high"
    uni = None
    if (univariate / "manifest.json").is_file():
        from forecast_core.loader import load_set

        uni = load_set(univariate).predictors["ensemble"]
    ohlc_ms, uni_ms = [], []
    # Interleaved rounds, so both see the same background load; the shared machine is rarely quiet.
    for _ in range(rounds):
        ohlc_ms.append(_best_ms(lambda: ensemble.forecast_many(window, 251), repeats=5))
        if uni is not None:
            uni_ms.append(_best_ms(lambda: uni.forecast_many(np.linspace(140, 150, uni.window)[None], 251), repeats=5))
    lines = [
        "## Speed",
        "",
        f"251-step recursive forecast of `ensemble` (both members at every step, onnxruntime, 1 thread), in process, "
        f"best of 5 in each of {rounds} rounds: **{min(ohlc_ms):.1f} ms** at best, median round "
        f"{np.median(ohlc_ms):.1f} ms "
        f"(target ≤ 20 ms; load average {os.getloadavg()[0]:.1f} on the shared 2-core machine when measured).",
    ]
    if uni_ms:
        ratios = np.asarray(ohlc_ms) / np.asarray(uni_ms)
        lines.append(
            f"The univariate IBM ensemble (1×16 LSTM + GRU on 60 values), measured in the same rounds, takes "
            f"{min(uni_ms):.1f} ms at best; the OHLC forecast costs {np.median(ratios):.1f}× it (rounds: "
            f"{ratios.min():.1f}-{ratios.max():.1f}×). BENCHMARKS.md measured the univariate 251-step forecast at "
            f"5.2 ms over HTTP on a quiet machine; at the median ratio the OHLC one would take about "
            f"{5.2 * float(np.median(ratios)):.0f} ms there (an estimate, not a measurement: the machine was never "
            "quiet while this set was made)."
        )
    return lines


def average_section(directory: Path, runs: list[Path], data: Path | None, evals: list[dict[str, Any]]) -> list[str]:
    from training.ohlc.seed_average import seed_average

    if data is None or not runs:
        return []
    result = seed_average([directory, *runs], data)
    if result is None:
        return ["## Averaging seeds", "", f"Not measured: {data} does not hold the files the set was scored on."]
    rows = [
        "## Averaging seeds (not served)",
        "",
        f"The mean of all {result['members']} networks of the {len(runs) + 1} seeds (log-ratio outputs averaged at "
        "every step), scored the same way; it shows how much of the margin over ridge survives when seed noise is "
        "averaged out.",
        "",
        "| group | next-day median | worst ticker | ridge median | ridge − average | h=5 median | h=20 median |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for group, g in result["groups"].items():
        ridge = evals[0]["summary"]["test"][group]["ridge"]["median"]["1"]
        rows.append(
            f"| {group.replace('_', '-')} | {g['median']['1']:.4f} | {g['max']['1']:.4f} | {ridge:.4f} | "
            f"{ridge - g['median']['1']:.4f} | {g['median']['5']:.4f} | {g['median']['20']:.4f} |"
        )
    return rows


def write_report(
    directory: Path, runs: list[Path], sweep: list[Path], choice: str = "", data: Path | None = None
) -> Path:
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    evals = [json.loads((d / "evaluation.json").read_text(encoding="utf-8")) for d in (directory, *runs)]
    intervals = json.loads((directory / "intervals.json").read_text(encoding="utf-8"))
    seeds = [e["seed"] for e in evals]
    lines = [
        f"# OHLC set `{manifest['name']}`: global LSTM/GRU on 60-day OHLC windows",
        "",
        f"Made by `{manifest['command']}` (commit {manifest['git_commit'] or 'unknown'}, {manifest['created_at']});"
        f" seeds {', '.join(map(str, seeds))} (the committed models are seed {seeds[0]}; the others are the same"
        " recipe retrained, `scripts/reproduce-artifacts.sh`). Report: `python -m training.ohlc.report`.",
        "",
        "All ratios: RMSE of the next-day (or h-day-ahead) **High** over the naive forecast's on the same points "
        "(h = 1: yesterday's High; h > 1: the last known High), 2017, lower is better. Figures with ± are the mean "
        "± standard deviation over the seeds. Ridge and persistence do not depend on the seed.",
        "",
        *targets_section(evals, manifest, intervals),
        "",
        "Baselines on the same windows: **ridge** (scikit-learn, the last 5 days of Open/High/Low/Close as log ratios "
        "to the last Close, predicting the whole next bar, so it recurses like the networks; one model for all "
        "training tickers, alpha chosen on validation) and **persistence** (the last bar again; at h > 1 the last "
        "High). Not run: the univariate statsforecast AutoARIMA/AutoETS (not installed in this environment and no "
        "CPU time left on the shared 2-core machine; the issue measured them at 0.996-1.000, i.e. persistence) and "
        "drift.",
        "",
        "## Per group (test, 2017)",
        "",
        "### Held-out tickers (never trained or tuned on): " + ", ".join(manifest["held_out"]),
        "",
        *_group_rows(evals, "held_out"),
        "",
        "### Trained tickers (their 2017 was never seen either)",
        "",
        *_group_rows(evals, "trained"),
        "",
        "## Per ticker (test, 2017): High RMSE ratio",
        "",
        *_ticker_rows(evals),
        "",
        *average_section(directory, runs, data, evals),
        "",
        *coverage_section(intervals, manifest),
        "",
        *data_section(manifest, evals),
        "",
        *sweep_section(sweep, evals),
        "",
        *([choice, ""] if choice else []),
        *speed_section(directory),
        "",
    ]
    path = directory / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.ohlc.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=Path("artifacts/ohlc"))
    parser.add_argument("--runs", type=Path, nargs="*", default=[])
    parser.add_argument("--sweep", type=Path, nargs="*", default=[])
    parser.add_argument("--choice", default="", help="a paragraph on which recipe the sweep chose and why")
    parser.add_argument("--data", type=Path, help="the data directory, for the seed-averaged figures")
    args = parser.parse_args(argv)
    print(write_report(args.set, args.runs, args.sweep, args.choice, args.data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
