"""A tiny OHLC training run through the real CLI writes a set that the shared loader serves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from forecast_core.loader import load_set
from forecast_core.manifest import ArtifactError
from forecast_core.manifest_v2 import read_ohlc_manifest
from tests.conftest import flip_bytes
from tests.training.test_ohlc_data import ohlc_frame
from training.train import main

WINDOW = 10


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = tmp_path_factory.mktemp("ohlc-data")
    for k, ticker in enumerate(("AAA", "BBB", "CCC", "DDD")):
        frame = ohlc_frame(420, seed=k, start="2015-01-01")
        frame["Close"] = (frame["Close"] * (1 + 9 * k)).round(2)  # different price levels, one model
        for col in ("Open", "High", "Low"):
            frame[col] = (frame[col] * (1 + 9 * k)).round(2)
        if ticker == "BBB":
            frame.loc[50, "Low"] = 0.0
        frame.to_csv(data / f"{ticker}.csv", index=False)
    out = tmp_path_factory.mktemp("ohlc-out") / "ohlc"
    args = ["--inputs", "ohlc", "--data", str(data), "--hold-out", "DDD", "--out", str(out), "--window", str(WINDOW)]
    args += ["--train-end", "2016-03-31", "--validation-days", "40", "--epochs", "1", "--lstm-units", "3"]
    args += ["--gru-units", "3", "--verbose", "0"]
    assert main(args) == 0
    return out, data


@pytest.fixture(scope="module")
def tiny_ohlc(tiny_run: tuple[Path, Path]) -> Path:
    return tiny_run[0]


def test_tiny_set_loads_and_predicts_valid_bars(tiny_ohlc: Path) -> None:
    manifest = read_ohlc_manifest(tiny_ohlc)
    assert (manifest.kind, manifest.format_version, manifest.name) == ("ohlc", 2, "ohlc")
    assert manifest.held_out == ["DDD"]
    assert manifest.columns == ["open", "high", "low", "close"]
    bbb = next(s for s in manifest.sources if s.ticker == "BBB")
    assert len(bbb.repairs) == 1
    assert bbb.repairs[0].rule.startswith("Low")
    loaded = load_set(tiny_ohlc)
    assert loaded.errors == {}
    assert set(loaded.predictors) == {"lstm", "gru", "ensemble"}
    assert loaded.intervals is not None
    assert loaded.intervals.max_horizon == 20
    window = np.full((2, WINDOW, 4), 50.0) * np.linspace(1, 1.1, WINDOW)[None, :, None]
    for p in loaded.predictors.values():
        bars = p.predict(window)
        assert bars.shape == (2, 4)
        assert np.all(bars[:, 2] <= bars[:, 1])
        assert p.forecast_many(window, 25).shape == (2, 25, 4)
        lower, upper = loaded.intervals.bounds(p.name, 80, p.forecast_many(window, 25), window, loaded.features)
        assert np.all(lower <= upper)
    ensemble = manifest.ensemble
    assert ensemble is not None
    assert ensemble.test_metrics is not None
    assert ensemble.test_metrics.tickers == ["DDD"]
    evaluation = json.loads((tiny_ohlc / "evaluation.json").read_text())
    assert set(evaluation["summary"]["test"]) == {"trained", "held_out"}
    assert {"ridge", "persistence"} <= set(evaluation["test"]["DDD"]["models"])


def test_tiny_set_reproduces_its_manifest_metrics(tiny_run: tuple[Path, Path]) -> None:
    from tests.inference.test_ohlc_artifacts import check_metrics_reproduce

    check_metrics_reproduce(*tiny_run)


def test_a_broken_model_file_fails_alone(tiny_ohlc: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "set"
    shutil.copytree(tiny_ohlc, copy)
    flip_bytes(copy / "gru.onnx")
    loaded = load_set(copy)
    assert set(loaded.predictors) == {"lstm"}
    assert "checksum" in loaded.errors["gru"]
    assert "gru" in loaded.errors["ensemble"]
    (copy / "manifest.json").write_text('{"kind": "ohlc", "format_version": 1}')
    with pytest.raises(ArtifactError, match="format_version 1"):
        load_set(copy)


def test_resume_reuses_networks_with_the_same_recipe(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    out, data = tiny_run
    copy = tmp_path / "resumed"
    shutil.copytree(out, copy)
    before = read_ohlc_manifest(copy).models["lstm"].keras.sha256
    args = ["--inputs", "ohlc", "--data", str(data), "--hold-out", "DDD", "--out", str(copy), "--window", str(WINDOW)]
    args += ["--train-end", "2016-03-31", "--validation-days", "40", "--epochs", "1", "--lstm-units", "3"]
    args += ["--gru-units", "3", "--verbose", "0", "--resume"]
    assert main(args) == 0
    after = read_ohlc_manifest(copy)
    assert after.models["lstm"].keras.sha256 == before  # the same file, not a retrained one
    assert load_set(copy).errors == {}


def test_forecast_calibrate_and_forecast_report_take_a_bars_set(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    """The same commands as for the IBM set: recalibrating from the set's own files gives back the table
    training wrote (the same backtests), and the report is the bars set's."""
    from training.calibrate import main as calibrate_main
    from training.report import main as report_main

    copy = tmp_path / "set"
    shutil.copytree(tiny_run[0], copy)
    written = json.loads((copy / "intervals.json").read_text())
    (copy / "intervals.json").write_text("{}")  # lost or stale: recalibration must not need it
    assert calibrate_main(["--artifacts", str(copy), "--data", str(tiny_run[1])]) == 0
    again = json.loads((copy / "intervals.json").read_text())
    assert again["quantiles"] == written["quantiles"]
    assert again["coverage"] == written["coverage"]
    assert load_set(copy).errors == {}  # the manifest names the new table's checksum
    assert report_main(["--artifacts", str(copy)]) == 0
    assert (copy / "report.md").read_text().startswith("# OHLC set `ohlc`")
    (tiny_run[1] / "AAA.csv").rename(tmp_path / "AAA.csv")
    try:
        assert calibrate_main(["--artifacts", str(copy), "--data", str(tiny_run[1])]) == 2
    finally:
        (tmp_path / "AAA.csv").rename(tiny_run[1] / "AAA.csv")
