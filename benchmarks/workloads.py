"""What the harness sends: the IBM price windows and the HTTP request lists built from them.

Standard library only; requests are (method, path, JSON body) tuples that wrk's Lua script and the
httpx fallback both replay round-robin.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.config import COLUMN, HORIZON, HTTP_MODEL, MODELS, Request


def read_column(path: Path, column: str = COLUMN) -> list[float]:
    """One numeric column of a price CSV, in file order, empty cells skipped."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [float(row[column]) for row in csv.DictReader(fh) if row.get(column, "").strip()]


def sliding_windows(values: Sequence[float], window: int) -> list[list[float]]:
    """Every run of ``window`` consecutive values, oldest first."""
    return [list(values[i : i + window]) for i in range(len(values) - window + 1)]


def spread(items: Sequence[Any], count: int) -> list[Any]:
    """``count`` items taken evenly across ``items`` (all of them when there are fewer)."""
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def predict_requests(windows: Sequence[Sequence[float]], model: str = HTTP_MODEL, count: int = 64) -> list[Request]:
    """``count`` /v1 next-step requests, one window each, spread over the series."""
    return [("POST", f"/v1/models/{model}/predict", json.dumps({"window": w})) for w in spread(windows, count)]


def forecast_requests(
    windows: Sequence[Sequence[float]], model: str = HTTP_MODEL, horizon: int = HORIZON, count: int = 16
) -> list[Request]:
    """``count`` /v1 recursive forecasts of ``horizon`` steps, one origin each."""
    body = [json.dumps({"window": w, "horizon": horizon}) for w in spread(windows, count)]
    return [("POST", f"/v1/models/{model}/forecast", b) for b in body]


def infer_requests(windows: Sequence[Sequence[float]], model: str = HTTP_MODEL, count: int = 64) -> list[Request]:
    """``count`` /v2 (Open Inference Protocol) infer requests, one window each as a [1, window] FP32 tensor."""
    return [
        (
            "POST",
            f"/v2/models/{model}/infer",
            json.dumps({"inputs": [{"name": "window", "datatype": "FP32", "shape": [1, len(w)], "data": list(w)}]}),
        )
        for w in spread(windows, count)
    ]


HEALTHZ: list[Request] = [("GET", "/healthz", None)]


def soak_mix(windows: Sequence[Sequence[float]]) -> list[Request]:
    """The memory soak's mix: next-step on each model, a batch of 64, a 251-step forecast."""
    reqs: list[Request] = []
    ws = spread(windows, 48)
    for i, w in enumerate(ws):
        reqs.append(("POST", f"/v1/models/{MODELS[i % 3]}/predict", json.dumps({"window": w})))
    reqs.append(("POST", "/v1/models/lstm/predict", json.dumps({"windows": spread(windows, 64)})))
    reqs.append(("POST", "/v1/models/ensemble/forecast", json.dumps({"window": ws[0], "horizon": HORIZON})))
    return reqs


SOAK_MIX_TEXT = (
    "48 single-window next-step calls spread over lstm, gru and ensemble, one 64-window batch and one "
    "251-step ensemble forecast per 50 requests"
)
