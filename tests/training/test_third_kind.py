"""A third kind of model set, added by this module alone: daily Close and Volume.

The module registers a feature set of its own, trains a tiny LSTM and GRU on it with the one builder
and fit, exports them with the one ONNX exporter, writes a format-3 manifest naming the feature set,
and serves the set over /v1 and /v2, with and without micro-batching. Nothing in the dataplane, the
protocol packages or the core's existing feature sets knows about it: that is the point.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecast_core.checksums import sha256_file
from forecast_core.errors import ArtifactError
from forecast_core.features import FeatureSet, Scale, register
from forecast_core.loader import LoadedSet, load_set
from forecast_core.manifest import FileRef
from forecast_core.manifest_v3 import EnsembleEntryV3, Features, ManifestV3, NetworkEntryV3
from forecast_core.windowing import make_windows
from service.core.config import Settings
from service.main import create_app
from tests.conftest import synthetic_prices
from tests.service.conftest import running_client

pytestmark = pytest.mark.slow
WINDOW = 20
COLUMNS = ("close", "volume")


@register("close-volume-test")
class CloseVolume(FeatureSet):
    """Close as percent log ratios to the last Close; Volume as log ratios to the window's mean volume."""

    columns = COLUMNS
    csv_columns = ("Close", "Volume")
    network_features = 2

    def encode(self, windows: np.ndarray) -> tuple[np.ndarray, Any]:
        last_close, mean_volume = windows[:, -1, 0], windows[:, :, 1].mean(axis=1)
        x = np.stack(
            [100 * np.log(windows[:, :, 0] / last_close[:, None]), np.log(windows[:, :, 1] / mean_volume[:, None])],
            axis=2,
        )
        return x.astype(np.float32), (last_close, mean_volume)

    def decode(self, raw: np.ndarray, context: Any) -> np.ndarray:
        last_close, mean_volume = context
        r = np.asarray(raw, dtype=np.float64)
        return np.stack([last_close * np.exp(r[:, 0] / 100), mean_volume * np.exp(r[:, 1])], axis=1)

    def targets(self, windows: np.ndarray, next_rows: np.ndarray) -> np.ndarray:
        _, (last_close, mean_volume) = self.encode(windows)
        rows = np.asarray(next_rows, dtype=np.float64)
        return np.stack([100 * np.log(rows[:, 0] / last_close), np.log(rows[:, 1] / mean_volume)], axis=1).astype(
            np.float32
        )

    def unit(self, windows: np.ndarray, scale: Scale, floor: float) -> np.ndarray:
        return np.asarray(windows[:, -1, 0], dtype=np.float64)


def _train_set(directory: Path) -> None:
    """Tiny networks on a synthetic ticker's Close and Volume, exported and described by a format-3 manifest."""
    from training.models import Network, fit_model
    from training.onnx_export import export_onnx

    prices = synthetic_prices(n=400)
    rows = prices[list(CloseVolume.csv_columns)].to_numpy(dtype=np.float64)
    features = CloseVolume()
    windows, following = make_windows(rows[:300], WINDOW)
    x, _ = features.encode(windows)
    y = features.targets(windows, following)
    directory.mkdir(parents=True)
    entries: dict[str, NetworkEntryV3] = {}
    for kind in ("lstm", "gru"):
        net = Network(kind, WINDOW, len(COLUMNS), (4,), 0.0, "zero", "adam", 1e-3)  # type: ignore[arg-type]
        model, _ = fit_model(net, x, y, None, epochs=1, batch_size=64, patience=0, seed=1, verbose=0)
        keras_path, onnx_path = directory / f"{kind}.keras", directory / f"{kind}.onnx"
        model.save(keras_path)
        error = export_onnx(model, onnx_path, WINDOW)
        entries[kind] = NetworkEntryV3(
            name=kind, kind=kind, version=f"cv-{sha256_file(onnx_path)[:8]}", recipe="tiny",
            keras=FileRef(file=keras_path.name, sha256=sha256_file(keras_path)),
            onnx=FileRef(file=onnx_path.name, sha256=sha256_file(onnx_path)),
            parameters=int(model.count_params()), hyperparameters={"units": [4]}, onnx_max_rel_error=error,
        )  # fmt: skip
    dates = prices["Date"]
    ManifestV3(
        format_version=3, kind="close-volume", name="cv", created_at=datetime.now(UTC).replace(microsecond=0),
        git_commit=None, command="tests/training/test_third_kind.py", window=WINDOW,
        features=Features(name=CloseVolume.name, columns=list(COLUMNS)), target_column="Close,Volume",
        training_dates=(dates.iloc[0], dates.iloc[299]), models=entries,
        ensemble=EnsembleEntryV3(members=["lstm", "gru"]),
    ).save(directory)  # fmt: skip


@pytest.fixture(scope="module")
def third_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("third") / "close-volume"
    _train_set(directory)
    return directory


@pytest.fixture(scope="module")
def loaded(third_set: Path) -> LoadedSet:
    return load_set(third_set)


@pytest.fixture(scope="module", params=[False, True], ids=["unbatched", "batched"])
def served(third_set: Path, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    with running_client(artifacts_dir=third_set, batching=request.param) as client:
        yield client


def _windows(n: int, seed: int) -> np.ndarray:
    """Windows of the same ticker after its training period (rows 300..399)."""
    rows = synthetic_prices(n=400)[list(CloseVolume.csv_columns)].to_numpy(dtype=np.float64)
    starts = np.random.default_rng(seed).integers(300, 400 - WINDOW, n)
    return np.stack([rows[s : s + WINDOW] for s in starts])


def test_the_core_loads_a_set_of_a_feature_set_it_has_never_seen(loaded: LoadedSet) -> None:
    assert loaded.errors == {}
    assert set(loaded.predictors) == {"lstm", "gru", "ensemble"}
    assert loaded.features.columns == COLUMNS
    window = _windows(3, seed=1)
    step = loaded.predictors["ensemble"].predict(window)
    assert step.shape == (3, 2)
    assert np.all(np.isfinite(step))
    assert np.all(step > 0)
    path = loaded.predictors["gru"].forecast_many(window, 7)
    assert path.shape == (3, 7, 2)
    # The generic recursion feeds each decoded row back: its first step is the next-step prediction.
    np.testing.assert_allclose(path[:, 0], loaded.predictors["gru"].predict(window), rtol=1e-9)


def test_the_third_kind_is_described_and_served_over_v1(served: TestClient, loaded: LoadedSet) -> None:
    assert served.get("/readyz").json()["models"] == {"cv-lstm": "ready", "cv-gru": "ready", "cv-ensemble": "ready"}
    info = next(m for m in served.get("/v1/models").json()["models"] if m["name"] == "cv-ensemble")
    assert (info["kind"], info["inputs"], info["outputs"], info["window"]) == (
        "close-volume",
        list(COLUMNS),
        list(COLUMNS),
        WINDOW,
    )
    assert info["members"] == ["cv-lstm", "cv-gru"]
    windows = _windows(2, seed=2)
    body = {"windows": [{c: w[:, i].tolist() for i, c in enumerate(COLUMNS)} for w in windows]}
    response = served.post("/v1/models/cv-ensemble/predict", json=body)
    assert response.status_code == 200, response.text
    got = np.array([[p[c] for c in COLUMNS] for p in response.json()["predictions"]])
    np.testing.assert_allclose(got, loaded.predictors["ensemble"].predict(windows), rtol=1e-9)
    one = {c: windows[0][:, i].tolist() for i, c in enumerate(COLUMNS)}
    forecast = served.post("/v1/models/cv-lstm/forecast", json={"window": one, "horizon": 5}).json()
    got = np.array([[p[c] for c in COLUMNS] for p in forecast["forecast"]])
    np.testing.assert_allclose(got, loaded.predictors["lstm"].forecast(windows[0], 5), rtol=1e-9)
    # Its columns are checked like any model's: an OHLC column is not one of them.
    wrong = served.post("/v1/models/cv-gru/predict", json={"window": {**one, "open": one["close"]}})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["details"][0]["field"] == "window.open"


def test_the_third_kind_is_served_over_v2(served: TestClient, loaded: LoadedSet) -> None:
    meta = served.get("/v2/models/cv-gru").json()
    assert meta["inputs"][0]["shape"] == [-1, WINDOW, 2]
    assert meta["parameters"]["input_columns"] == list(COLUMNS)
    windows = _windows(4, seed=3).astype(np.float32)
    tensor = {"name": "window", "datatype": "FP32", "shape": list(windows.shape), "data": windows.ravel().tolist()}
    response = served.post("/v2/models/cv-gru/infer", json={"inputs": [tensor]})
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["shape"] == [4, 2]
    want = loaded.predictors["gru"].predict(windows.astype(np.float64))
    np.testing.assert_allclose(np.reshape(output["data"], (4, 2)), want, rtol=1e-5)


def test_a_manifest_naming_an_unregistered_feature_set_is_refused_with_its_name(
    third_set: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "unknown"
    shutil.copytree(third_set, copy)
    text = (copy / "manifest.json").read_text().replace(CloseVolume.name, "no-such-features")
    (copy / "manifest.json").write_text(text)
    with pytest.raises(ArtifactError, match="unknown feature set 'no-such-features'"):
        load_set(copy)
    with TestClient(create_app(Settings(artifacts_dir=copy))) as client:
        give_up = time.monotonic() + 60
        while (ready := client.get("/readyz").json())["status"] == "loading" and time.monotonic() < give_up:
            time.sleep(0.02)
    assert ready["status"] == "failed", ready
    assert "no-such-features" in ready["reason"]
