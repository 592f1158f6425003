"""The /v2 binary tensor data extension in process: hand-built framed requests, good and bad.

Every answer a binary request gets is compared with the JSON path's for the same float32 values, and
every malformed framing gets a 400 in the protocol's ``{"error": ...}`` shape with a message naming
what is wrong (never a 500).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.api.v2.binary import FramingError, split_body
from service.core.config import Settings
from service.main import create_app
from tests.conftest import TINY_OHLC_WINDOW
from tests.interop.conftest import wait_ready

W = 20  # the tiny artifacts' window
WINDOWS = np.array([[100 + 0.25 * i + r for i in range(W)] for r in range(3)], dtype=np.float32)
JSON_TYPE = {"Content-Type": "application/json"}


def binary_tensor(x: np.ndarray, *, size: Any = None, **extra: Any) -> dict[str, Any]:
    raw_size = x.size * 4 if size is None else size
    params = {"binary_data_size": raw_size}
    return {"name": "window", "datatype": "FP32", "shape": list(x.shape), "parameters": params, **extra}


def post_framed(
    client: TestClient,
    header: dict[str, Any],
    raw: bytes,
    model: str = "lstm",
    length: str | None = None,
    **headers: str,
) -> Any:
    """Header JSON then ``raw``, as tritonclient frames it (no Content-Type, like its sync client)."""
    head = json.dumps(header).encode()
    value = str(len(head)) if length is None else length
    # latin-1, as HTTP carries header bytes (and Starlette decodes them): "²" arrives as one byte.
    framing = {"Inference-Header-Content-Length": value.encode("latin-1")}
    return client.post(f"/v2/models/{model}/infer", content=head + raw, headers={**framing, **headers})


def post_json(client: TestClient, x: np.ndarray, model: str = "lstm", **body: Any) -> Any:
    tensor = {"name": "window", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}
    r = client.post(f"/v2/models/{model}/infer", json={"inputs": [tensor], **body})
    assert r.status_code == 200, r.text
    return r.json()


def raw_of(x: np.ndarray) -> bytes:
    return x.astype("<f4").tobytes()


def unframe(response: Any) -> tuple[dict[str, Any], bytes]:
    """The JSON header and the bytes after it of a binary response."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers["Inference-Header-Content-Length"])
    return json.loads(response.content[:length]), response.content[length:]


def error_of(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    return str(body["error"])


# --- good requests ------------------------------------------------------------------------------------


def test_binary_input_answers_as_the_json_path(app_client: TestClient) -> None:
    r = post_framed(app_client, {"id": "b1", "inputs": [binary_tensor(WINDOWS)]}, raw_of(WINDOWS))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"  # JSON stays the default for outputs
    assert "Inference-Header-Content-Length" not in r.headers
    expected = post_json(app_client, WINDOWS, id="b1")
    assert r.json() == expected


@pytest.mark.parametrize(
    "ask",
    [
        {"outputs": [{"name": "prediction", "parameters": {"binary_data": True}}]},
        {"parameters": {"binary_data_output": True}},  # what tritonclient sends when no output is named
    ],
    ids=["output binary_data", "request binary_data_output"],
)
def test_binary_output_when_asked(app_client: TestClient, ask: dict[str, Any]) -> None:
    header, raw = unframe(post_framed(app_client, {"inputs": [binary_tensor(WINDOWS)], **ask}, raw_of(WINDOWS)))
    expected = post_json(app_client, WINDOWS)
    (out,) = header["outputs"]
    assert out == {"name": "prediction", "datatype": "FP32", "shape": [3, 1], "parameters": {"binary_data_size": 12}}
    assert {k: v for k, v in header.items() if k != "outputs"} == {k: v for k, v in expected.items() if k != "outputs"}
    values = np.frombuffer(raw, dtype="<f4")
    np.testing.assert_array_equal(values, np.float32(expected["outputs"][0]["data"]))


def test_json_input_with_a_binary_output_and_the_per_output_flag_wins(app_client: TestClient) -> None:
    tensor = {"name": "window", "datatype": "FP32", "shape": [1, W], "data": WINDOWS[0].tolist()}
    r = app_client.post("/v2/models/gru/infer", json={"inputs": [tensor], "parameters": {"binary_data_output": True}})
    header, raw = unframe(r)
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 4}
    off = {"name": "prediction", "parameters": {"binary_data": False}}
    r = app_client.post(
        "/v2/models/gru/infer", json={"inputs": [tensor], "outputs": [off], "parameters": {"binary_data_output": True}}
    )
    assert r.headers["content-type"] == "application/json"
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4"), np.float32(r.json()["outputs"][0]["data"]))


def test_binary_forecast_with_horizon_and_one_dimensional_shape(app_client: TestClient) -> None:
    one = WINDOWS[0]
    header = {"inputs": [binary_tensor(one)], "parameters": {"horizon": 4, "binary_data_output": True}}
    got, raw = unframe(post_framed(app_client, header, raw_of(one), model="ensemble"))
    expected = post_json(app_client, one, model="ensemble", parameters={"horizon": 4})["outputs"][0]
    assert got["outputs"][0]["shape"] == expected["shape"] == [1, 4]
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4"), np.float32(expected["data"]))


def test_a_json_content_type_on_a_binary_body_is_fine(app_client: TestClient) -> None:
    r = post_framed(app_client, {"inputs": [binary_tensor(WINDOWS)]}, raw_of(WINDOWS), **JSON_TYPE)
    assert r.json() == post_json(app_client, WINDOWS)


def test_the_header_on_a_get_is_ignored(app_client: TestClient) -> None:
    r = app_client.get("/v2/models/lstm", headers={"Inference-Header-Content-Length": "x"})
    assert r.status_code == 200


def test_the_model_is_resolved_first(app_client: TestClient) -> None:
    r = post_framed(app_client, {"inputs": [binary_tensor(WINDOWS)]}, raw_of(WINDOWS), model="nope")
    assert "unknown model 'nope'" in error_of(r, 404)


@pytest.fixture(scope="module")
def sets_client(tiny_model_sets: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(artifacts_dir=tiny_model_sets)), raise_server_exceptions=False) as client:
        wait_ready(client, timeout=120)
        yield client


def test_ohlc_bars_binary_both_ways(sets_client: TestClient) -> None:
    close = 50.0 * np.exp(np.linspace(0, 0.05, TINY_OHLC_WINDOW))
    bars = np.stack([close * 0.998, close * 1.01, close * 0.99, close], axis=1)
    x = np.stack([bars, bars * 1.5]).astype(np.float32)  # (2, W, 4)
    header = {"inputs": [binary_tensor(x)], "parameters": {"binary_data_output": True}}
    got, raw = unframe(post_framed(sets_client, header, raw_of(x), model="ohlc-lstm"))
    expected = post_json(sets_client, x, model="ohlc-lstm")["outputs"][0]
    assert got["outputs"][0]["shape"] == expected["shape"] == [2, 4]
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4").reshape(2, 4), np.float32(expected["data"]).reshape(2, 4))
    bad = x[:1].copy()
    bad[0, 2, 1] = -5.0
    r = post_framed(sets_client, {"inputs": [binary_tensor(bad)]}, raw_of(bad), model="ohlc-gru")
    assert "value 9 (window 0, position 2, column 'high') is -5.0" in error_of(r)


def test_an_octet_stream_content_type_is_read_in_both_framings(tiny_artifacts: Path) -> None:
    """tritonclient's asyncio client sends ``application/octet-stream`` (binary and JSON bodies alike);
    /v2 reads both, while /v1 still refuses it with 415."""
    app = create_app(Settings(artifacts_dir=tiny_artifacts, models=("lstm",)))
    octet = {"Content-Type": "application/octet-stream"}
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        v1 = client.post("/v1/models/lstm/predict", content=b'{"window": [1.0]}', headers=octet)
        assert v1.status_code == 415
        wait_ready(client)
        expected = post_json(client, WINDOWS)
        assert post_framed(client, {"inputs": [binary_tensor(WINDOWS)]}, raw_of(WINDOWS), **octet).json() == expected
        tensor = {"name": "window", "datatype": "FP32", "shape": [3, W], "data": WINDOWS.ravel().tolist()}
        plain = client.post("/v2/models/lstm/infer", content=json.dumps({"inputs": [tensor]}), headers=octet)
        assert plain.json() == expected


# --- bad requests -------------------------------------------------------------------------------------

ONE = WINDOWS[:1]
GOOD_RAW = raw_of(ONE)  # 80 bytes
NAN = ONE.copy()
NAN[0, 0] = np.nan
NEG = ONE.copy()
NEG[0, 3] = -1.0
INF = ONE.copy()
INF[0, 5] = np.inf
ZERO = ONE.copy()
ZERO[0, 19] = 0.0

# (id, header, raw bytes after it, Inference-Header-Content-Length override, message fragment)
BAD: list[tuple[str, dict[str, Any], bytes, str | None, str]] = [
    ("length not a number", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "abc", "must be a non-negative integer"),
    ("length negative", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "-5", "got '-5'"),
    ("length fraction", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "12.5", "got '12.5'"),
    ("length empty", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "", "got ''"),
    ("length unicode digit", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "²", "must be a non-negative integer"),
    ("length past the body", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "100000", "past the end of the"),
    ("length 30 digits", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "9" * 30, "past the end of the"),
    ("length leading zeros", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "0" * 30 + "7", "not valid JSON"),
    ("length zero", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "0", "holds no JSON request header"),
    ("length cuts the json", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW, "20", "request body is not valid JSON"),
    ("bytes short", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW[:-4], None, "add up to 80 bytes, but 76 bytes follow"),
    ("bytes extra", {"inputs": [binary_tensor(ONE)]}, GOOD_RAW + b"\0" * 4, None, "but 84 bytes follow"),
    ("bytes no size", {"inputs": [{"name": "window", "datatype": "FP32", "shape": [1, W]}]}, GOOD_RAW, None, "0 bytes"),
    ("size vs shape", {"inputs": [binary_tensor(ONE, size=76)]}, GOOD_RAW[:-4], None, "is 76 bytes, but shape"),
    ("size vs shape 2", {"inputs": [binary_tensor(ONE, size=160)]}, GOOD_RAW * 2, None, "needs 80 (20 FP32 values"),
    ("size negative", {"inputs": [binary_tensor(ONE, size=-80)]}, GOOD_RAW, None, "non-negative integer, got -80"),
    ("size string", {"inputs": [binary_tensor(ONE, size="80")]}, GOOD_RAW, None, "non-negative integer, got '80'"),
    ("size bool", {"inputs": [binary_tensor(ONE, size=True)]}, GOOD_RAW, None, "got True"),
    ("data and binary", {"inputs": [binary_tensor(ONE, data=ONE[0].tolist())]}, GOOD_RAW, None, "both 'data' and"),
    ("fp64", {"inputs": [binary_tensor(ONE, size=160, datatype="FP64")]}, b"\0" * 160, None, "datatype 'FP64'"),
    ("fp16", {"inputs": [binary_tensor(ONE, size=40, datatype="FP16")]}, b"\0" * 40, None, "datatype 'FP16'"),
    ("wrong window", {"inputs": [binary_tensor(ONE[:, :5])]}, GOOD_RAW[:20], None, "model's window 20"),
    ("nan", {"inputs": [binary_tensor(ONE)]}, raw_of(NAN), None, "value 0 (window 0, position 0) is nan"),
    ("negative", {"inputs": [binary_tensor(ONE)]}, raw_of(NEG), None, "value 3 (window 0, position 3) is -1.0"),
    ("infinity", {"inputs": [binary_tensor(ONE)]}, raw_of(INF), None, "value 5 (window 0, position 5) is inf"),
    ("zero", {"inputs": [binary_tensor(ONE)]}, raw_of(ZERO), None, "finite positive number"),
    ("two inputs", {"inputs": [binary_tensor(ONE), binary_tensor(ONE)]}, GOOD_RAW * 2, None, "exactly one input"),
    ("header an array", [binary_tensor(ONE)], GOOD_RAW, None, "request body must be a JSON object"),  # type: ignore[list-item]
    (
        "binary_data not bool",
        {"inputs": [binary_tensor(ONE)], "outputs": [{"name": "prediction", "parameters": {"binary_data": "yes"}}]},
        GOOD_RAW,
        None,
        "parameter 'binary_data' must be true or false, got 'yes'",
    ),
    (
        "binary_data_output not bool",
        {"inputs": [binary_tensor(ONE)], "parameters": {"binary_data_output": 1}},
        GOOD_RAW,
        None,
        "parameter 'binary_data_output' must be true or false",
    ),
    (
        "classification",
        {"inputs": [binary_tensor(ONE)], "outputs": [{"name": "prediction", "parameters": {"classification": 2}}]},
        GOOD_RAW,
        None,
        "classification is not supported",
    ),
    (
        "batch over the limit",
        {"inputs": [binary_tensor(np.repeat(ONE, 257, axis=0))]},
        GOOD_RAW * 257,
        None,
        "batch of 257 windows is over the limit of 256",
    ),
]


@pytest.mark.parametrize(("header", "raw", "length", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in BAD])
def test_bad_binary_requests_are_400(
    app_client: TestClient, header: dict[str, Any], raw: bytes, length: str | None, fragment: str
) -> None:
    assert fragment in error_of(post_framed(app_client, header, raw, length=length))


def test_split_body_takes_any_digit_string() -> None:
    """int() refuses strings of over 4,300 digits; the split must answer 400, not raise ValueError."""
    with pytest.raises(FramingError, match="past the end of the 3-byte body"):
        split_body(b"{}x", "9" * 5000)
    assert split_body(b"{}xy", "0" * 5000 + "2") == (b"{}", b"xy")


def test_binary_data_size_without_a_binary_part(app_client: TestClient) -> None:
    r = app_client.post("/v2/models/lstm/infer", json={"inputs": [binary_tensor(ONE)]})
    assert "has no binary part (no Inference-Header-Content-Length header)" in error_of(r)
    tensor = {"name": "window", "datatype": "FP32", "shape": [1, W]}
    assert "'data' is required (or 'parameters.binary_data_size'" in error_of(
        app_client.post("/v2/models/lstm/infer", json={"inputs": [tensor]})
    )


def test_a_body_over_the_cap_is_refused_by_the_guard(tiny_artifacts: Path) -> None:
    app = create_app(Settings(artifacts_dir=tiny_artifacts, models=("lstm",), max_body_bytes=1024))
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        x = np.repeat(ONE, 20, axis=0)  # 1,600 bytes of tensor data
        assert post_framed(client, {"inputs": [binary_tensor(x)]}, raw_of(x)).status_code == 413
