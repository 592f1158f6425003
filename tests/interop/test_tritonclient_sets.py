"""tritonclient with its defaults against a server holding both model sets: the OHLC models' ``[N, W, 4]``
bars in binary, beside the univariate ones; and tritonclient's asyncio client, which the body guard
does not let through yet.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import TINY_OHLC_WINDOW
from tests.interop.conftest import Server, start_server

httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is in the dev extra")
from tritonclient.utils import InferenceServerException  # noqa: E402

pytestmark = pytest.mark.slow

W = TINY_OHLC_WINDOW
OHLC_MODELS = ("ohlc-lstm", "ohlc-gru", "ohlc-ensemble")


@pytest.fixture(scope="module")
def sets_server(tiny_model_sets: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("sets-server") / "forecast-serve.log"
    running = start_server(tiny_model_sets, log)
    yield running
    code = running.handle.stop(timeout=30)
    assert code in (0, -signal.SIGTERM), log.read_text(errors="replace")


@pytest.fixture(scope="module")
def triton(sets_server: Server) -> Iterator[Any]:
    client = httpclient.InferenceServerClient(url=sets_server.host_port, network_timeout=60.0)
    client.register_plugin(lambda request: request.headers.update({"X-API-Key": sets_server.api_key}))
    yield client
    client.close()


def bars(n: int, seed: int = 3) -> np.ndarray:
    """``n`` plausible OHLC windows, float32, shaped (n, W, 4) in the metadata's column order."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, W)), axis=1))
    return np.stack([close * 0.998, close * 1.01, close * 0.99, close], axis=2).astype(np.float32)


def infer(client: Any, model: str, x: np.ndarray, binary: bool = True, **kwargs: Any) -> Any:
    tensor = httpclient.InferInput("window", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    return client.infer(model, [tensor], outputs=[httpclient.InferRequestedOutput("prediction", binary)], **kwargs)


@pytest.mark.parametrize("model", OHLC_MODELS)
def test_ohlc_metadata_readiness_and_binary_infer(triton: Any, model: str) -> None:
    assert triton.is_server_ready()
    assert triton.is_model_ready(model)
    meta = triton.get_model_metadata(model)
    assert meta["inputs"] == [{"name": "window", "datatype": "FP32", "shape": [-1, W, 4]}]
    assert meta["outputs"] == [{"name": "prediction", "datatype": "FP32", "shape": [-1, 4]}]
    x = bars(3)
    tensor = httpclient.InferInput("window", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)  # the defaults: binary input, and (no output named) binary output
    result = triton.infer(model, [tensor])
    assert result.get_response()["outputs"][0]["parameters"] == {"binary_data_size": 3 * 4 * 4}
    got = result.as_numpy("prediction")
    assert got.shape == (3, 4)
    np.testing.assert_array_equal(got, infer(triton, model, x, binary=False).as_numpy("prediction"))


def test_ohlc_forecast_and_a_univariate_model_beside_it(triton: Any, sets_server: Server) -> None:
    x = bars(1)
    forecast = infer(triton, "ohlc-ensemble", x, parameters={"horizon": 3})
    assert forecast.as_numpy("prediction").shape == (1, 3, 4)
    as_json = infer(triton, "ohlc-ensemble", x, binary=False, parameters={"horizon": 3})
    np.testing.assert_array_equal(forecast.as_numpy("prediction"), as_json.as_numpy("prediction"))
    windows = np.linspace(90, 110, 2 * sets_server.window, dtype=np.float32).reshape(2, -1)
    got = infer(triton, "lstm", windows).as_numpy("prediction")
    np.testing.assert_array_equal(got[:, 0], np.asarray(sets_server.v1_predict("lstm", windows), dtype=np.float32))


def test_ohlc_bad_bar_in_binary_names_its_column(triton: Any) -> None:
    x = bars(1)
    x[0, 4, 2] = -1.0
    with pytest.raises(InferenceServerException, match=r"value 18 \(window 0, position 4, column 'low'\) is -1.0"):
        infer(triton, "ohlc-gru", x)


def test_the_asyncio_client_with_its_defaults(sets_server: Server) -> None:
    aio = pytest.importorskip("tritonclient.http.aio")
    x = bars(2)

    async def call() -> Any:
        client = aio.InferenceServerClient(url=sets_server.host_port)
        try:
            tensor = aio.InferInput("window", list(x.shape), "FP32")
            tensor.set_data_from_numpy(x)
            return await client.infer("ohlc-lstm", [tensor], headers={"X-API-Key": sets_server.api_key})
        finally:
            await client.close()

    assert asyncio.run(call()).as_numpy("prediction").shape == (2, 4)
