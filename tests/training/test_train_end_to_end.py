"""A tiny real training run writes artifacts that the shared loader serves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from forecast_core.loader import load_set
from forecast_core.manifest import read_manifest
from tests.conftest import TINY_WINDOW, synthetic_prices, train_tiny
from training.train import main


def test_tiny_run_writes_loadable_artifacts(tiny_artifacts: Path) -> None:
    names = {p.name for p in tiny_artifacts.iterdir()}
    assert {
        "manifest.json",
        "scaler.json",
        "lstm.keras",
        "gru.keras",
        "lstm.onnx",
        "gru.onnx",
        "report.md",
        "evaluation.json",
    } <= names
    manifest = read_manifest(tiny_artifacts)
    assert manifest.window == TINY_WINDOW
    assert manifest.target_column == "High"
    assert manifest.data.name == "SYN.csv"
    assert len(manifest.data.sha256) == 64
    for entry in manifest.models.values():
        assert entry.onnx_max_rel_error <= 1e-5
        assert entry.test_metrics is not None
        assert entry.test_metrics.rmse > 0
    loaded = load_set(tiny_artifacts)
    assert not loaded.errors
    assert set(loaded.predictors) == {"lstm", "gru", "ensemble"}
    window = synthetic_prices()["High"].to_numpy()[-TINY_WINDOW:]
    assert np.isfinite(loaded.predictors["ensemble"].forecast(window, 5)).all()


def test_manifest_metrics_match_a_fresh_evaluation(tiny_artifacts: Path, synthetic_csv: Path) -> None:
    from training.data import load_prices, split_by_date
    from training.evaluate import evaluate

    manifest = read_manifest(tiny_artifacts)
    series = load_prices(synthetic_csv)
    split = split_by_date(series, manifest.split.train_end, manifest.window)
    result = evaluate(series.values, split.n_train, load_set(tiny_artifacts).predictors, manifest.window)
    for name, entry in manifest.models.items():
        assert entry.test_metrics is not None
        assert np.isclose(entry.test_metrics.rmse, result["next_step"][name]["rmse"], rtol=1e-9)
    evaluation = json.loads((tiny_artifacts / "evaluation.json").read_text())
    assert np.isclose(
        evaluation["test"]["next_step"]["persistence"]["rmse"], result["next_step"]["persistence"]["rmse"]
    )


def test_report_shows_baselines(tiny_artifacts: Path) -> None:
    report = (tiny_artifacts / "report.md").read_text()
    for needle in ("| persistence |", "| drift |", "| flat |", "h=20", "| lstm |", "| gru |", "| ensemble |"):
        assert needle in report


def test_cli_refuses_bad_data_with_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    synthetic_prices(30).to_csv(path, index=False)
    assert main(["--data", str(path), "--out", str(tmp_path / "out"), "--epochs", "1"]) == 2
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_same_seed_same_model(synthetic_csv: Path, tmp_path: Path) -> None:
    a = train_tiny(synthetic_csv, tmp_path / "a", "--models", "gru")
    b = train_tiny(synthetic_csv, tmp_path / "b", "--models", "gru")
    assert (a / "gru.onnx").read_bytes() == (b / "gru.onnx").read_bytes()
