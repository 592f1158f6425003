"""The ONNX exporter on the OHLC networks: input (batch, window, 4), output (batch, 4), equal to Keras."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import onnxruntime as ort
import pytest

from forecast_core.backends import open_backend
from training.models import build_model
from training.onnx_export import check_windows, export_onnx, max_rel_error
from training.recipes import OhlcRecipe


def _randomize(model: keras.Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) for w in weights])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize(("units", "window"), [(3, 5), (16, 30)])
def test_onnx_equals_keras_multi_feature(kind: str, units: int, window: int, tmp_path: Path) -> None:
    model = build_model(OhlcRecipe(units=units).network(kind, window, 4))  # type: ignore[arg-type]
    _randomize(model, seed=units + window)
    path = tmp_path / "m.onnx"
    assert export_onnx(model, path, window) <= 1e-5
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape[1:], out.name, out.shape[1:]) == ("window", [window, 4], "prediction", [4])
    x = check_windows(window, n=33, seed=7, features=4)
    got = session.run(["prediction"], {"window": x})[0]
    want = np.asarray(model(x, training=False))
    assert got.shape == want.shape == (33, 4)
    assert max_rel_error(got, want, floor=1.0) <= 1e-5
    assert np.std(want) > 1e-2
    # The generalised backends map (n, w, 4) -> (n, 4) with either runtime.
    keras_path = tmp_path / "m.keras"
    model.save(keras_path)
    for backend_kind, file in (("onnx", path), ("keras", keras_path)):
        backend = open_backend(backend_kind, file, window, features=4)  # type: ignore[arg-type]
        np.testing.assert_allclose(backend.predict(x[:3]), want[:3], rtol=1e-4, atol=1e-5)


def test_onnx_backend_refuses_a_mismatched_model(tmp_path: Path) -> None:
    model = build_model(OhlcRecipe(units=2).network("gru", 6, 4))
    path = tmp_path / "m.onnx"
    export_onnx(model, path, 6)
    with pytest.raises(ValueError, match="does not match"):
        open_backend("onnx", path, 6)  # a univariate reader must not accept the (n, w, 4) model
    with pytest.raises(ValueError, match="does not match"):
        open_backend("onnx", path, 7, features=4)
