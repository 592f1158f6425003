"""The sections of the OHLC report: targets, intervals, data and split, recipe sweep, training times."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from training.ohlc.data import IMPLAUSIBLE_RULE

NETS = ("lstm", "gru", "ensemble")
COVERAGE_TOLERANCE = {80: 5.0, 95: 3.0}


def _mean(evals: list[dict[str, Any]], model: str, key: str, h: str, group: str = "held_out") -> float:
    return float(np.mean([e["summary"]["test"][group][model][key][h] for e in evals]))


def _verdict(ok: bool, by: float) -> str:
    return "**met**" if ok else f"**missed** by {abs(by):.3f}"


def targets_section(evals: list[dict[str, Any]], manifest: dict[str, Any], intervals: dict[str, Any]) -> list[str]:
    ridge = _mean(evals, "ridge", "median", "1")
    rows = [
        "## Against the issue's targets (held-out tickers, 2017; judged on the mean over seeds, intervals on the "
        "committed seed)",
        "",
        "| target | model | value (seed mean) | committed seed | verdict |",
        "| --- | --- | ---: | ---: | --- |",
    ]

    def row(target: str, model: str, values: list[float], limit: float, below: bool = True) -> None:
        mean = float(np.mean(values))
        ok = mean <= limit if below else mean >= limit
        rows.append(f"| {target} | {model} | {mean:.4f} | {values[0]:.4f} | {_verdict(ok, mean - limit)} |")

    for m in NETS:
        vals = [e["summary"]["test"]["held_out"][m]["median"]["1"] for e in evals]
        row("next-day median ≤ 0.85", m, vals, 0.85)
    for m in NETS:
        vals = [e["summary"]["test"]["held_out"][m]["max"]["1"] for e in evals]
        row("every ticker ≤ 0.95 (worst shown)", m, vals, 0.95)
    for m in NETS:
        vals = [e["summary"]["test"]["held_out"][m]["median"]["1"] for e in evals]
        row(f"≤ ridge median ({ridge:.4f})", m, vals, ridge)
    gaps = [
        e["summary"]["test"]["held_out"]["ridge"]["median"]["1"]
        - e["summary"]["test"]["held_out"]["ensemble"]["median"]["1"]
        for e in evals
    ]
    row("ensemble ≥ 0.005 below ridge (ridge − ensemble shown)", "ensemble", gaps, 0.005, below=False)
    for h in ("5", "20"):
        for m in NETS:
            vals = [e["summary"]["test"]["held_out"][m]["median"][h] for e in evals]
            row(f"recursive h={h} median ≤ 1.00", m, vals, 1.0)
    for m in NETS:
        cov = {
            (c["level"], c["horizon"]): c
            for c in intervals["coverage"].get(m, [])
            if c["group"] == "held_out" and c["column"] == "high"
        }
        for level, tol in COVERAGE_TOLERANCE.items():
            for step in (1, 5, 20):
                got = cov[(level, step)]["coverage"]
                off = got - level
                verdict = "**met**" if abs(off) <= tol else f"**missed** by {abs(off) - tol:.2f} points"
                rows.append(
                    f"| High {level} % interval covers {level} ± {tol:g} at h={step} | {m} | {got:.1f} % | "
                    f"{got:.1f} % | {verdict} |"
                )
    rows += [
        "",
        f"For scale: ridge, the linear model on the same inputs, scores a median of {ridge:.4f} on these held-out "
        f"tickers, so the 0.85 bar (set where the issue's ridge scored 0.848 on its own six held-out tickers) lies "
        f"{ridge - 0.85:.3f} below the linear baseline here; the networks' margin over ridge is the comparable figure.",
    ]
    return rows


def coverage_section(intervals: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    rows = [
        "## Prediction intervals (committed seed)",
        "",
        f"{intervals['method']}. Calibrated on {intervals['calibration_start']} .. {intervals['calibration_end']} "
        f"(the validation part of each training ticker, {intervals['calibration_points']} origins pooled), volatility "
        f"floor {intervals['volatility_floor']:.5f}. Coverage of the 2017 actual values, in %, and the mean width "
        "relative to the price:",
        "",
        "| model | group | column | h | 80 % coverage | 80 % width | 95 % coverage | 95 % width | points |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m, items in intervals["coverage"].items():
        by = {(c["group"], c["column"], c["horizon"], c["level"]): c for c in items}
        for group in ("held_out", "trained"):
            for column in ("open", "high", "low", "close"):
                for h in (1, 5, 20):
                    a, b = by.get((group, column, h, 80)), by.get((group, column, h, 95))
                    if a is None or b is None:
                        continue
                    if m != "ensemble" and column != "high":
                        continue  # every column for the ensemble, the High for each member
                    rows.append(
                        f"| {m} | {group.replace('_', '-')} | {column} | {h} | {a['coverage']:.1f} | "
                        f"{100 * a['mean_relative_width']:.2f} % | {b['coverage']:.1f} | "
                        f"{100 * b['mean_relative_width']:.2f} % | {a['points']} |"
                    )
    return rows


def data_section(manifest: dict[str, Any], evals: list[dict[str, Any]]) -> list[str]:
    split = manifest["split"]
    rows = [
        "## Data, split and repairs",
        "",
        f"Train: targets up to {split['train_end']} minus the validation part; validation: the last "
        f"{split['validation_days']} trading days up to {split['train_end']} of each training file (early stopping, "
        f"ridge's alpha, every recipe choice, interval calibration); test: {split['test_start']} .. "
        f"{split['test_end']}. {split['train_windows']} training and {split['validation_windows']} validation "
        f"windows of {manifest['window']} "
        f"days. Held out completely: {', '.join(manifest['held_out'])}, chosen by rule: {split['held_out_rule']}.",
        "",
        f"Implausible-bar rule: {IMPLAUSIBLE_RULE}. Empty cells: Close and Open from the previous Close, High and Low "
        "from max/min(Open, Close). Bars with Open or Close outside [Low, High] are kept and counted.",
        "",
        "| file | group | rows | dates | empty cells filled | repaired bars | Open/Close outside [Low, High] |",
        "| --- | --- | ---: | --- | --- | --- | ---: |",
    ]
    for s in manifest["sources"]:
        gaps = ", ".join(f"{k} {v}" for k, v in s["gaps_filled"].items() if v) or "none"
        repairs = "; ".join(f"{r['date']}: {r['action']}" for r in s["repairs"]) or "none"
        group = "held-out" if s["held_out"] else "trained"
        rows.append(
            f"| {s['name']} | {group} | {s['rows']} | {s['first_date']} .. {s['last_date']} | {gaps} | {repairs} | "
            f"{s['open_close_outside_range']} |"
        )
    rows += ["", "## Training", "", "| seed | model | seconds | epochs run | best epoch | best validation loss |"]
    rows.append("| ---: | --- | ---: | ---: | ---: | ---: |")
    for e in evals:
        for m, f in e["fit"].items():
            rows.append(
                f"| {e['seed']} | {m} | {f['train_seconds']} | {f['epochs_run']} | {f['best_epoch']} | "
                f"{f['best_val_loss']:.4f} |"
            )
    hp = {k: v["hyperparameters"] for k, v in manifest["models"].items()}
    rows += ["", "Hyperparameters: " + "; ".join(f"{k}: {json.dumps(v)}" for k, v in hp.items()) + "."]
    rows += [
        f"Ridge: last {evals[0]['ridge']['lags']} days of OHLC in the same units, alpha "
        f"{evals[0]['ridge']['alpha']:g} (chosen on validation)."
    ]
    return rows


def _cell(v: dict[str, Any], model: str, h: str = "1") -> str:
    return f"{v[model]['median'][h]:.4f}" if model in v else "-"


def _recipe(manifest: dict[str, Any], kind: str) -> str:
    if kind not in manifest["models"]:
        return "-"
    hp = manifest["models"][kind]["hyperparameters"]
    return f"{hp['units']} (lr {hp['learning_rate']:g}, patience {hp['patience']}, cap {hp['epochs']})"


def sweep_section(sweep: list[Path], evals: list[dict[str, Any]]) -> list[str]:
    rows = [
        "## How the recipe was chosen (validation only: last 250 training days of the 20 training tickers)",
        "",
        "| run | recipe (lstm / gru) | lstm | gru | ensemble | ridge | ensemble h=5 / h=20 "
        "| train seconds (lstm / gru) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for d in sweep:
        e = json.loads((d / "evaluation.json").read_text(encoding="utf-8"))
        m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        v = e["summary"]["validation"]["trained"]

        units = " / ".join(_recipe(m, k) for k in ("lstm", "gru"))
        secs = " / ".join(str(e["fit"][k]["train_seconds"]) if k in e["fit"] else "-" for k in ("lstm", "gru"))
        rows.append(
            f"| {d.name} | {units} | {_cell(v, 'lstm')} | {_cell(v, 'gru')} | {_cell(v, 'ensemble')} | "
            f"{_cell(v, 'ridge')} | {_cell(v, 'ensemble', '5')} / {_cell(v, 'ensemble', '20')} | {secs} |"
        )
    return rows
