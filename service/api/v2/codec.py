"""Open Inference Protocol tensor codec: the ``window`` input tensor to prices, results to tensors.

One input, ``window`` (FP32, shape ``[-1, W]`` for a univariate model, ``[-1, W, C]`` for a
multi-column one, columns in the order the model metadata gives), one output, ``prediction``
(``[-1, outputs]``). The request parameter ``horizon`` turns one window into a recursive forecast,
returned as ``[1, horizon]`` (univariate) or ``[1, horizon, outputs]``.

With the binary tensor data extension, ``window`` may come as raw little-endian FP32 bytes after the
JSON header (``parameters.binary_data_size``) and ``prediction`` may go back the same way, when the
output's ``parameters.binary_data`` or the request's ``parameters.binary_data_output`` asks for it.
Both paths end in the same float64 array, so the dataplane's price rules are the same for both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from service.api.v2.errors import bad_request
from service.api.v2.types import InferRequest, Parameters, TensorInput
from service.dataplane import InferenceRequest, InferenceResult, ModelCard, Watch

INPUT_NAME = "window"
OUTPUT_NAME = "prediction"
DATATYPE = "FP32"
_WIRE = np.dtype("<f4")  # the extension's byte order is little-endian whatever the host's
BINARY_SIZE = "binary_data_size"


def _nested_shape(data: Any, where: str, depth: int) -> list[int]:
    """The shape of a rectangular nested list at most ``depth`` deep; 400 for a ragged or deeper one."""
    if not isinstance(data, list):
        return []
    if depth == 0:
        raise bad_request(f"{where}: data is nested deeper than its shape")
    if not data:
        return [0]
    shapes = [_nested_shape(item, where, depth - 1) for item in data]
    if any(s != shapes[0] for s in shapes):
        raise bad_request(f"{where}: nested data is ragged (rows of different lengths)")
    return [len(data), *shapes[0]]


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    for item in data:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _shape_text(card: ModelCard) -> str:
    return ", ".join(str(d) for d in ("N", *card.input_shape))


def _windows(tensor: TensorInput, card: ModelCard, raw: bytes | None) -> np.ndarray:
    """Validate the ``window`` tensor's layout and types; return prices shaped (n, *input_shape).

    ``raw`` is the tensor's binary part (None when it has none).
    """
    where = f"input {tensor.name!r}"
    if tensor.datatype != DATATYPE:
        raise bad_request(f"{where}: datatype {tensor.datatype!r} is not supported; the model expects {DATATYPE}")
    if tensor.data is None and raw is None:
        raise bad_request(f"{where}: 'data' is required (or 'parameters.{BINARY_SIZE}' with binary tensor data)")
    shape, one = tensor.shape, list(card.input_shape)
    if len(shape) not in (len(one), len(one) + 1):
        single = ", ".join(map(str, one))
        raise bad_request(f"{where}: shape {shape} must be [{_shape_text(card)}] (or [{single}] for one window)")
    if shape[len(shape) - len(one) :] != one:
        what = "the model's window" if len(one) == 1 else "the model's window and columns"
        last = card.window if len(one) == 1 else one
        raise bad_request(f"{where}: the last dimension must be {what} {last}, got shape {shape}")
    rows = shape[0] if len(shape) == len(one) + 1 else 1
    if rows < 1:
        raise bad_request(f"{where}: shape {shape} holds no window")
    size = rows * int(np.prod(one))
    if raw is not None:
        if len(raw) != size * _WIRE.itemsize:
            raise bad_request(
                f"{where}: {BINARY_SIZE} is {len(raw)} bytes, but shape {shape} needs {size * _WIRE.itemsize} "
                f"({size} {DATATYPE} values of {_WIRE.itemsize} bytes)"
            )
        return np.frombuffer(raw, dtype=_WIRE).astype(np.float64).reshape(rows, *one)
    nested = isinstance(tensor.data, list) and any(isinstance(v, list) for v in tensor.data)
    if nested:
        got = _nested_shape(tensor.data, where, len(shape))
        if got != shape:
            raise bad_request(f"{where}: nested data has shape {got}, but the declared shape is {shape}")
    values = _flatten(tensor.data)
    if len(values) != size:
        raise bad_request(f"{where}: shape {shape} needs {size} values, data holds {len(values)}")
    for i, v in enumerate(values):
        # bool is an int subclass: refuse true/false rather than reading them as 1/0.
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise bad_request(
                f"{where}: {_element(i, card)} is {v!r}; every value must be a finite positive number (a price)"
            )
    return np.asarray(values, dtype=np.float64).reshape(rows, *one)


def _element(flat: int, card: ModelCard, binary: bool = False) -> str:
    # A binary tensor has no 'data' to index into: name the value by its position in the raw part.
    name = f"value {flat}" if binary else f"data[{flat}]"
    per_window = int(np.prod(card.input_shape))
    window, rest = divmod(flat, per_window)
    if len(card.input_shape) == 1:
        return f"{name} (window {window}, position {rest})"
    position, column = divmod(rest, card.input_shape[1])
    return f"{name} (window {window}, position {position}, column {card.inputs[column]!r})"


def _horizon(parameters: Parameters | None) -> int | None:
    if not parameters or "horizon" not in parameters:
        return None
    horizon = parameters["horizon"]
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise bad_request(f"parameter 'horizon' must be an integer, got {horizon!r}")
    if horizon < 1:
        raise bad_request(f"parameter 'horizon' must be at least 1, got {horizon}")
    return horizon


def _binary_parts(inputs: list[TensorInput], data: bytes | None) -> list[bytes | None]:
    """Each input's share of the bytes after the JSON header, in input order (None: sent as JSON)."""
    parts: list[bytes | None] = []
    offset = 0
    for tensor in inputs:
        where = f"input {tensor.name!r}"
        size = (tensor.parameters or {}).get(BINARY_SIZE)
        if size is None:
            parts.append(None)
            continue
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise bad_request(f"{where}: parameters.{BINARY_SIZE} must be a non-negative integer, got {size!r}")
        if tensor.data is not None:
            raise bad_request(f"{where}: has both 'data' and parameters.{BINARY_SIZE}; send its values one way")
        if data is None:
            raise bad_request(
                f"{where}: parameters.{BINARY_SIZE} is set, but the request has no binary part "
                "(no Inference-Header-Content-Length header)"
            )
        parts.append(data[offset : offset + size])
        offset += size
    if data is not None and offset != len(data):
        raise bad_request(
            f"the inputs' {BINARY_SIZE} add up to {offset} bytes, but {len(data)} bytes follow the JSON header"
        )
    return parts


def _flag(parameters: Parameters | None, key: str, where: str) -> bool | None:
    if not parameters or key not in parameters:
        return None
    value = parameters[key]
    if not isinstance(value, bool):
        raise bad_request(f"{where}parameter {key!r} must be true or false, got {value!r}")
    return value


def binary_output(body: InferRequest) -> bool:
    """Whether ``prediction`` goes back as raw bytes: the output's ``binary_data`` if it says, else the
    request's ``binary_data_output`` (what tritonclient sends when no output is named), else JSON."""
    default = _flag(body.parameters, "binary_data_output", "") or False
    for out in body.outputs or []:
        if out.parameters and out.parameters.get("classification"):
            raise bad_request(f"output {out.name!r}: classification is not supported (the outputs are prices)")
        flag = _flag(out.parameters, "binary_data", f"output {out.name!r}: ")
        if flag is not None and out.name == OUTPUT_NAME:
            return flag
    return default


def decode_infer(
    body: InferRequest, card: ModelCard, data: bytes | None = None, client_gone: Watch | None = None
) -> InferenceRequest:
    """The dataplane's request; ``data`` is the binary part after the JSON header (None: JSON only);
    ``client_gone`` returns once the client has left."""
    if len(body.inputs) != 1 or body.inputs[0].name != INPUT_NAME:
        names = ", ".join(repr(t.name) for t in body.inputs)
        raise bad_request(
            f"model {card.name!r} takes exactly one input, {INPUT_NAME!r} ({DATATYPE}, shape [{_shape_text(card)}]); "
            f"got {names}"
        )
    for out in body.outputs or []:
        if out.name != OUTPUT_NAME:
            raise bad_request(f"unknown output {out.name!r}; model {card.name!r} has one output, {OUTPUT_NAME!r}")
    horizon = _horizon(body.parameters)
    (raw,) = _binary_parts(body.inputs, data)
    x = _windows(body.inputs[0], card, raw)
    binary = raw is not None

    def locate(index: tuple[int, ...]) -> str:
        flat = int(np.ravel_multi_index(index, x.shape))
        return f"input {INPUT_NAME!r}: {_element(flat, card, binary)}"

    return InferenceRequest(
        inputs=x, horizon=horizon, field=f"input {INPUT_NAME!r}", locate=locate, client_gone=client_gone
    )


def encode_infer(
    result: InferenceResult, request_id: str | None, binary: bool = False
) -> tuple[dict[str, Any], bytes | None]:
    """The :class:`InferResponse` body (fields that would be null left out, as the protocol's examples do)
    and, for a binary output, its raw little-endian FP32 bytes (the JSON then has no data)."""
    values = result.values  # (n, horizon, outputs)
    k = len(result.outputs)
    if result.kind == "predict":
        shape = [values.shape[0], k]
    else:
        shape = [1, values.shape[1]] if k == 1 else [1, values.shape[1], k]
    tensor: dict[str, Any] = {"name": OUTPUT_NAME, "datatype": DATATYPE, "shape": shape}
    raw = None
    if binary:
        raw = np.ascontiguousarray(values, dtype=_WIRE).tobytes()
        tensor["parameters"] = {BINARY_SIZE: len(raw)}
    else:
        tensor["data"] = values.ravel().tolist()
    response: dict[str, Any] = {"model_name": result.model, "model_version": result.version}
    if request_id is not None:
        response["id"] = request_id
    if result.warnings:
        response["parameters"] = {"warnings": "; ".join(result.warnings)}
    response["outputs"] = [tensor]
    return response, raw
