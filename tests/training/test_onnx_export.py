"""The hand-written ONNX exporter matches Keras for both cell types and several shapes."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import onnxruntime as ort
import pytest

from training.models import build_model
from training.onnx_export import ExportError, build_onnx, check_windows, export_onnx, max_rel_error
from training.recipes import ModelRecipe


def _randomize(model: keras.Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in weights])
    # Outputs at the level of scaled prices (about 0.5), where a relative error is meaningful.
    head = model.get_layer("change" if "change" in [l.name for l in model.layers] else "next_value")
    kernel, bias = head.get_weights()
    head.set_weights([kernel, bias + 0.5])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize(
    ("units", "residual", "window"), [((3,), False, 5), ((8, 5), True, 12), ((16, 16, 8), False, 30)]
)
def test_onnx_equals_keras(kind: str, units: tuple[int, ...], residual: bool, window: int, tmp_path: Path) -> None:
    recipe = ModelRecipe(
        units=units, dropout=0.2, optimizer="adam", learning_rate=1e-3, epochs=1, batch_size=8, residual=residual
    )
    model = build_model(recipe.network(kind, window))  # type: ignore[arg-type]
    _randomize(model, seed=len(units) + window)
    path = tmp_path / "m.onnx"
    error = export_onnx(model, path, window)
    assert error <= 1e-5
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = check_windows(window, n=33, seed=7)
    got = session.run(["prediction"], {"window": x})[0].reshape(-1)
    want = np.asarray(model(x, training=False)).reshape(-1)
    assert max_rel_error(got, want) <= 1e-5
    assert np.std(want) > 1e-4  # random weights give varied outputs, so the comparison means something


def test_gate_order_matters() -> None:
    """A broken gate mapping (Keras order copied as-is) would be caught by the check."""
    recipe = ModelRecipe(units=(4,), dropout=0.0, optimizer="adam", learning_rate=1e-3, epochs=1, batch_size=8)
    model = build_model(recipe.network("lstm", 6))
    _randomize(model, seed=3)
    proto = build_onnx(model, 6)
    w = next(i for i in proto.graph.initializer if i.name == "W0")
    kernel = model.get_layer("lstm_0").get_weights()[0]
    # ONNX block 1 is the output gate, which is Keras block 3.
    onnx_w = np.frombuffer(w.raw_data, dtype=np.float32).reshape(1, 16, 1)
    np.testing.assert_array_equal(onnx_w[0, 4:8, 0], kernel[0, 12:16])


def test_refuses_unsupported_layers() -> None:
    inputs = keras.Input(shape=(5,))
    x = keras.layers.Reshape((5, 1))(inputs)
    x = keras.layers.LSTM(3, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    with pytest.raises(ExportError, match="activations"):
        build_onnx(model, 5)
