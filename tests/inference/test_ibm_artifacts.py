"""The committed IBM set (``artifacts/ibm-high``) reproduces the metrics its manifest and evaluation.json
record, recomputed from the IBM CSV in ``../shared/data`` with the committed ONNX files (no training).

Skipped on a clone without ``../shared/data``. Seconds: one pass over the 251 test days per model.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from forecast_core.checksums import sha256_file
from forecast_core.loader import load_set
from tests.conftest import COMMITTED_ARTIFACTS, SHARED_DATA

IBM = SHARED_DATA / "IBM.csv"
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not IBM.is_file(), reason="../shared/data is absent"),
    pytest.mark.skipif(not (COMMITTED_ARTIFACTS / "manifest.json").is_file(), reason="artifacts/ibm-high is absent"),
]


def committed(file: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((COMMITTED_ARTIFACTS / file).read_text(encoding="utf-8"))
    return data


def assert_close(got: Any, want: Any, where: str = "") -> None:
    """Same keys and numbers at every depth (relative 1e-6: float32 model outputs, float64 arithmetic)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        assert set(got) == set(want), (where, sorted(got), sorted(want))
        for key in want:
            assert_close(got[key], want[key], f"{where}.{key}")
    else:
        assert got == pytest.approx(want, rel=1e-6), where


def test_the_committed_ibm_models_reproduce_their_recorded_test_metrics() -> None:
    """Next-day RMSE, MAE, MAPE and MASE of lstm, gru and the ensemble over the test period, computed here
    from the CSV and the ONNX files, equal the manifest's."""
    from training.data import load_prices

    manifest = committed("manifest.json")
    assert sha256_file(IBM) == manifest["data"]["sha256"], f"{IBM} is not the file the set was scored on"
    series = load_prices(IBM, manifest["target_column"])
    dates = [str(d.date()) for d in series.dates]
    start = dates.index(manifest["split"]["test_start"])
    window = manifest["window"]
    values = np.asarray(series.values, dtype=np.float64)
    actual = values[start:]
    assert len(actual) == manifest["split"]["test_rows"]
    windows = np.stack([values[t - window : t] for t in range(start, len(values))])
    scale = float(np.mean(np.abs(np.diff(values[:start]))))  # in-sample one-step persistence MAE
    loaded = load_set(COMMITTED_ARTIFACTS, backend="onnx")
    assert loaded.errors == {}
    recorded = {name: entry["test_metrics"] for name, entry in manifest["models"].items()}
    recorded["ensemble"] = manifest["ensemble"]["test_metrics"]
    for name, metrics in recorded.items():
        error = loaded.predictors[name].predict(windows) - actual
        mae = float(np.mean(np.abs(error)))
        got = {
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": mae,
            "mape": float(np.mean(np.abs(error) / actual) * 100),
            "mase": mae / scale,
        }
        assert_close(got, metrics, name)


def test_the_committed_ibm_evaluation_is_reproduced_whole() -> None:
    """Every figure of evaluation.json's test and validation sections (baselines, sequences, rolling
    horizons included), recomputed by the training's own evaluation on the served ONNX models."""
    from training.data import load_prices
    from training.evaluate import evaluate

    manifest, recorded = committed("manifest.json"), committed("evaluation.json")
    series = load_prices(IBM, manifest["target_column"])
    n_train, validation_days = manifest["split"]["train_rows"], manifest["split"]["validation_days"]
    loaded = load_set(COMMITTED_ARTIFACTS, backend="onnx")
    for section, values, start in (
        ("test", series.values, n_train),
        ("validation", series.values[:n_train], n_train - validation_days),
    ):
        result = evaluate(values, start, loaded.predictors, manifest["window"])
        assert_close({k: v for k, v in result.items() if not k.startswith("_")}, recorded[section], section)
