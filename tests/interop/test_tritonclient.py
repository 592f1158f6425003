"""The Open Inference Protocol (v2) endpoints, driven by NVIDIA's own client, ``tritonclient[http]``.

A real ``forecast-serve`` process answers; every number is checked against the /v1 API's answer for the
same windows. The client runs with its defaults (binary tensor data both ways) unless a test says
otherwise; the only plugin adds the API key. The OHLC models: ``test_tritonclient_sets.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.interop.conftest import Server

httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is in the dev extra")
from tritonclient.utils import InferenceServerException  # noqa: E402

pytestmark = pytest.mark.slow

MODELS = ("lstm", "gru", "ensemble")


class ApiKey:
    """A tritonclient plugin adding the API key, and nothing else: the client otherwise runs as shipped."""

    def __init__(self, api_key: str | None) -> None:
        self.api_key = api_key

    def __call__(self, request: Any) -> None:
        if self.api_key is not None:
            request.headers["X-API-Key"] = self.api_key


class JsonHeaders(ApiKey):
    """The API key and a JSON Content-Type, which the docs' session once needed and some users still add."""

    def __call__(self, request: Any) -> None:
        super().__call__(request)
        request.headers["Content-Type"] = "application/json"


@pytest.fixture(scope="module")
def triton(server: Server) -> Iterator[Any]:
    client = httpclient.InferenceServerClient(url=server.host_port, network_timeout=60.0)
    client.register_plugin(ApiKey(server.api_key))
    yield client
    client.close()


def window_input(data: np.ndarray, datatype: str = "FP32", **kwargs: Any) -> Any:
    """``set_data_from_numpy`` with tritonclient's defaults (binary data) unless ``kwargs`` say otherwise."""
    tensor = httpclient.InferInput("window", list(data.shape), datatype)
    tensor.set_data_from_numpy(data.astype(np.float32) if datatype == "FP32" else data, **kwargs)
    return tensor


def binary_size(result: Any) -> Any:
    """The output's binary_data_size in the response's JSON header: None when it came back as JSON."""
    return (result.get_response()["outputs"][0].get("parameters") or {}).get("binary_data_size")


def test_server_live_ready_and_metadata(triton: Any) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    meta = triton.get_server_metadata()
    assert meta["name"] == "stock-forecast"
    assert meta["version"]
    assert isinstance(meta["extensions"], list)


@pytest.mark.parametrize("model", MODELS)
def test_model_ready_and_metadata(triton: Any, server: Server, model: str) -> None:
    assert triton.is_model_ready(model)
    meta = triton.get_model_metadata(model)
    assert meta["name"] == model
    assert meta["platform"] == "onnxruntime"
    assert len(meta["versions"]) == 1
    assert meta["inputs"] == [{"name": "window", "datatype": "FP32", "shape": [-1, server.window]}]
    assert meta["outputs"] == [{"name": "prediction", "datatype": "FP32", "shape": [-1, 1]}]
    # The versioned form of the same endpoints.
    version = meta["versions"][0]
    assert triton.is_model_ready(model, model_version=version)
    assert triton.get_model_metadata(model, model_version=version)["name"] == model


def test_unknown_model_is_not_ready_and_has_no_metadata(triton: Any) -> None:
    assert not triton.is_model_ready("nope")
    assert not triton.is_model_ready("lstm", model_version="no-such-version")
    with pytest.raises(InferenceServerException) as info:
        triton.get_model_metadata("nope")
    assert info.value.status() == "404"
    assert "unknown model 'nope'" in info.value.message()


@pytest.mark.parametrize("model", MODELS)
def test_infer_with_default_arguments_matches_v1_predict(
    triton: Any, server: Server, windows: np.ndarray, model: str
) -> None:
    """tritonclient's defaults: binary input, binary output; the same numbers as /v1 and as the JSON path."""
    result = triton.infer(
        model, [window_input(windows)], outputs=[httpclient.InferRequestedOutput("prediction")], request_id="req-1"
    )
    got = result.as_numpy("prediction")
    assert got.dtype == np.float32
    assert got.shape == (len(windows), 1)
    assert binary_size(result) == 4 * len(windows)  # it did come back as raw bytes
    response = result.get_response()
    assert response["id"] == "req-1"
    assert response["model_name"] == model
    # The same windows through /v1 (float32-rounded, as the client sent them), compared as FP32.
    expected = np.asarray(server.v1_predict(model, windows.astype(np.float32)), dtype=np.float32)
    np.testing.assert_array_equal(got[:, 0], expected)
    as_json = triton.infer(
        model,
        [window_input(windows, binary_data=False)],
        outputs=[httpclient.InferRequestedOutput("prediction", binary_data=False)],
    )
    assert binary_size(as_json) is None
    np.testing.assert_array_equal(as_json.as_numpy("prediction"), got)


def test_binary_and_json_mixed_both_ways(triton: Any, windows: np.ndarray) -> None:
    """Binary in with JSON out, JSON in with binary out, and no output named (binary_data_output): one answer."""
    json_out = [httpclient.InferRequestedOutput("prediction", binary_data=False)]
    answers = [
        triton.infer("gru", [window_input(windows)], outputs=json_out),
        triton.infer(
            "gru", [window_input(windows, binary_data=False)], outputs=[httpclient.InferRequestedOutput("prediction")]
        ),
        triton.infer("gru", [window_input(windows)]),
    ]
    assert [binary_size(a) for a in answers] == [None, 4 * len(windows), 4 * len(windows)]
    for answer in answers[1:]:
        np.testing.assert_array_equal(answer.as_numpy("prediction"), answers[0].as_numpy("prediction"))


def test_infer_horizon_parameter_matches_v1_forecast(triton: Any, server: Server, windows: np.ndarray) -> None:
    window = windows[:1].astype(np.float32)
    result = triton.infer("ensemble", [window_input(window)], parameters={"horizon": 7})
    got = result.as_numpy("prediction")
    assert got.shape == (1, 7)
    assert binary_size(result) == 28
    expected = np.asarray(server.v1_forecast("ensemble", window[0], 7), dtype=np.float32)
    np.testing.assert_array_equal(got[0], expected)


def _window_with(server: Server, position: int, value: float) -> np.ndarray:
    data = np.full((1, server.window), 100.0)
    data[0, position] = value
    return data


def expect_error(call: Any, status: str, fragment: str) -> None:
    with pytest.raises(InferenceServerException) as info:
        call()
    assert info.value.status() == status, info.value.message()
    assert fragment in info.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("short", "the last dimension must be the model's window"),
        ("negative", "{} (window 0, position 3) is -1.0; every value must be a finite positive number"),
        ("nan", "every value must be a finite positive number"),
        ("inf", "every value must be a finite positive number"),
    ],
)
def test_bad_values_are_400_with_the_servers_message(
    triton: Any, server: Server, case: str, fragment: str, binary: bool
) -> None:
    data = {
        "short": np.full((1, 3), 100.0),
        "negative": _window_with(server, 3, -1.0),
        "nan": _window_with(server, 0, np.nan),
        "inf": _window_with(server, 5, np.inf),
    }[case]
    fragment = fragment.format("value 3" if binary else "data[3]")
    expect_error(lambda: triton.infer("lstm", [window_input(data, binary_data=binary)]), "400", fragment)


def test_wrong_datatype_input_name_and_output_name_are_400(triton: Any, server: Server, windows: np.ndarray) -> None:
    expect_error(
        lambda: triton.infer("lstm", [window_input(windows[:1], "FP64")]), "400", "datatype 'FP64' is not supported"
    )
    ints = windows[:1].astype(np.int32)
    expect_error(
        lambda: triton.infer("lstm", [window_input(ints, "INT32")]), "400", "datatype 'INT32' is not supported"
    )
    other = httpclient.InferInput("prices", [1, server.window], "FP32")
    other.set_data_from_numpy(windows[:1].astype(np.float32))
    expect_error(lambda: triton.infer("lstm", [other]), "400", "takes exactly one input, 'window'")
    output = [httpclient.InferRequestedOutput("probabilities")]
    expect_error(
        lambda: triton.infer("lstm", [window_input(windows[:1])], outputs=output),
        "400",
        "unknown output 'probabilities'",
    )


def test_limits_and_horizon_rules(triton: Any, server: Server, windows: np.ndarray) -> None:
    too_many = np.repeat(windows[:1], 257, axis=0)  # the default max_batch is 256
    expect_error(lambda: triton.infer("lstm", [window_input(too_many)]), "400", "over the limit of 256")
    expect_error(
        lambda: triton.infer("lstm", [window_input(windows[:2])], parameters={"horizon": 3}),
        "400",
        "takes exactly one window",
    )
    expect_error(
        lambda: triton.infer("lstm", [window_input(windows[:1])], parameters={"horizon": 366}),
        "400",
        "over the limit of 365",
    )


def test_unknown_model_is_404(triton: Any, windows: np.ndarray) -> None:
    expect_error(lambda: triton.infer("nope", [window_input(windows[:1])]), "404", "unknown model 'nope'")


def test_infer_without_a_plugin_and_with_a_json_content_type(server: Server, windows: np.ndarray) -> None:
    """No plugin at all (the key as a per-call header); and a plugin that declares JSON on a binary body."""
    client = httpclient.InferenceServerClient(url=server.host_port)
    try:
        result = client.infer("lstm", [window_input(windows[:1])], headers={"X-API-Key": server.api_key})
        assert result.as_numpy("prediction").shape == (1, 1)
        client.register_plugin(JsonHeaders(server.api_key))
        again = client.infer("lstm", [window_input(windows[:1])])
        np.testing.assert_array_equal(again.as_numpy("prediction"), result.as_numpy("prediction"))
    finally:
        client.close()


def test_infer_needs_the_api_key(server: Server, windows: np.ndarray) -> None:
    client = httpclient.InferenceServerClient(url=server.host_port)
    client.register_plugin(ApiKey(api_key=None))
    try:
        expect_error(lambda: client.infer("lstm", [window_input(windows[:1])]), "401", "X-API-Key")
        assert client.is_model_ready("lstm")  # the probes and metadata stay open
    finally:
        client.close()
