"""Export a trained Keras LSTM/GRU stack to ONNX with native ``LSTM``/``GRU`` operators.

tf2onnx turns Keras GRU layers into a generic ``Loop`` (about 10 ms per window), so the graph is
written here from the Keras weights with ``onnx.helper``. Two conventions differ between the two:

* LSTM gate order: Keras packs i, f, c, o; ONNX expects i, o, f, c.
* GRU: Keras ``reset_after=True`` applies the reset gate after the recurrent matmul, which is ONNX
  ``linear_before_reset=1``; its bias has two rows (input and recurrent), ONNX's ``B`` is their
  concatenation. Gate order z, r, h is the same in both.

The exporter runs the result with onnxruntime against Keras before writing anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from forecast_core.backends.onnx_backend import INPUT_NAME, OUTPUT_NAME

OPSET = 17
MAX_REL_ERROR = 1e-5
_ALLOWED = (
    keras.layers.InputLayer,
    keras.layers.Reshape,
    keras.layers.Dropout,
    keras.layers.LSTM,
    keras.layers.GRU,
    keras.layers.Dense,
    keras.layers.Cropping1D,
    keras.layers.Flatten,
    keras.layers.Add,
)


class ExportError(RuntimeError):
    """The model uses something the exporter does not translate, or the check failed."""


def _lstm_gates(matrix: np.ndarray, units: int) -> np.ndarray:
    """Reorder the last axis from Keras' i, f, c, o blocks to ONNX's i, o, f, c."""
    i, f, c, o = (matrix[..., k * units : (k + 1) * units] for k in range(4))
    return np.concatenate([i, o, f, c], axis=-1)


def _check_layer(layer: Any) -> None:
    if not isinstance(layer, _ALLOWED):
        raise ExportError(f"layer {layer.name!r} ({type(layer).__name__}) is not supported by the ONNX exporter")
    if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
        if layer.go_backwards or layer.stateful or not layer.use_bias:
            raise ExportError(f"layer {layer.name!r}: go_backwards, stateful and use_bias=False are not supported")
        if (
            layer.activation is not keras.activations.tanh
            or layer.recurrent_activation is not keras.activations.sigmoid
        ):
            raise ExportError(f"layer {layer.name!r}: only tanh/sigmoid activations are supported")
        if isinstance(layer, keras.layers.GRU) and not layer.reset_after:
            raise ExportError(f"layer {layer.name!r}: only GRU(reset_after=True) is supported")
    if isinstance(layer, keras.layers.Dense) and layer.activation is not keras.activations.linear:
        raise ExportError(f"layer {layer.name!r}: only a linear Dense head is supported")


def model_features(model: Any) -> int | None:
    """``None`` for a univariate model (input (batch, window)), else the feature count of (batch, window, k)."""
    shape = tuple(model.inputs[0].shape)
    return None if len(shape) == 2 else int(shape[2])


def build_onnx(model: Any, window: int) -> onnx.ModelProto:
    """Translate ``model`` to an ONNX graph.

    Two input layouts, both built by :func:`training.models.build_model`: one column (batch, window) ->
    (batch, 1), and several (batch, window, k) -> (batch, k) (the OHLC set: k = 4).
    """
    features = model_features(model)
    for layer in model.layers:
        _check_layer(layer)
    rnns = [l for l in model.layers if isinstance(l, (keras.layers.LSTM, keras.layers.GRU))]
    denses = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    if not rnns or len(denses) != 1:
        raise ExportError("expected a stack of LSTM/GRU layers and exactly one Dense head")
    if any(not l.return_sequences for l in rnns[:-1]) or rnns[-1].return_sequences:
        raise ExportError("every recurrent layer but the last must return sequences")
    residual = any(isinstance(l, keras.layers.Add) for l in model.layers)

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    if features is None:
        nodes.append(helper.make_node("Unsqueeze", [INPUT_NAME, const("axis2", np.array([2], np.int64))], ["x3"]))
        nodes.append(helper.make_node("Transpose", ["x3"], ["seq0"], perm=[1, 0, 2]))  # (time, batch, 1)
    else:
        nodes.append(helper.make_node("Transpose", [INPUT_NAME], ["seq0"], perm=[1, 0, 2]))  # (time, batch, k)
    current = "seq0"
    for k, layer in enumerate(rnns):
        kernel, recurrent, bias = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
        units = layer.units
        last = k == len(rnns) - 1
        attrs: dict[str, Any]
        if isinstance(layer, keras.layers.LSTM):
            w = _lstm_gates(kernel, units).T[None]
            r = _lstm_gates(recurrent, units).T[None]
            b = np.concatenate([_lstm_gates(bias, units), np.zeros(4 * units, np.float32)])[None]
            op, attrs = "LSTM", {}
        else:
            w, r = kernel.T[None], recurrent.T[None]
            b = bias.reshape(2, 3 * units).reshape(1, 6 * units)
            op, attrs = "GRU", {"linear_before_reset": 1}
        ins = [current, const(f"W{k}", w), const(f"R{k}", r), const(f"B{k}", b)]
        outs = [f"Y{k}", f"Yh{k}"]
        nodes.append(helper.make_node(op, ins, outs, hidden_size=units, **attrs))
        if last:
            nodes.append(helper.make_node("Squeeze", [f"Yh{k}", const("axis0", np.array([0], np.int64))], ["features"]))
        else:
            nodes.append(
                helper.make_node("Squeeze", [f"Y{k}", const(f"axis1_{k}", np.array([1], np.int64))], [f"seq{k + 1}"])
            )
            current = f"seq{k + 1}"
    dense_w, dense_b = (np.asarray(w, dtype=np.float32) for w in denses[0].get_weights())
    nodes.append(helper.make_node("MatMul", ["features", const("dense_w", dense_w)], ["head_mm"]))
    head_out = "head" if residual else OUTPUT_NAME
    nodes.append(helper.make_node("Add", ["head_mm", const("dense_b", dense_b)], [head_out]))
    if residual:
        nodes.append(
            helper.make_node(
                "Slice",
                [
                    INPUT_NAME,
                    const("last_start", np.array([window - 1], np.int64)),
                    const("last_end", np.array([window], np.int64)),
                    const("axis1", np.array([1], np.int64)),
                ],
                ["last_value"],
            )
        )
        nodes.append(helper.make_node("Add", ["last_value", "head"], [OUTPUT_NAME]))

    if residual and features is not None:
        raise ExportError("the residual Add is only supported for univariate models")
    input_shape: list[str | int] = ["batch", window] if features is None else ["batch", window, features]
    graph = helper.make_graph(
        nodes,
        model.name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", int(dense_w.shape[1])])],
        initializer=inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="forecast-train")
    proto.ir_version = 8  # readable by every onnxruntime since 1.10
    onnx.checker.check_model(proto, full_check=True)
    return proto


def check_windows(window: int, n: int = 64, seed: int = 0, features: int | None = None) -> np.ndarray:
    """Random-walk windows in model units, the kind of input the models see in service.

    Univariate: MinMax-scaled prices around 0.2-0.9. Multi-feature: OHLC-like log ratios to the
    last Close in the OHLC set's units (percent), a walk with a daily spread around it.
    """
    rng = np.random.default_rng(seed)
    if features is not None:
        walk = np.cumsum(rng.normal(0, 1.5, size=(n, window, 1)), axis=1)
        bars = walk + rng.normal(0, 1.0, size=(n, window, features))
        return (bars - bars[:, -1:, -1:]).astype(np.float32)
    start = rng.uniform(0.2, 0.9, size=(n, 1))
    steps = rng.normal(0, 0.01, size=(n, window))
    return (start + np.cumsum(steps, axis=1)).astype(np.float32)


def max_rel_error(actual: np.ndarray, expected: np.ndarray, floor: float = 1e-3) -> float:
    """Largest element-wise relative error, with the denominator floored at ``floor`` (values near 0)."""
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), floor)))


# The OHLC models answer percent log ratios, mostly near 0: their relative error is taken against at
# least a 1 % move, so 1e-5 still means a price error below 1e-7 of the price.
MULTI_FEATURE_FLOOR = 1.0


def export_onnx(model: Any, path: Path, window: int) -> float:
    """Write ``model`` to ``path`` as ONNX after checking it against Keras; return the error found."""
    proto = build_onnx(model, window)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    features = model_features(model)
    x = check_windows(window, features=features)
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0].reshape(-1)
    want = np.asarray(model(x, training=False)).reshape(-1)
    error = max_rel_error(got, want, 1e-3 if features is None else MULTI_FEATURE_FLOOR)
    if not error <= MAX_REL_ERROR:
        raise ExportError(f"ONNX output differs from Keras by {error:.2e} (relative), above {MAX_REL_ERROR:.0e}")
    path.write_bytes(proto.SerializeToString())
    return error
