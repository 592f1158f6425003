"""The API key holds on every hot endpoint: /v1 predict and forecast, /v2 infer with JSON and binary bodies.

A configured key must be sent exactly: no header, an empty one, a wrong one are all 401. An empty or
blank ``FORECAST_API_KEY`` is refused at start rather than read as a key that an empty header would match.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.core.config import Settings
from tests.conftest import ARTIFACTS_ROOT
from tests.service.conftest import running_client

KEY = "s3cret-key"
WINDOW = [round(150 + 0.05 * i, 2) for i in range(60)]
BARS = {"open": WINDOW, "high": [p + 1 for p in WINDOW], "low": [p - 1 for p in WINDOW], "close": WINDOW}
TENSOR = {"name": "window", "datatype": "FP32", "shape": [1, 60], "data": WINDOW}
JSON_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/models/lstm/predict", {"window": WINDOW}),
    ("/v1/models/gru/forecast", {"window": WINDOW, "horizon": 3}),
    ("/v1/models/ohlc-lstm/predict", {"window": BARS}),
    ("/v2/models/lstm/infer", {"inputs": [TENSOR]}),
    ("/v2/models/ensemble/infer", {"inputs": [TENSOR], "parameters": {"horizon": 2}}),
    ("/v2/models/gru/versions/{version}/infer", {"inputs": [TENSOR]}),
]
# Every header a client could send that is not the key: none, empty, blank, near misses.
NOT_THE_KEY: list[dict[str, str]] = [
    {},
    {"X-API-Key": ""},
    {"X-API-Key": " "},
    {"X-API-Key": "wrong"},
    {"X-API-Key": KEY[:-1]},
    {"X-API-Key": KEY + "x"},
]


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    with running_client(artifacts_dir=ARTIFACTS_ROOT, api_key=KEY) as client:
        yield client


def _binary_call(client: TestClient, headers: dict[str, str]) -> Any:
    head = json.dumps(
        {"inputs": [{"name": "window", "datatype": "FP32", "shape": [1, 60], "parameters": {"binary_data_size": 240}}]}
    ).encode()
    raw = np.asarray(WINDOW, dtype="<f4").tobytes()
    framing = {"Inference-Header-Content-Length": str(len(head))}
    return client.post("/v2/models/lstm/infer", content=head + raw, headers={**framing, **headers})


def _statuses(client: TestClient, headers: dict[str, str]) -> list[int]:
    version = client.get("/v2/models/gru").json()["versions"][0]
    calls = [(path.format(version=version), body) for path, body in JSON_CALLS]
    statuses = [client.post(path, json=body, headers=headers).status_code for path, body in calls]
    return [*statuses, _binary_call(client, headers).status_code]


def test_only_the_right_key_is_ever_answered(keyed: TestClient) -> None:
    for headers in NOT_THE_KEY:
        assert _statuses(keyed, headers) == [401] * (len(JSON_CALLS) + 1), headers
    assert _statuses(keyed, {"X-API-Key": KEY}) == [200] * (len(JSON_CALLS) + 1)


@pytest.mark.parametrize("value", ["", " ", "\t \n"])
def test_an_empty_or_blank_key_setting_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FORECAST_API_KEY", value)
    with pytest.raises(ValidationError, match="FORECAST_API_KEY"):
        Settings()


def test_a_real_key_setting_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_API_KEY", KEY)
    key = Settings().api_key
    assert key is not None
    assert key.get_secret_value() == KEY


def test_forecast_serve_refuses_to_start_with_an_empty_key() -> None:
    env = {"FORECAST_API_KEY": "", "PATH": "/usr/bin:/bin"}
    code = "from service.cli import main; raise SystemExit(main(['--port', '1']))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "FORECAST_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr
