"""The committed ONNX files answer what their Keras files answer, and the exporter's own check catches a
graph that does not.

The service serves the ``.onnx`` files; the ``.keras`` files are the trained networks they were exported
from. Every model of every committed set (``artifacts/ibm-high``, ``artifacts/ohlc``) is run both ways on
windows like those the service sees: random walks in model units (what the exporter checks with) and
windows of a synthetic price series put through the set's own input transform.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="TensorFlow is not installed: the .keras files cannot be read")

import keras
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from forecast_core.bars import to_relative
from forecast_core.scaler import MinMaxScaling
from tests.conftest import ARTIFACTS_ROOT, synthetic_prices
from tests.training.test_ohlc_data import ohlc_frame
from training import onnx_export
from training.models import build_model
from training.onnx_export import (
    INPUT_NAME,
    MAX_REL_ERROR,
    MULTI_FEATURE_FLOOR,
    OUTPUT_NAME,
    ExportError,
    check_windows,
    export_onnx,
    max_rel_error,
)
from training.recipes import ModelRecipe

SETS = ("ibm-high", "ohlc")
COMMITTED = [
    (name, model)
    for name in SETS
    if (ARTIFACTS_ROOT / name / "manifest.json").is_file()
    for model in json.loads((ARTIFACTS_ROOT / name / "manifest.json").read_text(encoding="utf-8"))["models"]
]


def real_looking_windows(directory: Path, manifest: dict[str, Any], n: int = 48) -> np.ndarray:
    """Windows of a synthetic price series in the set's model units (scaled prices, or OHLC log ratios)."""
    window = int(manifest["window"])
    if manifest.get("kind") == "ohlc":
        bars = ohlc_frame(400, seed=5)[["Open", "High", "Low", "Close"]].to_numpy(dtype=np.float64)
        starts = np.linspace(0, len(bars) - window, n).astype(int)
        x, _ = to_relative(np.stack([bars[s : s + window] for s in starts]))
        return x
    high = synthetic_prices(400, seed=5)["High"].to_numpy(dtype=np.float64)
    # Moved into the set's training range, where its scaler maps prices to about 0..1.
    span = manifest["training_range"]
    high = span["min"] + (high - high.min()) / (high.max() - high.min()) * (span["max"] - span["min"])
    starts = np.linspace(0, len(high) - window, n).astype(int)
    scaler = MinMaxScaling.load(directory / manifest["scaler"]["file"])
    return np.asarray(scaler.transform(np.stack([high[s : s + window] for s in starts])), dtype=np.float32)


@pytest.mark.skipif(not COMMITTED, reason="no committed artifact set")
@pytest.mark.parametrize(("set_name", "model"), COMMITTED, ids=[f"{s}-{m}" for s, m in COMMITTED])
def test_the_committed_onnx_file_answers_what_its_keras_file_answers(set_name: str, model: str) -> None:
    directory = ARTIFACTS_ROOT / set_name
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["models"][model]
    network = keras.saving.load_model(directory / entry["keras"]["file"], compile=False, safe_mode=True)
    session = ort.InferenceSession(str(directory / entry["onnx"]["file"]), providers=["CPUExecutionProvider"])
    ohlc = manifest.get("kind") == "ohlc"
    window = int(manifest["window"])
    floor = MULTI_FEATURE_FLOOR if ohlc else 1e-3
    for x in (
        check_windows(window, n=64, seed=11, features=4 if ohlc else None),
        real_looking_windows(directory, manifest),
    ):
        got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        want = np.asarray(network(x, training=False))
        assert got.shape == want.shape == ((len(x), 4) if ohlc else (len(x), 1))
        error = max_rel_error(got.reshape(-1), want.reshape(-1), floor)
        assert error <= MAX_REL_ERROR, f"{set_name}/{model}: ONNX differs from Keras by {error:.2e}"
        # Varied outputs, so that agreeing means something (a constant answer would match a broken graph).
        assert np.std(want) > 1e-3


def _tiny_lstm(window: int) -> keras.Model:
    recipe = ModelRecipe(units=(4,), dropout=0.0, optimizer="adam", learning_rate=1e-3, epochs=1, batch_size=8)
    model = build_model(recipe.network("lstm", window))
    rng = np.random.default_rng(2)
    for layer in model.layers:
        if weights := layer.get_weights():
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in weights])
    return model


def test_the_exporter_refuses_a_graph_whose_outputs_differ_from_keras(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One recurrent weight of the ONNX graph is changed by 1 % (as a wrong gate order or a transposed
    kernel would change it, only much less): the exporter's check raises and writes no file."""
    window = 8
    model = _tiny_lstm(window)
    real_build = onnx_export.build_onnx

    def perturbed(model: Any, window: int) -> onnx.ModelProto:
        proto = real_build(model, window)
        target = next(init for init in proto.graph.initializer if init.name == "R0")
        values = numpy_helper.to_array(target).copy()
        values.flat[0] *= 1.01
        target.CopyFrom(numpy_helper.from_array(values, target.name))
        return proto

    good = tmp_path / "good.onnx"
    assert export_onnx(model, good, window) <= MAX_REL_ERROR  # the unperturbed graph passes
    monkeypatch.setattr(onnx_export, "build_onnx", perturbed)
    bad = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match=r"ONNX output differs from Keras by .* above 1e-05"):
        export_onnx(model, bad, window)
    assert not bad.exists()
